"""The Celery app: `celery -A crm worker`, `celery -A crm beat`.

Tenancy: tenant-schemas-celery's CeleryApp stamps each message with the schema active when it
was queued (`_schema_name` header) and switches the worker's connection to it before the task
runs, so a task queued inside a club runs in that club's schema. Beat runs in the public schema
(django-celery-beat's DatabaseScheduler, tables in public) and reaches clubs through
`crm.tasks.fan_out_to_tenants`.

Reliability, chosen on purpose (values in settings, CELERY_*):
- acks_late: a task is acknowledged after it ran, so a worker that dies mid-task leaves the
  message to be delivered again. Every task must therefore be idempotent and take ids, not
  objects.
- reject_on_worker_lost stays False: with True, a task that kills its worker process is
  requeued forever (celery #8969). Work that must not be lost is recorded in the database first
  and swept up by a periodic task, so the broker is never the only copy.
- visibility_timeout 2 h: above the longest task (hard limit 30 min) and any countdown we set;
  otherwise Redis redelivers a message that is still running, or an ETA'd one early
  (celery #4766).
- prefetch_multiplier 1: a worker holds one message per process, so a long task doesn't sit
  on messages another worker could run.
"""

from __future__ import annotations

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = CeleryApp("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["crm"])
