from __future__ import annotations

import uuid

from django.db import models


class OutboundEvent(models.Model):
    """The CRM's own events (crm.profile.*, crm.segment.*, crm.campaign.*, …), written in the
    transaction that caused them and published afterwards: a crash can delay one, never lose
    or invent one. `envelope` is the whole envelope as published (events.md)."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True)
    type = models.CharField(max_length=64)
    envelope = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table profiles made when it owned the model: kept, so no row had to move.
        db_table = "profiles_outboundevent"
        indexes = [
            models.Index(
                fields=["id"], name="outbound_unpublished_idx",
                condition=models.Q(published_at__isnull=True),
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
