"""The tee-sheet gap filler at club scale: choosing a gap's first wave.

1. Builds (or reuses) a club of `--customers` customers and `--events` timeline rows with the
   segment benchmark's generator (benchmarks/segments.py: 40% of rows are bookings with tee
   times over the last year), and one slot tomorrow at 09:10 club time with free places.
2. Times, median of `--repeat` runs: the filler's candidate query (`wave_candidates`: day-part
   share, handicap, reachable now, not playing that day, weekly limit, ranked) for a wave of
   `--free` free places x 4 golfers; the whole first wave (`tee_sheet_fill`: gaps, the run of the
   hidden campaign, its ledger rows with each golfer's booking link), rolled back after each run;
   and, as the baseline in the same run, the segment compiler's query for the nearest segment
   rule (weekday-morning share >= 25 in 365 days, handicap <= 28, email opt-in), a random sample
   of the same size.

    .venv/bin/python benchmarks/tee_sheet.py --customers 100000 --events 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from benchmarks.segments import SEED_SQL  # noqa: E402
from campaigns.models import TeeSheetGap, TeeSheetSettings  # noqa: E402
from campaigns.sending import campaign_settings  # noqa: E402
from campaigns.tee_sheet import (  # noqa: E402
    golfer_habits_refresh,
    tee_sheet_fill,
    tee_sheet_settings,
    wave_candidates,
)
from crm.tenants.services import tenant_create  # noqa: E402
from profiles.models import Customer, TeeSlot  # noqa: E402
from segments.compiler import segment_compile  # noqa: E402


class Rollback(Exception):
    pass


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--free", type=int, default=2, help="free places on the slot")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slug", default="bench-tee-sheet")
    args = parser.parse_args()

    tenant, _ = tenant_create(slug=args.slug, name="Tee-sheet benchmark", timezone="Europe/Dublin")
    tz = ZoneInfo(tenant.timezone)
    with schema_context(tenant.schema_name):
        if Customer.objects.count() != args.customers:
            print(f"Building {args.customers:,} customers and {args.events:,} timeline rows…")
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("TRUNCATE profiles_customer CASCADE")
                for statement in SEED_SQL.split("--\n"):
                    cursor.execute(statement, {"customers": args.customers, "events": args.events})
                cursor.execute("ANALYZE profiles_customer")
                cursor.execute("ANALYZE profiles_activity")
            print(f"  built in {time.perf_counter() - started:.1f} s")
        now = timezone.now()
        day = (now.astimezone(tz) + dt.timedelta(days=1)).date()
        while day.isoweekday() >= 6:
            day += dt.timedelta(days=1)
        tee = dt.datetime.combine(day, dt.time(9, 10), tzinfo=tz)
        TeeSheetGap.objects.all().delete()
        TeeSlot.objects.all().delete()
        slot = TeeSlot.objects.create(
            slot_id="bench-0910", course_id="", course_name="Championship", tee_time=tee,
            holes=18, capacity=4 + args.free, booked=4, price_cents=4500, currency="EUR",
            max_handicap=28, booking_url="https://teetime.example/book/bench-0910",
            state_at=now, state_key="bench:1",
        )  # fmt: skip
        rules = tee_sheet_settings()
        TeeSheetSettings.objects.filter(pk=rules.pk).update(
            enabled=True, horizon_hours=24 * 4, golfers_per_place=4, holdout_percent=10
        )
        rules.refresh_from_db()
        sending = campaign_settings()
        sending.quiet_hours_enabled = False
        sending.save()
        size = args.free * rules.golfers_per_place
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM profiles_activity")
            activities = cursor.fetchone()[0]
        print(
            f"\nClub: {Customer.objects.count():,} customers, {activities:,} timeline rows; a slot "
            f"with {args.free} free places (a wave of {size}); median of {args.repeat} runs\n"
        )

        started = time.perf_counter()
        habits = golfer_habits_refresh(now=now, tz=tenant.timezone)
        habits_ms = (time.perf_counter() - started) * 1000
        gap = TeeSheetGap.objects.create(
            slot=slot, free_places_at_open=args.free, opened_at=now, status="OPEN"
        )
        chosen_ms, chosen = timed(
            lambda: wave_candidates(gap=gap, rules=rules, now=now, tz=tz, size=size), args.repeat
        )
        gap.delete()

        def whole_wave() -> int:
            try:
                with transaction.atomic():
                    result = tee_sheet_fill(now=now)
                    raise Rollback(result.offered)
            except Rollback as done:
                return done.args[0]

        wave_ms, offered = timed(whole_wave, args.repeat)

        baseline_rules = {"combinator": "AND", "rules": [
            {"field": "weekdayMorningShare", "operator": "gte", "value": 25,
             "window": {"lastDays": 365}},
            {"field": "handicap", "operator": "lte", "value": 28},
            {"field": "emailOptIn", "operator": "eq", "value": True},
        ]}  # fmt: skip

        def baseline() -> int:
            queryset = segment_compile(rules=baseline_rules, tz=tenant.timezone)
            return len(list(queryset.order_by("?").values_list("pk", flat=True)[:size]))

        base_ms, base_n = timed(baseline, args.repeat)
        print(f"golfers' habits (daily, from 1 year): {habits_ms:8.1f} ms  ({habits:,} golfers)")
        print(f"candidate query (wave_candidates):   {chosen_ms:8.1f} ms  ({len(chosen)} golfers)")
        print(f"whole first wave (tee_sheet_fill):   {wave_ms:8.1f} ms  ({offered} offers)")
        print(f"baseline: segment compiler + random: {base_ms:8.1f} ms  ({base_n} golfers)")


if __name__ == "__main__":
    main()
