"""Many clubs on one platform: creating them, migrating them, and beat's idle minute.

Run against a database of its own (it creates `--clubs` clubs and leaves them for re-runs):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_many .venv/bin/python \\
        benchmarks/many_clubs.py --clubs 1000

1. **Creation.** `tenant_create` for each missing club (`bench-0001` ...): the schema copied
   from the migrated template. Prints the median, p90, p99 and max per club, the time of the
   first creation (which builds the template), and, in the same run, the baseline: the same
   schema built by running every migration (`--baseline` clubs, 3 by default).
2. **Migrations with nothing to apply.** `migrate_schemas --tenant` over every club (which now
   asks each club's `django_migrations` first and visits only the clubs behind:
   crm/tenants/migrating.py), and the baseline in the same run: django-tenants' way, Django's
   `migrate` run in a club's schema with nothing to apply (`--schema`, `--sample` clubs),
   times the number of clubs. With a new migration every club is behind and is migrated the
   baseline's way; `--executor multiprocessing` spreads that over 2 processes.
3. **Beat's idle minute.** How many task messages one minute of beat's schedule publishes at
   this many clubs (the fan-out sends one per club per task that runs every minute), the time
   and CPU the fan-out takes to publish one task to every club, and the broker's memory before
   and after. The messages are published to a queue of the benchmark's own and deleted.
4. **The dispatcher's minute.** The same minute through `crm.tasks.dispatch_due` (beat's
   probed tasks, every minute and every few minutes, queued only where the app's probe says
   work is due, crm/periodic.py) with one busy club (due work of every kind) among idle ones
   (clubs that have run once: their event cursors set, and kept: it is what a club's first run
   leaves): tasks queued per kind against the fan-out's, and each kind's statements over every
   club (`TENANT_WORK_PROBE_CHUNK` clubs each; wall time, and the CPU of this process and of
   its PostgreSQL backend), then one kind's with every club in one statement. Then one minute
   of the safety net (`crm.tasks.safety_net` for every dispatched task, each covering the
   current minute's bucket of clubs; the Redis cursors it moves are put back). The busy club's
   rows and the messages are deleted at the end.

The load average is printed with every figure: on a shared 2-core machine it moves them.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
# The benchmark's messages go to a queue of its own, never to a running platform's workers.
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bench-many-clubs-{os.getpid()}")
os.environ.setdefault("CELERY_QUEUE_PREFIX", f"bench-many-clubs-{os.getpid()}-")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.tasks import fan_out_to_tenants  # noqa: E402
from crm.tenants.models import Tenant  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def create_clubs(count: int) -> None:
    existing = set(Tenant.objects.filter(slug__startswith="bench-").values_list("slug", flat=True))
    times = []
    first = None
    for number in range(1, count + 1):
        slug = f"bench-{number:04d}"
        if slug in existing:
            continue
        started = time.perf_counter()
        tenant_create(slug=slug, name=f"Bench Golf Club {number}")
        elapsed = time.perf_counter() - started
        if first is None:
            first = elapsed
        else:
            times.append(elapsed)
        if number % 100 == 0:
            print(f"  {number} clubs ({load()})", flush=True)
    if first is not None:
        print(f"first club (builds the template if missing): {first:.2f} s")
    if times:
        print(
            f"creation, {len(times)} clubs copied from the template: median "
            f"{statistics.median(times) * 1000:.0f} ms, p90 {percentile(times, 0.9) * 1000:.0f} ms,"
            f" p99 {percentile(times, 0.99) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
            f" ({load()})"
        )


def baseline_by_migrations(count: int) -> None:
    """The same schema built the old way: every migration run in it."""
    times = []
    for number in range(count):
        schema = f"bench_migrated_{number}"
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        started = time.perf_counter()
        call_command(
            "migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0
        )
        times.append(time.perf_counter() - started)
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(
        f"baseline, {count} schemas built by running every migration: median "
        f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms ({load()})"
    )


def migrate_all(sample: int) -> None:
    clubs = Tenant.objects.count()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--tenant", "-v", "0"],
        cwd=ROOT, check=True, env={**os.environ},
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    print(
        f"migrate_schemas --tenant, nothing to apply, {clubs} clubs: {elapsed:.1f} s "
        f"(the whole command, Django's start-up included; {load()})"
    )
    schemas = list(Tenant.objects.values_list("schema_name", flat=True)[:sample])
    started = time.perf_counter()
    for schema in schemas:
        call_command(
            "migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0
        )
    per_club = (time.perf_counter() - started) / len(schemas)
    connection.set_schema_to_public()
    print(
        f"baseline, Django's migrate in a club with nothing to apply: {per_club * 1000:.0f} ms a "
        f"club ({len(schemas)} clubs) -> {per_club * clubs:.0f} s for {clubs} clubs ({load()})"
    )


def idle_minute() -> None:
    every_minute = [
        entry["args"][0]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] in ("crm.tasks.fan_out_to_tenants", "crm.tasks.dispatch_due")
        and entry["schedule"] <= 60
    ]
    # Before the dispatcher every one of them was fanned out to every club each minute.
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    memory_before = broker.info("memory")["used_memory"]
    started, cpu = time.perf_counter(), cpu_seconds()
    published = fan_out_to_tenants(every_minute[0])
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    memory_after = broker.info("memory")["used_memory"]
    per_minute = published * len(every_minute)
    print(
        f"beat's idle minute by fan-out (before) at {published} clubs: {len(every_minute)} tasks every minute -> "
        f"{per_minute} messages a minute ({per_minute / 60:.0f}/s). Publishing one task to every "
        f"club took {elapsed:.2f} s wall, {cpu:.2f} s CPU; a minute's worth: "
        f"~{elapsed * len(every_minute):.0f} s wall, ~{cpu * len(every_minute):.0f} s CPU of "
        f"beat's worker; broker memory +{(memory_after - memory_before) / 1024:.0f} kB for one "
        f"task's {published} messages ({load()})"
    )
    for name in broker.scan_iter(match=f"{settings.CELERY_TASK_DEFAULT_QUEUE}*"):
        broker.delete(name)


def _tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its descendants (a Celery worker and its pool), from /proc."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class _Backends:
    """CPU of the PostgreSQL backends serving `app_name` (the server runs on this machine),
    sampled while they live: a worker may close a connection between tasks, and a closed
    backend's CPU can no longer be read, so each backend's last reading is kept."""

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name
        self.seen: dict[int, float] = {}

    def sample(self) -> float:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [self.app_name]
            )
            pids = [row[0] for row in cursor.fetchall()]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.seen[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return sum(self.seen.values())


def idle_minute_for_workers(concurrency: int, sample: int) -> None:
    """What the fan-out's idle minute costs the workers: a real Celery worker (prefork,
    `concurrency` processes) runs one minute's worth of fanned-out tasks (every every-minute
    task, all finding nothing to do) in `sample` clubs, timed until the last is acknowledged,
    with the CPU of the worker's processes and of their PostgreSQL backends; then the same per
    task, times every club."""
    from crm.celery import app as celery_app
    from crm.tasks import queue_in_clubs

    schemas = list(
        Tenant.objects.filter(status="ACTIVE")
        .order_by("slug")
        .values_list("schema_name", flat=True)
    )

    every_minute = [
        entry["args"][0]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] in ("crm.tasks.fan_out_to_tenants", "crm.tasks.dispatch_due")
        and entry["schedule"] <= 60
    ]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    app_name = f"crm-bench-idle-worker-{os.getpid()}"
    log = open(f"/tmp/{app_name}.log", "w")  # noqa: SIM115 (the worker's, closed below)
    print(f"  the worker's log: {log.name}")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "INFO",
         "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--hostname", f"bench-idle-{os.getpid()}@%h"],
        cwd=ROOT, env={**os.environ, "DATABASE_APPLICATION_NAME": app_name},
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    backends = _Backends(app_name)

    def drained() -> bool:
        queues = broker.scan_iter(match=f"{settings.CELERY_TASK_DEFAULT_QUEUE}*")
        waiting = sum(broker.llen(name) for name in queues if broker.type(name) == b"list")
        return waiting == 0 and not broker.hlen("unacked")

    def wait_drained(timeout: float) -> float:
        started = time.perf_counter()
        while not drained():
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"the worker did not drain the queues in {timeout:.0f} s")
            backends.sample()
            time.sleep(0.05)
        return time.perf_counter() - started

    try:
        # Warm-up: every pool process has loaded Django and seen the clubs' schemas once.
        for task in every_minute[:2]:
            queue_in_clubs(task, schemas[:sample])
        wait_drained(600)
        worker_cpu, db_cpu = _tree_cpu_seconds(worker.pid), backends.sample()
        before = load()
        started = time.perf_counter()
        published = sum(queue_in_clubs(task, schemas[:sample]) for task in every_minute)
        publish = time.perf_counter() - started
        wait_drained(1800)
        elapsed = time.perf_counter() - started
        worker_cpu = _tree_cpu_seconds(worker.pid) - worker_cpu
        db_cpu = backends.sample() - db_cpu
        print(
            f"the fan-out's idle minute on a worker (prefork, concurrency {concurrency}): "
            f"{published} tasks, all finding nothing to do, published in {publish:.1f} s and done "
            f"{elapsed:.1f} s after the first; CPU {worker_cpu:.1f} s in the worker's processes, "
            f"{db_cpu:.1f} s in their PostgreSQL backends; {published / elapsed:.0f} tasks/s, "
            f"{(worker_cpu + db_cpu) / published * 1000:.1f} ms of CPU a task "
            f"({before} -> {load()})"
        )
        per_minute = len(every_minute) * len(schemas)
        cpu_minute = (worker_cpu + db_cpu) / published * per_minute
        print(
            f"  -> at {len(schemas)} clubs the fan-out's {per_minute} tasks a minute cost "
            f"~{cpu_minute:.0f} CPU-seconds a minute: {cpu_minute / 60:.1f} cores busy finding "
            "nothing to do"
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
        for name in broker.scan_iter(match=f"{settings.CELERY_TASK_DEFAULT_QUEUE}*"):
            broker.delete(name)
        celery_app.close()


def _backend_cpu_seconds() -> float | None:
    """CPU of this connection's PostgreSQL backend (from /proc: the server runs here)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy_club(schema: str) -> list:
    """Due work of every kind in one club (the rows the probes look for); what it made."""
    import datetime as dt
    import uuid

    from django.utils import timezone

    from campaigns.models import Campaign, CampaignStatus
    from crm.outbox.models import OutboundEvent
    from journeys.models import Enrolment, Journey, JourneyStatus, JourneyVersion
    from profiles.models import Activity, Customer, RawEvent, TeeSlot
    from segments.models import Segment
    from social.models import CompetitionPromotion, Post, PostVariant, VariantStatus

    now = timezone.now()
    made: list = []
    with schema_context(schema):
        made.append(
            RawEvent.objects.create(
                source="teetime", event_id=uuid.uuid4().hex, type="teetime.booking.created",
                received_type="teetime.booking.created", occurred_at=now, transport="rest",
                envelope={},
            )
        )  # fmt: skip
        made.append(
            Activity.objects.create(
                type="teetime.booking.created", category="GOLF", title="Booked",
                source="teetime", occurred_at=now,
            )
        )  # fmt: skip
        made.append(OutboundEvent.objects.create(type="crm.customer.updated", envelope={}))
        made.append(Campaign.objects.create(name="Spring", status=CampaignStatus.SCHEDULED))
        made.append(
            TeeSlot.objects.create(
                slot_id=f"S-{uuid.uuid4().hex}", tee_time=now + dt.timedelta(hours=5),
                capacity=4, booked=1, state_at=now, state_key="k",
            )
        )  # fmt: skip
        journey = Journey.objects.create(name=f"Welcome {uuid.uuid4().hex}", definition={})
        version = JourneyVersion.objects.create(
            journey=journey, number=1, definition={}, published_at=now
        )
        Journey.objects.filter(pk=journey.pk).update(
            status=JourneyStatus.ACTIVE, published_version=version
        )
        customer = Customer.objects.create(first_name="Busy")
        Enrolment.objects.create(
            journey=journey, version=version, customer=customer, status="ACTIVE", step="start",
            entry_key="once", source="STAFF", entered_at=now, step_entered_at=now,
            due_at=now - dt.timedelta(minutes=1),
        )  # fmt: skip
        made += [journey, customer]
        post = Post.objects.create()
        PostVariant.objects.create(
            post=post, network="FACEBOOK", status=VariantStatus.SCHEDULED,
            scheduled_at=now - dt.timedelta(minutes=1),
        )  # fmt: skip
        made.append(post)
        made.append(
            CompetitionPromotion.objects.create(
                competition_id=f"C-{uuid.uuid4().hex}", needs_sync=True
            )
        )
        made.append(Segment.objects.create(name=f"Busy {uuid.uuid4().hex}", rules={}))
        post = Post.objects.create()
        PostVariant.objects.create(
            post=post, network="FACEBOOK", status=VariantStatus.PUBLISHED, published_at=now,
            metrics_due_at=now - dt.timedelta(minutes=1),
        )  # fmt: skip
        made.append(post)
    return made


def dispatcher_minute() -> None:
    from django.db import transaction

    from crm.periodic import clubs_with_work, work_probe
    from crm.tasks import dispatch_due

    schemas = list(
        Tenant.objects.filter(status="ACTIVE", slug__startswith="bench-")
        .order_by("slug")
        .values_list("schema_name", flat=True)
    )
    # task -> runs a minute (every minute, segments due 1/5, engagement 1/15)
    every_minute = {
        entry["args"][0]: 60 / entry["schedule"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "crm.tasks.dispatch_due"
    }
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # Idle clubs as after their first minute: every event cursor at the newest row (kept: it is
    # what any club's first run leaves). One transaction each: one for all would hold a lock on
    # every table of every club.
    with connection.cursor() as cursor:
        for schema in schemas:
            with transaction.atomic():
                cursor.execute(_settle_cursors(schema).as_string(cursor.connection))
    made = _busy_club(schemas[0])
    connection.set_schema_to_public()
    try:
        total_before = total_after = 0
        rows = []
        times = []
        for task in every_minute:
            probe = work_probe(task)
            started, cpu, db_cpu = time.perf_counter(), cpu_seconds(), _backend_cpu_seconds()
            found = clubs_with_work(probe, schemas, chunk=settings.TENANT_WORK_PROBE_CHUNK)
            cold = time.perf_counter() - started
            # Again, as beat's next minute on the same connection (catalogue caches warm).
            started, cpu, db_cpu = time.perf_counter(), cpu_seconds(), _backend_cpu_seconds()
            found = clubs_with_work(probe, schemas, chunk=settings.TENANT_WORK_PROBE_CHUNK)
            elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            db_after = _backend_cpu_seconds()
            times.append(elapsed)
            queued = dispatch_due(task)  # the whole task: probe again, then publish
            total_before += len(schemas) * every_minute[task]
            total_after += queued * every_minute[task]
            db_ms = f"{(db_after - db_cpu) * 1000:.0f}" if db_cpu is not None and db_after else "?"
            rows.append(
                f"| {task} | {len(schemas)} | {queued} | {cold * 1000:.0f} / {elapsed * 1000:.0f} | "
                f"{cpu * 1000:.0f} | {db_ms} |"
            )
            assert not found.failed, task
        # Every club in ONE statement (one transaction), for comparison with the chunks.
        probe = work_probe("campaigns.tick")
        started = time.perf_counter()
        whole = clubs_with_work(probe, schemas, chunk=len(schemas))
        one_statement = (
            "failed (see the log: the server's lock table)"
            if whole.failed
            else f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
    finally:
        from journeys.models import Enrolment, Journey, JourneyVersion

        with schema_context(schemas[0]):
            for row in reversed(made):
                if isinstance(row, Journey):  # its versions are protected while it is live
                    Enrolment.objects.filter(journey=row).delete()
                    Journey.objects.filter(pk=row.pk).update(published_version=None)
                    JourneyVersion.objects.filter(journey=row).delete()
                row.delete()
    for name in broker.scan_iter(match=f"{settings.CELERY_TASK_DEFAULT_QUEUE}*"):
        broker.delete(name)
    net = sum(len(schemas) * 60 / period for _task, period in _safety_nets())
    print(
        f"dispatcher's minute, 1 busy club of {len(schemas)} ({load()}): "
        f"{total_before:.0f} tasks a minute fanned out (before) -> {total_after:.1f} dispatched "
        f"(after; a kind run every 5 or 15 minutes counts 1/5 or 1/15), plus the safety net: "
        f"{net:.0f} a minute on average; {len(every_minute)} kinds probed, "
        f"{sum(times) * 1000:.0f} ms in all (warm)"
    )
    print(
        f"campaigns.tick's probe with all {len(schemas)} clubs in one statement: {one_statement}"
        f" (chunks of {settings.TENANT_WORK_PROBE_CHUNK} above; {load()})"
    )
    print(
        "| task | fan-out | dispatched | probe ms, first / next | CPU ms (beat) "
        "| CPU ms (PostgreSQL) |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    safety_net_minute(broker)


def _safety_nets() -> list[tuple[str, int]]:
    return [
        (entry["args"][0], entry["args"][1])
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "crm.tasks.safety_net"
    ]


def safety_net_minute(broker: redis.Redis) -> None:
    """One minute of the safety net: every dispatched task's run, covering this minute's
    bucket of clubs (each cursor set a minute back first, and put back after)."""
    from django.utils import timezone

    from crm.tasks import safety_net, safety_net_cursor_set

    cursors = redis.Redis.from_url(settings.REDIS_URL)
    shares = {}
    started, cpu = time.perf_counter(), cpu_seconds()
    for task, period in _safety_nets():
        key = f"crm:safety-net:{task}"
        saved = cursors.get(key)
        try:
            minute = int(timezone.now().timestamp() // 60)
            safety_net_cursor_set(task, minute - 1)
            shares[task] = safety_net(task, period)
        finally:
            if saved is None:
                cursors.delete(key)
            else:
                cursors.set(key, saved)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    for name in broker.scan_iter(match=f"{settings.CELERY_TASK_DEFAULT_QUEUE}*"):
        broker.delete(name)
    print(
        f"the safety net's minute: {sum(shares.values())} messages for {len(shares)} tasks "
        f"({min(shares.values())}-{max(shares.values())} a task), {elapsed * 1000:.0f} ms wall, "
        f"{cpu * 1000:.0f} ms CPU in all ({load()})"
    )


def _settle_cursors(schema: str):
    from psycopg import sql

    return sql.SQL(
        "INSERT INTO {score} (id, last_activity_id, updated_at) "
        "SELECT 1, coalesce(max(id), 0), now() FROM {activity} ON CONFLICT (id) DO NOTHING; "
        "INSERT INTO {segments} (id, last_activity_id, updated_at) "
        "SELECT 1, coalesce(max(id), 0), now() FROM {activity} ON CONFLICT (id) DO NOTHING; "
        "INSERT INTO {promotion} (id, last_raw_event_id, updated_at) "
        "SELECT 1, coalesce(max(id), 0), now() FROM {raw} ON CONFLICT (id) DO NOTHING"
    ).format(
        score=sql.Identifier(schema, "profiles_scoreeventcursor"),
        segments=sql.Identifier(schema, "segments_segmenteventcursor"),
        promotion=sql.Identifier(schema, "social_promotioneventcursor"),
        activity=sql.Identifier(schema, "profiles_activity"),
        raw=sql.Identifier(schema, "profiles_rawevent"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clubs", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=3)
    parser.add_argument("--sample", type=int, default=10)
    parser.add_argument(
        "--periodic-only", action="store_true",
        help="create the clubs, then only beat's idle minute and the dispatcher's",
    )  # fmt: skip
    parser.add_argument(
        "--idle-worker", type=int, default=0, metavar="CONCURRENCY",
        help="also run the fan-out's idle minute through a real Celery worker",
    )  # fmt: skip
    parser.add_argument(
        "--idle-worker-clubs", type=int, default=100,
        help="clubs whose idle minute the worker runs (the figure per task is then scaled)",
    )  # fmt: skip
    args = parser.parse_args()
    if not settings.DATABASES["default"]["NAME"].startswith(("crm_many", "crm_bench", "bench")):
        sys.exit("Use a database of its own (its name starting crm_many, crm_bench or bench).")
    print(f"{load()} at start; {os.cpu_count()} CPUs")
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    create_clubs(args.clubs)
    if not args.periodic_only:
        baseline_by_migrations(args.baseline)
        migrate_all(args.sample)
    idle_minute()
    if args.idle_worker:
        idle_minute_for_workers(args.idle_worker, args.idle_worker_clubs)
    dispatcher_minute()


if __name__ == "__main__":
    main()
