"""How contact points are compared: one spelling per email address and phone number."""

from __future__ import annotations

import hashlib

import phonenumbers


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def normalise_phone(raw: str, *, default_country: str) -> str | None:
    """E.164 for a number as the club typed it (`087 123 4567` in IE -> `+353871234567`), or
    None when it is not a possible phone number."""
    try:
        number = phonenumbers.parse(raw, default_country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def erased_digest(kind: str, key: str) -> str:
    """The one-way form an erased person's identifier is remembered by."""
    return hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()
