"""One permission class for the whole API: the caller must hold the view's scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework import permissions
from rest_framework.request import Request

from crm.accounts.selectors import user_scopes
from crm.api.authentication import ServicePrincipal

if TYPE_CHECKING:  # DRF's views read the settings that name this module
    from rest_framework.views import APIView


def caller_scopes(request: HttpRequest | Request) -> frozenset[str]:
    user = getattr(request, "user", None)
    if isinstance(user, ServicePrincipal):
        return user.scopes
    if user is not None and getattr(user, "is_authenticated", False):
        cached = getattr(request, "_crm_scopes", None)
        if cached is None:
            cached = user_scopes(user=user)
            request._crm_scopes = cached  # type: ignore[union-attr]  # our cache on the request
        return cached
    return frozenset()


class HasScope(permissions.BasePermission):
    """Reads need the view's `read_scope`, writes its `write_scope`.

    A view sets either to None to admit any authenticated caller of this club (the tenant
    endpoint, for instance: any valid key may check itself), or to a tuple: any one will do.
    """

    message = "Your key or role does not allow this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = getattr(request, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        if request.method in permissions.SAFE_METHODS:
            needed = getattr(view, "read_scope", "crm:read")
        else:
            needed = getattr(view, "write_scope", "crm:write")
        if needed is None:
            return True
        options = needed if isinstance(needed, tuple) else (needed,)
        return bool(set(options) & caller_scopes(request))
