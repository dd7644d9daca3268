"""Competition auto-promotion at club scale: reading the event log and syncing a big plan.

1. In one club, `--events` applied raw events (bookings) after the promotion cursor, among
   them one published competition and `--entries` entry events of players who are customers.
   The rows are written in SQL (`generate_series`): ingestion has its own benchmark.
2. Times `promotion_events_read` through all of it (windows of 5,000 ids, as the beat task
   reads), then the first sync of the plan (its segments made, every entrant added to the
   STATIC segment, the campaigns created) and a second sync with nothing changed.

Everything runs in one transaction that is rolled back at the end, so nothing is left behind
and no Celery task is queued (on-commit callbacks never fire). Re-runs reuse the club.

    .venv/bin/python benchmarks/promotion.py --events 500000 --entries 5000
"""

from __future__ import annotations

import argparse
import os
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
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.tenants.services import tenant_create  # noqa: E402
from social.models import CompetitionPromotion, PromotionEventCursor  # noqa: E402
from social.promotion_services import (  # noqa: E402
    promotion_events_read,
    promotion_settings_update,
    promotion_sync,
)
from social.services import Actor  # noqa: E402

SETUP = """
INSERT INTO profiles_customer (id, status, first_name, last_name, email, phone_number, gender,
    lifecycle_stage, tags, membership_tier, membership_status, home_club_id, handicap,
    lifetime_value, activity_count_30d, booking_count_30d, email_opt_in, sms_opt_in,
    push_opt_in, whatsapp_opt_in, email_hard_bounced, complained, address,
    competition_entry_count_365d, created_at, updated_at, teetime_player_id)
SELECT gen_random_uuid(), 'ACTIVE', 'Player', g::text, 'bench' || g || '@ex.ie', '', 'MALE',
    'MEMBER', '{}', 'FULL', 'ACTIVE', '', 5 + g %% 30, 0, 0, 0, true, false, false, false,
    false, false, '{}', 0, now(), now(), 'bench-p-' || g
FROM generate_series(1, %(entries)s) AS g;

INSERT INTO profiles_sourcerecord (kind, key, customer_id, first_customer_id, email, phone,
    attributes, matched_by, confidence, created_at)
SELECT 'teetime', c.teetime_player_id, c.id, c.id, c.email, '', '{}', '', 100, now()
FROM profiles_customer AS c WHERE c.teetime_player_id LIKE 'bench-p-%%';

INSERT INTO profiles_rawevent (source, event_id, type, received_type, version, occurred_at,
    received_at, transport, envelope, status, attempts, last_error, applied_at)
SELECT 'teetime', 'bench-' || g, t.type, t.type, 1, now() - interval '1 hour', now() - interval
    '1 hour', 'bench', t.envelope, 'APPLIED', 0, '', now()
FROM generate_series(1, %(events)s) AS g
CROSS JOIN LATERAL (SELECT
    CASE WHEN g = 1 THEN 'teetime.competition.published'
         WHEN g %% %(spacing)s = 0 AND g / %(spacing)s <= %(entries)s
              THEN 'teetime.competition.entry.created'
         ELSE 'teetime.booking.created' END AS type,
    CASE WHEN g = 1 THEN jsonb_build_object('payload', jsonb_build_object(
              'competitionId', 'bench-c-1', 'name', 'Benchmark Stableford',
              'startsAt', to_char(now() + interval '20 days', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              'entryClosesAt', to_char(now() + interval '15 days', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              'format', 'STABLEFORD', 'maxEntries', %(entries)s * 2, 'entriesCount', 0,
              'eligibility', jsonb_build_object('memberOnly', true, 'maxHandicap', 28)))
         WHEN g %% %(spacing)s = 0 AND g / %(spacing)s <= %(entries)s
              THEN jsonb_build_object('payload', jsonb_build_object(
              'competitionId', 'bench-c-1', 'playerId', 'bench-p-' || (g / %(spacing)s)))
         ELSE jsonb_build_object('payload', jsonb_build_object('bookingId', 'b-' || g,
              'playerId', 'bench-p-' || (1 + g %% %(entries)s))) END AS envelope
) AS t;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--entries", type=int, default=5_000)
    parser.add_argument("--slug", default="bench-promotion")
    args = parser.parse_args()
    settings.SOCIAL_PROMOTION_SETTLE_SECONDS = 0
    tenant, _ = tenant_create(slug=args.slug, name="Promotion benchmark")
    with schema_context(tenant.schema_name), transaction.atomic():
        PromotionEventCursor.objects.all().delete()
        promotion_settings_update(actor=Actor(label="bench", is_admin=True),
                                  data={"enabled": True})  # fmt: skip
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                SETUP,
                {
                    "events": args.events,
                    "entries": args.entries,
                    "spacing": max(1, args.events // (args.entries + 1)),
                },
            )
        print(f"setup: {args.events:,} events, {args.entries:,} entrants "
              f"({time.perf_counter() - started:.1f} s)")  # fmt: skip

        started = time.perf_counter()
        windows = read = 0
        while True:
            result = promotion_events_read(now=timezone.now())
            windows += 1
            read += result.events
            if not result.more:
                break
        elapsed = time.perf_counter() - started
        print(f"read the log: {args.events:,} events in {windows} windows, {read:,} relevant, "
              f"{elapsed:.2f} s ({args.events / elapsed:,.0f} events/s)")  # fmt: skip

        plan = CompetitionPromotion.objects.get(competition_id="bench-c-1")
        for label in ("first sync (segments, entrants, campaigns)", "sync, nothing changed"):
            started = time.perf_counter()
            promotion_sync(promotion_id=plan.id)
            print(f"{label}: {time.perf_counter() - started:.2f} s")
        plan.refresh_from_db()
        print(f"entrants segment: {plan.entrants_segment.member_count:,} members; items: "
              f"{plan.items.count()}")  # fmt: skip
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
