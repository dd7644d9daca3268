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
3. With `--availability N` (e.g. 1000): TeeTime's `teetime.slot.availability` events as they
   would arrive in a busy minute, absorbed through the real path: ingestion
   (`events_ingest`, in batches of `--batch` as the transports hand them over), the applier
   (`events_apply_pending`, the sheet's newest state per slot), and the filler tick each applied
   batch triggers (`tee_sheet_fill`: gaps opened and closed, conversions, waves with their
   ledger rows). `--slots` slots over the next 48 hours, free places coming and going. Prints
   events/s against the 16.7/s that 1,000 a minute need, and each batch's time to absorb.
   With `--pace 60` as TeeTime sends them instead: one at a time over a minute from one
   thread, applied by another as the ingest worker does (whatever is pending, then the filler
   tick): the backlog when the minute ends and each event's wait.

    .venv/bin/python benchmarks/tee_sheet.py --customers 100000 --events 1000000
    .venv/bin/python benchmarks/tee_sheet.py --customers 10000 --events 100000 --availability 1000
    .venv/bin/python benchmarks/tee_sheet.py ... --availability 1000 --pace 60
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import threading
import time
from importlib import import_module
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

from benchmarks.segments import SEED_SQL, timed  # noqa: E402
from campaigns.models import TeeSheetGap, TeeSheetSettings  # noqa: E402
from campaigns.sending import campaign_settings  # noqa: E402
from campaigns.tee_sheet import (  # noqa: E402
    golfer_habits_refresh,
    tee_sheet_fill,
    tee_sheet_settings,
    wave_candidates,
)
from crm.tenants.services import tenant_create  # noqa: E402
from profiles.apply import events_apply_pending  # noqa: E402
from profiles.ingestion import events_ingest  # noqa: E402
from profiles.models import Customer, TeeSlot  # noqa: E402
from segments.compiler import segment_compile  # noqa: E402


class Rollback(Exception):
    pass


def load() -> str:
    """The machine is shared: figures go out with the load average they were measured in."""
    one, five, _fifteen = os.getloadavg()
    return f"[load {one:.2f}, {five:.2f} (1, 5 min) on {os.cpu_count()} cores]"


def availability_events(tenant, *, count: int, slots: int, now: dt.datetime) -> list[dict]:
    """`count` availability events over `slots` slots in the next 48 hours (club time 07:00 to
    17:00), each saying how many of 4 places are booked now: a place freed, taken, released."""
    rng = random.Random(20)
    tz = ZoneInfo(tenant.timezone)
    start = (now + dt.timedelta(hours=2)).astimezone(tz)
    times, moment = [], start.replace(minute=start.minute - start.minute % 10, second=0)
    while len(times) < slots:
        moment += dt.timedelta(minutes=10)
        if 7 <= moment.hour < 17:
            times.append(moment)
    booked = {n: rng.randint(2, 4) for n in range(slots)}
    first = now - dt.timedelta(milliseconds=count + 1000)
    out = []
    for k in range(count):
        n = rng.randrange(slots)
        booked[n] = max(0, min(4, booked[n] + rng.choice((-1, -1, 1, 1, 2))))
        stamp = (first + dt.timedelta(milliseconds=k)).astimezone(dt.UTC)
        out.append({
            "id": f"bench-availability-{now.timestamp():.0f}-{k}",
            "type": "teetime.slot.availability", "version": 1,
            "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "tenantSlug": tenant.slug, "source": "teetime", "identity": {},
            "payload": {
                "slotId": f"bench-{n}", "course": {"id": "", "name": "Championship"},
                "teeTime": times[n].astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
                "holes": 18, "capacity": 4, "booked": booked[n],
                "price": {"amount": "45.00", "currency": "EUR"},
                "rules": {"memberOnly": False, "maxHandicap": 28},
                "bookingUrl": f"https://teetime.example/book/bench-{n}",
            },
            "metadata": {"correlationId": f"bench-{k}"},
        })  # fmt: skip
    return out


def absorb_paced(tenant, *, count: int, seconds: float, slots: int) -> None:
    """TeeTime's pace: one event at a time, `count` spread over `seconds`, ingested by one
    thread (a webhook or the BullMQ consumer), applied by another as a worker does (all that is
    pending, in batches, then the filler tick each applied batch asks for). Prints the backlog
    left when the feed stops and each event's wait from received to applied and filled."""
    now = timezone.now()
    events = availability_events(tenant, count=count, slots=slots, now=now)
    TeeSheetGap.objects.all().delete()
    TeeSlot.objects.all().delete()
    received: list[float] = [0.0] * count
    waits: list[float] = []
    fed = threading.Event()
    fills = {"opened": 0, "filled": 0, "waves": 0, "offered": 0, "ticks": 0}
    schema = tenant.schema_name

    def feed() -> None:
        try:
            with schema_context(schema):
                start = time.perf_counter()
                for k, event in enumerate(events):
                    due = start + k * seconds / count
                    if (delay := due - time.perf_counter()) > 0:
                        time.sleep(delay)
                    received[k] = time.perf_counter()
                    events_ingest(tenant=tenant, envelopes=[event], transport="rest")
        finally:
            connection.close()
            fed.set()

    def work() -> None:
        applied = 0
        try:
            with schema_context(schema):
                while applied < count:
                    done = 0
                    while n := events_apply_pending():
                        done += n
                    if not done:
                        if fed.is_set() and applied >= count:
                            break
                        time.sleep(0.05)
                        continue
                    result = tee_sheet_fill()
                    fills["ticks"] += 1
                    for key in ("opened", "filled", "waves", "offered"):
                        fills[key] += getattr(result, key)
                    finished = time.perf_counter()
                    waits.extend(finished - received[k] for k in range(applied, applied + done))
                    applied += done
        finally:
            connection.close()

    print(f"\nTeeTime's pace: {count:,} availability events over {seconds:.0f} s "
          f"({count / seconds:.1f}/s), {slots} slots {load()}")  # fmt: skip
    started = time.perf_counter()
    feeder, worker = threading.Thread(target=feed), threading.Thread(target=work)
    feeder.start()
    worker.start()
    feeder.join()
    fed_at = time.perf_counter()
    worker.join()
    drained = time.perf_counter()
    waits.sort()
    print(f"fed in {fed_at - started:.1f} s; everything applied and filled "
          f"{drained - fed_at:.2f} s after the last event {load()}")  # fmt: skip
    print(
        f"each event's wait, received to applied + filler tick: median "
        f"{1000 * statistics.median(waits):.0f} ms, p95 "
        f"{1000 * waits[int(0.95 * (len(waits) - 1))]:.0f} ms, max {1000 * waits[-1]:.0f} ms"
    )
    print(f"the worker: {fills['ticks']} apply+fill rounds (about {count / fills['ticks']:.1f} "
          f"events each); the filler: {fills['opened']} gaps opened, {fills['filled']} filled, "
          f"{fills['waves']} waves, {fills['offered']} offers")  # fmt: skip


def absorb(tenant, *, count: int, batch: int, slots: int) -> None:
    """Feed the events through ingestion, the applier and the filler tick, as fast as they go."""
    now = timezone.now()
    events = availability_events(tenant, count=count, slots=slots, now=now)
    TeeSheetGap.objects.all().delete()
    TeeSlot.objects.all().delete()
    latencies, fills = [], {"opened": 0, "filled": 0, "waves": 0, "offered": 0}
    print(f"\nAbsorbing {count:,} availability events over {slots} slots, batches of {batch} "
          f"{load()}")  # fmt: skip
    started = time.perf_counter()
    for first in range(0, count, batch):
        began = time.perf_counter()
        results = events_ingest(
            tenant=tenant, envelopes=events[first : first + batch], transport="rest"
        )
        assert all(r["status"] == "accepted" for r in results), results[:3]
        while events_apply_pending():
            pass
        result = tee_sheet_fill()  # what each applied batch of slot events triggers
        for key in fills:
            fills[key] += getattr(result, key)
        latencies.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    latencies.sort()
    print(f"absorbed {count:,} events in {elapsed:.1f} s: {rate:,.1f} events/s "
          f"(1,000 a minute need 16.7/s: {rate / (1000 / 60):.1f}x) {load()}")  # fmt: skip
    print(f"per batch of {batch}: median {statistics.median(latencies):.0f} ms, "
          f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.0f} ms, "
          f"max {latencies[-1]:.0f} ms")  # fmt: skip
    print(f"the filler: {fills['opened']} gaps opened, {fills['filled']} filled, "
          f"{fills['waves']} waves, {fills['offered']} offers; "
          f"{TeeSlot.objects.count()} slots on the sheet")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--free", type=int, default=2, help="free places on the slot")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slug", default="bench-tee-sheet")
    parser.add_argument(
        "--availability", type=int, default=0, help="also absorb this many slot events"
    )
    parser.add_argument("--batch", type=int, default=10, help="events per ingest call")
    parser.add_argument("--slots", type=int, default=120, help="slots the events are about")
    parser.add_argument(
        "--pace",
        type=float,
        default=0,
        help="feed the events over this many seconds (60: TeeTime's 1,000 a minute), one at a "
        "time, applied by a second thread; 0: as fast as possible in --batch batches",
    )
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
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM profiles_activity "
                "WHERE type = 'teetime.booking.created' AND day_part IS NULL)"
            )
            if cursor.fetchone()[0]:
                # The generator predates Activity.day_part (what apply now sets, and the
                # habits read): give its bookings their day part as the migration did.
                backfill = import_module("profiles.migrations.0012_booking_day_parts")
                print("Giving the generated bookings their day part…")
                cursor.execute(
                    backfill.BACKFILL.format(day_part=backfill.DAY_PART_SQL),
                    {"tz": tenant.timezone},
                )
                cursor.execute("ANALYZE profiles_activity")
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
        print(load())
        if args.availability and args.pace:
            absorb_paced(tenant, count=args.availability, seconds=args.pace, slots=args.slots)
        elif args.availability:
            absorb(tenant, count=args.availability, batch=args.batch, slots=args.slots)


if __name__ == "__main__":
    main()
