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
import json
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
from profiles.projection import counters_refresh_all  # noqa: E402
from segments.compiler import segment_compile  # noqa: E402
from segments.models import Segment  # noqa: E402
from segments.services import segment_refresh  # noqa: E402

BOOKED = "'teetime.booking.created'"
ACTIVE_C = "c.status IN ('ACTIVE', 'INACTIVE')"


def _cond(field, operator, value=None, **extra):
    rule = {"field": field, "operator": operator, **extra}
    if value is not None:
        rule["value"] = value
    return rule


def _and(*rules, negate=False):
    return {"combinator": "AND", "not": negate, "rules": list(rules)}


def _or(*rules, negate=False):
    return {"combinator": "OR", "not": negate, "rules": list(rules)}


# Each rule: (rules, hand-written SQL for the same customers). `{seg1}`/`{seg2}` are the ids of
# the two chained segments the script creates (see main). The hand-written queries are what a
# developer would write on the same tables: EXISTS where a condition is ANDed to the rest, sets
# (`IN`, hashed once) under OR and NOT, the customer's own counters where apply keeps them.
RULES = {
    "contract example: tier + no booking in 60 days + opened in 30 days": (
        _and(
            _cond("membershipTier", "in", ["FULL", "SENIOR"]),
            _cond("bookingCount", "eq", 0, window={"lastDays": 60}),
            _cond("emailOpenCount", "gte", 1, window={"lastDays": 30}),
        ),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND c.membership_tier IN ('FULL', 'SENIOR')
             AND NOT EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = {BOOKED} AND a.occurred_at >= now() - interval '60 days')
             AND EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = 'messaging.email.opened'
                 AND a.occurred_at >= now() - interval '30 days')""",
    ),
    "tier + 4 or more bookings in 90 days + clicked in 30 days": (
        _and(
            _cond("membershipStatus", "eq", "ACTIVE"),
            _cond("bookingCount", "gte", 4, window={"lastDays": 90}),
            _cond("lastEmailClickAt", "withinLastDays", 30),
        ),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND c.membership_status = 'ACTIVE'
             AND (SELECT count(*) FROM profiles_activity a WHERE a.customer_id = c.id
                  AND a.type = {BOOKED} AND a.occurred_at >= now() - interval '90 days') >= 4
             AND EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                  AND a.type = 'messaging.email.clicked'
                  AND a.occurred_at >= now() - interval '30 days' AND a.occurred_at <= now())""",
    ),
    "column: gender, tags, handicap, email opt-in": (
        _and(
            _cond("gender", "eq", "female"),
            _cond("tags", "isNull"),
            _cond("handicap", "between", [5, 18]),
            _cond("emailOptIn", "eq", True),
        ),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND upper(c.gender) = 'FEMALE' AND c.tags = '{{}}'
             AND c.handicap BETWEEN 5 AND 18 AND c.email_opt_in""",
    ),
    "age and birth month": (
        _and(_cond("age", "between", [50, 65]), _cond("birthMonth", "in", [6, 7, 8])),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND extract(month FROM c.date_of_birth) IN (6, 7, 8)
             AND date_part('year', age(current_date, c.date_of_birth)) BETWEEN 50 AND 65""",
    ),
    "score: churn risk 60+ or no score": (
        _or(_cond("churnRiskScore", "gte", 60), _cond("churnRiskScore", "isNull")),
        f"""SELECT count(*) FROM profiles_customer c
           LEFT JOIN profiles_customerscore s ON s.customer_id = c.id
           WHERE {ACTIVE_C} AND (s.churn_risk_score >= 60 OR s.churn_risk_score IS NULL)""",
    ),
    "sum: spent over 200.00 in the last 365 days": (
        _cond("totalSpend", "gt", 20000, window={"lastDays": 365}),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND (SELECT coalesce(sum(a.amount_cents), 0)
               FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type IN ('scl.payment.received', 'scl.payment.refunded')
                 AND a.occurred_at >= now() - interval '365 days') > 20000""",
    ),
    "latest: last booking more than 90 days ago": (
        _cond("lastBookingAt", "moreThanDaysAgo", 90),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C}
             AND EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = {BOOKED} AND a.occurred_at < now() - interval '90 days')
             AND NOT EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = {BOOKED} AND a.occurred_at >= now() - interval '90 days')""",
    ),
    "day part: weekdayMorningShare >= 40 (all time)": (
        _cond("weekdayMorningShare", "gte", 40),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND c.booking_count > 0
             AND 100.0 * c.weekday_morning_bookings / c.booking_count >= 40""",
    ),
    "day part: weekendShare >= 50 in the last 90 days": (
        _cond("weekendShare", "gte", 50, window={"lastDays": 90}),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND c.id IN (
               SELECT a.customer_id FROM profiles_activity a
               WHERE a.type = {BOOKED} AND a.customer_id IS NOT NULL
                 AND a.occurred_at >= now() - interval '90 days'
               GROUP BY a.customer_id
               HAVING 100.0 * count(*) FILTER (WHERE a.day_part = 4) / count(*) >= 50)""",
    ),
    "day part: weekdayEveningShare < 20 between two dates": (
        _cond("weekdayEveningShare", "lt", 20, window={"from": "2000-01-01", "to": "2100-12-31"}),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND c.id IN (
               SELECT a.customer_id FROM profiles_activity a
               WHERE a.type = {BOOKED} AND a.customer_id IS NOT NULL
                 AND a.occurred_at >= '2000-01-01' AND a.occurred_at < '2101-01-01'
               GROUP BY a.customer_id
               HAVING 100.0 * count(*) FILTER (WHERE a.day_part = 3) / count(*) < 20)""",
    ),
    "inSegment chain: in S2 (= in S1 (FULL) + booked in 90 days) + opened in 30 days": (
        _and(
            _cond("inSegment", "eq", "{seg2}"),
            _cond("emailOpenCount", "gte", 1, window={"lastDays": 30}),
        ),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND c.membership_tier = 'FULL'
             AND EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = {BOOKED} AND a.occurred_at >= now() - interval '90 days')
             AND EXISTS (SELECT 1 FROM profiles_activity a WHERE a.customer_id = c.id
                 AND a.type = 'messaging.email.opened'
                 AND a.occurred_at >= now() - interval '30 days')""",
    ),
    "nested OR/NOT, four levels deep": (
        _and(
            _cond("membershipStatus", "in", ["ACTIVE", "LAPSED"]),
            _or(
                _and(
                    _cond("bookingCount", "gte", 3, window={"lastDays": 90}),
                    _or(
                        _cond("noShowCount", "gte", 1, window={"lastDays": 90}),
                        _cond("emailClickCount", "gte", 1, window={"lastDays": 30}),
                        negate=True,
                    ),
                ),
                _and(
                    _cond("emailOpenCount", "gte", 1, window={"lastDays": 30}),
                    _cond("lastBookingAt", "moreThanDaysAgo", 60),
                ),
                _cond("weekendShare", "gte", 75),
            ),
        ),
        f"""SELECT count(*) FROM profiles_customer c
           WHERE {ACTIVE_C} AND c.membership_status IN ('ACTIVE', 'LAPSED') AND (
             (c.id IN (SELECT customer_id FROM profiles_activity WHERE type = {BOOKED}
                         AND occurred_at >= now() - interval '90 days'
                       GROUP BY customer_id HAVING count(*) >= 3)
              AND NOT (c.id IN (SELECT DISTINCT customer_id FROM profiles_activity
                                WHERE type = 'teetime.booking.no_show'
                                  AND occurred_at >= now() - interval '90 days'
                                  AND customer_id IS NOT NULL)
                       OR c.id IN (SELECT DISTINCT customer_id FROM profiles_activity
                                   WHERE type = 'messaging.email.clicked'
                                     AND occurred_at >= now() - interval '30 days'
                                     AND customer_id IS NOT NULL)))
             OR (c.id IN (SELECT DISTINCT customer_id FROM profiles_activity
                          WHERE type = 'messaging.email.opened'
                            AND occurred_at >= now() - interval '30 days')
                 AND c.id IN (SELECT DISTINCT customer_id FROM profiles_activity
                              WHERE type = {BOOKED} AND occurred_at < now() - interval '60 days')
                 AND NOT (c.id IN (SELECT DISTINCT customer_id FROM profiles_activity
                                   WHERE type = {BOOKED}
                                     AND occurred_at >= now() - interval '60 days'
                                     AND customer_id IS NOT NULL)))
             OR (c.booking_count > 0 AND 100.0 * c.weekend_bookings / c.booking_count >= 75))""",
    ),
}

# How day-part shares were counted before they were kept per customer and per booking: the
# tee time read from each booking's JSON and placed in the club's zone, every count.
BEFORE_DAY_PARTS = f"""SELECT count(*) FROM profiles_customer c
   WHERE {ACTIVE_C} AND c.id IN (
       SELECT t.customer_id FROM (
           SELECT a.customer_id,
                  (COALESCE((a.data->>'teeTime')::timestamptz, a.occurred_at)
                   AT TIME ZONE 'Europe/Dublin') AS local
           FROM profiles_activity AS a
           WHERE a.customer_id IS NOT NULL AND a.type = {BOOKED}) AS t
       GROUP BY t.customer_id
       HAVING 100.0 * count(*) FILTER (WHERE extract(isodow FROM t.local) <= 5
                                         AND extract(hour FROM t.local) < 12)
              / count(*) >= 40)"""

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


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"[load {one:.2f}, {five:.2f} (1, 5 min) on {os.cpu_count()} cores]"


def backend_cpu_ms() -> float:
    """CPU milliseconds used so far by this connection's PostgreSQL backend (Linux /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_timed(fn, repeat: int) -> float:
    """Median CPU ms of the backend per call, with parallel workers off (their CPU is in other
    processes): what a count costs the server, which other sessions' load moves far less than
    wall time on a shared machine."""
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        fn()  # warm
        samples = []
        for _ in range(repeat):
            started = backend_cpu_ms()
            fn()
            samples.append(backend_cpu_ms() - started)
        return statistics.median(samples)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")


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
    parser.add_argument("--only", default="", help="only the rules whose label has this text")
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
            # What apply keeps with the timeline (each booking's day part, the customers'
            # counters), derived as the nightly recount does: the rows were written directly.
            counters_refresh_all()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE profiles_customer")
                cursor.execute("VACUUM ANALYZE profiles_activity")
            print(f"  built in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM profiles_activity")
            activities = cursor.fetchone()[0]
        print(
            f"\nClub: {Customer.objects.count():,} customers, {activities:,} timeline rows; "
            f"median of {args.repeat} runs each\n"
        )

        # Two chained dynamic segments for the inSegment rule.
        Segment.objects.filter(name__startswith="Benchmark chain").delete()
        seg1 = Segment.objects.create(
            name="Benchmark chain S1", refresh="MANUAL",
            rules=_cond("membershipTier", "eq", "FULL"),
        )  # fmt: skip
        seg2 = Segment.objects.create(
            name="Benchmark chain S2", refresh="MANUAL",
            rules=_and(
                _cond("inSegment", "eq", str(seg1.id)),
                _cond("bookingCount", "gte", 1, window={"lastDays": 90}),
            ),
        )  # fmt: skip
        only = [name for name in RULES if not args.only or args.only.lower() in name.lower()]
        summary = []
        for label in only:
            rules, hand_sql = RULES[label]
            rules = json.loads(json.dumps(rules).replace("{seg2}", str(seg2.id)))
            queryset = segment_compile(rules=rules, tz=tenant.timezone)
            compiled_ms, compiled_count = timed(queryset.count, args.repeat)

            def hand(hand_sql: str = hand_sql) -> int:
                with connection.cursor() as cursor:
                    cursor.execute(hand_sql)
                    return cursor.fetchone()[0]

            hand_ms, hand_count = timed(hand, args.repeat)
            compiled_cpu = cpu_timed(queryset.count, args.repeat)
            hand_cpu = cpu_timed(hand, args.repeat)
            print(f"{label}  {load()}")
            print(f"  compiled: {compiled_ms:7.1f} ms  ({compiled_count:,} customers), "
                  f"server CPU {compiled_cpu:6.1f} ms")  # fmt: skip
            print(f"  by hand:  {hand_ms:7.1f} ms  ({hand_count:,} customers), "
                  f"server CPU {hand_cpu:6.1f} ms")  # fmt: skip
            print(f"  ratio:    {compiled_ms / hand_ms:7.2f}x wall, "
                  f"{compiled_cpu / max(hand_cpu, 0.01):.2f}x CPU")  # fmt: skip
            if compiled_count != hand_count:
                print("  !! the hand-written query counts other customers")
            if label.startswith("day part: weekdayMorningShare"):
                before_ms, before_count = timed(
                    lambda: hand(BEFORE_DAY_PARTS), max(1, args.repeat // 2)
                )
                print(f"  before (tee times read from JSON every count): {before_ms:7.1f} ms "
                      f"({before_count:,} customers)")  # fmt: skip
            summary.append((label, compiled_ms, hand_ms, compiled_cpu, hand_cpu, compiled_count))
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(
                    f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(*) FROM ({sql}) s",
                    params,
                )
                plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
            print(f"  plan of the compiled query:\n{plan}\n")

        print(f"{'rule':64s} {'compiled':>9s} {'by hand':>9s} {'ratio':>6s}"
              f" {'CPU':>8s} {'hand CPU':>8s} {'customers':>9s}")  # fmt: skip
        for label, compiled_ms, hand_ms, compiled_cpu, hand_cpu, count in summary:
            print(f"{label[:64]:64s} {compiled_ms:7.1f}ms {hand_ms:7.1f}ms "
                  f"{compiled_ms / hand_ms:5.2f}x {compiled_cpu:6.1f}ms {hand_cpu:6.1f}ms "
                  f"{count:9,}")  # fmt: skip
        print(load())
        if args.only:
            return

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
