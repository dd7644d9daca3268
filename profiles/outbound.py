"""The CRM's own events (events.md, "What the CRM publishes"), written to the outbox in the
transaction that decided them. Publishing to `crm-outbound` and webhooks reads the outbox."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.utils import timezone

from crm.db import copy_rows
from crm.tenants.models import Tenant
from profiles.models import Customer, OutboundEvent

if TYPE_CHECKING:
    from profiles.projection import ProjectedCustomer


def _tenant() -> Tenant | None:
    return Tenant.objects.filter(schema_name=connection.schema_name).first()


def _timestamp() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _envelope(
    tenant: Tenant | None,
    event_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    identity: dict[str, Any],
    timestamp: str,
) -> dict[str, Any]:
    return {
        "id": str(event_id),
        "type": event_type,
        "version": 1,
        "timestamp": timestamp,
        "tenantId": str(tenant.id) if tenant else None,
        "tenantSlug": tenant.slug if tenant else None,
        "source": "crm",
        "identity": identity,
        "payload": payload,
        "metadata": {},
    }


def outbound_record(
    *, event_type: str, payload: dict[str, Any], identity: dict[str, Any] | None = None
) -> OutboundEvent:
    event_id = uuid.uuid4()
    return OutboundEvent.objects.create(
        event_id=event_id,
        type=event_type,
        envelope=_envelope(_tenant(), event_id, event_type, payload, identity or {}, _timestamp()),
    )


def outbound_record_many(
    *, items: list[tuple[str, dict[str, Any], dict[str, Any]]], tenant: Tenant | None = None
) -> int:
    """Write many events `(type, payload, identity)` to the outbox in one COPY (the apply
    path writes hundreds per batch). Returns how many were written."""
    if not items:
        return 0
    tenant = tenant or _tenant()
    now = timezone.now()
    timestamp = now.isoformat().replace("+00:00", "Z")
    rows = []
    for event_type, payload, identity in items:
        event_id = uuid.uuid4()
        envelope = _envelope(tenant, event_id, event_type, payload, identity, timestamp)
        rows.append((event_id, event_type, json.dumps(envelope), now))
    return copy_rows(
        OutboundEvent._meta.db_table, ["event_id", "type", "envelope", "created_at"], rows
    )


def customer_identity(customer: Customer | ProjectedCustomer) -> dict[str, Any]:
    ids = {
        "customerId": str(customer.id),
        "email": customer.email or None,
        "phoneNumber": customer.phone_number or None,
        "sclMemberId": customer.scl_member_id,
        "teetimePlayerId": customer.teetime_player_id,
        "messagingContactId": customer.messaging_contact_id,
        "authUserId": customer.auth_user_id,
    }
    return {key: value for key, value in ids.items() if value is not None}
