"""`manage.py create_staff_user <slug or UUID> --email <email> --role <STAFF|MARKETING|ADMIN>
[--password <pw>]`: a staff account in that club. The password comes from --password or the
environment variable CRM_STAFF_PASSWORD. Run again for the same email, it sets the role (and
password, if given) instead of failing, so scripts can re-run it."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from crm.accounts.scopes import Role
from crm.accounts.services import staff_user_upsert
from crm.tenants.cli import describe_validation_error, resolve_tenant


class Command(BaseCommand):
    help = "Create (or update) a staff account in a club."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="The club's slug or UUID")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, choices=[role.value for role in Role])
        parser.add_argument("--password", help="Default: $CRM_STAFF_PASSWORD")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = resolve_tenant(options["tenant"])
        password = options["password"] or os.environ.get("CRM_STAFF_PASSWORD") or None
        try:
            with tenant_context(tenant):
                user, created = staff_user_upsert(
                    email=options["email"],
                    role=options["role"],
                    password=password,
                    actor_label="cli",
                )
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {options['role']} account {user.email} in {tenant.slug}")
