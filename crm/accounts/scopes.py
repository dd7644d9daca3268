"""API scopes (api.md) and what each staff role may do, in one place."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    READ = "crm:read"
    WRITE = "crm:write"
    ADMIN = "crm:admin"
    CAMPAIGNS = "crm:campaigns"
    SOCIAL = "crm:social"
    EVENTS_WRITE = "events:write"


ALL_SCOPES: frozenset[str] = frozenset(scope.value for scope in Scope)


class Role(StrEnum):
    """Staff roles; each is a Django group of the same name in every club's schema."""

    STAFF = "STAFF"
    MARKETING = "MARKETING"
    ADMIN = "ADMIN"


# Staff add notes without being able to change anything else: a role-only permission, not a
# scope a key can be given (keys write notes with crm:write).
NOTES = "crm:notes"

# A signed-in staff member acts in the API with the scopes of their roles. Keys carry exactly
# the scopes they were given: `crm:admin` does not imply the others.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.STAFF: frozenset({Scope.READ, NOTES}),
    Role.MARKETING: frozenset({Scope.READ, Scope.WRITE, Scope.CAMPAIGNS, Scope.SOCIAL, NOTES}),
    Role.ADMIN: ALL_SCOPES | {NOTES},
}


def parse_scopes(raw: str | list[str]) -> list[str]:
    """`"crm:read, crm:write"` or a list -> validated, de-duplicated scopes.

    Raises ValueError naming every unknown scope.
    """
    items = raw.split(",") if isinstance(raw, str) else raw
    scopes = sorted({item.strip() for item in items if item and item.strip()})
    unknown = [scope for scope in scopes if scope not in ALL_SCOPES]
    if unknown:
        raise ValueError(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(sorted(ALL_SCOPES))}."
        )
    if not scopes:
        raise ValueError("Give at least one scope.")
    return scopes
