"""One session cookie per club.

Every club is served from the same host, so with Django's single `sessionid` cookie a staff
member signed in to two clubs would sign themselves out of one by opening the other (each club
has its own session table and drops a key it does not know). This middleware, placed between
tenant resolution and SessionMiddleware, names the cookie after the club's schema
(`sessionid_club_kildare`) on the way in and out; Django's session code is untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class TenantSessionCookieMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        schema = getattr(tenant, "schema_name", "public")
        if schema == "public":
            return self.get_response(request)
        plain = settings.SESSION_COOKIE_NAME
        own = f"{plain}_{schema}"
        if own in request.COOKIES:
            request.COOKIES[plain] = request.COOKIES[own]
        response = self.get_response(request)
        if plain in response.cookies:
            morsel = response.cookies.pop(plain)
            response.set_cookie(
                own,
                morsel.value,
                max_age=int(morsel["max-age"]) if morsel["max-age"] != "" else None,
                expires=morsel["expires"] or None,
                path=morsel["path"] or "/",
                domain=morsel["domain"] or None,
                secure=bool(morsel["secure"]),
                httponly=bool(morsel["httponly"]),
                samesite=morsel["samesite"] or None,
            )
        return response
