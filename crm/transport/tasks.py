"""Celery tasks of the BullMQ transport. Idempotent and bounded; safe to run at once."""

from __future__ import annotations

from celery import shared_task

from crm.outbox.selectors import outbox_pending_exists
from crm.transport.outbound import outbound_events_relay
from crm.transport.services import dead_letters_sweep


@shared_task(name="transport.relay_outbound_events", acks_late=True)
def relay_outbound_events() -> int:
    """Relay this club's outbox to `crm-outbound` (runs in the club's schema: queued on commit
    by the outbox's writers, and fanned out to every club by beat every minute)."""
    relayed = outbound_events_relay()
    if outbox_pending_exists():
        relay_outbound_events.apply_async(countdown=1)  # a backlog: keep each task short
    return relayed


@shared_task(name="transport.sweep_dead_letters", acks_late=True)
def sweep_dead_letters() -> dict[str, int]:
    """Beat, every minute, in the public schema: see `services.dead_letters_sweep`."""
    return dead_letters_sweep()
