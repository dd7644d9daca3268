"""`manage.py create_webhook_secret <slug or UUID> --name <sender>`: prints a new secret for
signing event webhooks (X-CRM-Signature) alone on the last line."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from crm.accounts.services import webhook_secret_create
from crm.tenants.cli import describe_validation_error, resolve_tenant


class Command(BaseCommand):
    help = "Create a webhook signing secret in a club; prints it on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="The club's slug or UUID")
        parser.add_argument("--name", required=True, help="The sending service")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = resolve_tenant(options["tenant"])
        try:
            with tenant_context(tenant):
                _secret, raw = webhook_secret_create(name=options["name"], actor_label="cli")
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from exc
        self.stdout.write(raw)
