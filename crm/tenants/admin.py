from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from unfold.admin import ModelAdmin, TabularInline

from crm.admin_sites import platform_admin_site
from crm.tenants import services
from crm.tenants.models import Domain, PlatformAuditEntry, Tenant, TenantSlug, TenantStatus


def _actor(request: HttpRequest) -> str:
    """The operator's email (the platform admin is behind login: never anonymous)."""
    email: str = getattr(request.user, "email", "")
    return email


class DomainInline(TabularInline):
    model = Domain
    extra = 0
    fields = ("domain", "is_primary")


class TenantSlugInline(TabularInline):
    model = TenantSlug
    extra = 0
    fields = ("slug", "created_at")
    readonly_fields = ("slug", "created_at")
    can_delete = False
    verbose_name_plural = "Slugs (old ones keep working as aliases)"

    def has_add_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False


if TYPE_CHECKING:  # Django's classes are generic in its stubs only
    _TenantModelForm = forms.ModelForm[Tenant]
else:
    _TenantModelForm = forms.ModelForm


class TenantForm(_TenantModelForm):
    timezone = forms.ChoiceField(
        choices=[(tz, tz) for tz in sorted(zoneinfo.available_timezones())]
    )

    class Meta:
        model = Tenant
        fields = ("slug", "name", "status", "country", "timezone", "currency")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            services.validate_slug(data.get("slug") or "")
            services.validate_settings(
                country=(data.get("country") or "").upper(),
                timezone=data.get("timezone") or "",
                currency=(data.get("currency") or "").upper(),
            )
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict) from exc
        return data


@admin.register(Tenant, site=platform_admin_site)
class TenantAdmin(ModelAdmin):
    form = TenantForm
    list_display = ("name", "slug", "status", "country", "timezone", "currency", "id", "created_at")
    list_filter = ("status", "country")
    search_fields = ("name", "slug", "id")
    readonly_fields = ("id", "schema_name", "created_at", "updated_at")
    inlines = (DomainInline, TenantSlugInline)
    actions = ("disable_tenants", "enable_tenants")

    def get_inlines(self, request: HttpRequest, obj: Tenant | None) -> tuple[type, ...]:
        return self.inlines if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False  # clubs are disabled, not deleted: their data stays recoverable

    def save_model(
        self, request: HttpRequest, obj: Tenant, form: forms.ModelForm[Tenant], change: bool
    ) -> None:
        actor = _actor(request)
        try:
            if not change:
                tenant, _ = services.tenant_create(
                    slug=obj.slug,
                    name=obj.name,
                    country=obj.country,
                    timezone=obj.timezone,
                    currency=obj.currency,
                    actor=actor,
                )
                for field in Tenant._meta.concrete_fields:
                    setattr(obj, field.attname, getattr(tenant, field.attname))
                obj._state.adding = False
                return
            original = Tenant.objects.get(pk=obj.pk)
            if original.slug != obj.slug:
                services.tenant_rename(tenant=original, new_slug=obj.slug, actor=actor)
            if original.status != obj.status:
                services.tenant_set_status(tenant=original, status=obj.status, actor=actor)
            Tenant.objects.filter(pk=obj.pk).update(
                name=obj.name, country=obj.country, timezone=obj.timezone, currency=obj.currency
            )
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))

    @admin.action(description="Disable selected clubs")
    def disable_tenants(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.tenant_set_status(
                tenant=tenant, status=TenantStatus.DISABLED, actor=_actor(request)
            )

    @admin.action(description="Enable selected clubs")
    def enable_tenants(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.tenant_set_status(
                tenant=tenant, status=TenantStatus.ACTIVE, actor=_actor(request)
            )


@admin.register(PlatformAuditEntry, site=platform_admin_site)
class PlatformAuditEntryAdmin(ModelAdmin):
    list_display = ("created_at", "action", "tenant", "actor")
    list_filter = ("action",)
    readonly_fields = ("created_at", "action", "tenant", "actor", "details")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: PlatformAuditEntry | None = None
    ) -> bool:
        return False


# Beat's schedule lives in the public schema: the platform admin manages it.
platform_admin_site.register(PeriodicTask, beat_admin.PeriodicTaskAdmin)
platform_admin_site.register(IntervalSchedule)
platform_admin_site.register(CrontabSchedule)
platform_admin_site.register(SolarSchedule)
platform_admin_site.register(ClockedSchedule, beat_admin.ClockedScheduleAdmin)
