"""Validation of inbound event envelopes (../shared/contracts/events.md).

`validate_envelope` answers, for one envelope, either a clean `Envelope` or the errors by field
path (`payload.email`, `identity.phoneNumber`, `tenantId`) that the API returns. The catalogue
of version 1 payloads is validated field by field; an unknown type or version is accepted as
such (kept and shown raw, never dropped) with only the envelope itself validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from crm.tenants.models import Tenant
from profiles.normalise import normalise_email, normalise_phone

SOURCES = ("scl", "teetime", "messaging")

# "Names the producers also use" (events.md): read as the catalogue's names.
ALIASES = {
    "scl.tier.changed": "scl.member.tier.changed",
    "scl.member.status_changed": "scl.member.status.changed",
    "teetime.booked": "teetime.booking.created",
    "teetime.completed": "teetime.booking.completed",
    "teetime.tournament.published": "teetime.competition.published",
}

MEMBER_STATUSES = ("ACTIVE", "LAPSED", "SUSPENDED", "RESIGNED", "DECEASED")
CHANNELS = ("EMAIL", "SMS", "PUSH", "WHATSAPP")
_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,127}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Envelope:
    """A validated envelope: the catalogue type, normalised identity, the raw dict kept as is."""

    event_id: str
    source: str
    type: str
    received_type: str
    version: int
    occurred_at: datetime
    identity: dict[str, Any]
    payload: dict[str, Any]
    raw: dict[str, Any]
    known: bool
    warnings: list[str] = field(default_factory=list)


class _Errors:
    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path, []).append(message)


def canonical_type(received: str, source: str) -> str:
    if received in ALIASES:
        return ALIASES[received]
    if source == "messaging" and not received.startswith("messaging."):
        return f"messaging.{received}"
    return received


# --- field checkers: each returns the cleaned value or records an error and returns None ------


def _str(errors: _Errors, data: dict, path: str, name: str, *, required: bool, max_len: int = 255):
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors.add(f"{path}{name}", "This field is required.")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # ids sometimes arrive as numbers
    if not isinstance(value, str):
        errors.add(f"{path}{name}", "Must be a string.")
        return None
    value = value.strip()
    if len(value) > max_len:
        errors.add(f"{path}{name}", f"At most {max_len} characters.")
        return None
    return value


def _int(errors: _Errors, data: dict, path: str, name: str, *, required: bool):
    value = data.get(name)
    if value is None:
        if required:
            errors.add(f"{path}{name}", "This field is required.")
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        errors.add(f"{path}{name}", "Must be a positive whole number.")
        return None
    return value


def _number(errors: _Errors, data: dict, path: str, name: str):
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors.add(f"{path}{name}", "Must be a number.")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors.add(f"{path}{name}", "Must be a number.")
        return None
    if not number.is_finite() or abs(number) > 1000:
        errors.add(f"{path}{name}", "Out of range.")
        return None
    return float(number)


def _bool(errors: _Errors, data: dict, path: str, name: str, *, required: bool):
    value = data.get(name)
    if value is None:
        if required:
            errors.add(f"{path}{name}", "This field is required.")
        return None
    if not isinstance(value, bool):
        errors.add(f"{path}{name}", "Must be true or false.")
        return None
    return value


def _choice(errors: _Errors, data: dict, path: str, name: str, choices, *, required: bool):
    value = _str(errors, data, path, name, required=required, max_len=32)
    if value is not None and value.upper() not in choices:
        errors.add(f"{path}{name}", f"Must be one of {', '.join(choices)}.")
        return None
    return value.upper() if value else None


def _date(errors: _Errors, data: dict, path: str, name: str):
    value = data.get(name)
    if value in (None, ""):
        return None
    parsed = parse_date(value) if isinstance(value, str) else None
    if parsed is None and isinstance(value, str):
        moment = parse_datetime(value)
        parsed = moment.date() if moment else None
    if parsed is None:
        errors.add(f"{path}{name}", "Must be a date (YYYY-MM-DD).")
        return None
    return parsed.isoformat()


def _datetime(errors: _Errors, data: dict, path: str, name: str, *, required: bool = False):
    value = data.get(name)
    if value in (None, ""):
        if required:
            errors.add(f"{path}{name}", "This field is required.")
        return None
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        errors.add(f"{path}{name}", "Must be an ISO 8601 date and time.")
        return None
    if moment.tzinfo is None:
        errors.add(f"{path}{name}", "Must include a UTC offset (e.g. 2026-11-20T09:15:03Z).")
        return None
    return moment


def _email(errors: _Errors, data: dict, path: str, name: str):
    value = _str(errors, data, path, name, required=False, max_len=254)
    if value is None:
        return None
    value = normalise_email(value)
    if not _EMAIL_RE.match(value):
        errors.add(f"{path}{name}", "Enter a valid email address.")
        return None
    return value


def _phone(errors: _Errors, data: dict, path: str, name: str, country: str):
    value = _str(errors, data, path, name, required=False, max_len=40)
    if value is None:
        return None
    e164 = normalise_phone(value, default_country=country)
    if e164 is None:
        errors.add(f"{path}{name}", "Not a phone number.")
    return e164


def _money(
    errors: _Errors, data: dict, path: str, amount: str = "amount", currency: str = "currency"
):
    raw_amount = data.get(amount)
    raw_currency = data.get(currency)
    if raw_amount is None and raw_currency is None:
        return None
    try:
        value = Decimal(str(raw_amount)) if isinstance(raw_amount, str | int) else None
    except InvalidOperation:
        value = None
    # Only a finite decimal's exponent is a number (NaN's and infinity's are letters: n, N, F).
    exponent = value.as_tuple().exponent if value is not None else None
    if value is None or not isinstance(exponent, int) or exponent < -2:
        errors.add(f"{path}{amount}", 'Must be a decimal string such as "45.00".')
        return None
    if not isinstance(raw_currency, str) or not re.fullmatch(r"[A-Z]{3}", raw_currency):
        errors.add(f"{path}{currency}", "Must be an ISO 4217 code such as EUR.")
        return None
    return int(value * 100), raw_currency


def _object(errors: _Errors, data: dict, path: str, name: str) -> dict | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(f"{path}{name}", "Must be an object.")
        return None
    return value


# --- payloads of catalogue version 1 -------------------------------------------------------------


def _member_payload(e: _Errors, p: dict, country: str) -> dict:
    out = {
        "memberId": _int(e, p, "payload.", "memberId", required=True),
        "membershipNumber": _str(e, p, "payload.", "membershipNumber", required=False),
        "firstName": _str(e, p, "payload.", "firstName", required=False, max_len=100),
        "lastName": _str(e, p, "payload.", "lastName", required=False, max_len=100),
        "email": _email(e, p, "payload.", "email"),
        "phoneNumber": _phone(e, p, "payload.", "phoneNumber", country),
        "dateOfBirth": _date(e, p, "payload.", "dateOfBirth"),
        "gender": _str(e, p, "payload.", "gender", required=False, max_len=16),
        "status": _choice(e, p, "payload.", "status", MEMBER_STATUSES, required=False),
        "joinedOn": _date(e, p, "payload.", "joinedOn"),
        "renewalDueOn": _date(e, p, "payload.", "renewalDueOn"),
    }
    tier = _object(e, p, "payload.", "tier")
    if tier is not None:
        out["tier"] = {
            "code": _str(e, tier, "payload.tier.", "code", required=True, max_len=64),
            "name": _str(e, tier, "payload.tier.", "name", required=False, max_len=100),
        }
    address = _object(e, p, "payload.", "address")
    if address is not None:
        out["address"] = {
            key: _str(e, address, "payload.address.", key, required=False)
            for key in ("line1", "city", "postcode", "country")
        }
    return out


def _tier_changed(e: _Errors, p: dict, country: str) -> dict:
    out = {"memberId": _int(e, p, "payload.", "memberId", required=True)}
    for side in ("fromTier", "toTier"):
        tier = _object(e, p, "payload.", side)
        if tier is None and side == "toTier":
            e.add("payload.toTier", "This field is required.")
        elif tier is not None:
            out[side] = {
                "code": _str(e, tier, f"payload.{side}.", "code", required=True, max_len=64),
                "name": _str(e, tier, f"payload.{side}.", "name", required=False, max_len=100),
            }
    return out


def _status_changed(e: _Errors, p: dict, country: str) -> dict:
    return {
        "memberId": _int(e, p, "payload.", "memberId", required=True),
        "fromStatus": _choice(e, p, "payload.", "fromStatus", MEMBER_STATUSES, required=False),
        "toStatus": _choice(e, p, "payload.", "toStatus", MEMBER_STATUSES, required=True),
        "reason": _str(e, p, "payload.", "reason", required=False, max_len=300),
    }


def _member_deleted(e: _Errors, p: dict, country: str) -> dict:
    return {
        "memberId": _int(e, p, "payload.", "memberId", required=True),
        "reason": _str(e, p, "payload.", "reason", required=False, max_len=100),
    }


def _payment(e: _Errors, p: dict, country: str) -> dict:
    money = _money(e, p, "payload.")
    if money is None and "payload.amount" not in e.by_path:
        e.add("payload.amount", "This field is required.")
    return {
        "paymentId": _str(e, p, "payload.", "paymentId", required=True, max_len=128),
        "memberId": _int(e, p, "payload.", "memberId", required=True),
        "amountCents": money[0] if money else None,
        "currency": money[1] if money else None,
        "purpose": _str(e, p, "payload.", "purpose", required=False, max_len=32),
        "failureReason": _str(e, p, "payload.", "failureReason", required=False, max_len=300),
    }


def _player(e: _Errors, p: dict, country: str) -> dict:
    return {
        "playerId": _str(e, p, "payload.", "playerId", required=True, max_len=128),
        "firstName": _str(e, p, "payload.", "firstName", required=False, max_len=100),
        "lastName": _str(e, p, "payload.", "lastName", required=False, max_len=100),
        "email": _email(e, p, "payload.", "email"),
        "phoneNumber": _phone(e, p, "payload.", "phoneNumber", country),
        "handicapIndex": _number(e, p, "payload.", "handicapIndex"),
        "gender": _str(e, p, "payload.", "gender", required=False, max_len=16),
        "dateOfBirth": _date(e, p, "payload.", "dateOfBirth"),
        "homeClubId": _str(e, p, "payload.", "homeClubId", required=False, max_len=128),
        "sclMemberId": _int(e, p, "payload.", "sclMemberId", required=False),
    }


def _handicap(e: _Errors, p: dict, country: str) -> dict:
    return {
        "playerId": _str(e, p, "payload.", "playerId", required=True, max_len=128),
        "fromIndex": _number(e, p, "payload.", "fromIndex"),
        "toIndex": _number(e, p, "payload.", "toIndex"),
    }


def _booking(e: _Errors, p: dict, country: str) -> dict:
    out = {
        "bookingId": _str(e, p, "payload.", "bookingId", required=True, max_len=128),
        "playerId": _str(e, p, "payload.", "playerId", required=True, max_len=128),
        "teeTime": _datetime(e, p, "payload.", "teeTime"),
        "holes": _int(e, p, "payload.", "holes", required=False),
        "channel": _str(e, p, "payload.", "channel", required=False, max_len=16),
        "reason": _str(e, p, "payload.", "reason", required=False, max_len=300),
    }
    course = _object(e, p, "payload.", "course")
    if course is not None:
        out["courseName"] = _str(e, course, "payload.course.", "name", required=False)
        out["courseId"] = _str(e, course, "payload.course.", "id", required=False, max_len=128)
    price = _object(e, p, "payload.", "price")
    if price is not None:
        money = _money(e, price, "payload.price.")
        out["amountCents"], out["currency"] = money if money else (None, None)
    guests = p.get("guestPlayerIds")
    if guests is not None:
        if not isinstance(guests, list) or len(guests) > 20:
            e.add("payload.guestPlayerIds", "Must be a list of at most 20 player ids.")
        else:
            cleaned: list[str] = []
            for index, guest in enumerate(guests):
                if isinstance(guest, int) and not isinstance(guest, bool):
                    guest = str(guest)
                if not isinstance(guest, str) or not guest.strip() or len(guest) > 128:
                    e.add(f"payload.guestPlayerIds[{index}]", "Must be a player id.")
                    continue
                if guest.strip() != out.get("playerId") and guest.strip() not in cleaned:
                    cleaned.append(guest.strip())
            out["guestPlayerIds"] = cleaned
    party = p.get("partySize")
    if party is not None:
        if isinstance(party, bool) or not isinstance(party, int) or not 1 <= party <= 20:
            e.add("payload.partySize", "Must be a whole number from 1 to 20.")
        else:
            out["partySize"] = party
    return out


SLOT_AVAILABILITY = "teetime.slot.availability"


def _places(errors: _Errors, data: dict, path: str, name: str):
    value = data.get(name)
    if value is None:
        errors.add(f"{path}{name}", "This field is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        errors.add(f"{path}{name}", "Must be a whole number of places (0 or more).")
        return None
    return value


def _slot(e: _Errors, p: dict, country: str) -> dict:
    """A slot's availability. Booked places above capacity are refused (TeeTime never means
    that; storing it would show a negative gap); so is a slot whose tee time is before the
    event's own timestamp (validate_envelope), and, when received, one already past
    (profiles.ingestion)."""
    out = {
        "slotId": _str(e, p, "payload.", "slotId", required=True, max_len=128),
        "teeTime": _datetime(e, p, "payload.", "teeTime", required=True),
        "holes": _int(e, p, "payload.", "holes", required=False),
        "capacity": _places(e, p, "payload.", "capacity"),
        "booked": _places(e, p, "payload.", "booked"),
        "bookingUrl": _str(e, p, "payload.", "bookingUrl", required=False, max_len=1800),
    }
    if out["holes"] is not None and out["holes"] not in (9, 18):
        e.add("payload.holes", "Must be 9 or 18.")
    if out["capacity"] == 0:
        e.add("payload.capacity", "A slot has at least one place.")
    if out["capacity"] and out["booked"] is not None and out["booked"] > out["capacity"]:
        e.add(
            "payload.booked",
            f"{out['booked']} places booked is more than the slot's capacity of {out['capacity']}.",
        )
    url = out["bookingUrl"]
    if url is not None and not re.match(r"^https?://[^\s]+$", url):
        e.add("payload.bookingUrl", "Must be an http(s) address.")
    course = _object(e, p, "payload.", "course")
    if course is not None:
        out["courseId"] = _str(e, course, "payload.course.", "id", required=False, max_len=128)
        out["courseName"] = _str(e, course, "payload.course.", "name", required=False, max_len=200)
    price = _object(e, p, "payload.", "price")
    if price is not None:
        money = _money(e, price, "payload.price.")
        out["amountCents"], out["currency"] = money if money else (None, None)
    rules = _object(e, p, "payload.", "rules")
    if rules is not None:
        out["memberOnly"] = _bool(e, rules, "payload.rules.", "memberOnly", required=False)
        out["maxHandicap"] = _number(e, rules, "payload.rules.", "maxHandicap")
    return out


def _competition(e: _Errors, p: dict, country: str) -> dict:
    return {
        "competitionId": _str(e, p, "payload.", "competitionId", required=True, max_len=128),
        "name": _str(e, p, "payload.", "name", required=False, max_len=200),
        "startsAt": _datetime(e, p, "payload.", "startsAt"),
        "reason": _str(e, p, "payload.", "reason", required=False, max_len=300),
    }


def _entry(e: _Errors, p: dict, country: str) -> dict:
    return {
        "competitionId": _str(e, p, "payload.", "competitionId", required=True, max_len=128),
        "playerId": _str(e, p, "payload.", "playerId", required=True, max_len=128),
    }


def _score(e: _Errors, p: dict, country: str) -> dict:
    return {
        "competitionId": _str(e, p, "payload.", "competitionId", required=False, max_len=128),
        "playerId": _str(e, p, "payload.", "playerId", required=True, max_len=128),
        "gross": _int(e, p, "payload.", "gross", required=False),
        "net": _number(e, p, "payload.", "net"),
        "position": _int(e, p, "payload.", "position", required=False),
    }


def _contact(e: _Errors, p: dict, country: str) -> dict:
    return {
        "contactId": _str(e, p, "payload.", "contactId", required=True, max_len=128),
        "email": _email(e, p, "payload.", "email"),
        "phoneNumber": _phone(e, p, "payload.", "phoneNumber", country),
        "firstName": _str(e, p, "payload.", "firstName", required=False, max_len=100),
        "lastName": _str(e, p, "payload.", "lastName", required=False, max_len=100),
    }


def _preference(e: _Errors, p: dict, country: str) -> dict:
    return {
        "contactId": _str(e, p, "payload.", "contactId", required=True, max_len=128),
        "channel": _choice(e, p, "payload.", "channel", CHANNELS, required=True),
        "optedIn": _bool(e, p, "payload.", "optedIn", required=True),
        "source": _str(e, p, "payload.", "source", required=False, max_len=32),
    }


def _message(e: _Errors, p: dict, country: str) -> dict:
    out = {
        "messageId": _str(e, p, "payload.", "messageId", required=False, max_len=128),
        "sendId": _str(e, p, "payload.", "sendId", required=False, max_len=128),
        "contactId": _str(e, p, "payload.", "contactId", required=True, max_len=128),
        "channel": _choice(e, p, "payload.", "channel", CHANNELS, required=False),
        "url": _str(e, p, "payload.", "url", required=False, max_len=2000),
    }
    bounce = _object(e, p, "payload.", "bounce")
    if bounce is not None:
        out["bounceType"] = _choice(
            e, bounce, "payload.bounce.", "type", ("HARD", "SOFT"), required=True
        )
        out["bounceReason"] = _str(
            e, bounce, "payload.bounce.", "reason", required=False, max_len=300
        )
    return out


# Engagement with one message the Messaging Service sent (events.md).
MESSAGE_TYPES = (
    "messaging.message.sent",
    "messaging.message.delivered",
    "messaging.message.failed",
    "messaging.message.bounced",
    "messaging.message.complained",
    "messaging.email.opened",
    "messaging.email.clicked",
)

PAYLOADS = {
    "scl.member.created": _member_payload,
    "scl.member.updated": _member_payload,
    "scl.member.tier.changed": _tier_changed,
    "scl.member.status.changed": _status_changed,
    "scl.member.deleted": _member_deleted,
    "scl.payment.received": _payment,
    "scl.payment.failed": _payment,
    "scl.payment.refunded": _payment,
    "teetime.player.created": _player,
    "teetime.player.updated": _player,
    "teetime.handicap.updated": _handicap,
    "teetime.booking.created": _booking,
    "teetime.booking.cancelled": _booking,
    "teetime.booking.completed": _booking,
    "teetime.booking.no_show": _booking,
    "teetime.competition.published": _competition,
    "teetime.competition.updated": _competition,
    "teetime.competition.cancelled": _competition,
    "teetime.competition.entry.created": _entry,
    "teetime.competition.entry.withdrawn": _entry,
    "teetime.score.posted": _score,
    SLOT_AVAILABILITY: _slot,
    "messaging.contact.created": _contact,
    "messaging.contact.updated": _contact,
    "messaging.contact.deleted": _contact,
    "messaging.contactPreference.updated": _preference,
    **dict.fromkeys(MESSAGE_TYPES, _message),
}
KNOWN_VERSIONS = {1}


def _identity(e: _Errors, data: dict, country: str) -> dict[str, Any]:
    ident = _object(e, data, "", "identity") or {}
    out = {
        "authUserId": _str(e, ident, "identity.", "authUserId", required=False, max_len=128),
        "email": _email(e, ident, "identity.", "email"),
        "phoneNumber": _phone(e, ident, "identity.", "phoneNumber", country),
        "sclMemberId": _int(e, ident, "identity.", "sclMemberId", required=False),
        "teetimePlayerId": _str(
            e, ident, "identity.", "teetimePlayerId", required=False, max_len=128
        ),
        "messagingContactId": _str(
            e, ident, "identity.", "messagingContactId", required=False, max_len=128
        ),
    }
    return {key: value for key, value in out.items() if value is not None}


# The payload's own id of the person an event is about, and the identity hint naming the same
# thing: when both are given they must agree (an event is about one person), or the event would
# link two different members into one customer with nobody's data.
_SUBJECT_IDS = {
    "scl": ("memberId", "sclMemberId"),
    "teetime": ("playerId", "teetimePlayerId"),
    "messaging": ("contactId", "messagingContactId"),
}


def _identity_agrees(e: _Errors, identity: dict, payload: dict, source: str) -> None:
    payload_name, identity_name = _SUBJECT_IDS[source]
    about, named = payload.get(payload_name), identity.get(identity_name)
    if about is not None and named is not None and str(about) != str(named):
        e.add(
            f"identity.{identity_name}",
            f"Names {named}, but payload.{payload_name} is {about}: an event is about one person.",
        )


def validate_envelope(
    data: Any, *, tenant: Tenant, tenant_slugs: frozenset[str]
) -> tuple[Envelope | None, dict[str, list[str]]]:
    """One envelope -> (Envelope, {}) or (None, errors by field path)."""
    e = _Errors()
    if not isinstance(data, dict):
        return None, {"nonFieldErrors": ["Each event must be a JSON object."]}

    event_id = _str(e, data, "", "id", required=True, max_len=128)
    received_type = _str(e, data, "", "type", required=True, max_len=128)
    if received_type and not _TYPE_RE.match(received_type):
        e.add("type", "Use letters, digits, dots and underscores.")
    source = _choice(e, data, "", "source", tuple(s.upper() for s in SOURCES), required=True)
    source = source.lower() if source else None
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        e.add("version", "Must be a positive whole number (below 2,147,483,648).")
    occurred_at = _datetime(e, data, "", "timestamp", required=True)

    tenant_id = data.get("tenantId")
    tenant_slug = data.get("tenantSlug")
    if tenant_id is None and tenant_slug is None:
        e.add("tenantId", "Give tenantId or tenantSlug.")
    if tenant_id is not None and not isinstance(tenant_id, str):
        e.add("tenantId", "Must be a string (the tenant's UUID).")
    elif tenant_id is not None and tenant_id.lower() != str(tenant.id):
        e.add("tenantId", "Names another tenant than this endpoint's.")
    if tenant_slug is not None and not isinstance(tenant_slug, str):
        e.add("tenantSlug", "Must be a string.")
    elif tenant_slug is not None and tenant_slug not in tenant_slugs:
        e.add("tenantSlug", "Names another tenant than this endpoint's.")

    identity = _identity(e, data, tenant.country)
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        e.add("payload", "Must be an object.")
        payload = {}
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        e.add("metadata", "Must be an object.")

    if e.by_path:
        return None, e.by_path

    assert event_id and received_type and source and occurred_at
    event_type = canonical_type(received_type, source)
    checker = PAYLOADS.get(event_type)
    known = checker is not None and version in KNOWN_VERSIONS
    warnings: list[str] = []
    clean_payload: dict[str, Any] = payload
    if checker is not None and known:
        clean_payload = checker(e, payload, tenant.country)
        _identity_agrees(e, identity, clean_payload, source)
        tee_time = clean_payload.get("teeTime") if event_type == SLOT_AVAILABILITY else None
        if tee_time is not None and tee_time < occurred_at:
            e.add("payload.teeTime", "The slot's tee time is before the event: a slot in the past.")
        if e.by_path:
            return None, e.by_path
    elif checker is None:
        warnings.append(f"Unknown event type '{received_type}': kept and shown raw, not applied.")
    else:
        warnings.append(f"Unknown version {version} of '{event_type}': kept and shown raw.")
    if known and not event_type.startswith(f"{source}."):
        return None, {"type": [f"'{event_type}' does not come from source '{source}'."]}
    return (
        Envelope(
            event_id=event_id,
            source=source,
            type=event_type,
            received_type=received_type,
            version=version,
            occurred_at=occurred_at,
            identity=identity,
            payload=clean_payload,
            raw=data,
            known=known,
            warnings=warnings,
        ),
        {},
    )
