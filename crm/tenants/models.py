"""The tenant registry, kept in the public schema.

A tenant is a club (or a group of clubs) whose data lives in its own PostgreSQL schema. It is
reached at `/t/<slug or UUID>/` or on a mapped host name (`Domain`).
"""

from __future__ import annotations

import uuid

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class TenantStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    DISABLED = "DISABLED", "Disabled"


class Tenant(TenantMixin):
    """A club. Its UUID is the internal id other services use; its slug is the public alias.

    `schema_name` is fixed when the tenant is created and never follows a rename of the slug,
    so renaming a club is a cheap row update, not a schema rename.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=50, unique=True, help_text="Current URL slug.")
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=TenantStatus.choices, default=TenantStatus.ACTIVE
    )
    country = models.CharField(
        max_length=2, default="IE", help_text="ISO 3166-1 alpha-2; how local phone numbers read."
    )
    timezone = models.CharField(max_length=64, default="Europe/Dublin")
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217 code.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Schemas are created by `tenant_create` after the registry rows commit, so a failed
    # migration never leaves a half-registered club behind.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE


class TenantSlug(models.Model):
    """Every slug a tenant has ever had. Old slugs keep resolving after a rename, and the unique
    constraint means a slug, once used, can never point at another club."""

    slug = models.SlugField(max_length=50, unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="slugs")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.slug


class Domain(DomainMixin):
    """A host name mapped to a tenant (`kildare.crm.example`), managed in the platform admin."""

    class Meta:
        ordering = ["domain"]


class PlatformAuditEntry(models.Model):
    """What platform operators and scripts did to the tenant registry, and when."""

    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    action = models.CharField(max_length=64)
    actor = models.CharField(max_length=254, blank=True, help_text="Who did it (email or 'cli').")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "platform audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.tenant_id or ''}"
