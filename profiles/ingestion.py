"""Taking events in: validate each envelope, store the valid ones durably, answer per event.

Shared by every transport (REST batches, signed webhooks, the replay command, later BullMQ), so
the same events through any mix of them give the same result. Storing is one INSERT … ON
CONFLICT DO NOTHING RETURNING per batch: what comes back was new (accepted), what does not was
seen before (duplicate), and nothing is answered "accepted" before it is committed.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from crm.jsonsafe import find_problem, text_problem
from crm.tenants.models import Tenant, TenantSlug
from profiles.envelope import SLOT_AVAILABILITY, validate_envelope

MAX_BATCH = 1000
MAX_ENVELOPE_BYTES = 64 * 1024
# Set while the club's apply task is queued and not yet started (see `_trigger_apply`).
APPLY_QUEUED_KEY = "profiles.apply-queued"
APPLY_QUEUED_SECONDS = 30

_INSERT = """
INSERT INTO profiles_rawevent
    (source, event_id, type, received_type, version, occurred_at, received_at, transport,
     envelope, status, attempts, last_error)
VALUES {values}
ON CONFLICT (source, event_id) DO NOTHING
RETURNING source, event_id
"""
_ROW = "(%s, %s, %s, %s, %s, %s, now(), %s, %s::jsonb, 'PENDING', 0, '')"


def events_ingest(*, tenant: Tenant, envelopes: list[Any], transport: str) -> list[dict[str, Any]]:
    """Validate and store up to MAX_BATCH envelopes for the current club (the caller has made
    `tenant` the active schema). Returns one result per envelope, in order:
    `{"id", "status": "accepted" | "duplicate" | "rejected", "errors"?, "warnings"?}`."""
    if len(envelopes) > MAX_BATCH:
        raise ValueError(f"At most {MAX_BATCH} events per batch.")
    slugs = frozenset(TenantSlug.objects.filter(tenant=tenant).values_list("slug", flat=True))
    results: list[dict[str, Any]] = []
    rows: dict[tuple[str, str], tuple[int, list[Any]]] = {}
    for index, data in enumerate(envelopes):
        event_id = data.get("id") if isinstance(data, dict) else None
        result: dict[str, Any] = {"id": event_id if isinstance(event_id, str | int) else None}
        results.append(result)
        # A NUL, an unpaired surrogate, a non-finite number or absurd nesting would fail the
        # batch's one INSERT (or json.dumps) for every event: refuse this event alone.
        problem = find_problem(data, max_depth=settings.MAX_JSON_DEPTH)
        if problem:
            path, message = problem
            if path == "body":
                path = "nonFieldErrors"
            result.update(status="rejected", errors={path: [message]})
            if isinstance(result["id"], str) and text_problem(result["id"]):
                result["id"] = None  # it could not even be written back in the answer
            continue
        encoded = json.dumps(data, separators=(",", ":"), default=str)
        if len(encoded) > MAX_ENVELOPE_BYTES:
            result.update(
                status="rejected",
                errors={"nonFieldErrors": [f"Larger than {MAX_ENVELOPE_BYTES} bytes."]},
            )
            continue
        env, errors = validate_envelope(data, tenant=tenant, tenant_slugs=slugs)
        if env is None:
            result.update(status="rejected", errors=errors)
            continue
        if env.type == SLOT_AVAILABILITY and env.known and env.payload["teeTime"] <= timezone.now():
            # Checked when received, not when applied (apply validates again, later): a slot
            # whose tee time has gone is nothing to fill, and an old one must not reopen a gap.
            result.update(
                status="rejected",
                errors={"payload.teeTime": ["The slot's tee time has passed: a slot in the past."]},
            )
            continue
        if env.warnings:
            result["warnings"] = env.warnings
        key = (env.source, env.event_id)
        if key in rows:
            result["status"] = "duplicate"  # the same event twice in one batch
            continue
        rows[key] = (
            index,
            [env.source, env.event_id, env.type, env.received_type, env.version,
             env.occurred_at, transport, encoded],
        )  # fmt: skip

    inserted: set[tuple[str, str]] = set()
    if rows:
        params = [value for _index, row in rows.values() for value in row]
        sql = _INSERT.format(values=", ".join([_ROW] * len(rows)))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            inserted = {tuple(row) for row in cursor.fetchall()}
            if inserted:
                transaction.on_commit(_trigger_apply)
    for key, (index, _row) in rows.items():
        results[index]["status"] = "accepted" if key in inserted else "duplicate"
    return results


def _trigger_apply() -> None:
    """Queue the club's apply task, unless one is queued and has not started yet: that one
    will read these events too (it clears the flag before it reads the pending events, so an
    event stored after that queues the next task). Without this a club sending 50 requests a
    second queued 50 tasks a second, each finding the one before had done the work: 2,500
    tasks behind after a busy minute (`benchmarks/many_clubs.py --busy`). The flag is the
    club's own (the cache's keys carry the schema) and expires, so a lost task holds it back
    for at most `APPLY_QUEUED_SECONDS`; beat's dispatcher queues the task every minute while
    any event is pending anyway."""
    from profiles.tasks import apply_pending_events

    if cache.add(APPLY_QUEUED_KEY, 1, timeout=APPLY_QUEUED_SECONDS):
        apply_pending_events.delay()
