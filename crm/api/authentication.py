"""Who is calling: an API key (`Authorization: Bearer crm_…`), a signed webhook
(`X-CRM-Signature`, event ingestion only) or a signed-in staff member."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from crm.accounts.models import ApiKey, User, WebhookSecret
from crm.accounts.selectors import api_key_authenticate
from crm.accounts.services import Actor


@dataclass(frozen=True)
class ServicePrincipal:
    """Stands in for `request.user` when a key or a signed webhook calls: nobody's staff
    account, just the scopes it carries."""

    label: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    api_key: ApiKey | None = None
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    def __str__(self) -> str:
        return self.label


def caller_actor(user: Any) -> Actor:
    """The caller (`request.user`: a key's or a signed webhook's principal, a staff member,
    nobody) as the actor its audit rows name (crm.accounts.services.acting_as): the key or the
    staff account by foreign key, and the label REST and GraphQL have always shown (the email,
    or the principal's label)."""
    if isinstance(user, ServicePrincipal):
        return Actor(label=user.label, api_key=user.api_key)
    if isinstance(user, User) and user.is_authenticated:
        return Actor(label=user.email or str(user), user=user)
    return Actor(label="")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None  # another scheme (e.g. Basic): not ours to judge
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Bearer <key>'.")
        key = api_key_authenticate(raw_key=parts[1])
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid for this club.")
        return ServicePrincipal(
            label=f"api-key:{key.prefix}", scopes=frozenset(key.scopes), api_key=key
        ), key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for staff using the API from the browser. CSRF is enforced."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result


SIGNATURE_TOLERANCE_SECONDS = 300


class SignedWebhookAuthentication(authentication.BaseAuthentication):
    """`X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with one of
    the club's webhook secrets (api.md). Several `v1=` may come during a key rotation; any
    match with any active secret will do. The signature grants `events:write` only."""

    header = "HTTP_X_CRM_SIGNATURE"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        raw = request.META.get(self.header)
        if not raw:
            return None
        stamp, signatures = None, []
        for part in raw.split(","):
            name, _, value = part.strip().partition("=")
            if name == "t" and value.isdigit():
                stamp = int(value)
            elif name == "v1" and value:
                signatures.append(value.strip().lower())
        if stamp is None or not signatures:
            raise exceptions.AuthenticationFailed("X-CRM-Signature must be 't=<seconds>,v1=<hex>'.")
        if abs(time.time() - stamp) > SIGNATURE_TOLERANCE_SECONDS:
            raise exceptions.AuthenticationFailed(
                f"The signature's timestamp is more than {SIGNATURE_TOLERANCE_SECONDS} s from now."
            )
        signed = f"{stamp}.".encode() + request._request.body
        for secret in WebhookSecret.objects.filter(revoked_at__isnull=True).values_list(
            "secret", flat=True
        ):
            expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
                principal = ServicePrincipal(
                    label="signed-webhook", scopes=frozenset({"events:write"})
                )
                return principal, None
        raise exceptions.AuthenticationFailed(
            "The signature does not match any of the club's webhook secrets."
        )

    def authenticate_header(self, request: Request) -> str:
        return 'Signature realm="events"'
