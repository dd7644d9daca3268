"""Segment evaluation at club scale: count and materialise against a hand-written query.

1. Builds a club with `--customers` customers and `--events` timeline rows (bookings with tee
   times, completions, no-shows, email opens and clicks, payments) spread over the last year.
   The rows are generated in SQL (`generate_series`), not through ingestion: this measures
   segments, and ingestion has its own benchmark (ingest_apply.py). Re-runs reuse the club.
2. For each rule, the compiled query's count (median of `--repeat` runs) against a hand-written
   SQL query for the same rule, in the same run, and the compiled query's plan.
3. Materialises the first rule's segment from empty (all entries, change log and outbox events
   written) and again with nothing changed.

    .venv/bin/python benchmarks/segments.py --customers 100000 --events 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.tenants.services import tenant_create  # noqa: E402
from profiles.models import Customer  # noqa: E402
from segments.compiler import segment_compile  # noqa: E402
from segments.models import Segment  # noqa: E402
from segments.services import segment_refresh  # noqa: E402

RULES = {
    "contract example: tier + no booking in 60 days + opened in 30 days": (
        {
            "combinator": "AND",
            "rules": [
                {"field": "membershipTier", "operator": "in", "value": ["FULL", "SENIOR"]},
                {"field": "bookingCount", "operator": "eq", "value": 0, "window": {"lastDays": 60}},
                {
                    "field": "emailOpenCount",
                    "operator": "gte",
                    "value": 1,
                    "window": {"lastDays": 30},
                },
            ],
        },
        """SELECT count(*) FROM profiles_customer c
           WHERE c.status IN ('ACTIVE', 'INACTIVE') AND c.membership_tier IN ('FULL', 'SENIOR')
             AND NOT EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = 'teetime.booking.created'
                 AND a.occurred_at >= now() - interval '60 days')
             AND EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = 'messaging.email.opened'
                 AND a.occurred_at >= now() - interval '30 days')""",
    ),
    "tier + 4 or more bookings in 90 days + clicked in 30 days": (
        {
            "combinator": "AND",
            "rules": [
                {"field": "membershipStatus", "operator": "eq", "value": "ACTIVE"},
                {
                    "field": "bookingCount",
                    "operator": "gte",
                    "value": 4,
                    "window": {"lastDays": 90},
                },
                {"field": "lastEmailClickAt", "operator": "withinLastDays", "value": 30},
            ],
        },
        """SELECT count(*) FROM profiles_customer c
           WHERE c.status IN ('ACTIVE', 'INACTIVE') AND c.membership_status = 'ACTIVE'
             AND (SELECT count(*) FROM profiles_activity a WHERE a.customer_id = c.id
                  AND a.type = 'teetime.booking.created'
                  AND a.occurred_at >= now() - interval '90 days') >= 4
             AND EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                  AND a.type = 'messaging.email.clicked'
                  AND a.occurred_at >= now() - interval '30 days'
                  AND a.occurred_at <= now())""",
    ),
}

SEED_SQL = """
INSERT INTO profiles_customer (
    id, status, email, phone_number, first_name, last_name, date_of_birth, gender,
    lifecycle_stage, tags, membership_tier, membership_status, member_since, renewal_due_on,
    handicap, home_club_id, lifetime_value, activity_count_30d, booking_count_30d,
    email_opt_in, sms_opt_in, push_opt_in, whatsapp_opt_in, email_hard_bounced, complained,
    address, competition_entry_count_365d, created_at, updated_at)
SELECT gen_random_uuid(), 'ACTIVE', 'golfer' || g || '@example.ie', '', 'Golfer', 'N' || g,
       date '1950-01-01' + (g * 7919 %% 20000), CASE WHEN g %% 2 = 0 THEN 'MALE' ELSE 'FEMALE' END,
       'MEMBER', '{}',
       (ARRAY['FULL', 'SENIOR', 'JUNIOR', 'COUNTRY', 'FIVE_DAY', ''])[1 + g %% 6],
       (ARRAY['ACTIVE', 'ACTIVE', 'ACTIVE', 'LAPSED', 'RESIGNED', ''])[1 + (g / 7) %% 6],
       date '2010-01-01' + (g * 31 %% 5800), current_date + (g %% 365), (g %% 360) / 10.0, '',
       0, 0, 0, g %% 3 > 0, false, false, false, false, false, '{}', 0, now(), now()
FROM generate_series(1, %(customers)s) AS g;
--
WITH people AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n FROM profiles_customer
), rows AS (
    SELECT g, 1 + (hashint4(g)::bigint & 2147483647) %% %(customers)s AS n,
           (hashint4(g + 7)::bigint & 2147483647) %% 100 AS kind,
           now() - make_interval(secs => ((hashint4(g + 13)::bigint & 2147483647) %% 31536000))
               AS at
    FROM generate_series(1, %(events)s) AS g
)
INSERT INTO profiles_activity (customer_id, type, category, channel, title, source,
                               occurred_at, amount_cents, currency, counts_as_activity, data)
SELECT p.id,
       CASE WHEN r.kind < 40 THEN 'teetime.booking.created'
            WHEN r.kind < 55 THEN 'teetime.booking.completed'
            WHEN r.kind < 57 THEN 'teetime.booking.no_show'
            WHEN r.kind < 82 THEN 'messaging.email.opened'
            WHEN r.kind < 87 THEN 'messaging.email.clicked'
            WHEN r.kind < 97 THEN 'scl.payment.received'
            ELSE 'teetime.competition.entry.created' END,
       'other', '', 'benchmark', 'bench', r.at,
       CASE WHEN r.kind BETWEEN 87 AND 96 THEN 5000 END, '', true,
       CASE WHEN r.kind < 40 THEN jsonb_build_object('teeTime', r.at + interval '3 days')
            ELSE '{}'::jsonb END
FROM rows r JOIN people p ON p.n = r.n;
"""


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
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--slug", default="bench-segments")
    args = parser.parse_args()

    tenant, _ = tenant_create(slug=args.slug, name="Segments benchmark", timezone="Europe/Dublin")
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
            cursor.execute("SELECT count(*) FROM profiles_activity")
            activities = cursor.fetchone()[0]
        print(
            f"\nClub: {Customer.objects.count():,} customers, {activities:,} timeline rows; "
            f"median of {args.repeat} runs each\n"
        )

        for label, (rules, hand_sql) in RULES.items():
            queryset = segment_compile(rules=rules, tz=tenant.timezone)
            compiled_ms, compiled_count = timed(queryset.count, args.repeat)

            def hand(hand_sql: str = hand_sql) -> int:
                with connection.cursor() as cursor:
                    cursor.execute(hand_sql)
                    return cursor.fetchone()[0]

            hand_ms, hand_count = timed(hand, args.repeat)
            print(f"{label}")
            print(f"  compiled: {compiled_ms:7.1f} ms  ({compiled_count:,} customers)")
            print(f"  by hand:  {hand_ms:7.1f} ms  ({hand_count:,} customers)")
            print(f"  ratio:    {compiled_ms / hand_ms:7.2f}x")
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(
                    f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(*) FROM ({sql}) s",
                    params,
                )
                plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
            print(f"  plan of the compiled query:\n{plan}\n")

        rules = next(iter(RULES.values()))[0]
        Segment.objects.filter(name="Benchmark segment").delete()
        segment = Segment.objects.create(name="Benchmark segment", rules=rules, refresh="MANUAL")
        started = time.perf_counter()
        first = segment_refresh(segment_id=segment.id)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = segment_refresh(segment_id=segment.id)
        again_s = time.perf_counter() - started
        print("Materialising the first rule's segment")
        print(
            f"  from empty:       {first_s:6.2f} s ({first.entered:,} entries, change log and outbox)"
        )
        print(
            f"  nothing changed:  {again_s:6.2f} s ({again.entered} entries, {again.exited} exits)"
        )

        # A large audience: every entry is a membership row, a change row and an outbox event.
        Segment.objects.filter(name="Benchmark large segment").delete()
        large = Segment.objects.create(
            name="Benchmark large segment",
            rules={"field": "membershipStatus", "operator": "in", "value": ["ACTIVE", "LAPSED"]},
            refresh="MANUAL",
        )
        started = time.perf_counter()
        filled = segment_refresh(segment_id=large.id)
        filled_s = time.perf_counter() - started
        large.rules = {"field": "membershipStatus", "operator": "eq", "value": "ACTIVE"}
        large.save()
        started = time.perf_counter()
        shrunk = segment_refresh(segment_id=large.id)
        shrunk_s = time.perf_counter() - started
        print("Materialising a large segment (active or lapsed members, then active only)")
        print(f"  from empty:       {filled_s:6.2f} s ({filled.entered:,} entries)")
        print(f"  lapsed leave:     {shrunk_s:6.2f} s ({shrunk.exited:,} exits)")


if __name__ == "__main__":
    main()
