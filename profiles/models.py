"""The unified customer: one row per person across SCL, TeeTime and Messaging.

The columns follow the customer of api.md. Ingestion and identity resolution (which fill and
link them) arrive with the Customer Intelligence issue.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class CustomerStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    MERGED = "MERGED"
    DELETED = "DELETED"


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "SUBSCRIBER"
    LEAD = "LEAD"
    PROSPECT = "PROSPECT"
    CUSTOMER = "CUSTOMER"
    MEMBER = "MEMBER"
    ADVOCATE = "ADVOCATE"
    CHURNED = "CHURNED"


class Customer(models.Model):
    """A person the club knows, with the identifiers each upstream service gave them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )

    # Identifiers, copied from the customer's source records for filtering. Their uniqueness
    # lives in SourceRecord (kind, key): ids move between customers in one statement when
    # identities are recomputed, which per-row unique checks here would refuse.
    # null, not "": the API answers null for an id the customer does not have.
    auth_user_id = models.CharField(max_length=128, null=True, blank=True, db_index=True)  # noqa: DJ001
    scl_member_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    teetime_player_id = models.CharField(max_length=128, null=True, blank=True, db_index=True)  # noqa: DJ001
    messaging_contact_id = models.CharField(max_length=128, null=True, blank=True, db_index=True)  # noqa: DJ001
    email = models.EmailField(blank=True, db_index=True, help_text="Normalised: lower case.")
    phone_number = models.CharField(max_length=20, blank=True, db_index=True, help_text="E.164.")

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=16, blank=True)
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.SUBSCRIBER
    )
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)

    membership_tier = models.CharField(max_length=64, blank=True)
    membership_status = models.CharField(max_length=16, blank=True)
    member_since = models.DateField(null=True, blank=True)
    renewal_due_on = models.DateField(null=True, blank=True)
    handicap = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    home_club_id = models.CharField(max_length=128, blank=True)

    lifetime_value = models.BigIntegerField(default=0, help_text="Cents, in the club's currency.")
    last_activity_at = models.DateTimeField(null=True, blank=True)
    activity_count_30d = models.IntegerField(default=0)
    booking_count_30d = models.IntegerField(default=0)

    # Consent is mirrored read-only from the Messaging Service; nobody is opted in by default.
    email_opt_in = models.BooleanField(default=False)
    sms_opt_in = models.BooleanField(default=False)
    push_opt_in = models.BooleanField(default=False)
    whatsapp_opt_in = models.BooleanField(default=False)
    # Suppression, whatever any campaign says: a hard bounce or complaint stops email; a
    # DECEASED member or an erased person is never contacted again on any channel.
    email_hard_bounced = models.BooleanField(default=False)
    complained = models.BooleanField(default=False)
    address = models.JSONField(default=dict, blank=True)
    competition_entry_count_365d = models.IntegerField(default=0)
    # All-time tee-time bookings made, and how many of them fall in each day part (see
    # Activity.day_part): kept by apply as it keeps the counters above, so a segment's day-part
    # share without a window is a comparison on the customer row (segments/fields.py).
    booking_count = models.IntegerField(default=0, db_default=0)
    weekday_morning_bookings = models.IntegerField(default=0, db_default=0)
    weekday_afternoon_bookings = models.IntegerField(default=0, db_default=0)
    weekday_evening_bookings = models.IntegerField(default=0, db_default=0)
    weekend_bookings = models.IntegerField(default=0, db_default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"]),
            GinIndex(fields=["tags"]),
            # The dashboard's member figures count from this index alone (index-only scan).
            models.Index(
                fields=["membership_status", "renewal_due_on", "member_since"],
                include=["id"],
                name="customer_membership_idx",
                condition=~models.Q(status__in=("MERGED", "DELETED")),
            ),
        ]
        # Also: GIN trigram indexes on UPPER(first_name | last_name | email | phone_number), the
        # expressions `icontains` compares, so the search `q` is an index scan. They are raw SQL
        # in migration 0003: Django renders OpClass over a function with parentheses PostgreSQL
        # rejects.

    def __str__(self) -> str:
        return self.display_name or str(self.id)

    @property
    def do_not_contact(self) -> bool:
        return self.status == CustomerStatus.DELETED or self.membership_status == "DECEASED"

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.email


class RecordKind(models.TextChoices):
    """Where an identity comes from. The first four are strong: one customer holds at most one
    of each. EMAIL and PHONE records stand for events that named nobody more precisely."""

    SCL_MEMBER = "scl", "SCL member"
    TEETIME_PLAYER = "teetime", "TeeTime player"
    MESSAGING_CONTACT = "messaging", "Messaging contact"
    AUTH_USER = "auth", "Identity-provider user"
    EMAIL = "email", "Email address"
    PHONE = "phone", "Phone number"
    # A playing partner named by the booker on the guest form (profiles.rounds): key
    # `<bookingId>:<guest playerId>`, linked to the guest's TeeTime record, holding the name,
    # email and phone the booker gave. Resolves like any record (its email or phone may be a
    # customer the club already knows).
    GUEST_FORM = "guest_form", "Guest form (named by the booker)"


STRONG_KINDS = (
    RecordKind.SCL_MEMBER,
    RecordKind.TEETIME_PLAYER,
    RecordKind.MESSAGING_CONTACT,
    RecordKind.AUTH_USER,
)


class EventStatus(models.TextChoices):
    PENDING = "PENDING"  # stored, not yet applied
    APPLIED = "APPLIED"
    UNKNOWN = "UNKNOWN"  # unknown type or version: kept and shown raw, changes no field
    PARKED = "PARKED"  # failed to apply after retries; staff can replay it
    ERASED = "ERASED"  # its person was erased (GDPR): content scrubbed


class RawEvent(models.Model):
    """The durable event log: every accepted envelope, exactly as received, before anything is
    derived from it. `(source, event_id)` is the dedup key of events.md."""

    source = models.CharField(max_length=16)
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=128, help_text="Catalogue name (aliases resolved).")
    received_type = models.CharField(max_length=128)
    version = models.PositiveIntegerField(default=1)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    transport = models.CharField(max_length=16)
    envelope = models.JSONField()
    status = models.CharField(
        max_length=16, choices=EventStatus.choices, default=EventStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    record = models.ForeignKey(
        "SourceRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="raw_event_source_id_uniq")
        ]
        indexes = [
            models.Index(
                fields=["id"], name="raw_event_pending_idx", condition=models.Q(status="PENDING")
            ),
            models.Index(fields=["status", "received_at"]),
            # The dashboard's "last event received" per source: a backward scan per source.
            models.Index(fields=["source", "-id"], name="raw_event_source_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.source}:{self.event_id}"


class SourceRecord(models.Model):
    """One identity as an upstream service knows it (SCL member 10042, TeeTime player 7f1c…),
    with the newest value of every field it reported. Customers are computed from these:
    records linked by ids, email or phone form one customer (profiles.identity).

    `attributes` maps a field to `[value, timestamp, tiebreak]`; a field only ever moves to an
    observation with a later `(timestamp, tiebreak)`, which is what makes arrival order
    irrelevant.
    """

    kind = models.CharField(max_length=16, choices=RecordKind.choices)
    key = models.CharField(max_length=255)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )
    first_customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The customer this record first belonged to: it gets it back on an unmerge.",
    )  # fmt: skip
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=20, blank=True, db_index=True)
    attributes = models.JSONField(default=dict)
    matched_by = models.CharField(max_length=32, blank=True)
    confidence = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="source_record_kind_key_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


class LinkReason(models.TextChoices):
    PLAYER_IS_MEMBER = "player_is_member", "TeeTime player linked to SCL member"
    SAME_EVENT = "same_event", "Named together in one event"
    MANUAL_MERGE = "manual_merge", "Merged by staff"
    GUEST_FORM = "guest_form", "Named on the booker's guest form"


class RecordLink(models.Model):
    """A hard link between two records: they are the same person, whatever their emails say.
    Stored once per pair and reason, with `a` the smaller `kind:key`, so links are a set."""

    a = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=32, choices=LinkReason.choices)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Staff merges only: who asked for which customer to survive, so an unmerge can find it.
    winner = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    loser = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.CharField(max_length=254, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["a", "b", "reason"], name="record_link_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.a_id} = {self.b_id} ({self.reason})"


class ActivityCategory(models.TextChoices):
    MEMBERSHIP = "membership"
    GOLF = "golf"
    COMPETITION = "competition"
    PAYMENT = "payment"
    MESSAGING = "messaging"
    CONSENT = "consent"
    PROFILE = "profile"
    OTHER = "other"


class DayPart(models.IntegerChoices):
    """When a tee time is, in the club's time zone (segments' day-part shares)."""

    WEEKDAY_MORNING = 1, "Weekday morning (Mon-Fri before 12:00)"
    WEEKDAY_AFTERNOON = 2, "Weekday afternoon (Mon-Fri 12:00-16:59)"
    WEEKDAY_EVENING = 3, "Weekday evening (Mon-Fri from 17:00)"
    WEEKEND = 4, "Weekend (Saturday and Sunday)"


DASHBOARD_ACTIVITY_TYPES = (
    "teetime.booking.created",
    "teetime.booking.completed",
    "teetime.booking.no_show",
    "scl.payment.received",
)


class Activity(models.Model):
    """One event on a customer's timeline, in words a club manager reads."""

    # No index of its own: both composite indexes below lead with it, and a third index on
    # the busiest table slows every insert and tempts the planner away from the composites.
    customer = models.ForeignKey(
        Customer, null=True, on_delete=models.SET_NULL, related_name="activities", db_index=False
    )
    record = models.ForeignKey(
        SourceRecord, null=True, on_delete=models.SET_NULL, related_name="activities"
    )
    raw_event = models.OneToOneField(
        RawEvent, null=True, on_delete=models.SET_NULL, related_name="activity"
    )
    type = models.CharField(max_length=128)
    category = models.CharField(max_length=16, choices=ActivityCategory.choices)
    channel = models.CharField(max_length=16, blank=True)
    title = models.CharField(max_length=300)
    source = models.CharField(max_length=16)
    occurred_at = models.DateTimeField()
    amount_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    counts_as_activity = models.BooleanField(
        default=True, help_text="Something the person did (not e.g. a message sent to them)."
    )
    data = models.JSONField(default=dict, blank=True)
    day_part = models.SmallIntegerField(
        null=True,
        blank=True,
        choices=DayPart.choices,
        help_text="Bookings only: the day part of the tee time in the club's time zone.",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"]),
            models.Index(fields=["customer", "type", "occurred_at"]),
            # Timeline sets for segments: the customers with entries of a type in a window (and
            # their amounts, their bookings' day parts), read from the index alone.
            models.Index(
                fields=["type", "occurred_at"],
                include=["customer", "amount_cents", "day_part"],
                name="activity_type_time_idx",
            ),
        ]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.title


class CustomerNote(models.Model):
    """A staff note on a customer."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField()
    author_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.body[:60]


class DuplicateStatus(models.TextChoices):
    OPEN = "OPEN"
    MERGED = "MERGED"
    DISMISSED = "DISMISSED"


class DuplicateCandidate(models.Model):
    """Two customers who may be one person, waiting for staff to merge or dismiss them."""

    customer_a = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=64)
    detail = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=16, choices=DuplicateStatus.choices, default=DuplicateStatus.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=254, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer_a", "customer_b", "reason"], name="duplicate_candidate_uniq"
            )
        ]

    def __str__(self) -> str:
        names = [
            customer.display_name or f"Customer {str(customer.pk)[:8]}"
            for customer in (self.customer_a, self.customer_b)
        ]
        return f"{names[0]} and {names[1]} ({self.reason})"


class ErasedIdentifier(models.Model):
    """What an erased person was known by, as a one-way hash: events about them that arrive
    later (delivery is at least once) are dropped instead of re-creating them."""

    digest = models.CharField(max_length=64, unique=True)
    # The erasure this identifier belongs to (one per erased person; null on rows from before
    # it was kept) and its kind (RecordKind), so an event naming an erased email can be told
    # apart from a new member who provably is someone else (profiles.suppression).
    erasure = models.UUIDField(null=True, blank=True, db_index=True)
    kind = models.CharField(max_length=16, choices=RecordKind.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.digest[:12]


class EngagementBand(models.TextChoices):
    EXCELLENT = "EXCELLENT", "Excellent (80-100)"
    GOOD = "GOOD", "Good (60-79)"
    AVERAGE = "AVERAGE", "Average (40-59)"
    LOW = "LOW", "Low (20-39)"
    AT_RISK = "AT_RISK", "At risk (0-19)"


class CustomerScore(models.Model):
    """A customer's scores, in their own table: recomputed nightly for every customer, which
    would rewrite (and bloat) the wide customer row if they lived there. No row: not scored
    yet, which segments read as "no value" (only `isNull` matches)."""

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    engagement_score = models.PositiveSmallIntegerField(null=True, blank=True)
    engagement_band = models.CharField(max_length=16, choices=EngagementBand.choices, blank=True)
    churn_risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    churn_risk_reasons = models.JSONField(default=list, blank=True)
    paying_not_playing = models.BooleanField(default=False)
    computed_at = models.DateTimeField(null=True, blank=True)
    # What lies behind the numbers above (profiles.scoring, profiles.churn, profiles.pnp):
    # the points each engagement component gave, which churn score was used (a trained model's
    # version, or the rule-based score), and the round counts behind the "paying but not
    # playing" flag.
    engagement_components = models.JSONField(default=dict, blank=True)
    churn_method = models.CharField(
        max_length=8, choices=[("MODEL", "Model"), ("RULES", "Rule-based")], blank=True
    )
    churn_model_version = models.PositiveIntegerField(null=True, blank=True)
    pnp_details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["engagement_score"]),
            models.Index(fields=["churn_risk_score"]),
            # Few are flagged: the dashboard counts them without reading every score.
            models.Index(
                fields=["customer"],
                name="score_pnp_idx",
                condition=models.Q(paying_not_playing=True),
            ),
        ]

    def __str__(self) -> str:
        return f"scores of {self.customer_id}"


class ChurnModelStatus(models.TextChoices):
    READY = "READY", "In use"
    INSUFFICIENT_HISTORY = "INSUFFICIENT_HISTORY", "Too little history"
    LOW_QUALITY = "LOW_QUALITY", "Quality too low"


class ChurnModel(models.Model):
    """One training run of the club's churn model (profiles.churn), newest version first. The
    newest row decides how churn risk is scored: READY means by this model, anything else by
    the rule-based score (and `notes` says why).

    The model is a logistic regression over standardised features, kept as plain numbers
    (feature names, scaler means and scales, coefficients, intercept): scoring is a dot product
    in numpy, nothing is unpickled from the database and a scikit-learn upgrade cannot make a
    stored model unreadable."""

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=24, choices=ChurnModelStatus.choices)
    trained_at = models.DateTimeField()
    cutoff = models.DateTimeField(help_text="Only events before this moment were read.")
    horizon_days = models.PositiveSmallIntegerField(
        help_text="Label: an active member who lapsed or resigned within this many days."
    )
    test_snapshot = models.DateTimeField(null=True, blank=True)
    train_rows = models.PositiveIntegerField(default=0)
    train_positives = models.PositiveIntegerField(default=0)
    train_lapses = models.PositiveIntegerField(
        default=0, help_text="Distinct members who lapsed in the training windows."
    )
    test_rows = models.PositiveIntegerField(default=0)
    test_positives = models.PositiveIntegerField(default=0)
    roc_auc = models.FloatField(null=True, blank=True)
    precision_top_decile = models.FloatField(null=True, blank=True)
    base_rate = models.FloatField(null=True, blank=True, help_text="Share of test rows lapsing.")
    algorithm = models.CharField(max_length=200, blank=True)
    features = models.JSONField(default=list, blank=True)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="means, scales, coefficients, intercept"
    )
    notes = models.TextField(blank=True)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"churn model v{self.version} ({self.status})"


class ScoringConfig(models.Model):
    """The club's overrides of the scoring parameters (profiles.scoring.ScoringParams: the
    engagement formula's thresholds, the churn model's horizon and rules, the paying-but-not-
    playing flag). One row per club (id 1); keys it does not name keep their defaults."""

    overrides = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=254, blank=True)

    class Meta:
        verbose_name = "scoring settings"
        verbose_name_plural = "scoring settings"

    def __str__(self) -> str:
        return "scoring settings"


class ScoreEventCursor(models.Model):
    """How far (by activity id) event-driven rescoring has read this club's timeline. One row
    per club (id 1)."""

    last_activity_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"activities scored up to {self.last_activity_id}"


class TeeSlot(models.Model):
    """One slot of the club's tee sheet as TeeTime last described it
    (`teetime.slot.availability`): capacity, places booked, green fee, the slot's rules and its
    booking link. The newest event per slot is its state: a row only ever moves to an event with
    a later `(state_at, state_key)`, so events arriving out of order change nothing.

    It lives with ingestion (it is what the events say, like a source record); what the club
    does about a free place (the gap filler) is campaigns' (campaigns.tee_sheet)."""

    slot_id = models.CharField(max_length=128, unique=True)
    course_id = models.CharField(max_length=128, blank=True)
    course_name = models.CharField(max_length=200, blank=True)
    tee_time = models.DateTimeField(db_index=True)
    holes = models.PositiveSmallIntegerField(null=True, blank=True)
    capacity = models.PositiveSmallIntegerField()
    booked = models.PositiveSmallIntegerField()
    price_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    member_only = models.BooleanField(default=False)
    max_handicap = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    booking_url = models.CharField(max_length=2000, blank=True)
    state_at = models.DateTimeField(help_text="The timestamp of the event this state is from.")
    state_key = models.CharField(max_length=160, help_text="source:id of that event.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tee_time", "course_name"]
        verbose_name = "tee-sheet slot"

    def __str__(self) -> str:
        return f"{self.course_name or self.course_id} {self.tee_time:%Y-%m-%d %H:%M}"

    @property
    def free_places(self) -> int:
        return max(0, self.capacity - self.booked)


class ScoreWeek(models.Model):
    """The club's scores as they stood at the start of one week (Monday 00:00, club time), for
    the dashboard's 12-week trend: members whose churn risk was High or Critical, and customers
    paying but not playing. Written by the full recompute (profiles.scoring_services), the
    past weeks judged from the timeline as the score in use now would have judged them."""

    week_start = models.DateField(unique=True)
    high_risk = models.PositiveIntegerField()
    paying_not_playing = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["week_start"]

    def __str__(self) -> str:
        return f"scores in the week of {self.week_start}"
