"""Who is calling: an API key (`Authorization: Bearer crm_…`) or a signed-in staff member."""

from __future__ import annotations

from dataclasses import dataclass, field

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from crm.accounts.models import ApiKey
from crm.accounts.selectors import api_key_authenticate


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Stands in for `request.user` when a key calls: it is nobody's staff account."""

    api_key: ApiKey
    scopes: frozenset[str] = field(default_factory=frozenset)
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request):
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
        return ApiKeyPrincipal(api_key=key, scopes=frozenset(key.scopes)), key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for staff using the API from the browser. CSRF is enforced."""

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result
