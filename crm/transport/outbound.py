"""What the CRM puts on BullMQ queues: its own events (`crm-outbound`, from the outbox) and
send requests for the Messaging Service (`messaging-send`).

Relay. `crm.outbox` rows (`OutboundEvent`) are written in the transaction that decided them, with
`published_at` NULL. `outbound_events_relay` takes unpublished rows of the current club in id
order (`FOR UPDATE SKIP LOCKED`, so two relays never take the same rows), adds them to
`crm-outbound` in one call per batch (name = event type, data = the envelope, job id = the
event id), then marks them published in one UPDATE in the same transaction. A relay that dies
after adding and before committing leaves the rows unpublished; the next relay adds them again
under the same job ids, which BullMQ ignores while the first jobs are kept (a day). Delivery is
at least once, as events.md says of every event: consumers dedup on the envelope's `id`.

Send requests. `messaging_send_enqueue` validates the request shape of messaging.md and adds
one job per request (name = channel, data = the request, job id = the idempotency key), so a
repeated add of the same key is a no-op.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.db import tenant_connection
from crm.outbox.models import OutboundEvent
from crm.transport.queues import (
    MESSAGING_QUEUE,
    OUTBOUND_QUEUE,
    PRODUCED_JOB_OPTIONS,
    job_id_safe,
    open_queue,
    run_async,
)

logger = logging.getLogger(__name__)

RELAY_BATCH = 500
RELAY_MAX_BATCHES = 40  # 20,000 events per task at most; a bigger backlog re-queues itself

MESSAGING_CHANNELS = ("email", "sms", "push")
MAX_SEND_BATCH = 500  # messaging.md: the batch size of the HTTP transport, kept for BullMQ


def outbound_relay_soon() -> None:
    """Queue a relay of the current club's outbox once the current transaction commits (the
    hook the outbox's writers call; beat sweeps up every minute in any case)."""
    if tenant_connection().schema_name == "public":
        return
    transaction.on_commit(_queue_relay)


def _queue_relay() -> None:
    from crm.transport.tasks import relay_outbound_events

    relay_outbound_events.delay()


def outbound_events_relay(
    *, batch_size: int = RELAY_BATCH, max_batches: int = RELAY_MAX_BATCHES
) -> int:
    """Relay the current club's unpublished outbox rows to `crm-outbound`. Returns how many."""
    total = 0
    for _ in range(max_batches):
        with transaction.atomic():
            rows = list(
                OutboundEvent.objects.select_for_update(skip_locked=True)
                .filter(published_at__isnull=True)
                .order_by("id")
                .values_list("id", "event_id", "type", "envelope")[:batch_size]
            )
            if not rows:
                break
            jobs = [
                {
                    "name": event_type,
                    "data": envelope,
                    "opts": {**PRODUCED_JOB_OPTIONS, "jobId": str(event_id)},
                }
                for _id, event_id, event_type, envelope in rows
            ]

            async def add(jobs: list[dict[str, Any]] = jobs) -> None:
                async with open_queue(OUTBOUND_QUEUE) as queue:
                    await queue.addBulk(jobs)

            run_async(add)
            OutboundEvent.objects.filter(id__in=[row[0] for row in rows]).update(
                published_at=timezone.now()
            )
        total += len(rows)
        if len(rows) < batch_size:
            break
    if total:
        logger.info("Relayed %d outbound events to %s", total, OUTBOUND_QUEUE)
    return total


# Jobs no consumer has taken yet: withdrawn and published again as the outbox row now is.
_NOT_TAKEN = ("waiting", "delayed", "prioritized", "paused", "waiting-children")


def outbound_jobs_withdraw(*, event_ids: list[str]) -> list[str]:
    """Take these events' jobs off `crm-outbound` (an erasure scrubbed their envelopes in the
    outbox): Redis keeps no copy of what they said. Returns the ids no consumer had taken yet,
    for the caller to publish again as they now are; a job being processed right now is left
    alone (its consumer has the data already)."""
    if not event_ids:
        return []

    async def withdraw() -> list[str]:
        unsent = []
        async with open_queue(OUTBOUND_QUEUE) as queue:
            for event_id in event_ids:
                state = await queue.getJobState(event_id)
                if state == "active" or state == "unknown":
                    continue
                if state in _NOT_TAKEN:
                    unsent.append(event_id)
                await queue.remove(event_id)
        return unsent

    return run_async(withdraw)


class SendRequestError(ValueError):
    """A send request that does not have messaging.md's shape; `errors` by field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def _send_request_errors(request: Any) -> dict[str, list[str]]:
    if not isinstance(request, dict):
        return {"nonFieldErrors": ["A send request must be an object."]}
    errors: dict[str, list[str]] = {}
    for name in ("idempotencyKey", "tenantId", "templateId"):
        value = request.get(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = ["This field is required."]
    key = request.get("idempotencyKey")
    if isinstance(key, str) and (":" in key or key.isdigit() or len(key) > 200):
        errors["idempotencyKey"] = ["Use a UUID (no colon, not a whole number, at most 200)."]
    channel = request.get("channel")
    if channel not in MESSAGING_CHANNELS:
        errors["channel"] = [f"Must be one of {', '.join(MESSAGING_CHANNELS)}."]
    to = request.get("to")
    if not isinstance(to, dict):
        errors["to"] = ["This field is required."]
    elif channel == "email" and not to.get("email"):
        errors["to.email"] = ["An email request needs an email address."]
    elif channel == "sms" and not to.get("phoneNumber"):
        errors["to.phoneNumber"] = ["An sms request needs a phone number."]
    for name in ("variables", "content", "metadata"):
        if request.get(name) is not None and not isinstance(request.get(name), dict):
            errors[name] = ["Must be an object."]
    return errors


def messaging_send_enqueue(*, requests: list[dict[str, Any]]) -> list[str]:
    """Add send requests (messaging.md) to `messaging-send`; returns their job ids (the
    idempotency keys). All or nothing on validation: one malformed request raises
    `SendRequestError` naming it, and nothing is added. The caller creates and stores each
    key before calling, so a retry after a crash reuses it and adds nothing twice."""
    if not requests:
        return []
    if len(requests) > MAX_SEND_BATCH:
        raise ValueError(f"At most {MAX_SEND_BATCH} send requests per call.")
    errors: dict[str, list[str]] = {}
    for index, request in enumerate(requests):
        for path, messages in _send_request_errors(request).items():
            errors[f"{index}.{path}"] = messages
    if errors:
        raise SendRequestError(errors)
    jobs = [
        {
            "name": request["channel"],
            "data": request,
            "opts": {**PRODUCED_JOB_OPTIONS, "jobId": job_id_safe(request["idempotencyKey"])},
        }
        for request in requests
    ]

    async def add() -> None:
        async with open_queue(MESSAGING_QUEUE) as queue:
            await queue.addBulk(jobs)

    run_async(add)
    return [job["opts"]["jobId"] for job in jobs]
