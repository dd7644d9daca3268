"""`manage.py create_tenant --slug <slug> --name <name> [--country IE] [--timezone Europe/Dublin]
[--currency EUR]`: register a club and build its schema; print its UUID alone on the last line.

Idempotent: run again with a slug the club has (or had), it changes nothing and prints the same
UUID. Replaces django-tenants' interactive command of the same name (this app is listed first).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.tenants.cli import describe_validation_error
from crm.tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a club (tenant) and its schema; prints the tenant's UUID on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True, help="URL slug, e.g. digiwedge")
        parser.add_argument("--name", required=True, help="Display name")
        parser.add_argument("--country", default="IE", help="ISO 3166-1 alpha-2 (default IE)")
        parser.add_argument("--timezone", default="Europe/Dublin", help="IANA time zone")
        parser.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant, created = tenant_create(
                slug=options["slug"],
                name=options["name"],
                country=options["country"],
                timezone=options["timezone"],
                currency=options["currency"],
                actor="cli",
            )
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from exc
        state = "Created" if created else "Already exists:"
        self.stderr.write(f"{state} {tenant.name} ({tenant.slug}), schema {tenant.schema_name}")
        self.stdout.write(str(tenant.id))
