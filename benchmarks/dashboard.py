"""The club's home dashboard at club scale: server time and query count of its figures.

1. Builds a club like benchmarks/scores.py (the same SQL: `--customers` customers, `--events`
   timeline rows over 425 days, 70% members, drifters who lapse), plus one `profiles_rawevent`
   row per timeline row (SCL, TeeTime and Messaging; a few pending and parked) so the feed
   figures read a table of that size. Re-runs reuse the club.
2. Scores everyone once (the nightly run, which also records the 12-week trend).
3. Times, median of `--repeat` runs (after one warm-up): `dashboard_build()` (every figure the
   page and the API show) computed and from its 30-second cache, `GET api/v1/dashboard` and
   the admin home page through the whole Django stack (middleware, auth, rendering) computed
   and cached, each with its query count (django-tenants' `SET search_path` included); and a
   naive baseline of the same figures: one ORM count per figure, max(received_at) per source,
   day parts in Python.

    .venv/bin/python benchmarks/dashboard.py --customers 100000 --events 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context, tenant_context  # noqa: E402

from benchmarks.scores import SEED_SQL, load  # noqa: E402
from crm.accounts.services import api_key_create, staff_user_upsert  # noqa: E402
from crm.dashboard import dashboard_build, dashboard_context  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402
from profiles.dashboard import FIGURE_LABELS, figure_customers  # noqa: E402
from profiles.models import Activity, Customer, CustomerScore, RawEvent  # noqa: E402
from profiles.projection import booking_day_parts_refresh  # noqa: E402
from profiles.scoring_services import scores_recompute  # noqa: E402

RAW_SQL = """
INSERT INTO profiles_rawevent (source, event_id, type, received_type, version, occurred_at,
                               received_at, transport, envelope, status, attempts, last_error,
                               applied_at)
SELECT a.source_name, 'bench-' || a.id, a.type, a.type, 1, a.occurred_at,
       a.occurred_at + interval '2 seconds', 'http', '{}'::jsonb,
       CASE WHEN a.id %% 50000 = 1 THEN 'PARKED' WHEN a.id %% 20000 = 7 THEN 'PENDING'
            ELSE 'APPLIED' END,
       0, '', a.occurred_at
FROM (SELECT id, type, occurred_at, split_part(type, '.', 1) AS source_name
      FROM profiles_activity ORDER BY occurred_at) AS a
"""
PASSWORD = "Bench-Fairway-2026"


def median_ms(fn, repeat: int) -> tuple[float, int]:
    times, queries = [], 0
    fn()  # warm
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        queries = len(captured)
    return statistics.median(times), queries


def naive() -> dict:
    """The same figures the obvious way: a query per figure, scans for the feeds' last event,
    day parts counted in Python."""
    ctx = dashboard_context()
    out = {name: figure_customers(ctx, name).count() for name in FIGURE_LABELS}
    now = ctx.now
    year = now - dt.timedelta(days=365)
    for kind in ("teetime.booking.completed", "teetime.booking.created"):
        for start, end in ((now - dt.timedelta(days=7), now), (now - dt.timedelta(days=30), now),
                           (year - dt.timedelta(days=7), year),
                           (year - dt.timedelta(days=30), year)):  # fmt: skip
            out[(kind, start)] = Activity.objects.filter(
                type=kind, occurred_at__gte=start, occurred_at__lt=end
            ).count()
    parts: dict[str, int] = {}
    for at in Activity.objects.filter(
        type="teetime.booking.created", occurred_at__gte=now - dt.timedelta(days=30)
    ).values_list("occurred_at", flat=True):
        local = at.astimezone(ctx.tz)
        part = "weekend" if local.isoweekday() >= 6 else ("am" if local.hour < 12 else "pm")
        parts[part] = parts.get(part, 0) + 1
    for source in ("scl", "teetime", "messaging"):
        out[source] = RawEvent.objects.filter(source=source).aggregate(m=Max("received_at"))["m"]
    out["pending"] = RawEvent.objects.filter(status="PENDING").count()
    out["parked"] = RawEvent.objects.filter(status="PARKED").count()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--slug", default="bench-dashboard")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    tenant, _ = tenant_create(slug=args.slug, name="Dashboard benchmark", timezone="Europe/Dublin")
    with schema_context(tenant.schema_name):
        if Customer.objects.count() != args.customers:
            print(f"Building {args.customers:,} customers and {args.events:,} events…")
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("TRUNCATE profiles_customer, profiles_rawevent CASCADE")
                cursor.execute("TRUNCATE profiles_scoreweek")
                statements = SEED_SQL.split("--\n")
                params = {"customers": args.customers}
                for statement in statements[:3]:
                    cursor.execute(statement, params)
                cursor.execute("SELECT count(*) FROM profiles_activity")
                params["random_events"] = max(args.events - cursor.fetchone()[0], 0)
                for statement in statements[3:]:
                    cursor.execute(statement, params)
                # The bench's activities are named 'bench' as their source; the feed is the
                # event type's first word.
                cursor.execute(RAW_SQL, {})
                for table in ("profiles_customer", "profiles_activity", "profiles_rawevent"):
                    cursor.execute(f"ANALYZE {table}")
            print(f"  built in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            result = scores_recompute()
            print(f"  scored in {time.perf_counter() - started:.1f} s {result}")
        # Bookings carry their day part, as apply stores it (the seed SQL leaves it empty);
        # vacuumed as autovacuum keeps a real club's timeline, so index-only scans stay so.
        started = time.perf_counter()
        booking_day_parts_refresh(tz=tenant.timezone)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) profiles_activity")
            cursor.execute("ANALYZE profiles_customerscore")  # a club scored before this code
        print(f"  day parts and vacuum in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM profiles_activity")
            activities = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM profiles_rawevent")
            raw = cursor.fetchone()[0]
        print(
            f"\nClub: {Customer.objects.count():,} customers, {activities:,} timeline rows, "
            f"{raw:,} events, {CustomerScore.objects.count():,} scored"
        )
        _, key = api_key_create(name="bench", scopes="crm:read")
        staff_user_upsert(email="bench@dashboard.example", role="ADMIN", password=PASSWORD)
    print(f"Load before: {load()}\n")

    settings.ALLOWED_HOSTS = ["*"]
    # Production serves collected, hashed static files; here the app directories' own.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    page = Client()
    signed_in = page.post(f"/t/{args.slug}/admin/login/", {"username": "bench@dashboard.example",
                          "password": PASSWORD}, secure=True)  # fmt: skip
    assert signed_in.status_code == 302, "the benchmark's staff login failed"
    with tenant_context(tenant):
        data = dashboard_build(fresh=True)
        took, queries = median_ms(lambda: dashboard_build(fresh=True), args.repeat)
        print(f"dashboard_build(), computed:             {took:7.1f} ms  {queries:3d} queries")
        took, queries = median_ms(dashboard_build, args.repeat)
        print(f"dashboard_build(), from the 30 s cache:  {took:7.1f} ms  {queries:3d} queries")
        took_naive, queries_naive = median_ms(naive, max(args.repeat // 2, 1))
        print(
            f"naive baseline (query per figure):       {took_naive:7.1f} ms  {queries_naive:3d} queries"
        )

    def get_api():
        response = api.get(f"/t/{args.slug}/api/v1/dashboard", secure=True)
        assert response.status_code == 200, response.content[:300]

    def get_page():
        response = page.get(f"/t/{args.slug}/admin/", secure=True)
        assert response.status_code == 200 and b"club-dashboard" in response.content

    def cold(fn):
        def run():
            with tenant_context(tenant):
                from django.core.cache import cache

                from crm.dashboard import _CACHE_KEY  # the page's own key, whatever its version

                cache.delete(_CACHE_KEY)
            fn()

        return run

    took, queries = median_ms(cold(get_api), args.repeat)
    print(f"GET api/v1/dashboard, computed:          {took:7.1f} ms  {queries:3d} queries")
    took, queries = median_ms(cold(get_page), args.repeat)
    print(f"GET admin/ home page, computed:          {took:7.1f} ms  {queries:3d} queries")
    took, queries = median_ms(get_api, args.repeat)
    print(f"GET api/v1/dashboard, cached:            {took:7.1f} ms  {queries:3d} queries")
    took, queries = median_ms(get_page, args.repeat)
    print(f"GET admin/ home page, cached:            {took:7.1f} ms  {queries:3d} queries")
    print(f"\nLoad after: {load()}")
    figures = data["members"]["figures"]
    risk = data["atRisk"]["figures"]
    print(
        f"Figures: {figures['activeMembers']:,} active, {figures['renewalsDue30d']:,} renewals "
        f"due, {risk['highOrCriticalRisk']:,} at risk, {risk['payingNotPlaying']:,} paying not "
        f"playing, {data['golf']['figures']['bookings']['last30Days']:,} bookings in 30 days; "
        f"trend weeks {len(risk['trend'])}; at {timezone.now():%Y-%m-%d %H:%M} UTC"
    )


if __name__ == "__main__":
    main()
