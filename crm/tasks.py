"""Platform-level tasks: the per-tenant fan-out that periodic work goes through."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.tenants.selectors import tenant_list_active

logger = logging.getLogger(__name__)

# Spread a fan-out over at most this long, whatever the number of clubs, so the last club's
# countdown stays far inside the broker's visibility timeout.
MAX_FAN_OUT_SPREAD_SECONDS = 600


@shared_task(name="crm.tasks.fan_out_to_tenants")
def fan_out_to_tenants(task_name: str, kwargs: dict[str, Any] | None = None) -> int:
    """Queue `task_name` once in every ACTIVE club's schema, staggered.

    Beat calls this in the public schema. Disabled clubs are skipped. Returns how many
    tasks were queued.
    """
    from crm.celery import app

    schemas = list(tenant_list_active().values_list("schema_name", flat=True))
    if not schemas:
        return 0
    stagger = min(
        float(settings.TENANT_FAN_OUT_STAGGER_SECONDS), MAX_FAN_OUT_SPREAD_SECONDS / len(schemas)
    )
    for index, schema_name in enumerate(schemas):
        with schema_context(schema_name):
            app.send_task(task_name, kwargs=kwargs or {}, countdown=index * stagger)
    logger.info("Fanned %s out to %d clubs", task_name, len(schemas))
    return len(schemas)


@shared_task(name="crm.tasks.clear_expired_sessions")
def clear_expired_sessions() -> int:
    """Delete the current club's expired staff sessions (one statement; safe to repeat)."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
