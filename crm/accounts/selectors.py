"""Reads for API keys and staff: who a caller is and what they may do."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from crm.accounts.models import ApiKey, User
from crm.accounts.scopes import ALL_SCOPES, NOTES, ROLE_SCOPES, Role
from crm.accounts.services import KEY_PREFIX, hash_api_key

# Writing last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key in the current club for this raw key, or None."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 128:
        return None
    key = ApiKey.objects.filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True).first()
    if key is not None:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def user_scopes(*, user: User) -> frozenset[str]:
    """The API scopes a signed-in staff member has through their roles."""
    if not (user.is_active and user.is_staff):
        return frozenset()
    if user.is_superuser:
        return ALL_SCOPES | {NOTES}
    scopes: set[str] = set()
    for name in user.groups.values_list("name", flat=True):
        if name in Role.__members__:
            scopes |= ROLE_SCOPES[Role(name)]
    return frozenset(scopes)
