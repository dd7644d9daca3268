"""Writes for staff accounts and API keys; each in one transaction with an audit row."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from crm.accounts.models import ApiKey, AuditEntry, User, WebhookSecret
from crm.accounts.roles import roles_sync
from crm.accounts.scopes import Role, parse_scopes

KEY_PREFIX = "crm_"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff member (`user`) or an integration's key (`api_key`), and the
    label audit rows show for them (their email, the key's name)."""

    label: str
    user: User | None = None
    api_key: ApiKey | None = None


# The actor and the club (schema) it was set in: its user or key is a row of that club's
# tables, so a row written in another club's schema must not point at it.
_ACTING: ContextVar[tuple[Actor, str] | None] = ContextVar("crm_acting", default=None)


def _schema() -> str:
    return str(getattr(connection, "schema_name", ""))


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Within this block, audit rows written without an explicit actor name `actor`'s user or
    key: the API layer knows who calls, the services it calls take only a label.

    Entered by the places that know the caller, once per request: every REST view and GraphQL
    (crm.api.views.TenantAPIView, after authentication), each GraphQL mutation
    (crm.graphql.mutations.BaseMutation) and every club admin page (ClubAdminSite.admin_view).
    A ContextVar, reset on the way out whatever happens: a worker thread that serves the next
    request, a Celery task or a command starts with no actor."""
    token = _ACTING.set((actor, _schema()))
    try:
        yield actor
    finally:
        _ACTING.reset(token)


def acting_actor() -> Actor | None:
    """Who is acting here, if a caller set it for this club (`acting_as`)."""
    acting = _ACTING.get()
    if acting is None or acting[1] != _schema():
        return None
    return acting[0]


def audit_record(
    *,
    action: str,
    actor_user: User | None = None,
    actor_api_key: ApiKey | None = None,
    actor_label: str = "",
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """The one way an audit row is written. Given no user or key, it names the acting caller's
    (`acting_as`), and their label when given none either; a label the service passes (an event,
    "system") is kept beside the caller's foreign key: the row says what did it and on whose
    request."""
    acting = acting_actor() if actor_user is None and actor_api_key is None else None
    if acting is not None:
        actor_user, actor_api_key = acting.user, acting.api_key
    return AuditEntry.objects.create(
        action=action,
        actor_user=actor_user,
        actor_api_key=actor_api_key,
        actor_label=(
            actor_label
            or (actor_user.email if actor_user else "")
            or (acting.label if acting is not None else "")
        ),
        object_type=object_type,
        object_id=object_id,
        details=details or {},
    )


@transaction.atomic
def api_key_create(
    *, name: str, scopes: str | list[str], created_by: User | None = None, actor_label: str = ""
) -> tuple[ApiKey, str]:
    """Create a key in the current club. Returns the row and the raw key, which is never
    stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the key a name that says who uses it."})
    try:
        scope_list = parse_scopes(scopes)
    except ValueError as exc:
        raise ValidationError({"scopes": str(exc)}) from exc
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        prefix=raw_key[: len(KEY_PREFIX) + 8],
        key_hash=hash_api_key(raw_key),
        scopes=scope_list,
        created_by=created_by,
    )
    audit_record(
        action="api_key.created",
        actor_user=created_by,
        actor_label=actor_label,
        object_type="api_key",
        object_id=str(key.id),
        details={"name": name, "scopes": scope_list},
    )
    return key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, revoked_by: User | None = None) -> ApiKey:
    """Revoke a key at once. Revoking twice is harmless."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoked",
            actor_user=revoked_by,
            object_type="api_key",
            object_id=str(api_key.id),
            details={"name": api_key.name},
        )
    return api_key


@transaction.atomic
def staff_user_upsert(
    *, email: str, role: str, password: str | None, actor_label: str = ""
) -> tuple[User, bool]:
    """Create a staff account in the current club, or bring an existing one to this role (and
    password, when one is given). Returns `(user, created)`."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": f"'{email}' is not a valid email address."}) from exc
    if role not in Role.__members__:
        raise ValidationError({"role": f"Use one of {', '.join(Role.__members__)}."})

    user = User.objects.filter(email=email).first()
    created = user is None
    if created and not password:
        raise ValidationError({"password": "A new account needs a password."})
    if password:
        validate_password(password, user)
    if user is None:
        user = User.objects.create_user(email=email, password=password, is_staff=True)
    else:
        user.is_staff = True
        user.is_active = True
        if password:
            user.set_password(password)
        user.save()
    roles_sync()
    user.groups.set([Group.objects.get(name=role)])
    audit_record(
        action="staff_user.created" if created else "staff_user.updated",
        actor_label=actor_label,
        object_type="user",
        object_id=str(user.pk),
        details={"email": email, "role": role},
    )
    return user, created


@transaction.atomic
def webhook_secret_create(*, name: str, actor_label: str = "") -> tuple[WebhookSecret, str]:
    if not name.strip():
        raise ValidationError({"name": "Name the sender that will use this secret."})
    raw = "whsec_" + secrets.token_urlsafe(32)
    secret = WebhookSecret.objects.create(name=name.strip(), secret=raw)
    audit_record(
        action="webhook_secret.created", actor_label=actor_label, object_type="webhook_secret",
        object_id=str(secret.pk), details={"name": secret.name},
    )  # fmt: skip
    return secret, raw
