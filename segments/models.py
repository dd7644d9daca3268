"""Segments: audiences built from rules (DYNAMIC) or lists (STATIC), and who is in them.

A dynamic segment's members are materialised in `SegmentMembership` on the schedule it chose
and when events touch the fields its rule reads; every entry and exit is kept in
`SegmentMembershipChange` and published as `crm.segment.membership.changed`.
"""

from __future__ import annotations

import uuid

from django.db import models

from profiles.models import Customer


class SegmentType(models.TextChoices):
    DYNAMIC = "DYNAMIC"
    STATIC = "STATIC"


class RefreshSchedule(models.TextChoices):
    MANUAL = "MANUAL"
    HOURLY = "HOURLY"
    DAILY = "DAILY"


class Segment(models.Model):
    """An audience. DYNAMIC: everyone its `rules` (segments.md) match. STATIC: a list kept
    by hand, by CSV import or from a snapshot of a dynamic segment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=8, choices=SegmentType.choices, default=SegmentType.DYNAMIC)
    rules = models.JSONField(
        null=True, blank=True, help_text="The rule (segments.md); DYNAMIC segments only."
    )
    refresh = models.CharField(
        max_length=8, choices=RefreshSchedule.choices, default=RefreshSchedule.DAILY
    )
    template_key = models.CharField(max_length=64, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    # The event types whose arrival can change who matches (from the rule's fields), so an
    # event refreshes only the segments it can affect.
    watched_event_types = models.JSONField(default=list, blank=True)
    created_by = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipSource(models.TextChoices):
    RULE = "RULE", "Matched the rule"
    MANUAL = "MANUAL", "Added by hand"
    IMPORT = "IMPORT", "CSV import"
    SNAPSHOT = "SNAPSHOT", "Snapshot of a dynamic segment"


class SegmentMembership(models.Model):
    """One customer in one segment, now."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_memberships"
    )
    source = models.CharField(
        max_length=8, choices=MembershipSource.choices, default=MembershipSource.RULE
    )
    entered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_uniq")
        ]
        indexes = [models.Index(fields=["customer"])]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class MembershipChangeKind(models.TextChoices):
    ENTERED = "ENTERED"
    EXITED = "EXITED"


class SegmentMembershipChange(models.Model):
    """Who entered or left a segment, and when: the history journeys and reports read."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="changes")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=MembershipChangeKind.choices)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["segment", "-at"]),
            models.Index(fields=["customer", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind} {self.segment_id}"


class SegmentEventCursor(models.Model):
    """How far (by activity id) event-driven refreshes have read this club's timeline. One
    row per club (id 1)."""

    last_activity_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"activities read up to {self.last_activity_id}"
