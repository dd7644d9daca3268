"""Scores at club scale: the nightly recompute and training the churn model.

1. Builds a club with `--customers` customers and `--events` timeline rows in SQL
   (`generate_series`, as benchmarks/segments.py does; not through ingestion): 70% members
   (tiers, join dates, renewal anniversaries), bookings and rounds, cancellations, no-shows,
   competition entries, payments, newsletters sent, opened and clicked, a few tier changes and
   complaints, spread over the last 425 days (so "the same weeks last year" exist). One
   member in twenty drifts away: their golf and email stop in the 100 days before their lapse (an `scl.member.status.changed` to LAPSED,
   with two failed subscription payments before it), lapse dates spread over the last 13
   months and the next month. Re-runs reuse the club.
2. Full nightly recompute of every customer's scores (rule-based: no model yet), twice
   (the first inserts every score row, the second updates them).
3. Trains the club's churn model (time-based split; quality printed).
4. Full recompute again, now scored by the model, and how the drifters came out.
5. Rescoring 1,000 customers, as the per-minute run does after their events.

    .venv/bin/python benchmarks/scores.py --customers 100000 --events 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
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
from profiles.features import LOOKBACK_DAYS, timeline_load  # noqa: E402
from profiles.models import ChurnModel, Customer, CustomerScore  # noqa: E402
from profiles.scoring import scoring_params  # noqa: E402
from profiles.scoring_services import churn_model_train, scores_recompute  # noqa: E402

# Customer g is a member when g % 10 < 7; a drifter when also g % 20 = 3, lapsing
# ((g * 7919) % 420) - 30 days ago (negative: still to come).
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
       CASE WHEN g %% 10 < 7 THEN (ARRAY['FULL', 'SENIOR', 'FIVE_DAY', 'JUNIOR', 'SOCIAL'])[1 + g %% 5]
            ELSE '' END,
       CASE WHEN g %% 10 >= 7 THEN ''
            WHEN g %% 20 = 3 AND (g * 7919) %% 420 - 30 > 0 THEN 'LAPSED'
            ELSE 'ACTIVE' END,
       CASE WHEN g %% 10 >= 7 THEN NULL
            WHEN g %% 50 = 7 THEN current_date - (g %% 300)
            ELSE date '2004-01-01' + (g * 31 %% 7300) END,
       CASE WHEN g %% 10 < 7 THEN current_date + (g * 13 %% 365) END,
       (g %% 360) / 10.0, '', 0, 0, 0, g %% 3 > 0, false, false, false, false, false, '{}', 0,
       now(), now()
FROM generate_series(1, %(customers)s) AS g;
--
CREATE TEMPORARY TABLE bench_people AS
SELECT id, n, CASE WHEN n %% 20 = 3 THEN now() - make_interval(days => ((n * 7919) %% 420)::int - 30) END
           AS lapse_at
FROM (SELECT id, (substring(last_name FROM 2))::int AS n FROM profiles_customer) AS p;
CREATE UNIQUE INDEX ON bench_people (n);
--
INSERT INTO profiles_activity (customer_id, type, category, channel, title, source,
                               occurred_at, amount_cents, currency, counts_as_activity, data)
SELECT p.id, 'scl.member.status.changed', 'membership', '', 'Membership active → lapsed', 'scl',
       p.lapse_at, NULL, '', false, '{"to": "LAPSED"}'::jsonb
FROM bench_people p WHERE p.lapse_at < now()
UNION ALL
SELECT p.id, 'scl.payment.failed', 'payment', '', 'Payment failed (subscription)', 'scl',
       p.lapse_at - make_interval(days => d), 145000, 'EUR', false,
       '{"purpose": "SUBSCRIPTION"}'::jsonb
FROM bench_people p CROSS JOIN (VALUES (40), (35)) AS f(d)
WHERE p.lapse_at - make_interval(days => d) < now();
--
WITH rows AS (
    SELECT g, 1 + (hashint4(g)::bigint & 2147483647) %% %(customers)s AS n,
           (hashint4(g + 7)::bigint & 2147483647) %% 1000 AS kind,
           now() - make_interval(secs => ((hashint4(g + 13)::bigint & 2147483647) %% 36720000))
               AS at
    FROM generate_series(1, %(random_events)s) AS g
), placed AS (
    -- A drifter's golf and email fade out in the 100 days before the lapse: those events
    -- happened half a year earlier instead.
    SELECT r.g, r.n, r.kind, p.id,
           CASE WHEN p.lapse_at IS NOT NULL AND r.kind < 850
                     AND r.at > p.lapse_at - interval '100 days'
                THEN r.at - interval '200 days' ELSE r.at END AS at
    FROM rows r JOIN bench_people p ON p.n = r.n
)
INSERT INTO profiles_activity (customer_id, type, category, channel, title, source,
                               occurred_at, amount_cents, currency, counts_as_activity, data)
SELECT id,
       CASE WHEN kind < 400 THEN 'teetime.booking.created'
            WHEN kind < 550 THEN 'teetime.booking.completed'
            WHEN kind < 570 THEN 'teetime.booking.no_show'
            WHEN kind < 600 THEN 'teetime.booking.cancelled'
            WHEN kind < 620 THEN 'teetime.competition.entry.created'
            WHEN kind < 780 THEN 'messaging.email.opened'
            WHEN kind < 830 THEN 'messaging.email.clicked'
            WHEN kind < 850 THEN 'scl.payment.received'
            WHEN kind < 995 THEN 'messaging.message.sent'
            WHEN kind < 998 THEN 'scl.member.tier.changed'
            ELSE 'messaging.message.complained' END,
       CASE WHEN kind < 600 THEN 'golf' WHEN kind < 620 THEN 'competition'
            WHEN kind < 830 THEN 'messaging' WHEN kind < 850 THEN 'payment'
            WHEN kind < 995 THEN 'messaging' WHEN kind < 998 THEN 'membership'
            ELSE 'messaging' END,
       CASE WHEN kind < 600 THEN (ARRAY['ONLINE', 'APP', 'PHONE'])[1 + g %% 3]
            WHEN kind < 620 THEN '' WHEN kind < 830 THEN 'EMAIL' WHEN kind < 850 THEN ''
            ELSE 'EMAIL' END,
       'benchmark', 'bench', at,
       CASE WHEN kind BETWEEN 830 AND 849 THEN 5000 END, '',
       kind < 850,
       CASE WHEN kind BETWEEN 995 AND 997 THEN
                CASE WHEN g %% 2 = 0 THEN '{"from": "FULL", "to": "FIVE_DAY"}'::jsonb
                     ELSE '{"from": "JUNIOR", "to": "FULL"}'::jsonb END
            ELSE '{}'::jsonb END
FROM placed;
--
DROP TABLE bench_people;
"""


def seconds(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--slug", default="bench-scores")
    args = parser.parse_args()
    if args.customers < 20:
        parser.error("--customers: at least 20")

    tenant, _ = tenant_create(slug=args.slug, name="Scores benchmark", timezone="Europe/Dublin")
    with schema_context(tenant.schema_name):
        if Customer.objects.count() != args.customers:
            print(f"Building {args.customers:,} customers and {args.events:,} timeline rows…")
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("TRUNCATE profiles_customer, profiles_churnmodel CASCADE")
                statements = SEED_SQL.split("--\n")
                params = {"customers": args.customers}
                for statement in statements[:3]:
                    cursor.execute(statement, params)
                cursor.execute("SELECT count(*) FROM profiles_activity")
                extra = cursor.fetchone()[0]
                params["random_events"] = max(args.events - extra, 0)
                for statement in statements[3:]:
                    cursor.execute(statement, params)
                cursor.execute("ANALYZE profiles_customer")
                cursor.execute("ANALYZE profiles_activity")
            print(f"  built in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM profiles_activity")
            activities = cursor.fetchone()[0]
        members = Customer.objects.filter(membership_status="ACTIVE").count()
        print(
            f"\nClub: {Customer.objects.count():,} customers ({members:,} active members), "
            f"{activities:,} timeline rows"
        )
        print(f"Load before: {load()}\n")

        ChurnModel.objects.all().delete()
        CustomerScore.objects.all().delete()

        def read_only() -> int:
            from django.utils import timezone

            now = timezone.now()
            with transaction.atomic():
                tl = timeline_load(
                    until=now,
                    since=now - dt.timedelta(days=LOOKBACK_DAYS),
                    tier_order=scoring_params().tier_order,
                )
            return len(tl.d)

        took, rows = seconds(read_only)
        print(f"Reading the timeline into numpy (one COPY):     {took:6.2f} s ({rows:,} rows)")
        took, result = seconds(scores_recompute)
        print(f"Nightly recompute, rules, first (all inserts):  {took:6.2f} s {result}")
        took, result = seconds(scores_recompute)
        print(f"Nightly recompute, rules, again (all updates):  {took:6.2f} s {result}")

        took, model = seconds(churn_model_train)
        print(f"\nTraining the churn model:                       {took:6.2f} s")
        print(f"  v{model.version} {model.status}: {model.notes}")
        if model.roc_auc is not None:
            print(
                f"  train {model.train_rows:,} rows ({model.train_positives:,} positive, "
                f"{model.train_lapses:,} distinct lapses); test {model.test_rows:,} rows "
                f"({model.test_positives:,} positive)"
            )
            print(
                f"  ROC AUC {model.roc_auc:.3f}; precision in the top decile "
                f"{model.precision_top_decile:.1%} (base rate {model.base_rate:.1%})"
            )

        took, result = seconds(scores_recompute)
        print(f"\nNightly recompute, model:                       {took:6.2f} s {result}")
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT (substring(c.last_name FROM 2))::int % 20 = 3 AS drifter,
                          count(*), avg(s.churn_risk_score), count(*) FILTER (WHERE s.churn_risk_score > 80)
                   FROM profiles_customerscore s JOIN profiles_customer c ON c.id = s.customer_id
                   WHERE s.churn_risk_score IS NOT NULL GROUP BY 1 ORDER BY 1"""
            )
            for drifter, count, mean, high in cursor.fetchall():
                label = "drifting members (lapse due)" if drifter else "other members"
                print(f"  {label:30s} {count:7,}  mean risk {mean:5.1f}  over 80: {high:,}")
        flagged = CustomerScore.objects.filter(paying_not_playing=True).count()
        print(f"  paying but not playing: {flagged:,}")

        some = list(Customer.objects.order_by("?").values_list("id", flat=True)[:1000])
        took, result = seconds(lambda: scores_recompute(customer_ids=some))
        print(f"\nRescoring 1,000 customers after their events:   {took:6.2f} s {result}")
        print(f"\nLoad after: {load()}")


if __name__ == "__main__":
    main()
