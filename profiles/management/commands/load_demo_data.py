"""`manage.py load_demo_data <tenant slug or UUID> [--members N] [--seed S] [--today YYYY-MM-DD]
[--jsonl PATH]`: generate a demo club's year of events (profiles/demo.py) and feed it through the
real ingestion path, as a replay: `events_ingest` in batches of 1,000, then `events_apply_pending`
until nothing is left. Prints what happened.

Idempotent by nature: the same seed and day give the same events, ids included, so a second run
only produces duplicates. The data ends at `--today` (default: today); pass the day of the first
run to repeat it exactly on a later day.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from crm.tenants.cli import resolve_tenant
from profiles.apply import events_apply_pending
from profiles.demo import generate_club, write_jsonl
from profiles.demo_golf import demo_golf
from profiles.demo_showcase import demo_showcase
from profiles.ingestion import events_ingest

BATCH_SIZE = 1000  # the most events_ingest takes in one call, as the REST endpoint
SHOWN_REJECTIONS = 5


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--today: '{value}' is not a date (YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = "Generate a demo club's events and ingest them into the club, as a replay."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant", help="The club's slug (or a former one) or UUID")
        parser.add_argument("--members", type=int, default=400, help="Members (default 400)")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7)")
        parser.add_argument(
            "--today",
            type=_day,
            default=None,
            help="Last day of the generated year, YYYY-MM-DD (default today)",
        )
        parser.add_argument(
            "--jsonl",
            type=Path,
            default=None,
            help="Also write the events to this file, one per line",
        )

    def handle(self, *args, **options) -> None:
        if options["members"] < 1:
            raise CommandError("--members: give at least 1.")
        tenant = resolve_tenant(options["tenant"])
        started = time.monotonic()
        events = generate_club(
            tenant_id=str(tenant.id),
            tenant_slug=tenant.slug,
            members=options["members"],
            seed=options["seed"],
            today=options["today"],
        )
        if options["jsonl"]:
            write_jsonl(events, options["jsonl"])
            self.stderr.write(f"Wrote {len(events)} events to {options['jsonl']}")

        statuses: Counter[str] = Counter()
        rejections: list[dict] = []
        applied = 0
        with tenant_context(tenant):
            for first in range(0, len(events), BATCH_SIZE):
                batch = events[first : first + BATCH_SIZE]
                for result in events_ingest(tenant=tenant, envelopes=batch, transport="replay"):
                    statuses[result["status"]] += 1
                    if result["status"] == "rejected" and len(rejections) < SHOWN_REJECTIONS:
                        rejections.append(result)
            while count := events_apply_pending(limit=BATCH_SIZE):
                applied += count
            demo_golf(tenant=tenant)  # tee sheet, four-balls, survey: before scores and segments
            showcase = demo_showcase(
                tenant=tenant, today=options["today"] or date.today(), seed=options["seed"]
            )
        elapsed = time.monotonic() - started

        for result in rejections:
            self.stderr.write(f"Rejected {result.get('id')}: {result.get('errors')}")
        self.stdout.write(
            f"{tenant.name} ({tenant.slug}): {len(events)} events generated, "
            f"{statuses['accepted']} accepted, {statuses['duplicate']} duplicate, "
            f"{statuses['rejected']} rejected, {applied} applied, in {elapsed:.1f} s"
        )
        self.stdout.write(
            f"Scores: {showcase['scored']} customers; churn model {showcase['churnModel']}"
            + ("" if showcase["churnModel"] == "READY" else " (the rule-based score is used)")
            + f"; segments created: {', '.join(showcase['segmentsCreated']) or 'none (all there)'}"
        )
        made = [
            *([f"campaign '{showcase['campaignCreated']}'"] if showcase["campaignCreated"] else []),
            *(f"journey '{name}'" for name in showcase["journeysCreated"]),
            *([f"promotion of '{showcase['promotionCreated']}'"]
              if showcase["promotionCreated"] else []),
        ]  # fmt: skip
        self.stdout.write(f"Showcase: {', '.join(made) or 'nothing new (all there)'}")
