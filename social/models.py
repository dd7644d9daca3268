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
    """What one network gets of a post, and how far it got. At most one per (post, network)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="variants")
    account = models.ForeignKey(SocialAccount, on_delete=models.PROTECT, related_name="variants")
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
