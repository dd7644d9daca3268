"""Shared by the club-level commands: the tenant argument and readable validation errors."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_get_by_reference


def resolve_tenant(reference: str) -> Tenant:
    tenant = tenant_get_by_reference(reference=reference.strip().lower())
    if tenant is None:
        raise CommandError(f"No club with slug or UUID '{reference}'.")
    return tenant


def describe_validation_error(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"--{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
