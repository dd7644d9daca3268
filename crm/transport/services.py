"""Dead letters: writing them (the consumer, the sweep) and retrying them (staff, in the admin).

The Redis queue `crm-events-dlq` holds each dead letter as a job whose data says what failed
(`dead_letter_data`); the `DeadLetter` table mirrors it for the admin. Both are written from
the same data, and either can be rebuilt into the other's shape, so the sweep can repair a
mirror the consumer could not write (the database was the thing that was down).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bullmq import Queue
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.db import tenant_connection
from crm.tenants.models import PlatformAuditEntry, Tenant
from crm.tenants.selectors import UUID_RE, tenant_get_by_reference
from crm.transport.inbound import read_job_data, tenant_reference_of
from crm.transport.models import DeadLetter, DeadLetterStatus
from crm.transport.priorities import event_priority
from crm.transport.queues import (
    ATTEMPTS,
    BACKOFF,
    DEAD_LETTER_DAYS,
    DEAD_LETTER_QUEUE,
    EVENTS_QUEUE,
    job_id_safe,
    open_queue,
    run_async,
)

logger = logging.getLogger(__name__)

RETRY_CHUNK = 500
SWEEP_LIMIT = 5000  # jobs looked at per queue per sweep: a backlog drains over a few minutes


def dead_letter_job_id(*, source_job_id: str, timestamp: int) -> str:
    """The DLQ job's id: the failed job's id and its creation time, so the same failure
    dead-lettered twice (a consumer that died between the two writes) is one entry, while a
    queue whose id counter was reset can never make a new failure collide with an old one."""
    return job_id_safe(f"{source_job_id}-{timestamp}")


def dead_letter_data(
    *,
    source_job_id: str,
    name: str,
    data: Any,
    raw_data: str,
    reason: str,
    permanent: bool,
    attempts: int,
    tenant: Tenant | None,
    tenant_reference: str,
    failed_at: datetime | None = None,
) -> dict[str, Any]:
    """What a dead letter's job on `crm-events-dlq` carries (camelCase, like the services)."""
    envelope = data if raw_data == "" else None
    return {
        "queue": EVENTS_QUEUE,
        "jobId": source_job_id,
        "name": name,
        "data": envelope,
        "rawData": raw_data or None,
        "reason": reason,
        "permanent": permanent,
        "attemptsMade": attempts,
        "failedAt": (failed_at or timezone.now()).isoformat().replace("+00:00", "Z"),
        "tenantId": str(tenant.id) if tenant else None,
        "tenantReference": tenant_reference,
    }


def _row_from(job_id: str, data: dict[str, Any]) -> DeadLetter:
    envelope = data.get("data")
    tenant_id = data.get("tenantId")
    tenant = (
        Tenant.objects.filter(id=tenant_id).first()
        if isinstance(tenant_id, str) and UUID_RE.match(tenant_id)
        else None
    )
    env = envelope if isinstance(envelope, dict) else {}
    failed_at = parse_datetime(str(data.get("failedAt") or "")) or timezone.now()
    return DeadLetter(
        job_id=job_id,
        source_job_id=str(data.get("jobId") or "")[:255],
        tenant=tenant,
        tenant_reference=str(data.get("tenantReference") or "")[:100],
        event_type=str(data.get("name") or env.get("type") or "")[:255],
        event_id=str(env.get("id") or "")[:255],
        source=str(env.get("source") or "")[:32],
        envelope=envelope,
        raw_data=str(data.get("rawData") or ""),
        reason=str(data.get("reason") or "(no reason given)"),
        permanent=bool(data.get("permanent")),
        attempts=max(0, min(int(data.get("attemptsMade") or 0), 32767)),
        failed_at=failed_at,
    )


def dead_letter_mirror(*, job_id: str, data: dict[str, Any]) -> DeadLetter:
    """The admin's row for a DLQ job; written once whatever calls it how often."""
    tenant_connection().set_schema_to_public()
    row = _row_from(job_id, data)
    DeadLetter.objects.bulk_create([row], ignore_conflicts=True)
    return DeadLetter.objects.get(job_id=job_id)


# --- retry ------------------------------------------------------------------------------------


def _retry_job(row: DeadLetter) -> dict[str, Any]:
    envelope = row.envelope or {}
    name = row.event_type or str(envelope.get("type") or "event")
    source = envelope.get("source") if isinstance(envelope.get("source"), str) else None
    return {
        "name": name,
        "data": envelope,
        "opts": {
            "attempts": ATTEMPTS,
            "backoff": BACKOFF,
            "priority": event_priority(name, source),
        },
    }


def dead_letters_retry(
    *, dead_letters: Iterable[DeadLetter], actor_label: str, actor_user: Any = None
) -> tuple[int, int]:
    """Put dead letters back on `crm-events` as new jobs (tried 3 times again) and take them off
    the DLQ. Returns (retried, skipped): a letter whose data was not JSON, or that was already
    retried, is skipped. Re-adding is safe whatever happened before: events are deduplicated by
    source and id when they are stored, never by job."""
    rows = list(dead_letters)
    retryable = [
        row
        for row in rows
        if row.status == DeadLetterStatus.DEAD and isinstance(row.envelope, dict)
    ]
    skipped = len(rows) - len(retryable)
    if not retryable:
        return 0, skipped

    async def requeue() -> None:
        async with open_queue(EVENTS_QUEUE) as events, open_queue(DEAD_LETTER_QUEUE) as dlq:
            for start in range(0, len(retryable), RETRY_CHUNK):
                chunk = retryable[start : start + RETRY_CHUNK]
                await events.addBulk([_retry_job(row) for row in chunk])
            for row in retryable:
                await dlq.remove(row.job_id)

    run_async(requeue)
    ids = [row.id for row in retryable]
    with transaction.atomic():
        DeadLetter.objects.filter(id__in=ids, status=DeadLetterStatus.DEAD).update(
            status=DeadLetterStatus.RETRIED, retried_at=timezone.now(), retried_by=actor_label
        )
        details = {"count": len(ids), "jobIds": [row.job_id for row in retryable][:1000]}
        if tenant_connection().schema_name == "public":
            tenants = {row.tenant_id for row in retryable}
            PlatformAuditEntry.objects.create(
                tenant_id=next(iter(tenants)) if len(tenants) == 1 else None,
                action="dead_letters.retried",
                actor=actor_label,
                details=details,
            )
        else:
            from crm.accounts.services import audit_record

            audit_record(
                action="dead_letters.retried",
                actor_user=actor_user,
                actor_label=actor_label,
                object_type="dead_letter",
                object_id=str(ids[0]) if len(ids) == 1 else "",
                details=details,
            )
    return len(ids), skipped


# --- the sweep --------------------------------------------------------------------------------


async def _raw_jobs(queue: Queue, state: str) -> list[tuple[str, dict[str, str]]]:
    # Read the hashes as stored: bullmq's Job.fromJSON raises on data that is not JSON.
    job_ids = await queue.backend.getRanges([state], 0, SWEEP_LIMIT - 1, True)
    jobs = []
    for job_id in job_ids:
        raw = await queue.client.hgetall(queue.toKey(job_id))
        if raw:
            jobs.append((job_id, raw))
    return jobs


def _stray_payload(source_job_id: str, raw: dict[str, str]) -> tuple[str, dict[str, Any]]:
    data, unreadable = read_job_data(raw.get("data", "null"))
    name, value = tenant_reference_of(data)
    reference = value.lower() if name == "tenantId" else value
    tenant = tenant_get_by_reference(reference=reference) if name else None
    payload = dead_letter_data(
        source_job_id=source_job_id,
        name=raw.get("name", ""),
        data=data,
        raw_data=raw.get("data", "") if unreadable else "",
        reason=raw.get("failedReason") or "Failed on crm-events.",
        permanent=False,
        attempts=int(raw.get("atm") or raw.get("attemptsMade") or 0),
        tenant=tenant,
        tenant_reference=value,
    )
    job_id = dead_letter_job_id(
        source_job_id=source_job_id, timestamp=int(raw.get("timestamp") or 0)
    )
    return job_id, payload


def dead_letters_sweep() -> dict[str, int]:
    """Every minute, in the public schema: move jobs that failed on crm-events without the
    consumer dead-lettering them (stalled more often than allowed, failed by some other worker)
    to the DLQ, mirror DLQ jobs the admin does not know yet, and drop dead letters older than
    DEAD_LETTER_DAYS from both. Redis work and database work alternate, never interleave."""
    tenant_connection().set_schema_to_public()
    grace_ms = DEAD_LETTER_DAYS * 24 * 60 * 60 * 1000

    async def read_strays_and_expire() -> tuple[list[tuple[str, dict[str, str]]], int]:
        async with open_queue(EVENTS_QUEUE) as events, open_queue(DEAD_LETTER_QUEUE) as dlq:
            strays = await _raw_jobs(events, "failed")
            expired = 0
            while len(removed := await dlq.clean(grace_ms, 1000, "wait")) == 1000:
                expired += len(removed)
            return strays, expired + len(removed)

    strays, expired_jobs = run_async(read_strays_and_expire)
    moved = [_stray_payload(job_id, raw) for job_id, raw in strays]

    async def move_strays_and_list() -> list[str]:
        async with open_queue(EVENTS_QUEUE) as events, open_queue(DEAD_LETTER_QUEUE) as dlq:
            for (dlq_id, payload), (source_job_id, _raw) in zip(moved, strays, strict=True):
                await dlq.add(payload["name"] or "event", payload, {"jobId": dlq_id})
                await events.remove(source_job_id)
            ids: list[str] = await dlq.backend.getRanges(["wait"], 0, SWEEP_LIMIT - 1, True)
            return ids

    dlq_ids = run_async(move_strays_and_list)
    known: set[str] = set()
    for start in range(0, len(dlq_ids), 1000):
        chunk = dlq_ids[start : start + 1000]
        known |= set(DeadLetter.objects.filter(job_id__in=chunk).values_list("job_id", flat=True))
    unknown = [job_id for job_id in dlq_ids if job_id not in known]

    async def read_unknown() -> list[tuple[str, dict[str, str]]]:
        async with open_queue(DEAD_LETTER_QUEUE) as dlq:
            return [(job_id, await dlq.client.hgetall(dlq.toKey(job_id))) for job_id in unknown]

    rows = []
    for job_id, raw in run_async(read_unknown) if unknown else []:
        data, _unreadable = read_job_data(raw.get("data", "null"))
        if isinstance(data, dict):
            rows.append(_row_from(job_id, data))
    DeadLetter.objects.bulk_create(rows, ignore_conflicts=True)
    cutoff = timezone.now() - timedelta(days=DEAD_LETTER_DAYS)
    expired_rows, _ = DeadLetter.objects.filter(failed_at__lt=cutoff).delete()
    if rows or expired_rows or moved:
        logger.info(
            "Dead letters: %d moved from crm-events, %d mirrored, %d expired",
            len(moved), len(rows), expired_rows,
        )  # fmt: skip
    return {
        "moved": len(moved),
        "mirrored": len(rows),
        "expiredJobs": expired_jobs,
        "expiredRows": expired_rows,
    }
