"""Social Publisher: the club's connected accounts, posts with one variant per network, the
publish attempts that make "at most once" checkable, and engagement over time.

Everything lives in the club's schema. A post is composed once; each network gets a variant
(its own text, link and images) with its own state:

    DRAFT -> [PENDING_APPROVAL ->] SCHEDULED -> PUBLISHING -> PUBLISHED
                                                           -> FAILED / NEEDS_REVIEW
    (CANCELLED from any state before PUBLISHING)

Tokens are stored encrypted (social.crypto) in fields the admin and the APIs never show.
"""

from __future__ import annotations

import uuid
from datetime import time

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Network(models.TextChoices):
    FACEBOOK = "facebook", "Facebook Page"
    INSTAGRAM = "instagram", "Instagram Business"
    X = "x", "X"


class AccountStatus(models.TextChoices):
    CONNECTED = "CONNECTED", "Connected"
    NEEDS_RECONNECT = "NEEDS_RECONNECT", "Needs reconnecting"
    DISCONNECTED = "DISCONNECTED", "Disconnected"


def default_queue_times() -> list[str]:
    return ["09:00", "13:00", "18:00"]


class SocialAccount(models.Model):
    """A Facebook Page, an Instagram Business account (published through its Page) or an X
    account the club connected through the network's OAuth flow.

    `queue_times` are the daily slots ("HH:MM", the club's time zone) that "add to queue"
    fills, first free slot first.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    network = models.CharField(max_length=16, choices=Network.choices)
    remote_id = models.CharField(max_length=64, help_text="The network's id of the account.")
    name = models.CharField(max_length=200, help_text="Page name or @username.")
    username = models.CharField(max_length=200, blank=True)
    linked_page_id = models.CharField(
        max_length=64, blank=True, help_text="Instagram: the Facebook Page it publishes through."
    )
    status = models.CharField(
        max_length=20, choices=AccountStatus.choices, default=AccountStatus.CONNECTED
    )
    status_reason = models.TextField(blank=True)
    access_token_enc = models.TextField(editable=False)
    refresh_token_enc = models.TextField(blank=True, editable=False)
    token_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the token does not expire (Facebook Pages)."
    )
    token_checked_at = models.DateTimeField(null=True, blank=True)
    queue_times = ArrayField(models.CharField(max_length=5), default=default_queue_times)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["network", "name"]
        constraints = [
            models.UniqueConstraint(fields=["network", "remote_id"], name="social_account_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_network_display()}: {self.name}"


class SocialSettings(models.Model):
    """The club's Social Publisher settings (one row per club)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    approval_required = models.BooleanField(
        default=False,
        help_text="Posts by MARKETING staff wait for an ADMIN's approval before they go out.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "social settings"
        verbose_name_plural = "social settings"

    def __str__(self) -> str:
        return "Social Publisher settings"


class PostImage(models.Model):
    """An uploaded image. The bytes are kept in the club's schema (bytea), so they are isolated,
    backed up and erased with the club like everything else; Facebook and Instagram fetch them
    through a signed, expiring URL (`api/v1/social/media/<token>`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField(editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.size // 1024} KB)"


class ApprovalStatus(models.TextChoices):
    NOT_NEEDED = "NOT_NEEDED", "Not needed"
    PENDING = "PENDING", "Waiting for approval"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"


class Post(models.Model):
    """One message composed once, with a variant per network."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200, blank=True, help_text="For staff; never posted.")
    approval_status = models.CharField(
        max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.NOT_NEEDED
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=254, blank=True)
    origin = models.CharField(
        max_length=32, default="staff", help_text="staff, or what made it (competition promotion)."
    )
    origin_key = models.CharField(
        max_length=200, blank=True, help_text="Makes machine-made posts idempotent."
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["origin_key"], condition=~Q(origin_key=""), name="social_post_origin_key"
            )
        ]

    def __str__(self) -> str:
        return self.title or f"Post {str(self.id)[:8]}"


class VariantStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    PENDING_APPROVAL = "PENDING_APPROVAL", "Waiting for approval"
    SCHEDULED = "SCHEDULED", "Scheduled"
    PUBLISHING = "PUBLISHING", "Publishing"
    PUBLISHED = "PUBLISHED", "Published"
    FAILED = "FAILED", "Failed"
    NEEDS_REVIEW = "NEEDS_REVIEW", "Needs review (may have been posted)"
    CANCELLED = "CANCELLED", "Cancelled"


class ScheduleMode(models.TextChoices):
    NOW = "now", "Publish now"
    AT = "at", "At a time"
    QUEUE = "queue", "Next free queue slot"


EDITABLE_STATUSES = (VariantStatus.DRAFT, VariantStatus.PENDING_APPROVAL, VariantStatus.SCHEDULED)


class PostVariant(models.Model):
    """What one network gets of a post, and how far it got. At most one per (post, network).

    A DRAFT may carry a planned `scheduled_at` (the calendar shows it; nothing publishes a
    draft) and may have no account yet: drafts and approval work before any account is
    connected; scheduling needs one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="variants")
    account = models.ForeignKey(
        SocialAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="variants",
        help_text="Empty: a draft for a network with no account connected yet; scheduling "
        "attaches the network's connected account.",
    )
    network = models.CharField(max_length=16, choices=Network.choices)
    text = models.TextField(blank=True)
    link = models.URLField(max_length=1000, blank=True)
    image_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=VariantStatus.choices, default=VariantStatus.DRAFT
    )
    schedule_mode = models.CharField(max_length=8, choices=ScheduleMode.choices, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not before this (backoff, daily limit, or claimed)."
    )
    attempt_count = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    remote_id = models.CharField(max_length=128, blank=True)
    remote_url = models.URLField(max_length=500, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    likes = models.PositiveIntegerField(null=True, blank=True)
    comments = models.PositiveIntegerField(null=True, blank=True)
    shares = models.PositiveIntegerField(null=True, blank=True)
    impressions = models.PositiveIntegerField(null=True, blank=True)
    metrics_fetched_at = models.DateTimeField(null=True, blank=True)
    metrics_due_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["network"]
        constraints = [
            models.UniqueConstraint(fields=["post", "network"], name="social_variant_per_network")
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="social_variant_due"),
            models.Index(
                fields=["metrics_due_at"],
                condition=Q(metrics_due_at__isnull=False),
                name="social_variant_metrics_due",
            ),
            models.Index(fields=["account", "published_at"], name="social_variant_account_day"),
        ]

    def __str__(self) -> str:
        return f"{self.post} on {self.get_network_display()}"


class AttemptState(models.TextChoices):
    STARTED = "STARTED", "Started (no answer recorded)"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    RECONCILED = "RECONCILED", "Found on the network after an unclear attempt"
    RETRY = "RETRY", "Refused for now (rate limit)"
    SERVER_ERROR = "SERVER_ERROR", "Server error (looked up before trying again)"
    IN_DOUBT = "IN_DOUBT", "Unclear answer"
    FAILED = "FAILED", "Failed"


class PublishAttempt(models.Model):
    """One call to a network to publish a variant, recorded (and committed) *before* the call.

    Its id is the idempotency marker: an attempt still STARTED when no worker holds the
    variant means the worker died between calling and recording. The next run then looks
    the post up on the network instead of posting again (see social.publishing).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    variant = models.ForeignKey(PostVariant, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=AttemptState.choices)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    remote_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["variant", "number"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "number"], name="social_attempt_number")
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.variant_id}: {self.state}"


class EngagementSnapshot(models.Model):
    """A variant's counts at one moment: the history behind the numbers on the variant."""

    variant = models.ForeignKey(PostVariant, on_delete=models.CASCADE, related_name="snapshots")
    fetched_at = models.DateTimeField(default=timezone.now)
    likes = models.PositiveIntegerField(null=True, blank=True)
    comments = models.PositiveIntegerField(null=True, blank=True)
    shares = models.PositiveIntegerField(null=True, blank=True)
    impressions = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["variant", "-fetched_at"]

    def __str__(self) -> str:
        return f"{self.variant_id} at {self.fetched_at:%Y-%m-%d %H:%M}"


# --- Competition auto-promotion -------------------------------------------------------------
#
# When TeeTime publishes a competition, a club that turned auto-promotion on gets a plan
# (`CompetitionPromotion`) of dated items (`PromotionItem`): posts made through the services
# above and email/SMS campaigns made through the campaign services. social.promotion decides
# the plan; social.promotion_services keeps it in step with the competition's events.


def default_reminder_days() -> list[int]:
    return [7, 3, 1]


def default_reminder_time() -> time:
    return time(10, 0)


DEFAULT_PROMOTION_TEXTS = {
    "announcement_text": (
        "Entries are open for the {name}: {format} on {startsAt}. {eligibility}. "
        "Entry fee {entryFee}. Entries close {entryClosesAt}."
    ),
    "reminder_text": (
        "{daysLeft} left to enter the {name} ({format}, {startsAt}). Entries close {entryClosesAt}."
    ),
    "few_places_text": (
        "Only {placesLeft} places left in the {name} on {startsAt}. Enter before {entryClosesAt}."
    ),
    "results_text": (
        "Congratulations to {winner}, winner of the {name}! Thank you to everyone who played."
    ),
    "cancellation_text": (
        "The {name} on {startsAt} has been cancelled. {reason} We are sorry for the disappointment."
    ),
    "announcement_subject": "Entries open: {name}",
    "reminder_subject": "{daysLeft} left to enter the {name}",
}


class PromotionSettings(models.Model):
    """The club's competition auto-promotion settings (one row per club, id 1).

    Texts are the club's own templates with placeholders from the competition
    (`{name}`, `{startsAt}` in the club's time zone, `{entryClosesAt}`, `{bookingUrl}`,
    `{format}`, `{entryFee}`, `{placesLeft}`, `{winner}` …; social.promotion.PLACEHOLDERS
    lists them all). Campaign messages use the Messaging templates named here, with the
    subject and the rendered text handed over as `content`.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    enabled = models.BooleanField(
        default=False,
        help_text="Make a promotion plan for every competition TeeTime publishes from now on.",
    )
    accounts = models.ManyToManyField(
        SocialAccount,
        blank=True,
        related_name="+",
        help_text="Where the posts go. None chosen: every connected account.",
    )
    post_reminders = models.BooleanField(
        default=True, help_text="Post the reminders too (not only email/SMS them)."
    )
    email_enabled = models.BooleanField(default=True)
    sms_enabled = models.BooleanField(default=False)
    email_template_id = models.CharField(
        max_length=100, blank=True, default="competition_promotion",
        help_text="Messaging template id of the email (announcement and reminders).",
    )  # fmt: skip
    sms_template_id = models.CharField(
        max_length=100, blank=True, default="competition_promotion_sms",
        help_text="Messaging template id of the SMS.",
    )  # fmt: skip
    announcement_subject = models.CharField(
        max_length=200, default=DEFAULT_PROMOTION_TEXTS["announcement_subject"]
    )
    reminder_subject = models.CharField(
        max_length=200, default=DEFAULT_PROMOTION_TEXTS["reminder_subject"]
    )
    announcement_text = models.TextField(default=DEFAULT_PROMOTION_TEXTS["announcement_text"])
    reminder_text = models.TextField(default=DEFAULT_PROMOTION_TEXTS["reminder_text"])
    few_places_text = models.TextField(default=DEFAULT_PROMOTION_TEXTS["few_places_text"])
    results_text = models.TextField(default=DEFAULT_PROMOTION_TEXTS["results_text"])
    cancellation_text = models.TextField(default=DEFAULT_PROMOTION_TEXTS["cancellation_text"])
    reminder_days = ArrayField(
        models.PositiveSmallIntegerField(),
        default=default_reminder_days,
        help_text="Days before entries close that reminders go out (1 to 60).",
    )
    reminder_time = models.TimeField(
        default=default_reminder_time, help_text="Time of day of the reminders, club time."
    )
    few_places_percent = models.PositiveSmallIntegerField(
        default=80, help_text="'Few places left' once entries reach this % of the places."
    )
    results_delay_minutes = models.PositiveIntegerField(
        default=120,
        help_text="The results post goes out once no new score has come for this long "
        "(at the latest 24 hours after the first score).",
    )
    default_image = models.ForeignKey(
        PostImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Used when the competition has no image (Instagram needs one).",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "competition auto-promotion settings"
        verbose_name_plural = "competition auto-promotion settings"

    def __str__(self) -> str:
        return "Competition auto-promotion settings"


class PromotionStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Running"
    COMPLETED = "COMPLETED", "Completed"
    CANCELLED = "CANCELLED", "Competition cancelled"
    STOPPED = "STOPPED", "Stopped by staff"


class CompetitionPromotion(models.Model):
    """The promotion plan of one TeeTime competition, with the competition as its newest
    `published`/`updated` event described it (`payload`, `payload_at` that event's time, so
    an older event arriving late never overwrites a newer one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    competition_id = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict)
    payload_at = models.DateTimeField(null=True, blank=True)
    payload_event = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=12, choices=PromotionStatus.choices, default=PromotionStatus.ACTIVE
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)
    eligible_segment = models.ForeignKey(
        "segments.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entrants_segment = models.ForeignKey(
        "segments.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    image = models.ForeignKey(
        PostImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    image_url = models.CharField(
        max_length=1000, blank=True, help_text="The competition image last fetched (or tried)."
    )
    image_error = models.CharField(max_length=500, blank=True)
    needs_sync = models.BooleanField(default=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["id"], condition=Q(needs_sync=True), name="social_promotion_dirty")
        ]

    def __str__(self) -> str:
        return self.name or f"Competition {self.competition_id}"


class ItemKind(models.TextChoices):
    ANNOUNCEMENT = "ANNOUNCEMENT", "Announcement"
    REMINDER = "REMINDER", "Reminder"
    FEW_PLACES = "FEW_PLACES", "Few places left"
    RESULTS = "RESULTS", "Results"
    CANCELLATION = "CANCELLATION", "Cancellation"


class ItemChannel(models.TextChoices):
    POST = "POST", "Social post"
    CAMPAIGN = "CAMPAIGN", "Email/SMS campaign"


class ItemStatus(models.TextChoices):
    PLANNED = "PLANNED", "Planned"
    SCHEDULED = "SCHEDULED", "Scheduled"
    DONE = "DONE", "Gone out"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"
    SKIPPED = "SKIPPED", "Skipped"


class PromotionItem(models.Model):
    """One dated thing of a plan: a post or a campaign, and what became of it.

    PLANNED: decided, not yet handed to the Social Publisher or Campaigns (results wait for
    the scores to settle); SCHEDULED: the post or campaign exists and waits for its time (or
    for approval); DONE: it went out; FAILED: the post failed on every network; CANCELLED: by
    staff or because the competition was cancelled; SKIPPED: not applicable (`note` says why).
    Staff edits set `text_edited` / `time_edited`, and competition updates then leave that
    part alone. `fingerprint` is what was last handed over, so nothing is sent over twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    promotion = models.ForeignKey(
        CompetitionPromotion, on_delete=models.CASCADE, related_name="items"
    )
    key = models.CharField(max_length=40)
    kind = models.CharField(max_length=16, choices=ItemKind.choices)
    channel = models.CharField(max_length=8, choices=ItemChannel.choices)
    days_before = models.PositiveSmallIntegerField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True)
    text_edited = models.BooleanField(default=False)
    time_edited = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=ItemStatus.choices, default=ItemStatus.PLANNED)
    note = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Why handing it over failed (last try).")
    fingerprint = models.CharField(max_length=64, blank=True)
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["promotion", "scheduled_for", "key"]
        constraints = [
            models.UniqueConstraint(fields=["promotion", "key"], name="social_promotion_item_key")
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="social_promotion_item_due")
        ]

    def __str__(self) -> str:
        return f"{self.promotion}: {self.get_kind_display()} ({self.get_channel_display()})"


class CompetitionEntry(models.Model):
    """A player's entry in a competition as TeeTime's entry events left it: the newest event
    per (competition, player) wins, whatever order they arrive in. Kept for every
    competition, planned or not, so a plan made later still knows who entered."""

    competition_id = models.CharField(max_length=128)
    player_id = models.CharField(max_length=128)
    entered = models.BooleanField()
    changed_at = models.DateTimeField()
    event_key = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["competition_id", "player_id"], name="social_competition_entry_uniq"
            )
        ]
        verbose_name_plural = "competition entries"

    def __str__(self) -> str:
        return f"{self.player_id} {'in' if self.entered else 'withdrew from'} {self.competition_id}"


class CompetitionScore(models.Model):
    """A player's newest score in a competition (`teetime.score.posted`)."""

    competition_id = models.CharField(max_length=128)
    player_id = models.CharField(max_length=128)
    gross = models.IntegerField(null=True, blank=True)
    net = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    position = models.IntegerField(null=True, blank=True)
    posted_at = models.DateTimeField()
    event_key = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["competition_id", "player_id"], name="social_competition_score_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.player_id} in {self.competition_id}: position {self.position}"


class PromotionEventCursor(models.Model):
    """How far (by raw event id) auto-promotion has read this club's event log. One row per
    club (id 1), created at the newest event: history is never replayed."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_raw_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"events read up to {self.last_raw_event_id}"
