"""`manage.py replay_events <slug or UUID> <file.jsonl> [--no-apply]`: feed a JSON-lines file
of envelopes through the same validation, dedup and apply path as the REST endpoint (for
backfills and demos). Re-running a file is harmless: its events come back as duplicates."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from crm.tenants.cli import resolve_tenant
from profiles.apply import events_apply_pending
from profiles.ingestion import MAX_BATCH, events_ingest


class Command(BaseCommand):
    help = "Replay a JSON-lines file of event envelopes into a club."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant", help="The club's slug or UUID")
        parser.add_argument("path", type=Path, help="One envelope per line")
        parser.add_argument("--no-apply", action="store_true", help="Store only; workers apply")

    def handle(self, *args, **options) -> None:
        tenant = resolve_tenant(options["tenant"])
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        started = time.monotonic()
        with tenant_context(tenant):
            batch: list = []
            for number, line in enumerate(path.open(encoding="utf-8"), start=1):
                if not line.strip():
                    continue
                try:
                    batch.append(json.loads(line))
                except ValueError as exc:
                    counts["rejected"] += 1
                    self.stderr.write(f"line {number}: not JSON ({exc})")
                    continue
                if len(batch) == MAX_BATCH:
                    self._ingest(tenant, batch, counts, number)
                    batch = []
            if batch:
                self._ingest(tenant, batch, counts, number)
            applied = 0
            if not options["no_apply"]:
                while done := events_apply_pending(limit=MAX_BATCH):
                    applied += done
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{counts['accepted']} accepted, {counts['duplicate']} duplicate, "
            f"{counts['rejected']} rejected, {applied} applied in {elapsed:.1f} s"
        )

    def _ingest(self, tenant, batch: list, counts: dict, last_line: int) -> None:
        first_line = last_line - len(batch) + 1
        for offset, result in enumerate(
            events_ingest(tenant=tenant, envelopes=batch, transport="replay")
        ):
            counts[result["status"]] += 1
            if result["status"] == "rejected":
                self.stderr.write(
                    f"event {result['id']} (around line {first_line + offset}): {result['errors']}"
                )
