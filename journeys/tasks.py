"""Celery tasks of journeys. Each runs in the club schema it was queued in (beat fans them out
per club), takes ids or nothing, and is safe to repeat and to run in parallel: the engine
takes enrolments with row locks, the cursors are locked rows, deliveries are claimed rows.

- `run_triggers` (beat, every minute): journeys.triggers.triggers_run, then the webhook
  deliveries that are due (retries, and any whose on-commit task was lost). A pass that ran
  out of time queues the next at once; one that left rows for writers still at work queues a
  single follow-up a few seconds later, so an event enrols in seconds, not at the next beat.
- `run_due` (beat, every minute, and queued after anything enrols or wakes): due steps for up
  to `TASK_BUDGET_SECONDS`, then queues itself again while work is left. At most
  `PARALLEL_DUE` run per club at once (a slot each: session advisory locks, released by
  PostgreSQL if the worker dies); the task in the first slot starts helpers for the free
  slots when it finds a large backlog. A killed worker's enrolments are simply still due:
  the next task takes them.
- `deliver_webhooks`: one try each for up to 100 deliveries (journeys.webhooks).
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.db import connection

from journeys.engine import BATCH_SIZE, due_backlog
from journeys.engine import run_due as engine_run_due
from journeys.triggers import triggers_pending, triggers_run
from journeys.webhooks import PER_TASK, due_delivery_ids, webhooks_deliver

logger = logging.getLogger(__name__)

TASK_BUDGET_SECONDS = 50.0
TRIGGERS_BUDGET_SECONDS = 45.0
PARALLEL_DUE = 4
DUE_LOCK_NS = 0x4A524E00  # "JRN" + the slot number
FOLLOW_UP_SECONDS = 5


def _take_slot() -> int | None:
    with connection.cursor() as cursor:
        for slot in range(PARALLEL_DUE):
            cursor.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))",
                [DUE_LOCK_NS + slot],
            )
            if cursor.fetchone()[0]:
                return slot
    return None


def _release_slot(slot: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", [DUE_LOCK_NS + slot]
        )


@shared_task(name="journeys.run_due", acks_late=True)
def run_due() -> dict:
    slot = _take_slot()
    if slot is None:
        return {"busy": True}
    try:
        if slot == 0:  # the first slot's task sizes the team; helpers do not
            backlog = due_backlog(limit=PARALLEL_DUE * BATCH_SIZE * 2)
            for _ in range(min(PARALLEL_DUE - 1, backlog // (BATCH_SIZE * 2))):
                run_due.apply_async()  # each takes a free slot, or returns at once
        result = engine_run_due(budget_seconds=TASK_BUDGET_SECONDS)
        if result.more:
            run_due.apply_async()
        return {"slot": slot, **result.as_dict()}
    finally:
        _release_slot(slot)


@shared_task(name="journeys.run_triggers", acks_late=True)
def run_triggers(follow_up: bool = False) -> dict:
    started = time.monotonic()
    result = triggers_run(budget_seconds=TRIGGERS_BUDGET_SECONDS)
    out_of_time = time.monotonic() - started >= TRIGGERS_BUDGET_SECONDS
    if out_of_time:
        run_triggers.apply_async(kwargs={"follow_up": True})
    elif not follow_up and triggers_pending():
        run_triggers.apply_async(kwargs={"follow_up": True}, countdown=FOLLOW_UP_SECONDS)
    due = [str(i) for i in due_delivery_ids()]
    for start in range(0, len(due), PER_TASK):
        deliver_webhooks.delay(due[start : start + PER_TASK])
    return result


@shared_task(name="journeys.deliver_webhooks", acks_late=True)
def deliver_webhooks(delivery_ids: list[str]) -> dict:
    return webhooks_deliver(ids=delivery_ids)
