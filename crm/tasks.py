"""Platform-level tasks: the per-tenant fan-out that periodic work goes through."""

from __future__ import annotations

import logging
import zlib
from typing import Any, cast

import redis
from celery import shared_task
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.tenants.selectors import tenant_list_active

logger = logging.getLogger(__name__)

# Spread a fan-out over at most this long, whatever the number of clubs, so the last club's
# countdown stays far inside the broker's visibility timeout.
MAX_FAN_OUT_SPREAD_SECONDS = 600


def stable_offset(schema_name: str, task_name: str, spread_seconds: int) -> int:
    """Where in a spread of `spread_seconds` this club's run of `task_name` starts: the same
    every night (crc32 of the names, not Python's per-process salted `hash`), different between
    clubs and between one club's tasks, so 1,000 clubs' nightly jobs do not start together."""
    if spread_seconds <= 0:
        return 0
    return zlib.crc32(f"{schema_name}:{task_name}".encode()) % spread_seconds


def _nightly_spread_cap() -> int:
    # A countdown is held by a worker unacknowledged; past the visibility timeout Redis would
    # hand the message to a second worker (celery #4766). Keep well inside it.
    return int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]) // 2


def queue_in_clubs(
    task_name: str,
    schemas: list[str],
    *,
    kwargs: dict[str, Any] | None = None,
    spread_seconds: int | None = None,
    within_seconds: float = MAX_FAN_OUT_SPREAD_SECONDS,
) -> int:
    """Queue `task_name` once in each of `schemas`: staggered one after the other
    (`TENANT_FAN_OUT_STAGGER_SECONDS` apart) over at most `within_seconds` (0: all at once), or,
    with `spread_seconds`, at each club's stable offset."""
    from crm.celery import app

    if not schemas:
        return 0
    stagger = min(float(settings.TENANT_FAN_OUT_STAGGER_SECONDS), within_seconds / len(schemas))
    spread = min(spread_seconds, _nightly_spread_cap()) if spread_seconds else None
    for index, schema_name in enumerate(schemas):
        countdown = stable_offset(schema_name, task_name, spread) if spread else index * stagger
        with schema_context(schema_name):
            app.send_task(task_name, kwargs=kwargs or {}, countdown=countdown)
    return len(schemas)


@shared_task(name="crm.tasks.fan_out_to_tenants")
def fan_out_to_tenants(
    task_name: str, kwargs: dict[str, Any] | None = None, spread_seconds: int | None = None
) -> int:
    """Queue `task_name` once in every ACTIVE club's schema, staggered (nightly and weekly
    work: spread over `spread_seconds` by a stable hash of the club, see `stable_offset`).

    Beat calls this in the public schema. Disabled clubs are skipped. Returns how many
    tasks were queued.
    """
    schemas = list(tenant_list_active().values_list("schema_name", flat=True))
    queued = queue_in_clubs(task_name, schemas, kwargs=kwargs, spread_seconds=spread_seconds)
    logger.info("Fanned %s out to %d clubs", task_name, queued)
    return queued


@shared_task(name="crm.tasks.dispatch_due")
def dispatch_due(task_name: str) -> int:
    """Queue `task_name` only in the ACTIVE clubs where its app's probe says it could find
    something to do, asked of every club in one statement (crm/periodic.py). A task without a
    probe is fanned out as before. Returns how many tasks were queued."""
    from crm.periodic import clubs_with_work, work_probe

    schemas = list(tenant_list_active().values_list("schema_name", flat=True))
    probe = work_probe(task_name)
    if probe is None:
        logger.warning("No probe registered for %s: fanned out to every club", task_name)
        return queue_in_clubs(task_name, schemas)
    found = clubs_with_work(probe, schemas, chunk=settings.TENANT_WORK_PROBE_CHUNK)
    # No stagger: these clubs have work due now, and the queue already hands it to the workers
    # one task at a time. Staggered 2 s apart, the 50th busy club's apply ran 100 s late and
    # the workers held the waiting tasks unacknowledged (benchmarks/many_clubs.py --busy).
    queued = queue_in_clubs(task_name, found.due, within_seconds=0)
    logger.info(
        "Dispatched %s to %d of %d clubs (probe %.3f s%s)", task_name, queued, len(schemas),
        found.seconds, ", failed: fanned out" if found.failed else "",
    )  # fmt: skip
    return queued


def safety_net_buckets(period_seconds: int) -> int:
    """A period's minutes: each club's safety net for a task falls in one of them."""
    return max(1, period_seconds // 60)


def safety_net_buckets_due(*, last: int | None, minute: int, buckets: int) -> list[int]:
    """The buckets a safety-net run covers: those of every minute after `last` (the minute
    the previous run covered up to; minutes since the epoch) up to `minute`, all of them after a
    period or more. None (no run yet): this minute's only, not every club at once.

    Not just this minute's: beat's every-60-seconds drifts a little later each run (and a run
    can wait in the queue), so the minute read from the clock now and then jumps one, and that
    bucket's clubs would wait two periods."""
    if last is None:
        return [minute % buckets]
    if minute <= last:
        return []
    if minute - last >= buckets:
        return list(range(buckets))
    return sorted({covered % buckets for covered in range(last + 1, minute + 1)})


def _safety_net_key(task_name: str) -> str:
    return f"crm:safety-net:{task_name}"


def safety_net_cursor(task_name: str) -> int | None:
    """The minute `task_name`'s safety net has covered up to (None: it has not run yet)."""
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        raw = client.get(_safety_net_key(task_name))
    return None if raw is None else int(cast(bytes, raw))


def safety_net_cursor_set(task_name: str, minute: int) -> None:
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        client.set(_safety_net_key(task_name), minute)


@shared_task(name="crm.tasks.safety_net")
def safety_net(task_name: str, period_seconds: int) -> int:
    """Beat, every minute, for each dispatched task: queue `task_name`, whatever its probe
    says, in the ACTIVE clubs whose bucket (`stable_offset` of club and task over the period's
    minutes, the same every run) falls in the minutes since the last run, so each club gets it
    once every `period_seconds` and a wrongly idle probe delays its work by at most that. About
    clubs / minutes a run (1,000 clubs, 15 minutes: ~67) instead of every club at once.

    The cursor (Redis, one key a task) moves only once the clubs are queued: a run that fails
    leaves its minutes to the next. Two runs at once may queue a club twice (the tasks are
    idempotent), and one finishing late may set the cursor back a minute (the next run covers
    that minute again); neither skips a bucket. Returns how many were queued."""
    minute = int(timezone.now().timestamp() // 60)
    buckets = safety_net_buckets(period_seconds)
    slots = set(
        safety_net_buckets_due(last=safety_net_cursor(task_name), minute=minute, buckets=buckets)
    )
    if not slots:
        return 0
    schemas = [
        schema
        for schema in tenant_list_active().values_list("schema_name", flat=True)
        if stable_offset(schema, task_name, buckets) in slots
    ]
    # Spread over the minute, not 2 s apart: the next minute has its own bucket of clubs.
    queued = queue_in_clubs(task_name, schemas, within_seconds=60)
    safety_net_cursor_set(task_name, minute)
    logger.info("Safety net: %s queued in %d clubs (buckets %s)", task_name, queued, sorted(slots))
    return queued


@shared_task(name="crm.tasks.clear_expired_sessions")
def clear_expired_sessions() -> int:
    """Delete the current club's expired staff sessions (one statement; safe to repeat)."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
