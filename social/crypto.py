"""Encryption of the networks' access and refresh tokens at rest (Fernet, via MultiFernet so
keys can be rotated: the first key encrypts, every listed key decrypts).

The keys come from the environment (`CRM_SOCIAL_TOKEN_KEYS`), never from the database, so a
copy of the database alone reveals no token.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class TokenDecryptError(Exception):
    """A stored token cannot be read with any configured key (a key was dropped too early)."""


def token_keys_problem() -> str | None:
    """What is wrong with the configured keys, or None when they are usable."""
    keys = list(getattr(settings, "CRM_SOCIAL_TOKEN_KEYS", []) or [])
    if not keys:
        return "not set: social account tokens cannot be encrypted."
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return f"key #{index + 1} is not a valid Fernet key (32 url-safe base64 bytes)."
    return None


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _current() -> MultiFernet:
    problem = token_keys_problem()
    if problem:
        raise ImproperlyConfigured(f"CRM_SOCIAL_TOKEN_KEYS: {problem}")
    return _fernet(tuple(settings.CRM_SOCIAL_TOKEN_KEYS))


def token_encrypt(value: str) -> str:
    """Empty stays empty (an account without a refresh token)."""
    if not value:
        return ""
    return _current().encrypt(value.encode()).decode()


def token_decrypt(value: str) -> str:
    if not value:
        return ""
    try:
        return _current().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptError("No configured key decrypts this token.") from exc


def token_rotate(value: str) -> str:
    """Re-encrypt with the first (newest) key."""
    if not value:
        return ""
    try:
        return _current().rotate(value.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptError("No configured key decrypts this token.") from exc
