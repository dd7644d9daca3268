"""Writing to the outbox: the one envelope builder (events.md, "Envelope"), in its Python form
for events decided in Python and its SQL form for events a set-based statement makes.

Writers call `crm.transport.outbound.outbound_relay_soon()` in the same transaction when they
want the relay queued on commit; beat relays every club's outbox every minute in any case.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from crm.db import array_literal, copy_rows, tenant_connection
from crm.outbox.models import OutboundEvent
from crm.tenants.models import Tenant

ENVELOPE_VERSION = 1
SOURCE = "crm"

# (type, payload, identity) of one event, for `outbound_record_many`.
EventItem = tuple[str, dict[str, Any], dict[str, Any]]


class Sql(str):
    """An SQL expression standing in for one value of the envelope (its SQL form)."""


def _envelope(
    *,
    event_id: Any,
    event_type: Any,
    timestamp: Any,
    tenant_id: Any,
    tenant_slug: Any,
    identity: Any,
    payload: Any,
) -> dict[str, Any]:
    """The envelope, key by key: the one definition behind both forms. Its values are Python
    values, or `Sql` expressions when `envelope_sql` builds the SQL form."""
    return {
        "id": event_id,
        "type": event_type,
        "version": ENVELOPE_VERSION,
        "timestamp": timestamp,
        "tenantId": tenant_id,
        "tenantSlug": tenant_slug,
        "source": SOURCE,
        "identity": identity,
        "payload": payload,
        "metadata": {},
    }


def _tenant() -> Tenant | None:
    return Tenant.objects.filter(schema_name=tenant_connection().schema_name).first()


def _timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def envelope_build(
    *,
    event_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    identity: dict[str, Any],
    timestamp: str,
    tenant: Tenant | None,
) -> dict[str, Any]:
    """The envelope of one event, as published on `crm-outbound`."""
    return _envelope(
        event_id=str(event_id),
        event_type=event_type,
        timestamp=timestamp,
        tenant_id=str(tenant.id) if tenant else None,
        tenant_slug=tenant.slug if tenant else None,
        identity=identity,
        payload=payload,
    )


def outbound_record(
    *, event_type: str, payload: dict[str, Any], identity: dict[str, Any] | None = None
) -> OutboundEvent:
    """Write one event of the current club to the outbox (in the caller's transaction)."""
    event_id = uuid.uuid4()
    envelope = envelope_build(
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        identity=identity or {},
        timestamp=_timestamp(timezone.now()),
        tenant=_tenant(),
    )
    return OutboundEvent.objects.create(event_id=event_id, type=event_type, envelope=envelope)


def outbound_record_many(*, items: list[EventItem], tenant: Tenant | None = None) -> int:
    """Write many events `(type, payload, identity)` to the outbox in one COPY (the apply
    path writes hundreds per batch). Returns how many were written."""
    if not items:
        return 0
    tenant = tenant or _tenant()
    now = timezone.now()
    timestamp = _timestamp(now)
    rows = []
    for event_type, payload, identity in items:
        event_id = uuid.uuid4()
        envelope = envelope_build(
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            identity=identity,
            timestamp=timestamp,
            tenant=tenant,
        )
        rows.append((event_id, event_type, json.dumps(envelope), now))
    return copy_rows(
        OutboundEvent._meta.db_table, ["event_id", "type", "envelope", "created_at"], rows
    )


# --- the SQL form --------------------------------------------------------------------------------


def _sql_value(value: Any) -> str:
    if isinstance(value, Sql):
        return str(value)
    # A constant of the envelope (version, source, metadata): a JSON literal. Doubled quotes
    # for SQL, doubled percent signs for the driver's parameter syntax.
    literal = json.dumps(value).replace("'", "''").replace("%", "%%")
    return f"'{literal}'::jsonb"


def envelope_sql(*, event_id: str, identity: str, payload: str) -> str:
    """The envelope as an SQL expression (a `jsonb`): `event_id` is an expression of the
    event's UUID, `identity` and `payload` expressions of `jsonb` objects. It reads the named
    parameters of `outbox_sql_params` (`%(outbox_type)s`, …)."""
    parts = _envelope(
        event_id=Sql(f"({event_id})::text"),
        event_type=Sql("%(outbox_type)s::text"),
        timestamp=Sql("%(outbox_timestamp)s::text"),
        tenant_id=Sql("%(outbox_tenant_id)s::text"),
        tenant_slug=Sql("%(outbox_tenant_slug)s::text"),
        identity=Sql(identity),
        payload=Sql(payload),
    )
    pairs = ", ".join(f"'{key}', {_sql_value(value)}" for key, value in parts.items())
    return f"jsonb_build_object({pairs})"


def outbox_insert_sql(*, rows: str, event_id: str, identity: str, payload: str) -> str:
    """An `INSERT … SELECT` writing one event per row of `rows` (a FROM clause, joins
    included): for a statement that decides its events in SQL, e.g. a data-modifying CTE (add
    `RETURNING …` after it). `event_id` names a UUID column of `rows` (give each row a
    `gen_random_uuid()`), `identity` and `payload` are `jsonb` expressions over `rows`.
    Parameters: `outbox_sql_params`."""
    envelope = envelope_sql(event_id=event_id, identity=identity, payload=payload)
    return (
        f"INSERT INTO {connection.ops.quote_name(OutboundEvent._meta.db_table)} "
        "(event_id, type, envelope, created_at)\n"
        f"SELECT {event_id}, %(outbox_type)s, {envelope}, %(outbox_now)s\n"
        f"FROM {rows}"
    )


def outbox_sql_params(
    *, event_type: str, now: datetime, tenant: Tenant | None = None
) -> dict[str, Any]:
    """The named parameters the SQL form reads (merge them into the statement's own)."""
    tenant = tenant or _tenant()
    return {
        "outbox_type": event_type,
        "outbox_now": now,
        "outbox_timestamp": _timestamp(now),
        "outbox_tenant_id": str(tenant.id) if tenant else None,
        "outbox_tenant_slug": tenant.slug if tenant else None,
    }


# --- erasure -------------------------------------------------------------------------------------

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def outbox_scrub(
    *,
    customer_ids: Iterable[str],
    payload_id_keys: tuple[str, ...],
    payload_drop_keys: tuple[str, ...] = (),
) -> list[str]:
    """Erase a person from the outbox (in the caller's transaction): every event whose
    `identity.customerId`, or a payload key of `payload_id_keys`, names one of `customer_ids`
    keeps only the customer id in its identity and loses the payload keys of
    `payload_drop_keys`. Returns the ids of those events already relayed (the caller withdraws
    them from the queue after commit)."""
    for key in (*payload_id_keys, *payload_drop_keys):
        if not _KEY.match(key):
            raise ValueError(f"Not a payload key: {key!r}")
    scrubbed = "envelope"
    for key in payload_drop_keys:
        scrubbed = f"{scrubbed} #- '{{payload,{key}}}'"
    naming = " OR ".join(
        ["envelope->'identity'->>'customerId' = ANY(%(ids)s::text[])"]
        + [f"envelope->'payload'->>'{key}' = ANY(%(ids)s::text[])" for key in payload_id_keys]
    )
    sql = (
        f"UPDATE {connection.ops.quote_name(OutboundEvent._meta.db_table)} "  # noqa: S608
        f"SET envelope = jsonb_set({scrubbed}, '{{identity}}', "
        "CASE WHEN envelope->'identity' ? 'customerId' "
        "THEN jsonb_build_object('customerId', envelope->'identity'->'customerId') "
        "ELSE '{}'::jsonb END) "
        f"WHERE {naming} "
        "RETURNING event_id::text, published_at IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": array_literal(customer_ids)})
        return [event_id for event_id, published in cursor.fetchall() if published]


def outbox_republish(*, event_ids: list[str]) -> int:
    """Mark these events unpublished, for the relay to publish them again as they now are."""
    return OutboundEvent.objects.filter(event_id__in=event_ids).update(published_at=None)
