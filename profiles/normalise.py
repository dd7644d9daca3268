"""How contact points are compared: one spelling per email address and phone number."""

from __future__ import annotations

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
