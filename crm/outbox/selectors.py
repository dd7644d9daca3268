"""Reading the outbox."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from crm.outbox.models import OutboundEvent


def outbox_events_about(
    *, customer_ids: Iterable[str], payload_id_keys: tuple[str, ...]
) -> QuerySet[OutboundEvent]:
    """The events whose `identity.customerId`, or a payload key of `payload_id_keys`, names
    one of `customer_ids`, oldest first (a person's export)."""
    ids = list(customer_ids)
    naming = Q(envelope__identity__customerId__in=ids)
    for key in payload_id_keys:
        naming |= Q(**{f"envelope__payload__{key}__in": ids})
    return OutboundEvent.objects.filter(naming).order_by("id")


def outbox_pending_exists() -> bool:
    """Whether the current club has events not yet relayed."""
    return OutboundEvent.objects.filter(published_at__isnull=True).exists()
