"""Campaign sending: from "send now" to every request accepted by a Messaging peer on 127.0.0.1.

1. Builds (or reuses) a club with `--customers` opted-in customers, generated in SQL, in one
   static segment; sending rules without a frequency cap or quiet hours.
2. Starts a real Celery worker (`--concurrency`, prefork) pointed at a Messaging peer in this
   process (campaigns.testing.MessagingPeer: the contract's 202/409 and batch endpoint).
3. Batched (the product): `campaign_send_now` commits, the worker plans the ledger in one
   statement and hands the requests over in batches of 500. Timed until the peer has accepted
   a key for every recipient: recipients/s.
4. Baseline, same worker, same peer: the same kind of campaign to the first
   `--baseline-recipients` customers, planned the same way, then one Celery task per
   recipient (`campaigns.deliver_one`, one request each to `POST /v1/messages`). Timed from
   "send now" to the last acceptance: recipients/s.
5. Peak memory: VmHWM of the worker's processes (main and pool children) from /proc.

    .venv/bin/python benchmarks/campaign_send.py --customers 100000 --baseline-recipients 10000

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL, with the public schema migrated). Prints
`uptime` before and after: others share the machine's CPUs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
# Our own queue, so no other worker on this Redis takes the benchmark's tasks.
QUEUE = f"bench-campaign-{uuid.uuid4().hex[:8]}"
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
# Tasks are routed by kind (crm/settings.py): every queue of the run is prefixed, and the
# worker (started without --queues) consumes them all, never a running platform's.
os.environ["CELERY_QUEUE_PREFIX"] = f"{QUEUE}-"
os.environ["CAMPAIGN_TRANSPORT"] = "http"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from campaigns.models import Campaign, CampaignRun, Send  # noqa: E402
from campaigns.sending import campaign_settings, run_plan  # noqa: E402
from campaigns.services import (  # noqa: E402
    AudienceInput,
    CampaignInput,
    campaign_create,
    campaign_send_now,
)
from campaigns.tasks import deliver_one  # noqa: E402
from campaigns.testing import MessagingPeer  # noqa: E402
from crm.tenants.models import Tenant  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402
from segments.models import Segment, SegmentMembership  # noqa: E402

SLUG = "bench-campaign"


def club(customers: int, baseline: int) -> tuple[Tenant, Segment, Segment]:
    tenant = (
        Tenant.objects.filter(slug=SLUG).first()
        or tenant_create(slug=SLUG, name="Benchmark Golf Club", timezone="Europe/Dublin")[0]
    )
    with schema_context(tenant.schema_name):
        have = Segment.objects.filter(name=f"All {customers}").first()
        if have is None:
            print(f"Generating {customers:,} customers in SQL …", flush=True)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    """
                    INSERT INTO profiles_customer (id, status, email, phone_number, first_name,
                        last_name, gender, lifecycle_stage, tags, membership_tier,
                        membership_status, home_club_id, lifetime_value, activity_count_30d,
                        booking_count_30d, email_opt_in, sms_opt_in, push_opt_in,
                        whatsapp_opt_in, email_hard_bounced, complained, address,
                        competition_entry_count_365d, created_at, updated_at, handicap)
                    SELECT gen_random_uuid(), 'ACTIVE', 'golfer' || n || '@bench.example', '',
                        (ARRAY['Aoife','Conor','Niamh','Seán','Ciara','Darragh'])[1 + n %% 6],
                        'Golfer' || n, '', 'MEMBER', '{}',
                        (ARRAY['FULL','SENIOR','JUNIOR'])[1 + n %% 3], 'ACTIVE', '', 0, 0, 0,
                        true, false, false, false, false, false, '{}', 0, now(), now(),
                        (n %% 360) / 10.0
                    FROM generate_series(1, %s) AS n
                    """,
                    [customers],
                )
                have = Segment.objects.create(name=f"All {customers}", type="STATIC")
                cursor.execute(
                    "INSERT INTO segments_segmentmembership (segment_id, customer_id, source, "
                    "entered_at) SELECT %s, id, 'MANUAL', now() FROM profiles_customer "
                    "WHERE email LIKE 'golfer%%@bench.example'",
                    [have.id],
                )
        first = Segment.objects.filter(name=f"First {baseline}").first()
        if first is None:
            first = Segment.objects.create(name=f"First {baseline}", type="STATIC")
            ids = list(
                SegmentMembership.objects.filter(segment=have)
                .order_by("customer_id")
                .values_list("customer_id", flat=True)[:baseline]
            )
            SegmentMembership.objects.bulk_create(
                SegmentMembership(segment=first, customer_id=c, entered_at=timezone.now())
                for c in ids
            )
        rules = campaign_settings()
        rules.frequency_cap = 0
        rules.quiet_hours_enabled = False
        rules.save()
    return tenant, have, first


def start_worker(peer_url: str, concurrency: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "MESSAGING_URL": peer_url,
        "CAMPAIGN_TRANSPORT": "http",
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "WARNING",
         "--concurrency", str(concurrency), "--without-gossip",
         "--without-mingle", "--hostname", f"{QUEUE}@%h"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            pids += process_tree(int(child))
    return pids


def peak_rss_mib(pid: int) -> dict[int, float]:
    out = {}
    for each in process_tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out[each] = int(line.split()[1]) / 1024
    return out


def wait_for(peer: MessagingPeer, count: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while len(peer.state.accepted) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"Timed out: {len(peer.state.accepted)} of {count} accepted")
        time.sleep(0.02)
    return time.monotonic()


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--baseline-recipients", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    print("load before:", uptime())
    tenant, everyone, first = club(args.customers, args.baseline_recipients)
    with MessagingPeer() as peer, override_settings(MESSAGING_URL=peer.url):
        worker = start_worker(peer.url, args.concurrency)
        try:
            time.sleep(4)  # the worker connects to the broker
            with schema_context(tenant.schema_name):
                # --- batched ---------------------------------------------------------------
                campaign = campaign_create(
                    data=CampaignInput(name=f"Bench {uuid.uuid4().hex[:6]}", channels=["EMAIL"],
                          templates={"EMAIL": "newsletter"},
                          content={"subject": "Hello {{ firstName }}"},
                          audience=AudienceInput(include=[str(everyone.id)])),
                )  # fmt: skip
                start = time.monotonic()
                with transaction.atomic():
                    campaign_send_now(campaign=campaign, actor_label="benchmark")
                done = wait_for(peer, args.customers, timeout=1800)
                batched = args.customers / (done - start)
                run = CampaignRun.objects.get(campaign=campaign)
                planned = (run.planned_at - run.created_at).total_seconds()
                print(
                    f"batched: {args.customers:,} recipients accepted in {done - start:.1f} s "
                    f"= {batched:,.0f} recipients/s (planning the ledger: {planned:.1f} s; "
                    f"{peer.state.batches} batch requests)"
                )

                # --- baseline: one task per recipient ----------------------------------------
                before = len(peer.state.accepted)
                baseline = campaign_create(
                    data=CampaignInput(name=f"Baseline {uuid.uuid4().hex[:6]}", channels=["EMAIL"],
                          templates={"EMAIL": "newsletter"},
                          audience=AudienceInput(include=[str(first.id)])),
                )  # fmt: skip
                start = time.monotonic()
                with transaction.atomic():
                    Campaign.objects.filter(pk=baseline.pk).update(status="SENDING")
                    base_run = CampaignRun.objects.create(
                        campaign=baseline, key="once", status="PLANNING"
                    )
                run_plan(run_id=base_run.id)
                for send_id in Send.objects.filter(run=base_run).values_list("id", flat=True):
                    deliver_one.delay(str(send_id))
                done = wait_for(peer, before + args.baseline_recipients, timeout=3600)
                per_task = args.baseline_recipients / (done - start)
                print(
                    f"baseline (one task per recipient): {args.baseline_recipients:,} recipients "
                    f"in {done - start:.1f} s = {per_task:,.0f} recipients/s"
                )
                print(f"batched / baseline: {batched / per_task:.1f}x")
            peaks = peak_rss_mib(worker.pid)
            print(
                "worker peak RSS (VmHWM) per process: "
                + ", ".join(f"{pid}: {mib:.0f} MiB" for pid, mib in sorted(peaks.items()))
                + f"; largest {max(peaks.values()):.0f} MiB, sum {sum(peaks.values()):.0f} MiB"
            )
            repeats = sum(peer.state.repeats.values())
            print(f"keys at the peer: {len(peer.state.accepted):,}; repeated keys (409): {repeats}")
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=30)
    print("load after:", uptime())
    print(f"settings: queue {QUEUE}, redis {settings.CELERY_BROKER_URL}")


if __name__ == "__main__":
    main()
