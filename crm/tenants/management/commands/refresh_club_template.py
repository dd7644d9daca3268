"""`manage.py refresh_club_template`: build or migrate the schema new clubs are copied from.

Run it after `migrate_schemas` in a deploy, so the first club created afterwards is as fast as
the rest (otherwise that club's creation migrates the template first). Idempotent.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.tenants.template import template_refresh, template_schema_name


class Command(BaseCommand):
    help = "Build or migrate the template schema that new clubs' schemas are copied from."

    def handle(self, *args: Any, **options: Any) -> None:
        changed = template_refresh(verbosity=max(0, options["verbosity"] - 1))
        state = "migrated" if changed else "already current"
        self.stdout.write(f"Template schema {template_schema_name()}: {state}.")
