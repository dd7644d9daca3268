"""Writes to the tenant registry. Each action runs in one transaction with an audit row."""

from __future__ import annotations

import zoneinfo

import pycountry
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django_tenants.utils import schema_exists

from crm.tenants.models import PlatformAuditEntry, Tenant, TenantSlug, TenantStatus
from crm.tenants.selectors import SLUG_RE
from crm.tenants.template import schema_create_from_template

# Slugs that would read as something else in a URL or collide with infrastructure names.
RESERVED_SLUGS = frozenset(
    {"public", "admin", "api", "static", "media", "www", "t", "graphql", "template"}
)


def validate_slug(slug: str) -> None:
    if not SLUG_RE.match(slug):
        raise ValidationError(
            {
                "slug": "Use 1-50 lower-case letters, digits and hyphens, "
                "starting and ending with a letter or digit."
            }
        )
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"'{slug}' is reserved."})


def validate_settings(*, country: str, timezone: str, currency: str) -> None:
    errors: dict[str, str] = {}
    if pycountry.countries.get(alpha_2=country) is None:
        errors["country"] = f"'{country}' is not an ISO 3166-1 alpha-2 country code."
    if timezone not in zoneinfo.available_timezones():
        errors["timezone"] = f"'{timezone}' is not an IANA time zone (e.g. Europe/Dublin)."
    if pycountry.currencies.get(alpha_3=currency) is None:
        errors["currency"] = f"'{currency}' is not an ISO 4217 currency code."
    if errors:
        raise ValidationError(errors)


def _schema_name_for(slug: str) -> str:
    return "club_" + slug.replace("-", "_")


def _ensure_schema(tenant: Tenant) -> None:
    """Build the club's schema as a copy of the migrated template (see crm/tenants/template.py)."""
    if not schema_exists(tenant.schema_name):
        schema_create_from_template(schema_name=tenant.schema_name)


def tenant_create(
    *,
    slug: str,
    name: str,
    country: str = "IE",
    timezone: str = "Europe/Dublin",
    currency: str = "EUR",
    actor: str = "",
) -> tuple[Tenant, bool]:
    """Register a club and build its schema. Idempotent on the slug.

    Returns `(tenant, created)`. Called again with a slug the club already has (or had), it
    changes nothing and returns the same tenant; if an earlier run died between registering
    and migrating, it finishes building the schema.
    """
    slug = slug.strip()
    country = country.strip().upper()
    currency = currency.strip().upper()
    validate_slug(slug)
    if not name.strip():
        raise ValidationError({"name": "A club needs a name."})

    existing = TenantSlug.objects.select_related("tenant").filter(slug=slug).first()
    if existing is not None:
        _ensure_schema(existing.tenant)
        return existing.tenant, False

    validate_settings(country=country, timezone=timezone, currency=currency)
    try:
        with transaction.atomic():
            tenant = Tenant(
                slug=slug,
                name=name.strip(),
                country=country,
                timezone=timezone,
                currency=currency,
                schema_name=_schema_name_for(slug),
            )
            tenant.save()
            TenantSlug.objects.create(slug=slug, tenant=tenant)
            PlatformAuditEntry.objects.create(
                tenant=tenant,
                action="tenant.created",
                actor=actor,
                details={"slug": slug, "name": tenant.name},
            )
    except IntegrityError:
        # Another process registered the same slug a moment ago: theirs stands.
        existing = TenantSlug.objects.select_related("tenant").get(slug=slug)
        _ensure_schema(existing.tenant)
        return existing.tenant, False

    try:
        _ensure_schema(tenant)
    except Exception:
        # Leave nothing half-built: no registry row pointing at a missing schema.
        tenant.delete(force_drop=True)
        raise
    return tenant, True


@transaction.atomic
def tenant_rename(*, tenant: Tenant, new_slug: str, actor: str = "") -> Tenant:
    """Give a club a new slug. The old one stays an alias, so existing links keep working."""
    validate_slug(new_slug)
    if new_slug == tenant.slug:
        return tenant
    owner = TenantSlug.objects.filter(slug=new_slug).first()
    if owner is not None and owner.tenant_id != tenant.id:
        raise ValidationError({"slug": f"'{new_slug}' belongs to another club."})
    if owner is None:
        TenantSlug.objects.create(slug=new_slug, tenant=tenant)
    old_slug = tenant.slug
    tenant.slug = new_slug
    tenant.save(update_fields=["slug", "updated_at"])
    PlatformAuditEntry.objects.create(
        tenant=tenant,
        action="tenant.renamed",
        actor=actor,
        details={"from": old_slug, "to": new_slug},
    )
    return tenant


@transaction.atomic
def tenant_set_status(*, tenant: Tenant, status: str, actor: str = "") -> Tenant:
    """Disable a club (its URLs answer 404, its periodic work stops) or enable it again."""
    if status not in TenantStatus.values:
        raise ValidationError({"status": f"Use one of {', '.join(TenantStatus.values)}."})
    if tenant.status != status:
        tenant.status = status
        tenant.save(update_fields=["status", "updated_at"])
        PlatformAuditEntry.objects.create(
            tenant=tenant, action=f"tenant.{status.lower()}", actor=actor, details={}
        )
    return tenant
