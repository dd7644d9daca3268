"""Celery tasks of Customer Intelligence. Each runs in the schema it was queued in."""

from __future__ import annotations

import time

from celery import shared_task

from profiles.apply import events_apply_pending, pending_exists
from profiles.projection import counters_refresh_all

# Keep one task short: a club with a big backlog re-queues itself rather than hold a worker.
TIME_BUDGET_SECONDS = 60
BATCH_SIZE = 1000


@shared_task(name="profiles.apply_pending_events", acks_late=True)
def apply_pending_events() -> int:
    """Apply this club's pending events, batch by batch. Safe to run any number of times at
    once: the club lock lets one through, the others return at once."""
    started = time.monotonic()
    total = 0
    while time.monotonic() - started < TIME_BUDGET_SECONDS:
        done = events_apply_pending(limit=BATCH_SIZE)
        if done == 0:
            break
        total += done
    # Events that arrived while the lock was held were not applied by their own trigger.
    if pending_exists():
        apply_pending_events.apply_async(countdown=1)
    return total


@shared_task(name="profiles.refresh_counters")
def refresh_counters() -> int:
    """Nightly per club: 30- and 365-day counters move with the calendar."""
    return counters_refresh_all()
