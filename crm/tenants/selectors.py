"""Reads of the tenant registry."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db.models import QuerySet

from crm.db import tenant_connection
from crm.tenants.models import Domain, Tenant, TenantSlug, TenantStatus

# Lower-case only: one spelling per tenant keeps the per-reference URL conf cache bounded.
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_valid_reference(reference: str) -> bool:
    """A tenant reference is a canonical (lower-case, hyphenated) UUID or a slug."""
    return bool(UUID_RE.match(reference) or SLUG_RE.match(reference))


def tenant_get_by_reference(*, reference: str) -> Tenant | None:
    """The tenant a URL segment or a command argument names: its UUID, slug or an old slug.

    Returns None for anything else, including malformed input, so callers answer 404 without
    ever touching the database with junk.
    """
    if UUID_RE.match(reference):
        return Tenant.objects.filter(id=uuid.UUID(reference)).first()
    if SLUG_RE.match(reference):
        alias = TenantSlug.objects.select_related("tenant").filter(slug=reference).first()
        return alias.tenant if alias else None
    return None


def tenant_get_by_hostname(*, hostname: str) -> Tenant | None:
    domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
    return domain.tenant if domain else None


def tenant_list_active() -> QuerySet[Tenant]:
    return Tenant.objects.filter(status=TenantStatus.ACTIVE).order_by("created_at")


def tenant_of_request(request: Any) -> Tenant:
    """The club a request (Django's or DRF's) was routed to by `crm.tenants.middleware`."""
    tenant = getattr(request, "tenant", None)
    if not isinstance(tenant, Tenant):
        raise LookupError("This request was not routed to a club.")
    return tenant


def tenant_current() -> Tenant:
    """The club whose schema the connection is in (web request or Celery task alike)."""
    from django.db import connection

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    return Tenant.objects.get(schema_name=tenant_connection().schema_name)
