"""How the CRM's events (crm/outbox) name a customer: the envelope's `identity`, with their
email, phone and upstream ids, in a Python form and an SQL form from one table of fields.

What profiles' events say about a customer beyond that is profiles' own: the payload keys that
name a customer (an erasure scrubs and an export finds the events by them) are listed here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from profiles.models import Customer

if TYPE_CHECKING:
    from profiles.projection import ProjectedCustomer

# identity key -> (customer attribute, whether a blank value means none)
_IDENTITY_FIELDS: dict[str, tuple[str, bool]] = {
    "customerId": ("id", False),
    "email": ("email", True),
    "phoneNumber": ("phone_number", True),
    "sclMemberId": ("scl_member_id", False),
    "teetimePlayerId": ("teetime_player_id", False),
    "messagingContactId": ("messaging_contact_id", False),
    "authUserId": ("auth_user_id", False),
}

# Payload keys of the CRM's events that hold a customer's id (crm.profile.merged names two).
PAYLOAD_CUSTOMER_KEYS = ("customerId", "winnerId", "loserId")
# Payload keys that say more about a person than their id: dropped when they are erased.
PAYLOAD_PERSONAL_KEYS = ("loserLinkedIds",)


def customer_identity(customer: Customer | ProjectedCustomer) -> dict[str, Any]:
    """The envelope's `identity` of a customer (keys without a value left out)."""
    ids: dict[str, Any] = {}
    for key, (attribute, blank_is_none) in _IDENTITY_FIELDS.items():
        value = getattr(customer, attribute)
        if blank_is_none and not value:
            value = None
        if value is not None:
            ids[key] = str(value) if attribute == "id" else value
    return ids


def customer_identity_sql(alias: str) -> str:
    """`customer_identity` as an SQL `jsonb` expression over the `profiles_customer` row
    `alias` (for crm.outbox's `outbox_insert_sql`)."""
    pairs = []
    for key, (attribute, blank_is_none) in _IDENTITY_FIELDS.items():
        field = Customer._meta.get_field(attribute)
        assert isinstance(field, models.Field)  # each of _IDENTITY_FIELDS is a column of its own
        column = f"{alias}.{field.column}"
        if attribute == "id":
            column = f"{column}::text"
        elif blank_is_none:
            column = f"NULLIF({column}, '')"
        pairs.append(f"'{key}', {column}")
    return f"jsonb_strip_nulls(jsonb_build_object({', '.join(pairs)}))"
