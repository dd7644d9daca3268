"""`manage.py create_api_key <slug or UUID> --name <name> --scopes <scope,scope>`: prints the
new key alone on the last line. The key is stored only as a hash: this is the one time it is
shown."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from crm.accounts.scopes import ALL_SCOPES
from crm.accounts.services import api_key_create
from crm.tenants.cli import describe_validation_error, resolve_tenant


class Command(BaseCommand):
    help = "Create an API key in a club; prints the key on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="The club's slug or UUID")
        parser.add_argument("--name", required=True, help="Who or what uses the key")
        parser.add_argument(
            "--scopes", required=True, help=f"Comma-separated: {','.join(sorted(ALL_SCOPES))}"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = resolve_tenant(options["tenant"])
        try:
            with tenant_context(tenant):
                key, raw_key = api_key_create(
                    name=options["name"], scopes=options["scopes"], actor_label="cli"
                )
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from exc
        self.stderr.write(f"Created key '{key.name}' ({', '.join(key.scopes)}) in {tenant.slug}")
        self.stdout.write(raw_key)
