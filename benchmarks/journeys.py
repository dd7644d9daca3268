"""Journeys: 100,000 enrolments due at once, run through their steps (goal: within 60 s on
this machine); steps per second.

1. Builds (or reuses) a club with `--enrolments` opted-in customers, generated in SQL (a third
   of them FULL members, a few opted out of email or hard-bounced), and sending rules without
   a frequency cap or quiet hours.
2. Publishes a journey (through the services, as staff would) and enrols every customer with
   one INSERT … SELECT, all due now:

       check   condition: membershipTier in FULL, SENIOR      yes → email, no → sms
       email   send EMAIL (the ledger: a run and its rows)   → tag
       sms     send SMS                                      → tag
       tag     update: add a tag                             → pause
       pause   wait 3 days (each enrolment parks, WAITING)

   so every enrolment runs four steps: 400,000 step executions for 100,000 enrolments.
3. Times `run_due` from "all due" to "none due":
   - `--mode processes` (default): `--workers` processes each running the engine's loop
     (journeys.engine.run_due, batches of 1,000, SKIP LOCKED between them);
   - `--mode celery`: a real Celery worker (`--workers` prefork processes) and one
     `journeys.run_due` task, which starts helpers for the backlog and re-queues itself, as
     beat's task does; the send steps' deliveries run in the same worker, to a Messaging peer
     on 127.0.0.1 (campaigns.testing.MessagingPeer), so the figure includes them competing for
     the CPUs. Also reported: when the peer had accepted every message.
4. Prints enrolments/s and steps/s with the load average before and after (others share the
   machine's two cores), and checks the outcome: every enrolment WAITING at `pause`, one ledger
   row each, four COMPLETED/parked steps each.

    .venv/bin/python benchmarks/journeys.py --enrolments 100000 --workers 2

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL, with the public schema migrated).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
QUEUE = f"bench-journeys-{uuid.uuid4().hex[:8]}"
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
# Tasks are routed by kind (crm/settings.py): every queue of the run is prefixed, and the
# worker (started without --queues) consumes them all, never a running platform's.
os.environ["CELERY_QUEUE_PREFIX"] = f"{QUEUE}-"
os.environ["CAMPAIGN_TRANSPORT"] = "http"

import django  # noqa: E402

django.setup()

import logging  # noqa: E402

logging.getLogger("campaigns.sending").setLevel(logging.WARNING)  # a line per batch otherwise

from django.db import connection, connections, transaction  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.tenants.models import Tenant  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402

SLUG = "bench-journeys"
STEPS = {
    "check": {"type": "condition", "yes": "email", "no": "sms",
              "rule": {"combinator": "AND", "rules": [
                  {"field": "membershipTier", "operator": "in", "value": ["FULL", "SENIOR"]}]}},
    "email": {"type": "send", "channel": "EMAIL", "template": "member_welcome", "next": "tag"},
    "sms": {"type": "send", "channel": "SMS", "template": "member_welcome_sms", "next": "tag"},
    "tag": {"type": "update", "addTags": ["welcomed"], "next": "pause"},
    "pause": {"type": "wait", "duration": {"days": 3}, "next": None},
}  # fmt: skip
STEPS_EACH = 4


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def club(customers: int) -> Tenant:
    tenant = (
        Tenant.objects.filter(slug=SLUG).first()
        or tenant_create(slug=SLUG, name="Benchmark Journeys Club", timezone="Europe/Dublin")[0]
    )
    with schema_context(tenant.schema_name), transaction.atomic():
        from campaigns.sending import campaign_settings

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM profiles_customer")
            have = cursor.fetchone()[0]
            if have < customers:
                print(f"Generating {customers - have:,} customers in SQL …", flush=True)
                cursor.execute(
                    """
                    INSERT INTO profiles_customer (id, status, email, phone_number, first_name,
                        last_name, gender, lifecycle_stage, tags, membership_tier,
                        membership_status, home_club_id, lifetime_value, activity_count_30d,
                        booking_count_30d, email_opt_in, sms_opt_in, push_opt_in,
                        whatsapp_opt_in, email_hard_bounced, complained, address,
                        competition_entry_count_365d, created_at, updated_at)
                    SELECT gen_random_uuid(), 'ACTIVE', 'jb' || n || '@bench.example',
                        '+35387' || lpad(n::text, 7, '0'),
                        (ARRAY['Aoife','Conor','Niamh','Seán','Ciara','Darragh'])[1 + n %% 6],
                        'Golfer' || n, '', 'MEMBER', '{}',
                        (ARRAY['FULL','JUNIOR','SOCIAL'])[1 + n %% 3], 'ACTIVE', '', 0, 0, 0,
                        n %% 50 <> 0, n %% 4 <> 0, false, false, n %% 97 = 0, false, '{}', 0,
                        now(), now()
                    FROM generate_series(%s, %s) AS n
                    """,
                    [have + 1, customers],
                )
        rules = campaign_settings()
        rules.frequency_cap = 0
        rules.quiet_hours_enabled = False
        rules.save()
    return tenant


def reset_and_enrol(tenant: Tenant, enrolments: int) -> str:
    """A fresh journey with `enrolments` customers enrolled, all due now (committed)."""
    from journeys.models import Journey
    from journeys.services import JourneyInput, journey_archive, journey_create, journey_publish

    with schema_context(tenant.schema_name):
        with transaction.atomic(), connection.cursor() as cursor:
            # The previous runs' rows, so every run starts from the same tables.
            cursor.execute(
                "TRUNCATE journeys_enrolmentevent, journeys_stafftask, journeys_webhookdelivery, "
                "journeys_enrolment, campaigns_send, campaigns_campaignrun CASCADE"
            )
            cursor.execute("UPDATE profiles_customer SET tags = '{}' WHERE tags <> '{}'")
        for old in Journey.objects.exclude(status="ARCHIVED"):
            journey_archive(journey=old, actor_label="benchmark")
        journey = journey_create(
            data=JourneyInput(name=f"Bench {uuid.uuid4().hex[:6]}", definition={
                "trigger": {"type": "manual"}, "reentry": {"policy": "ALWAYS"},
                "start": "check", "steps": STEPS,
            }),
            actor_label="benchmark",
        )  # fmt: skip
        journey_publish(journey=journey, actor_label="benchmark")
        journey = Journey.objects.get(pk=journey.pk)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO journeys_enrolment (id, journey_id, version_id, customer_id, status,
                    step, due_at, entry_key, source, context, entered_at, step_entered_at,
                    finished_at, exit_reason, attempts, last_error)
                SELECT gen_random_uuid(), %s, %s, c.id, 'ACTIVE', 'check', now(), 'bench',
                       'MANUAL', '{}', now(), now(), NULL, '', 0, ''
                FROM (SELECT id FROM profiles_customer ORDER BY id LIMIT %s) AS c
                """,
                [journey.id, journey.published_version_id, enrolments],
            )
        with connection.cursor() as cursor:
            for table in ("journeys_enrolment", "profiles_customer", "campaigns_send",
                          "journeys_enrolmentevent"):  # fmt: skip
                cursor.execute(f"VACUUM ANALYZE {table}")
        return str(journey.id)


def _engine(schema: str, out) -> None:
    from journeys.engine import run_due

    connections.close_all()
    with schema_context(schema):
        started = time.monotonic()
        result = run_due()
        out.put((result.as_dict(), time.monotonic() - started))
    connections.close_all()


def run_processes(tenant: Tenant, workers: int) -> tuple[float, list[dict]]:
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    connections.close_all()
    started = time.monotonic()
    procs = [
        context.Process(target=_engine, args=(tenant.schema_name, out)) for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return time.monotonic() - started, [r for r, _t in results]


def run_celery(tenant: Tenant, workers: int) -> tuple[float, float | None]:
    from campaigns.testing import MessagingPeer
    from journeys.engine import due_exists
    from journeys.tasks import run_due

    with MessagingPeer() as peer:
        env = {**os.environ, "MESSAGING_URL": peer.url, "CELERY_TASK_DEFAULT_QUEUE": QUEUE}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "WARNING",
             "--concurrency", str(workers), "--without-gossip",
             "--without-mingle", "--hostname", f"{QUEUE}@%h"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            time.sleep(4)  # the worker's start-up is not the engine's time
            with schema_context(tenant.schema_name):
                from campaigns.models import Send

                started = time.monotonic()
                run_due.delay()
                while due_exists():
                    time.sleep(0.2)
                elapsed = time.monotonic() - started
                print(f"  run_due done in {elapsed:.1f} s; waiting for the deliveries …")
                sends = Send.objects.exclude(status="SUPPRESSED").count()
                delivered = None
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    if len(peer.state.accepted) >= sends:
                        delivered = time.monotonic() - started
                        break
                    time.sleep(0.5)
        finally:
            worker.terminate()  # warm shutdown of the main process; it stops its pool
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
                worker.wait()
    return elapsed, delivered


def check(tenant: Tenant, enrolments: int) -> dict[str, int]:
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM journeys_enrolment WHERE status = 'WAITING' "
            "AND step = 'pause'), (SELECT count(*) FROM campaigns_send), "
            "(SELECT count(DISTINCT customer_id) FROM campaigns_send), "
            "(SELECT count(*) FROM journeys_enrolmentevent WHERE kind = 'COMPLETED'), "
            "(SELECT count(*) FROM campaigns_campaignrun)"
        )
        waiting, sends, customers, completed, runs = cursor.fetchone()
    assert waiting == enrolments, (waiting, enrolments)
    assert sends == customers == enrolments, (sends, customers)
    assert completed == (STEPS_EACH - 1) * enrolments, completed
    return {"waiting": waiting, "sends": sends, "completed": completed, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enrolments", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=("processes", "celery"), default="processes")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    tenant = club(args.enrolments)
    try:
        for run in range(args.repeat):
            measure(tenant, args, run)
    finally:
        # Deliveries the send steps queued that no worker took, helpers left over: the
        # benchmark's own queue goes.
        import redis
        from django.conf import settings

        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(QUEUE)


def measure(tenant: Tenant, args: argparse.Namespace, run: int) -> None:
    reset_and_enrol(tenant, args.enrolments)
    before = loadavg()
    print(f"[{run + 1}] {args.enrolments:,} enrolments due; {args.mode}, "
          f"{args.workers} workers; load {before}", flush=True)  # fmt: skip
    if args.mode == "processes":
        elapsed, results = run_processes(tenant, args.workers)
        taken = [r["taken"] for r in results]
        steps = sum(r["steps"] for r in results)
        delivered = None
    else:
        elapsed, delivered = run_celery(tenant, args.workers)
        taken, steps = ["-"], args.enrolments * STEPS_EACH
    outcome = check(tenant, args.enrolments)
    print(
        f"    {elapsed:.1f} s: {args.enrolments / elapsed:,.0f} enrolments/s, "
        f"{steps / elapsed:,.0f} steps/s ({steps:,} steps; taken per worker {taken}); "
        f"{outcome['runs']} campaign runs, {outcome['sends']:,} ledger rows"
        + (f"; every message accepted by the peer after {delivered:.1f} s" if delivered
           else "")
        + f"; load {before} -> {loadavg()}",
        flush=True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
