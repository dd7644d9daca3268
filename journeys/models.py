"""Marketing Automation (WHAT): journeys a customer walks through over days or months.

- `Journey`: what staff edit. Its `definition` is the draft (journeys/definition.py); publishing
  freezes it as a new `JourneyVersion`, which new enrolments start on. Only ACTIVE journeys enrol.
- `JourneyVersion`: an immutable published definition. Customers finish the version they
  started on, whatever is published after, unless staff migrate them.
- `Enrolment`: one customer's walk through one version: where they are (`step`) and when that
  step is due (`due_at`). The engine takes due enrolments with `FOR UPDATE SKIP LOCKED`, runs a
  step and moves them on in the same transaction, so a crash repeats a step's database work
  cleanly and two workers never take the same enrolment. A customer has at most one live
  enrolment per journey (a partial unique index).
- `EnrolmentEvent`: the log of each enrolment's steps (entered, completed with the branch taken,
  exited, converted), which the per-step analytics count.
- `StaffTask`: a task for staff made by a `notify` step ("call this member").
- `JourneyCursor`: how far the engine has read the timeline and the segment change log.
- `JourneyDateRun`: one row per (journey, club day) a date trigger has run, so it runs once a day.
- `WebhookDelivery` (migration 0002, the engine's): a `webhook` step's POST, written with the
  step and delivered after the commit with retries.
"""

from __future__ import annotations

import uuid

from django.db import models

from profiles.models import Customer


class JourneyStatus(models.TextChoices):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ARCHIVED = "ARCHIVED"


class Journey(models.Model):
    """A flow customers walk through; `definition` is the draft being edited."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=8, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT
    )
    definition = models.JSONField(help_text="The draft (journeys/definition.py).")
    published_version = models.ForeignKey(
        "JourneyVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version new enrolments start on.",
    )
    # Copied from the published version so the engine finds the journeys an event, a segment
    # change or a date concerns with one indexed query.
    trigger_type = models.CharField(max_length=8, blank=True)
    trigger_event_type = models.CharField(max_length=128, blank=True, db_index=True)
    trigger_segment_id = models.UUIDField(null=True, blank=True)
    template_key = models.CharField(max_length=64, blank=True)
    # Where each log stood when the journey last started listening (published or resumed):
    # {"activities": id, "raw_events": id, "segment_changes": id}. Triggers read only what
    # came after, so a journey never enrols for what happened before it was switched on.
    listening_from = models.JSONField(default=dict, blank=True)
    created_by = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["status", "trigger_type"])]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(models.Model):
    """A published, never-changed definition of a journey."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    published_at = models.DateTimeField()
    published_by = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["journey", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "number"], name="journey_version_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.journey_id} v{self.number}"


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Running (its step is due at due_at)"
    WAITING = "WAITING", "Waiting (a wait step, or an event until its timeout, at due_at)"
    COMPLETED = "COMPLETED", "Walked to the end"
    CONVERTED = "CONVERTED", "Reached the goal"
    EXITED = "EXITED", "Left early (exit rule, journey archived, staff)"
    FAILED = "FAILED", "Stopped by an error (see last_error)"


LIVE_STATUSES = (EnrolmentStatus.ACTIVE, EnrolmentStatus.WAITING)


class EnrolmentSource(models.TextChoices):
    EVENT = "EVENT"
    SEGMENT = "SEGMENT"
    DATE = "DATE"
    MANUAL = "MANUAL"
    API = "API"


class Enrolment(models.Model):
    """One customer's walk through one journey version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrolments")
    version = models.ForeignKey(JourneyVersion, on_delete=models.PROTECT, related_name="enrolments")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=EnrolmentStatus.choices)
    step = models.CharField(max_length=40, help_text="The step it is at (or ended on).")
    due_at = models.DateTimeField(null=True, blank=True)
    # What made it enter, so a repeated trigger is the same enrolment: "once", an event's
    # timeline row, a segment change row, a date trigger's club day, a staff request's key.
    entry_key = models.CharField(max_length=80)
    source = models.CharField(max_length=8, choices=EnrolmentSource.choices)
    context = models.JSONField(
        default=dict, blank=True, help_text="The trigger's details (event type and payload)."
    )
    entered_at = models.DateTimeField()
    step_entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-entered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer", "entry_key"], name="journey_enrolment_entry_uniq"
            ),
            models.UniqueConstraint(
                fields=["journey", "customer"],
                condition=models.Q(status__in=["ACTIVE", "WAITING"]),
                name="journey_enrolment_one_live_uniq",
            ),
        ]
        indexes = [
            # The engine's pick-up: live rows by due time, nothing else in the index.
            models.Index(
                fields=["due_at"],
                name="journey_enrolment_due_idx",
                condition=models.Q(status__in=["ACTIVE", "WAITING"]),
            ),
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["journey", "version", "step", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.journey_id} at {self.step} ({self.status})"


class EnrolmentEventKind(models.TextChoices):
    ENTERED = "ENTERED"
    COMPLETED = "COMPLETED"
    EXITED = "EXITED"
    CONVERTED = "CONVERTED"
    FAILED = "FAILED"


class EnrolmentEvent(models.Model):
    """What happened to an enrolment at a step: the analytics count these."""

    id = models.BigAutoField(primary_key=True)
    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="events")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=EnrolmentEventKind.choices)
    branch = models.CharField(max_length=40, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["journey", "version", "step", "kind"]),
            models.Index(fields=["enrolment", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.enrolment_id} {self.step} {self.kind}"


class StaffTaskStatus(models.TextChoices):
    OPEN = "OPEN"
    DONE = "DONE"
    DISMISSED = "DISMISSED"


class StaffTask(models.Model):
    """A task for staff from a `notify` step, shown in the admin: "call this member"."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="staff_tasks")
    journey = models.ForeignKey(
        Journey, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff_tasks"
    )
    enrolment = models.ForeignKey(
        Enrolment, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff_tasks"
    )
    step = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    assigned_to = models.CharField(
        max_length=254, help_text="A role (STAFF, MARKETING, ADMIN) or a staff email."
    )
    status = models.CharField(
        max_length=10, choices=StaffTaskStatus.choices, default=StaffTaskStatus.OPEN
    )
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["status", "-created_at"]
        constraints = [
            # A step re-run after a crash makes no second task.
            models.UniqueConstraint(
                fields=["enrolment", "step"],
                condition=models.Q(enrolment__isnull=False),
                name="journey_staff_task_once_uniq",
            )
        ]

    def __str__(self) -> str:
        return self.title


class JourneyCursor(models.Model):
    """How far the engine has read a log: `activities` (the timeline) or `segment_changes`."""

    name = models.CharField(max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)
    # (Engine, 0002.) Ids come from a sequence before their transaction commits, so a row with a
    # smaller id can become visible after a larger one. The cursor reads only up to a horizon:
    # the largest id seen at `horizon_at`, once no transaction that started before then is
    # still writing (journeys.triggers).
    horizon_id = models.BigIntegerField(default=0)
    horizon_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_id}"


class JourneyDateRun(models.Model):
    """A date trigger's run for one club day; its unique key makes the day's run happen once."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="date_runs")
    day = models.DateField()
    enrolled = models.PositiveIntegerField(default=0)
    ran_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "day"], name="journey_date_run_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.journey_id} {self.day}"


class WebhookStatus(models.TextChoices):
    PENDING = "PENDING", "Waiting to be delivered (or retried at next_attempt_at)"
    DELIVERED = "DELIVERED", "Answered 2xx"
    FAILED = "FAILED", "Refused, or gave up after retries (see last_error)"


class WebhookDelivery(models.Model):
    """A `webhook` step's POST: the body is fixed when the step runs (in the step's
    transaction), then delivered after the commit and retried with backoff. `id` goes out as
    `X-CRM-Delivery`, so a receiver can tell a retry from a new delivery."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    enrolment = models.ForeignKey(
        Enrolment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step = models.CharField(max_length=40)
    url = models.URLField(max_length=2000)
    body = models.JSONField()
    status = models.CharField(
        max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A step re-run after a crash makes no second delivery.
            models.UniqueConstraint(
                fields=["enrolment", "step"],
                condition=models.Q(enrolment__isnull=False),
                name="journey_webhook_once_uniq",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="journey_webhook_due_idx",
                condition=models.Q(status="PENDING"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.step} -> {self.url} ({self.status})"


class NpsBand(models.TextChoices):
    DETRACTOR = "DETRACTOR", "Detractor (0-6)"
    PASSIVE = "PASSIVE", "Passive (7-8)"
    PROMOTER = "PROMOTER", "Promoter (9-10)"


class FeedbackSettings(models.Model):
    """The club's after-the-round survey settings (one row, id 1): where promoters are sent to
    leave a review, and who gets a detractor's follow-up task."""

    review_url = models.URLField(
        max_length=500, blank=True, help_text="e.g. the club's Google reviews page."
    )
    detractor_task_assigned_to = models.CharField(
        max_length=254,
        default="ADMIN",
        help_text="A role (STAFF, MARKETING, ADMIN) or a staff email.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "after-the-round survey settings"
        verbose_name_plural = "after-the-round survey settings"

    def __str__(self) -> str:
        return "After-the-round survey settings"


class RoundSurveyAnswer(models.Model):
    """A golfer's answer to the after-the-round survey: one per round (booking), given on the
    page the survey link opens (journeys.surveys)."""

    booking_id = models.CharField(max_length=128, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="survey_answers")
    score = models.PositiveSmallIntegerField()
    band = models.CharField(max_length=10, choices=NpsBand.choices)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField()
    staff_task = models.ForeignKey(
        StaffTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-answered_at"]
        indexes = [models.Index(fields=["answered_at"])]

    def __str__(self) -> str:
        return f"{self.score}/10 for {self.booking_id}"
