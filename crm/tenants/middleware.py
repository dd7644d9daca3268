"""Which club a request is for: `/t/<slug or UUID>/…`, or a mapped host name, or the platform.

Replaces django-tenants' TenantSubfolderMiddleware, which only matches `Domain.domain`:
here the segment may be the tenant's UUID, current slug or an old slug (api.md). Unknown,
malformed and disabled tenants all get the same JSON 404, so nobody can tell them apart.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from functools import cache
from importlib import import_module
from types import ModuleType
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, set_urlconf
from django.utils import timezone
from django_tenants.middleware.main import TenantMainMiddleware

from crm.api.errors import error_response
from crm.db import tenant_connection
from crm.tenants.selectors import UUID_RE, tenant_get_by_hostname, tenant_get_by_reference

SUBFOLDER = "/t/"
# Probes answer without touching the database: liveness must not depend on it.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


UUID_ANY_CASE_RE = re.compile(UUID_RE.pattern, re.IGNORECASE)


def _lower_reference(request: HttpRequest, reference: str) -> None:
    prefix, canonical = f"{SUBFOLDER}{reference}", f"{SUBFOLDER}{reference.lower()}"
    request.path = canonical + request.path[len(prefix) :]
    if request.path_info.startswith(prefix):
        request.path_info = canonical + request.path_info[len(prefix) :]


@cache
def tenant_urlconf(reference: str) -> ModuleType:
    """The tenant URL conf mounted under `t/<reference>/`.

    Cached per reference (a UUID, slug or alias: bounded by the registry, since only
    references that resolved get here), so Django's resolver cache stays warm instead of being
    cleared on every request as django-tenants' subfolder middleware does.
    """
    root = import_module(settings.ROOT_URLCONF)

    class TenantUrlConf(ModuleType):
        urlpatterns = [path(f"t/{reference}/", include(root.urlpatterns))]

        def __getattr__(self, attr: str) -> Any:  # handler404 and friends: the root conf's
            return getattr(root, attr)

    return TenantUrlConf(f"{settings.ROOT_URLCONF}_t_{reference}")


def tenant_not_found() -> HttpResponse:
    return error_response(404, "tenant_not_found", "No club is known at this address.")


class TenantMiddleware(TenantMainMiddleware):
    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        tenant_connection().set_schema_to_public()
        if request.path in PROBE_PATHS:
            return self._use_public(request)
        if request.path.startswith(SUBFOLDER):
            reference = request.path[len(SUBFOLDER) :].split("/", 1)[0]
            if UUID_ANY_CASE_RE.match(reference) and not UUID_RE.match(reference):
                # A UUID in upper (or mixed) case is the same club: resolve the request as its
                # canonical lower-case spelling, so the URL conf cache keeps one entry per club.
                _lower_reference(request, reference)
                reference = reference.lower()
            tenant = tenant_get_by_reference(reference=reference)
            if tenant is None or not tenant.is_active:
                return tenant_not_found()
            tenant.domain_subfolder = reference
            urlconf: ModuleType | str = tenant_urlconf(reference)
        else:
            tenant = tenant_get_by_hostname(hostname=self.hostname_from_request(request))
            if tenant is None:
                return self._use_public(request)
            if not tenant.is_active:
                return tenant_not_found()
            urlconf = settings.ROOT_URLCONF
        request.tenant = tenant  # type: ignore[attr-defined]
        tenant_connection().set_tenant(tenant)
        request.urlconf = urlconf  # type: ignore[attr-defined]
        set_urlconf(urlconf)  # type: ignore[arg-type]  # Django takes a module; stubs say str
        return None

    @staticmethod
    def _use_public(request: HttpRequest) -> None:
        # django-tenants' admin templates read request.tenant.schema_name: give them the
        # public schema's stand-in rather than None.
        request.tenant = connection.tenant  # type: ignore[attr-defined]
        request.urlconf = settings.PUBLIC_SCHEMA_URLCONF  # type: ignore[attr-defined]
        set_urlconf(settings.PUBLIC_SCHEMA_URLCONF)
        return None


class ClubAdminTimezoneMiddleware:
    """A club's admin pages show times in the club's own time zone (a Dublin club reads 09:00,
    not 08:00 UTC). The API keeps answering in UTC: only admin pages are switched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        zone = getattr(tenant, "timezone", "") or ""
        is_club = tenant is not None and getattr(tenant, "schema_name", "public") != "public"
        if not (is_club and zone and "/admin/" in request.path):
            return self.get_response(request)
        try:
            club_zone = zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return self.get_response(request)
        with timezone.override(club_zone):
            return self.get_response(request)
