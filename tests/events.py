"""Building envelopes the way the upstream services write them (events.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

BASE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def envelope(
    type_: str,
    payload: dict[str, Any],
    *,
    source: str | None = None,
    identity: dict[str, Any] | None = None,
    at: int | datetime = 0,
    event_id: str | None = None,
    tenant_slug: str = "alpha-golf",
    **extra: Any,
) -> dict[str, Any]:
    """`at` is minutes after BASE (or a datetime)."""
    moment = at if isinstance(at, datetime) else BASE + timedelta(minutes=at)
    body = {
        "id": event_id or str(uuid.uuid4()),
        "type": type_,
        "version": 1,
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "tenantSlug": tenant_slug,
        "source": source or type_.split(".", 1)[0],
        "identity": identity or {},
        "payload": payload,
        "metadata": {"correlationId": str(uuid.uuid4())},
    }
    body.update(extra)
    return body


def member(member_id: int, *, at: int = 0, **fields: Any) -> dict[str, Any]:
    payload = {"memberId": member_id, "firstName": "Aoife", "lastName": "Byrne", "status": "ACTIVE",
               "tier": {"code": "FULL", "name": "Full"}, **fields}  # fmt: skip
    return envelope(
        "scl.member.created", payload, at=at,
        identity={"sclMemberId": member_id, **({"email": fields["email"]} if fields.get("email") else {})},
    )  # fmt: skip


def player(player_id: str, *, at: int = 0, **fields: Any) -> dict[str, Any]:
    return envelope(
        "teetime.player.created", {"playerId": player_id, "firstName": "Aoife", "lastName": "Byrne", **fields},
        at=at, identity={"teetimePlayerId": player_id},
    )  # fmt: skip


def contact(contact_id: str, *, at: int = 0, **fields: Any) -> dict[str, Any]:
    return envelope(
        "messaging.contact.created", {"contactId": contact_id, **fields}, at=at,
        identity={"messagingContactId": contact_id},
    )  # fmt: skip
