"""Campaigns: who gets what, when, on which channel, and what became of every message.

- `Campaign`: ONE_TIME (now or at a time), RECURRING (a crontab in the club's time zone, run by
  a django-celery-beat PeriodicTask, until an end date) or TRIGGERED (by an event type whose
  envelope contains the given filters). Its audience is include/exclude segments (static lists
  are STATIC segments), evaluated when a run starts. JOURNEY campaigns are hidden: one per
  (journey version, send step), made by publishing the journey; each of their runs is one
  batch of enrolments taking the step, and its audience is exactly those customers.
- `CampaignRun`: one sending of a campaign (a one-time send, one firing of a recurring one, one
  minute's triggers of a triggered one). Its `key` makes a repeated firing the same run.
- `Send`: the ledger. One row per (run, customer, channel), inserted in the statement that
  decides who is in the audience; its id is the idempotency key handed to the Messaging
  Service, so a crash and retry hands over the same key, which the peer answers 409. Every
  audience member ends with a row that was handed over or holds a reason.
- `Variant`: an A/B variant (content, templates or send time) with a weight.
- `CampaignSettings`: the club's frequency cap, quiet hours and conversion window.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from profiles.models import Customer
from segments.models import Segment


class CampaignType(models.TextChoices):
    ONE_TIME = "ONE_TIME"
    RECURRING = "RECURRING"
    TRIGGERED = "TRIGGERED"
    # A journey's send step (journeys.engine): hidden from campaign lists, the API and admin.
    JOURNEY = "JOURNEY"
    # The tee-sheet gap filler's offers (campaigns.tee_sheet): hidden the same way; each run
    # is one wave of offers for one gap, its audience exactly the golfers chosen.
    TEE_SHEET = "TEE_SHEET"


# The types staff and integrators create and see; JOURNEY campaigns are the journeys' own.
PUBLIC_TYPES = (CampaignType.ONE_TIME, CampaignType.RECURRING, CampaignType.TRIGGERED)
# Campaigns another feature makes and shows (journeys' send steps, the gap filler's waves).
HIDDEN_TYPES = (CampaignType.JOURNEY, CampaignType.TEE_SHEET)


class CampaignStatus(models.TextChoices):
    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    SENDING = "SENDING"
    COMPLETED = "COMPLETED"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"


class Channel(models.TextChoices):
    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"


class Priority(models.IntegerChoices):
    """For the frequency cap: a message counts the club's messages of its priority or higher
    in the window, so newsletters never use up the room of a renewal reminder."""

    LOW = 1, "Low (newsletter)"
    NORMAL = 2, "Normal"
    HIGH = 3, "High (renewal reminder, service)"


class WinnerMetric(models.TextChoices):
    OPEN = "OPEN", "Open rate"
    CLICK = "CLICK", "Click rate"
    CONVERSION = "CONVERSION", "Conversion rate"


class Campaign(models.Model):
    """A message to an audience on one or more channels (see the module docstring)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(
        max_length=12, choices=CampaignType.choices, default=CampaignType.ONE_TIME
    )
    status = models.CharField(
        max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    # The state a PAUSED campaign returns to on resume.
    paused_from = models.CharField(max_length=12, choices=CampaignStatus.choices, blank=True)
    channels = ArrayField(models.CharField(max_length=8, choices=Channel.choices), default=list)
    include_segments = models.ManyToManyField(
        Segment, blank=True, related_name="campaigns_including"
    )
    exclude_segments = models.ManyToManyField(
        Segment, blank=True, related_name="campaigns_excluding"
    )
    templates = models.JSONField(
        default=dict, blank=True, help_text='A Messaging template id per channel: {"EMAIL": "…"}.'
    )
    content = models.JSONField(
        default=dict, blank=True, help_text="Overrides handed over as `content` (subject, …)."
    )
    fallbacks = models.JSONField(
        default=dict, blank=True, help_text="Values for variables a customer has none of."
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)

    scheduled_at = models.DateTimeField(null=True, blank=True)
    recurrence = models.CharField(
        max_length=120, blank=True, help_text="Cron (minute hour day month weekday), club time."
    )
    ends_at = models.DateTimeField(null=True, blank=True)
    periodic_task_name = models.CharField(max_length=200, blank=True)
    trigger_event_type = models.CharField(max_length=128, blank=True)
    trigger_filters = models.JSONField(
        default=dict, blank=True, help_text="Matched by containment against the event envelope."
    )
    trigger_cursor = models.BigIntegerField(
        default=0, help_text="The last timeline row (activity id) the trigger has read."
    )

    holdout_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(50)],
    )
    test_pool_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="A/B: the share that gets the variants first; 0 sends variants to everyone.",
    )
    winner_metric = models.CharField(
        max_length=12, choices=WinnerMetric.choices, default=WinnerMetric.OPEN
    )
    winner_after_hours = models.PositiveIntegerField(default=4)
    winner_key = models.CharField(max_length=1, blank=True)
    winner_decision = models.JSONField(default=dict, blank=True)
    conversion_window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # A message not handed over by then (deferred by the frequency cap or quiet hours) is
    # recorded as EXPIRED instead of going out late.
    expires_at = models.DateTimeField(null=True, blank=True)
    # What the message is about ("competition:<id>"): within the cap's window a person gets
    # one message per topic across campaigns and journeys, the first handed over wins. Empty:
    # taken from `content.competitionId` (competition promotion) or, per recipient, from a
    # journey's trigger event (`event.competitionId`).
    topic = models.CharField(max_length=120, blank=True)
    # JOURNEY campaigns: the journey (journeys.Journey, not a foreign key: campaigns know
    # nothing of journeys), the version and send step they stand for, and the step's fixed
    # template variables, handed over beside the profile's.
    journey_id = models.UUIDField(null=True, blank=True)
    journey_version = models.PositiveIntegerField(null=True, blank=True)
    journey_step = models.CharField(max_length=40, blank=True)
    variables = models.JSONField(
        default=dict, blank=True, help_text="Fixed template variables (journey send steps)."
    )

    created_by = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "type"])]
        constraints = [
            models.UniqueConstraint(
                fields=["journey_id", "journey_version", "journey_step"],
                condition=models.Q(journey_id__isnull=False),
                name="campaign_journey_step_uniq",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """An A/B variant: its own content, templates or send time, and its share (weight)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=1)
    weight = models.PositiveSmallIntegerField(default=50)
    content = models.JSONField(default=dict, blank=True)
    templates = models.JSONField(default=dict, blank=True)
    send_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key"], name="campaign_variant_key_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.key}"


class RunStatus(models.TextChoices):
    PLANNING = "PLANNING"
    SENDING = "SENDING"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class CampaignRun(models.Model):
    """One sending of a campaign. `key`: "once", a recurring firing's local minute, or a
    trigger batch's range of timeline rows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    key = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PLANNING)
    trigger_customers = ArrayField(models.UUIDField(), null=True, blank=True)
    targeted = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    planned_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key"], name="campaign_run_key_uniq")
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.campaign_id} run {self.key}"


class SendStatus(models.TextChoices):
    PENDING = "PENDING", "Waiting to be handed over"
    DEFERRED = "DEFERRED", "Deferred (quiet hours or frequency cap)"
    AWAITING_WINNER = "AWAITING_WINNER", "Waiting for the A/B winner"
    HANDING = "HANDING", "Being handed over"
    ACCEPTED = "ACCEPTED", "Accepted by the Messaging Service"
    SUPPRESSED = "SUPPRESSED", "Not sent (see reason)"
    HOLDOUT = "HOLDOUT", "Holdout group (receives nothing)"
    FAILED = "FAILED", "Refused (see reason)"


class SendReason(models.TextChoices):
    NO_CONSENT = "NO_CONSENT", "Not opted in on this channel"
    DECEASED = "DECEASED", "Deceased"
    ERASED = "ERASED", "Erased (GDPR)"
    MERGED = "MERGED", "Merged into another customer"
    HARD_BOUNCED = "HARD_BOUNCED", "Email hard-bounced"
    COMPLAINED = "COMPLAINED", "Complained (spam)"
    CAPPED = "CAPPED", "Deferred by the frequency cap"
    EXPIRED = "EXPIRED", "Expired before it could be sent"
    DUPLICATE_TOPIC = "DUPLICATE_TOPIC", "Already sent a message on this topic"
    QUIET_HOURS = "QUIET_HOURS", "Deferred by quiet hours"
    NO_ADDRESS = "NO_ADDRESS", "No address for this channel"
    HOLDOUT = "HOLDOUT", "Holdout group"
    CANCELLED = "CANCELLED", "Campaign cancelled before sending"
    NO_TRANSPORT = "NO_TRANSPORT", "No transport for this channel"
    REFUSED = "REFUSED", "Refused by the Messaging Service"


# Where a send stands for the analytics: handed over or not, and why not.
OPEN_STATUSES = (
    SendStatus.PENDING,
    SendStatus.DEFERRED,
    SendStatus.AWAITING_WINNER,
    SendStatus.HANDING,
)


class Send(models.Model):
    """The ledger: one message of one run to one customer on one channel. `id` is the
    idempotency key (messaging.md), created before anything is handed over."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="sends")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    variant = models.CharField(max_length=1, blank=True)
    test_pool = models.BooleanField(default=False)
    priority = models.PositiveSmallIntegerField(default=Priority.NORMAL)
    status = models.CharField(max_length=16, choices=SendStatus.choices)
    reason = models.CharField(max_length=16, choices=SendReason.choices, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    deferred = models.BooleanField(default=False, help_text="Was held back by quiet hours.")
    expires_at = models.DateTimeField(null=True, blank=True)
    topic = models.CharField(max_length=120, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease = models.IntegerField(null=True, blank=True)
    handed_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    variables = models.JSONField(
        null=True,
        blank=True,
        help_text="This recipient's own template values (a journey's trigger event), beside "
        "the profile's and the campaign's.",
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "customer", "channel"], name="campaign_send_once_uniq"
            )
        ]
        # Every hand-over updates a row twice (HANDING, then its answer), so the indexes are
        # few and partial: rows that are done leave the open-work index, and only handed-over
        # rows are in the cap's. Analytics reach a campaign's rows through its runs (the
        # unique constraint's index leads with the run).
        indexes = [
            models.Index(
                fields=["run", "not_before"],
                name="campaign_send_open_idx",
                condition=models.Q(
                    status__in=["PENDING", "DEFERRED", "AWAITING_WINNER", "HANDING"]
                ),
            ),
            models.Index(
                fields=["customer", "handed_at"],
                name="campaign_send_cap_idx",
                condition=models.Q(status__in=["HANDING", "ACCEPTED"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.channel} {self.status})"


def _default_quiet_start() -> dt.time:
    return dt.time(21, 0)


def _default_quiet_end() -> dt.time:
    return dt.time(8, 0)


class CampaignSettings(models.Model):
    """The club's sending rules (one row, id 1), edited in the admin."""

    frequency_cap = models.PositiveSmallIntegerField(
        default=3, help_text="Marketing messages per customer per window; 0: no cap."
    )
    frequency_window_days = models.PositiveSmallIntegerField(default=7)
    quiet_hours_enabled = models.BooleanField(default=True)
    quiet_hours_start = models.TimeField(default=_default_quiet_start)
    quiet_hours_end = models.TimeField(default=_default_quiet_end)
    conversion_window_days = models.PositiveSmallIntegerField(
        default=7, help_text="A booking, entry or payment this long after an open or click."
    )
    test_addresses = ArrayField(
        models.EmailField(), default=list, blank=True, help_text="Staff addresses for test sends."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sending settings"
        verbose_name_plural = "sending settings"

    def __str__(self) -> str:
        return "Sending settings"


# --- the tee-sheet gap filler (campaigns.tee_sheet) -------------------------------------------


def _default_filler_channels() -> list[str]:
    return ["EMAIL"]


def _default_filler_templates() -> dict[str, str]:
    return {"EMAIL": "tee_time_offer"}


class TeeSheetSettings(models.Model):
    """The club's gap filler (one row, id 1): whether it runs, how far ahead it looks, how many
    golfers each free place is offered to per wave, how many offers a golfer gets a week, and
    what is sent. Off until the club turns it on."""

    enabled = models.BooleanField(default=False)
    horizon_hours = models.PositiveSmallIntegerField(
        default=48, validators=[MinValueValidator(1), MaxValueValidator(24 * 14)],
        help_text="Fill slots teeing off within this many hours.",
    )  # fmt: skip
    golfers_per_place = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Wave size: golfers offered per free place.",
    )  # fmt: skip
    max_waves = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    minutes_between_waves = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    weekly_limit = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(21)],
        help_text="Most slots offered to one golfer in 7 days.",
    )  # fmt: skip
    min_day_part_share = models.PositiveSmallIntegerField(
        default=25, validators=[MaxValueValidator(100)],
        help_text="Only golfers with at least this % of their bookings (last 365 days) in the "
        "slot's day part.",
    )  # fmt: skip
    offer_window_hours = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(24 * 14)],
        help_text="A booking of the slot this long after the offer counts as recovered.",
    )  # fmt: skip
    holdout_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=10,
        validators=[MinValueValidator(0), MaxValueValidator(50)],
        help_text="Share of chosen golfers who get no offer, to measure the lift.",
    )  # fmt: skip
    channels = ArrayField(
        models.CharField(max_length=8, choices=Channel.choices), default=_default_filler_channels
    )
    templates = models.JSONField(
        default=_default_filler_templates,
        help_text='Messaging template per channel: {"EMAIL": "…"}.',
    )
    content = models.JSONField(default=dict, blank=True)
    booking_cursor = models.BigIntegerField(
        default=0, help_text="The last timeline row (activity id) read for conversions."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=254, blank=True)

    class Meta:
        verbose_name = "tee-sheet filler settings"
        verbose_name_plural = "tee-sheet filler settings"

    def __str__(self) -> str:
        return "Tee-sheet filler settings"


class GapStatus(models.TextChoices):
    OPEN = "OPEN", "Open (offering)"
    FILLED = "FILLED", "Filled"
    EXPIRED = "EXPIRED", "Teed off with free places"


class TeeSheetGap(models.Model):
    """Free places on one slot within the horizon, and what the filler did about them: its
    waves of offers and, through them, the bookings it brought (recovered green fees). One
    gap per slot; a slot that fills and frees again reopens it."""

    slot = models.OneToOneField("profiles.TeeSlot", on_delete=models.CASCADE, related_name="gap")
    status = models.CharField(max_length=8, choices=GapStatus.choices, default=GapStatus.OPEN)
    free_places_at_open = models.PositiveSmallIntegerField()
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    last_wave_at = models.DateTimeField(null=True, blank=True)
    waves_sent = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"gap {self.slot}"


class TeeSheetWave(models.Model):
    """One wave of offers for a gap: a run of the filler's hidden campaign."""

    gap = models.ForeignKey(TeeSheetGap, on_delete=models.CASCADE, related_name="waves")
    number = models.PositiveSmallIntegerField()
    run = models.OneToOneField(CampaignRun, null=True, on_delete=models.SET_NULL, related_name="+")
    free_places = models.PositiveSmallIntegerField()
    chosen = models.PositiveIntegerField(default=0)
    held_out = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["gap", "number"]
        constraints = [
            models.UniqueConstraint(fields=["gap", "number"], name="tee_sheet_wave_uniq")
        ]

    def __str__(self) -> str:
        return f"wave {self.number} of {self.gap_id}"


class TeeSheetOffer(models.Model):
    """A golfer chosen for a gap (offered, or held out to measure the lift), and the booking
    of that slot they made within the offer window, if any: the conversion."""

    gap = models.ForeignKey(TeeSheetGap, on_delete=models.CASCADE, related_name="offers")
    wave = models.ForeignKey(TeeSheetWave, on_delete=models.CASCADE, related_name="offers")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    holdout = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    booked_at = models.DateTimeField(null=True, blank=True)
    booking_id = models.CharField(max_length=128, blank=True)
    amount_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gap", "customer"], name="tee_sheet_offer_uniq")
        ]
        indexes = [models.Index(fields=["customer", "created_at"])]

    def __str__(self) -> str:
        return f"offer of {self.gap_id} to {self.customer_id}"


class GolferHabit(models.Model):
    """When and where a golfer plays, from their bookings of the last year (the gap filler's
    "who plays at that day part and course"): counts per day part (club time, the segment
    fields' day parts) and per course. Recomputed from the timeline in one statement, at most
    once a day (campaigns.tee_sheet.golfer_habits_refresh): a year's habit does not move with
    one booking, and reading 100,000 rows beats reading a million bookings for every wave."""

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    bookings = models.PositiveIntegerField()
    weekday_morning = models.PositiveIntegerField(default=0)
    weekday_afternoon = models.PositiveIntegerField(default=0)
    weekday_evening = models.PositiveIntegerField(default=0)
    weekend = models.PositiveIntegerField(default=0)
    courses = models.JSONField(default=dict, help_text="Bookings per TeeTime course id.")
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"habits of {self.customer_id}"


# The club's own email templates and branding (campaigns.email_templates).
from campaigns.email_templates.models import ClubBranding, EmailTemplate  # noqa: E402, F401
