"""The review before sending (campaigns.review) over a large audience, against baselines in the
same run:

1. The review: one statement over the audience (held back by reason, the frequency cap, the
   holdout and A/B split, timing). The club has the cap (3 in 7 days) and quiet hours on, 10 %
   holdout and two variants; a tenth of the audience has no email consent and every fifth
   customer already had three messages this week (so the cap's count has work to do).
2. Baseline A, the plan: `run_plan` of the same campaign (the ledger the send writes), inside
   a transaction rolled back afterwards.
3. Baseline B, a loop: `campaigns.selectors.suppression_reason` customer by customer for the
   first `--loop` customers (one query each), extrapolated to the audience.

    .venv/bin/python benchmarks/campaign_review.py --customers 20000

Uses the club of benchmarks/campaign_send.py (made on first use). Prints `uptime` before and
after: others share the machine's CPUs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from benchmarks.campaign_send import club  # noqa: E402
from campaigns.models import Campaign, CampaignRun  # noqa: E402
from campaigns.review import campaign_review  # noqa: E402
from campaigns.selectors import suppression_reason  # noqa: E402
from campaigns.sending import campaign_settings, run_plan  # noqa: E402
from campaigns.services import (  # noqa: E402
    AudienceInput,
    CampaignInput,
    CampaignVariantInput,
    campaign_create,
)
from profiles.models import Customer  # noqa: E402


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--loop", type=int, default=2_000)
    args = parser.parse_args()
    print("before:", uptime(), flush=True)
    tenant, everyone, _first = club(args.customers, min(args.loop, args.customers))
    with schema_context(tenant.schema_name):
        rules = campaign_settings()
        rules.frequency_cap = 3
        rules.quiet_hours_enabled = True
        rules.save()
        with transaction.atomic():
            campaign = campaign_create(
                data=CampaignInput(
                    name=f"Review benchmark {timezone.now():%H%M%S}",
                    channels=["EMAIL"],
                    templates={"EMAIL": "default"},
                    content={"subject": "News"},
                    audience=AudienceInput(include=[str(everyone.id)]),
                    holdout_percent=10,
                    variants=[
                        CampaignVariantInput(key="A", weight=50, content={"subject": "A"}),
                        CampaignVariantInput(key="B", weight=50, content={"subject": "B"}),
                    ],
                ),
                actor_label="benchmark",
            )
            history = Campaign.objects.create(name="History", channels=["EMAIL"])
            runs = [
                str(CampaignRun.objects.create(campaign=history, key=f"h{k}", status="DONE").id)
                for k in range(3)
            ]
            with connection.cursor() as cursor:
                # Consent off for a tenth; three messages this week for a fifth.
                cursor.execute(
                    "UPDATE profiles_customer SET email_opt_in = (hashtext(id::text) % 10 <> 0)"
                )
                cursor.execute(
                    """
                    INSERT INTO campaigns_send (id, run_id, campaign_id, customer_id, channel,
                        variant, test_pool, priority, status, reason, detail, deferred,
                        attempts, message_id, created_at, handed_at, topic)
                    SELECT gen_random_uuid(), (%(runs)s::uuid[])[k], %(campaign)s, c.id, 'EMAIL', '', false,
                           2, 'ACCEPTED', '', '', false, 1, '', now(), now() - k * interval '1 day',
                           ''
                    FROM profiles_customer AS c CROSS JOIN generate_series(1, 3) AS k
                    WHERE hashtext(c.id::text || 'busy') %% 5 = 0
                    """,
                    {"runs": runs, "campaign": history.id},
                )
        audience = everyone.memberships.count()
        try:
            started = time.perf_counter()
            review = campaign_review(campaign=campaign, start_now=True)
            review_s = time.perf_counter() - started
            print(
                f"review: {audience:,} customers in {review_s:.2f} s "
                f"({audience / review_s:,.0f}/s): {review['recipients']:,} recipients, "
                f"{review['deferredByCap']:,} over the cap, held back "
                + ", ".join(f"{h['reason']} {h['messages']:,}" for h in review["heldBack"]),
                flush=True,
            )
            plan_s = 0.0
            with transaction.atomic():
                plan_run = CampaignRun.objects.create(campaign=campaign, key="bench")
                started = time.perf_counter()
                planned = run_plan(run_id=plan_run.id)
                plan_s = time.perf_counter() - started
                transaction.set_rollback(True)
            print(
                f"baseline A, the plan (rolled back): {planned.rows:,} ledger rows in "
                f"{plan_s:.2f} s",
                flush=True,
            )
            ids = list(
                everyone.memberships.order_by("customer_id").values_list("customer_id", flat=True)[
                    : args.loop
                ]
            )
            started = time.perf_counter()
            for customer_id in ids:
                suppression_reason(customer=Customer.objects.get(pk=customer_id), channel="EMAIL")
            loop_s = time.perf_counter() - started
            per = loop_s / max(len(ids), 1)
            print(
                f"baseline B, a loop of one query per customer: {len(ids):,} in {loop_s:.2f} s "
                f"= {per * 1000:.2f} ms each, {per * audience:.1f} s for the audience "
                f"(without the cap, holdout or timing)",
                flush=True,
            )
        finally:
            with transaction.atomic():
                Campaign.objects.filter(pk__in=[campaign.pk, history.pk]).delete()
                with connection.cursor() as cursor:
                    cursor.execute("UPDATE profiles_customer SET email_opt_in = true")
            rules.frequency_cap = 0
            rules.quiet_hours_enabled = False
            rules.save()
    print("after:", uptime(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))


if __name__ == "__main__":
    main()
