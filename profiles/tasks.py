"""Celery tasks of Customer Intelligence. Each runs in the schema it was queued in."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

from profiles.apply import BATCH_SIZE, events_apply_pending, pending_exists
from profiles.ingestion import APPLY_QUEUED_KEY
from profiles.projection import counters_refresh_all

# Keep one task short: a club with a big backlog re-queues itself rather than hold a worker.
TIME_BUDGET_SECONDS = 60


@shared_task(name="profiles.apply_pending_events", acks_late=True)
def apply_pending_events() -> int:
    """Apply this club's pending events, batch by batch. Safe to run any number of times at
    once: the club lock lets one through, the others return at once."""
    # First, before reading the pending events: an event stored from here on queues a new task.
    cache.delete(APPLY_QUEUED_KEY)
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


# --- scores (profiles.scoring_services) ---


@shared_task(name="profiles.recompute_scores", acks_late=True)
def recompute_scores() -> dict[str, int]:
    """Nightly per club: every customer's engagement, churn risk and paying-but-not-playing
    flag (one transaction; safe to repeat)."""
    from profiles.scoring_services import scores_recompute

    return scores_recompute()


@shared_task(name="profiles.rescore_touched", acks_late=True)
def rescore_touched() -> dict[str, int]:
    """Every minute per club: rescore the customers whose bookings, payments or membership
    changed since the last run."""
    from profiles.scoring_services import scores_refresh_touched

    return scores_refresh_touched()


@shared_task(name="profiles.train_churn_model", acks_late=True)
def train_churn_model() -> dict[str, object]:
    """Weekly per club: train the next version of the churn model, then rescore everyone
    with whichever score is now in use."""
    from django.db import transaction

    from profiles.scoring_services import churn_model_train

    model = churn_model_train()
    transaction.on_commit(recompute_scores.delay)
    return {"version": model.version, "status": model.status, "rocAuc": model.roc_auc}
