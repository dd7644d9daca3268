"""The CRM's own events (events.md, "What the CRM publishes"), written to the outbox in the
transaction that decided them. Publishing to `crm-outbound` and webhooks reads the outbox."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection
from django.utils import timezone

from crm.tenants.models import Tenant
from profiles.models import Customer, OutboundEvent


def _tenant() -> Tenant | None:
    return Tenant.objects.filter(schema_name=connection.schema_name).first()


def outbound_record(
    *, event_type: str, payload: dict[str, Any], identity: dict[str, Any] | None = None
) -> OutboundEvent:
    return outbound_record_many(items=[(event_type, payload, identity or {})])[0]


def outbound_record_many(
    *, items: list[tuple[str, dict[str, Any], dict[str, Any]]]
) -> list[OutboundEvent]:
    tenant = _tenant()
    now = timezone.now().isoformat().replace("+00:00", "Z")
    rows = []
    for event_type, payload, identity in items:
        event_id = uuid.uuid4()
        rows.append(
            OutboundEvent(
                event_id=event_id,
                type=event_type,
                envelope={
                    "id": str(event_id),
                    "type": event_type,
                    "version": 1,
                    "timestamp": now,
                    "tenantId": str(tenant.id) if tenant else None,
                    "tenantSlug": tenant.slug if tenant else None,
                    "source": "crm",
                    "identity": identity,
                    "payload": payload,
                    "metadata": {},
                },
            )
        )
    return OutboundEvent.objects.bulk_create(rows)


def customer_identity(customer: Customer) -> dict[str, Any]:
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
