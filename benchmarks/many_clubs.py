"""Many clubs on one platform: creating them, migrating them, beat's idle minute and a busy one.

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
5. **One new migration** (`--new-migration`). A temporary tenant migration,
   `profiles/migrations/9999_bench_many_clubs_temporary.py` (RunSQL: a nullable column on
   `profiles_customer`, as a deploy's cheap migration is), after the app's current leaf. The
   baseline first: the standard executor one club at a time on `--sample` clubs, extrapolated
   to every club; then `migrate_schemas --tenant --executor multiprocessing` over the rest, as a
   deploy runs it (`--processes`, 2: TENANT_MULTIPROCESSING_MAX_PROCESSES), a subprocess timed
   whole (total, clubs/s, per club). Then, whatever happened (finally, atexit, SIGTERM), the
   file and its bytecode are removed and one DO block drops the column and deletes the
   migration's `django_migrations` row in every schema, the template's included, one schema
   per transaction; a run finding a killed run's leftovers cleans them first, and .gitignore
   refuses the file. Do not run tests in the same checkout meanwhile: they would see it.
6. **The busy minute** (`--busy [N]`, 50 clubs if N is left out). A real gunicorn (2 workers x
   8 gthread threads) and a real Celery worker (`celery -A crm worker`, concurrency 2, every
   platform queue under this run's own prefix), each with its own `application_name`. N clubs
   get an API key (deleted after) and one client thread each, POSTing events.md envelopes (new
   SCL members who become TeeTime players, their bookings, rounds played and payments) at
   `--rate` events/s per club in POSTs of `--batch` (default 5/s in POSTs of 5: 250 events/s at
   50 clubs) for `--seconds` (60); the clubs are spread over the period, not in step. This
   process is beat: `dispatch_due` for every every-minute task at the start and every `--tick`
   seconds (60), after every club's event cursors are settled (as in phase 4), so the idle clubs
   are idle. The first dispatch comes as the clients start: give `--seconds 120` for a second
   one in the busy steady state (the counts are printed per minute). Printed: events accepted, stored and applied (every accepted event stored and
   applied, none lost, after at most `--drain` s), POST latency and answers, tasks dispatched
   per kind a minute against the fan-out's, the queues' backlog at the end of the window, the
   CPU of gunicorn, the worker (process trees, from /proc), the dispatcher, and the PostgreSQL
   backends of each (sampled from /proc with pg_stat_activity every 50 ms, so a backend that
   ends mid-run counts up to its last sample) and of the server's own processes; Redis
   commands, CPU and memory (INFO: the whole server, other users included); and the peak
   PostgreSQL connections of each `application_name` (web, worker, benchmark) and of all at
   once: the connections the platform uses under this load. Events and customers made stay
   (benchmark clubs); keys, queues and messages go.

7. **The fan-out's idle minute on a worker** (`--idle-worker CONCURRENCY`): a real Celery
   worker runs one minute of fanned-out tasks (every every-minute task, all finding nothing to
   do) in `--idle-worker-clubs` clubs (100), timed until the last is acknowledged, with the
   CPU of the worker's processes and of their PostgreSQL backends, scaled per task to every
   club: what the fan-out cost the workers before the dispatcher.

Phases 1-4 run by default. With `--new-migration`, `--busy` or `--idle-worker`, only those run
(after creating any missing clubs), on the clubs already there; `--all` runs 1-4 as well.

    .venv/bin/python benchmarks/many_clubs.py --clubs 1000 --new-migration --busy 50 --idle-worker 2

The load average is printed with every figure: on a shared 2-core machine it moves them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
# The benchmark's messages go to queues of its own, never to a running platform's workers: set,
# not defaulted, so a shell exporting the platform's prefix cannot point it at the real queues.
# The web server and worker the busy minute starts inherit them.
QUEUES = f"bench-many-clubs-{os.getpid()}-"  # every queue's name, and the worker's, start so
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"{QUEUES}default"
os.environ["CELERY_QUEUE_PREFIX"] = QUEUES
# And the outbox's relay (the busy minute's worker runs it) publishes to a BullMQ queue of its own.
os.environ["BULLMQ_PREFIX"] = f"{QUEUES}bull"
# The benchmark's own connections, told apart in pg_stat_activity from the servers it starts.
os.environ.setdefault("DATABASE_APPLICATION_NAME", f"crm-bench-many-clubs-{os.getpid()}")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import get_public_schema_name, schema_context  # noqa: E402

from crm.tasks import fan_out_to_tenants  # noqa: E402
from crm.tenants.models import Tenant  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    _drop_bench_queues(broker)


def idle_minute_for_workers(concurrency: int, sample: int, extra: list[str]) -> None:
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
         "--without-heartbeat", "--hostname", f"bench-idle-{os.getpid()}@%h", *extra],
        cwd=ROOT, env={**os.environ, "DATABASE_APPLICATION_NAME": app_name},
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    watcher = Watcher({"worker": app_name})

    def wait_drained(timeout: float) -> float:
        started = time.perf_counter()
        while not _drained(broker):
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"the worker did not drain the queues in {timeout:.0f} s")
            time.sleep(0.05)
        return time.perf_counter() - started

    try:
        # Warm-up: every pool process has loaded Django and seen the clubs' schemas once.
        for task in every_minute[:2]:
            queue_in_clubs(task, schemas[:sample])
        wait_drained(600)
        watcher.start()  # its backends' CPU counts from here
        worker_cpu = tree_cpu(worker.pid)
        before = load()
        started = time.perf_counter()
        published = sum(queue_in_clubs(task, schemas[:sample]) for task in every_minute)
        publish = time.perf_counter() - started
        wait_drained(1800)
        elapsed = time.perf_counter() - started
        worker_cpu = tree_cpu(worker.pid) - worker_cpu
        watcher.stop.set()
        watcher.join()
        db_cpu = watcher.cpu()["worker"]
        print(
            f"the fan-out's idle minute on a worker (prefork, concurrency {concurrency}"
            f"{', ' + ' '.join(extra) if extra else ''}): "
            f"{published} tasks, all finding nothing to do, published in {publish:.1f} s and done "
            f"{elapsed:.1f} s after the first; CPU {worker_cpu:.1f} s in the worker's processes, "
            f"{db_cpu:.1f} s in their PostgreSQL backends; {published / elapsed:.0f} tasks/s, "
            f"{(worker_cpu + db_cpu) / published * 1000:.1f} ms of CPU a task "
            f"({before} -> {load()}); the wall time is the fan-out's stagger (each club "
            f"{settings.TENANT_FAN_OUT_STAGGER_SECONDS} s after the one before), not the worker's"
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
        watcher.stop.set()
        worker.wait(timeout=60)
        log.close()
        _drop_bench_queues(broker)
        celery_app.close()


def _backend_cpu_seconds() -> float | None:
    """CPU of this connection's PostgreSQL backend (from /proc: the server runs here)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return _proc_cpu(pid)


def _busy_club(schema: str) -> list:
    """Due work of every kind in one club (the rows the probes look for); what it made."""
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
    # what any club's run leaves).
    _settle_every_club(schemas)
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
    for name in broker.scan_iter(match=f"{QUEUES}*"):
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
    _drop_bench_queues(broker)
    print(
        f"the safety net's minute: {sum(shares.values())} messages for {len(shares)} tasks "
        f"({min(shares.values())}-{max(shares.values())} a task), {elapsed * 1000:.0f} ms wall, "
        f"{cpu * 1000:.0f} ms CPU in all ({load()})"
    )


def _settle_cursors(schema: str):
    from psycopg import sql

    # Caught up, not only set: a club a previous busy run left behind (its tasks' countdowns
    # cut short) is idle again, as if its tasks had run.
    return sql.SQL(
        "INSERT INTO {score} AS cur (id, last_activity_id, updated_at) "
        "SELECT 1, coalesce(max(id), 0), now() FROM {activity} ON CONFLICT (id) DO UPDATE "
        "SET last_activity_id = greatest(cur.last_activity_id, excluded.last_activity_id); "
        "INSERT INTO {segments} AS cur (id, last_activity_id, updated_at) "
        "SELECT 1, coalesce(max(id), 0), now() FROM {activity} ON CONFLICT (id) DO UPDATE "
        "SET last_activity_id = greatest(cur.last_activity_id, excluded.last_activity_id); "
        "INSERT INTO {promotion} AS cur (id, last_raw_event_id, updated_at) "
        "SELECT 1, coalesce(max(id), 0), now() FROM {raw} ON CONFLICT (id) DO UPDATE "
        "SET last_raw_event_id = greatest(cur.last_raw_event_id, excluded.last_raw_event_id)"
    ).format(
        score=sql.Identifier(schema, "profiles_scoreeventcursor"),
        segments=sql.Identifier(schema, "segments_segmenteventcursor"),
        promotion=sql.Identifier(schema, "social_promotioneventcursor"),
        activity=sql.Identifier(schema, "profiles_activity"),
        raw=sql.Identifier(schema, "profiles_rawevent"),
    )


# --- 5. One new migration over every club -------------------------------------------------------

# Obviously the benchmark's, never a real one: the file lives only while the phase runs (finally,
# atexit, SIGTERM), .gitignore refuses it, and a run finding one left by a killed run removes it
# (and its traces in the database) before anything else.
MIGRATION_APP = "profiles"
MIGRATION_NAME = "9999_bench_many_clubs_temporary"
MIGRATION_COLUMN = "bench_many_clubs_temporary"
MIGRATION_DIR = ROOT / MIGRATION_APP / "migrations"
MIGRATION_FILE = MIGRATION_DIR / f"{MIGRATION_NAME}.py"
MIGRATION_SOURCE = '''"""Written by benchmarks/many_clubs.py --new-migration and deleted when it ends: NEVER COMMIT.

A cheap, realistic deploy migration (a nullable column: metadata only, safe while old code
serves), so the benchmark times migrate_schemas with one new migration in every club.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [({app!r}, {leaf!r})]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE profiles_customer ADD COLUMN {column} text NULL",
            "ALTER TABLE profiles_customer DROP COLUMN IF EXISTS {column}",
        )
    ]
'''
# Every schema (the clubs, the template, any other) loses the column and the migration's row,
# one schema per transaction (COMMIT inside the DO block: it runs outside any transaction): one
# transaction over 1,000 clubs would take a lock per table in the server's shared lock table.
CLEANUP_SQL = f"""
DO $cleanup$
DECLARE
    target text;
BEGIN
    FOR target IN
        SELECT n.nspname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = 'profiles_customer' AND a.attname = '{MIGRATION_COLUMN}'
          AND NOT a.attisdropped
    LOOP
        EXECUTE format('ALTER TABLE %I.profiles_customer DROP COLUMN {MIGRATION_COLUMN}', target);
        COMMIT;
    END LOOP;
    FOR target IN
        SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = 'django_migrations' AND c.relkind = 'r'
    LOOP
        EXECUTE format(
            'DELETE FROM %I.django_migrations WHERE app = %L AND name = %L',
            target, '{MIGRATION_APP}', '{MIGRATION_NAME}'
        );
        COMMIT;
    END LOOP;
END
$cleanup$
"""


def _remove_migration_file() -> None:
    """The file and any bytecode of it: nothing of the benchmark's stays in the checkout."""
    MIGRATION_FILE.unlink(missing_ok=True)
    for compiled in (MIGRATION_DIR / "__pycache__").glob(f"{MIGRATION_NAME}.*"):
        compiled.unlink(missing_ok=True)


def _migration_traces() -> tuple[int, int]:
    """(schemas with the column, schemas with the migration's row), every schema counted."""
    from psycopg import sql

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname = 'profiles_customer' AND a.attname = %s AND NOT a.attisdropped",
            [MIGRATION_COLUMN],
        )
        (columns,) = cursor.fetchone()
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r'"
        )
        schemas = [row[0] for row in cursor.fetchall()]
        rows = 0
        # 200 schemas a statement: one statement over 1,000 would lock 2,000 relations at once.
        for start in range(0, len(schemas), 200):
            chunk = schemas[start : start + 200]
            union = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT count(*) FROM {} WHERE app = %s AND name = %s").format(
                    sql.Identifier(schema, "django_migrations")
                )
                for schema in chunk
            )
            cursor.execute(
                sql.SQL("SELECT coalesce(sum(count), 0) FROM ({}) AS counted").format(union)
                .as_string(cursor.connection),
                [MIGRATION_APP, MIGRATION_NAME] * len(chunk),
            )  # fmt: skip
            rows += cursor.fetchone()[0]
    return int(columns), int(rows)


def _clean_migration() -> tuple[int, int]:
    """Back to exactly as before: the file gone, the column and the row gone in every schema.
    Returns what it found to clean (schemas with the column, with the row)."""
    _remove_migration_file()
    connection.set_schema_to_public()
    found = left = _migration_traces()
    # Again while anything is left: a killed migration's statement may commit a moment later.
    for _attempt in range(5):
        if not any(left):
            break
        with connection.cursor() as cursor:
            cursor.execute(CLEANUP_SQL)
        left = _migration_traces()
        if any(left):
            time.sleep(1)
    sys.modules.pop(f"{MIGRATION_APP}.migrations.{MIGRATION_NAME}", None)
    from crm.tenants.template import _tenant_migration_leaves

    _tenant_migration_leaves.cache_clear()  # the template check must not expect it any more
    return found


def _die_with_parent() -> None:
    """In the migrate command: killed with this process, even by SIGKILL (Linux prctl
    PR_SET_PDEATHSIG), so no migration outlives the benchmark and its clean-up."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


def _write_migration() -> str:
    """Write the migration after the app's current leaf; returns that leaf."""
    import importlib

    from django.db.migrations.loader import MigrationLoader

    leaves = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes(MIGRATION_APP)
    if len(leaves) != 1:
        sys.exit(f"{MIGRATION_APP} has {len(leaves)} leaf migrations; expected one.")
    leaf = leaves[0][1]
    MIGRATION_FILE.write_text(
        MIGRATION_SOURCE.format(app=MIGRATION_APP, leaf=leaf, column=MIGRATION_COLUMN)
    )
    importlib.invalidate_caches()
    return leaf


def new_migration(sample: int, processes: int) -> None:
    """One new tenant migration: the standard executor one club at a time on `sample` clubs
    (the baseline, extrapolated), then `migrate_schemas --tenant --executor multiprocessing`
    over every other club, as a deploy runs it. Everything undone at the end, whatever happens."""
    import atexit

    leftover = _clean_migration()  # a killed run's file, column or rows
    if any(leftover):
        print(
            f"removed a previous run's traces: the column in {leftover[0]} schemas, the "
            f"migration's row in {leftover[1]}"
        )
    atexit.register(_remove_migration_file)
    sys.dont_write_bytecode = True
    schemas = list(
        Tenant.objects.exclude(schema_name=get_public_schema_name())
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )
    clubs = len(schemas)
    try:
        leaf = _write_migration()
        label = f"{MIGRATION_APP}.{MIGRATION_NAME} (after {leaf}: ADD COLUMN, nullable)"
        # The baseline: Django's migrate (the standard executor) in one club at a time.
        times = []
        cpu = cpu_seconds()
        for schema in schemas[:sample]:
            started = time.perf_counter()
            call_command(
                "migrate_schemas", tenant=True, schema_name=schema, interactive=False,
                verbosity=0,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
        cpu_per_club = (cpu_seconds() - cpu) / max(len(times), 1)
        connection.set_schema_to_public()
        per_club = statistics.mean(times)
        print(
            f"new migration {label}, baseline: the standard executor one club at a time, "
            f"{per_club * 1000:.0f} ms a club (mean of {len(times)}; median "
            f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms; "
            f"{cpu_per_club * 1000:.0f} ms CPU of this process a club) -> "
            f"~{per_club * clubs:.0f} s for {clubs} clubs ({load()})",
            flush=True,
        )
        env = {
            **os.environ,
            "TENANT_MULTIPROCESSING_MAX_PROCESSES": str(processes),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        load_before = load()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        command = subprocess.Popen(
            [sys.executable, "manage.py", "migrate_schemas", "--tenant", "--executor",
             "multiprocessing", "-v", "1"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
        try:
            stdout, stderr = command.communicate()
        except BaseException:
            # Its pool's processes too, before the clean-up: none may add a column after it.
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()
            raise
        elapsed = time.perf_counter() - started
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        command_cpu = (
            reaped.ru_utime + reaped.ru_stime - children.ru_utime - children.ru_stime
        )  # the command and its pool's processes
        if command.returncode:
            print(stdout[-3000:], stderr[-3000:], sep="\n")
            raise SystemExit(f"migrate_schemas failed (exit {command.returncode})")
        behind = next(
            (line for line in stdout.splitlines() if "have migrations to apply" in line), "?"
        )
        migrated = clubs - len(times)
        columns, _rows = _migration_traces()
        print(
            f"new migration, migrate_schemas --tenant --executor multiprocessing "
            f"({processes} processes), {migrated} clubs ({behind}): {elapsed:.1f} s, "
            f"{migrated / elapsed:.1f} clubs/s, {elapsed / max(migrated, 1) * 1000:.0f} ms a club "
            f"(the whole command, Django's start-up included; {command_cpu:.1f} s CPU in all, "
            f"{command_cpu / max(migrated, 1) * 1000:.0f} ms a club; {load_before} -> {load()}); "
            f"{columns} of {clubs} clubs have the column",
            flush=True,
        )
        if per_club and migrated:
            print(
                f"  against the baseline's {per_club * 1000:.0f} ms a club: "
                f"x{per_club * migrated / elapsed:.1f}"
            )
    finally:
        started = time.perf_counter()
        found = _clean_migration()
        after = _migration_traces()
        print(
            f"cleaned up in {time.perf_counter() - started:.1f} s: the file removed, the column "
            f"dropped in {found[0]} schemas and the migration's row deleted in {found[1]} "
            f"(left: {after[0]} columns, {after[1]} rows)"
        )


# --- 6. The busy minute --------------------------------------------------------------------------

BUSY_KEY_NAME = "bench-many-clubs-busy"
DISPATCH, SAFETY_NET = "crm.tasks.dispatch_due", "crm.tasks.safety_net"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of one process, from /proc: every server runs here."""
    fields = _proc_stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants, with the children they have reaped
    (cutime/cstime), so a worker process replaced mid-run still counts."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _proc_stat(int(entry.name))):
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        fields = _proc_stat(pid)
        if fields is not None:
            total += sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
        stack += parents.get(pid, [])
    return total


class Watcher(threading.Thread):
    """Every `interval` seconds: the PostgreSQL connections of each watched application_name
    (peak of each, and of their sum) and the CPU of their backends, read from /proc at each
    sample so a backend that ends mid-run (a connection past CONN_MAX_AGE) still counts up to
    its last sample. Its own connection has a name of its own and is not counted."""

    def __init__(self, names: dict[str, str], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.names, self.interval = names, interval
        self.by_name = {name: label for label, name in names.items()}
        self.peak = dict.fromkeys(names, 0)
        self.peak_total = 0
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.label_of: dict[int, str] = {}
        self.redis_peak = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        with psycopg.connect(
            settings.DATABASE_URL,
            autocommit=True,
            application_name=f"crm-bench-watch-{os.getpid()}",
        ) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT application_name, pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = ANY(%s)",
                    [list(self.names.values())],
                ).fetchall()
                counts = dict.fromkeys(self.names, 0)
                for name, pid in rows:
                    label = self.by_name[name]
                    counts[label] += 1
                    cpu = _proc_cpu(pid)
                    if cpu is None:
                        continue
                    if pid not in self.first:
                        # Seen at the first sample: count from now; new later: from its start.
                        self.first[pid] = cpu if self.samples == 0 else 0.0
                        self.label_of[pid] = label
                    self.last[pid] = cpu
                for label, count in counts.items():
                    self.peak[label] = max(self.peak[label], count)
                self.peak_total = max(self.peak_total, sum(counts.values()))
                if self.samples % 10 == 0:
                    self.redis_peak = max(self.redis_peak, broker.info("memory")["used_memory"])
                self.samples += 1
                time.sleep(self.interval)

    def cpu(self) -> dict[str, float]:
        totals = dict.fromkeys(self.names, 0.0)
        for pid, label in self.label_of.items():
            totals[label] += self.last[pid] - self.first[pid]
        return totals


def _server_background_cpu() -> dict[int, float]:
    """CPU of PostgreSQL's own processes (WAL writer, checkpointer, autovacuum...) by pid."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'")
        pids = [row[0] for row in cursor.fetchall()]
    return {pid: cpu for pid in pids if (cpu := _proc_cpu(pid)) is not None}


class ClubFeed:
    """One club's upstream services: new members (SCL) who become TeeTime players, then their
    bookings, rounds played and payments, as events.md envelopes. Ids carry the run's stamp so
    a rerun adds new people and new events."""

    def __init__(self, slug: str, run: str, seed: int) -> None:
        import random

        self.slug, self.run = slug, run
        self.rng = random.Random(seed)
        self.people: list[tuple[int, str]] = []
        self.queued: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self.made = 0
        self.base = int(run, 16) % 20_000 * 100_000  # member ids stay under 2**31

    def _story(self) -> None:
        rng = self.rng
        if not self.people or rng.random() < 0.12:
            number = self.base + len(self.people) + 1
            member, player = number, f"bm-{self.run}-{len(self.people) + 1}"
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first.lower()}.{last.lower()}.{self.run}.{len(self.people) + 1}@example.ie"
            self.people.append((member, player))
            self.queued += [
                ("scl.member.created", "scl", {"sclMemberId": member},
                 {"memberId": member, "firstName": first, "lastName": last, "email": email,
                  "status": "ACTIVE", "tier": {"code": "FULL", "name": "Full"},
                  "joinedOn": "2026-03-01"}),
                ("teetime.player.created", "teetime", {"teetimePlayerId": player},
                 {"playerId": player, "firstName": first, "lastName": last, "email": email,
                  "sclMemberId": member, "handicapIndex": round(rng.uniform(2, 28), 1)}),
            ]  # fmt: skip
            return
        member, player = rng.choice(self.people)
        self.made += 1
        if rng.random() < 0.8:
            booking = f"bk-{self.run}-{self.made}"
            tee_time = (timezone.now() + dt.timedelta(days=rng.randint(1, 10))).replace(
                minute=rng.choice((0, 10, 20, 30, 40, 50)), second=0, microsecond=0
            )
            self.queued.append(
                ("teetime.booking.created", "teetime", {"teetimePlayerId": player},
                 {"bookingId": booking, "playerId": player,
                  "course": {"id": "old", "name": "Old Course"},
                  "teeTime": tee_time.isoformat().replace("+00:00", "Z"), "holes": 18,
                  "partySize": 2, "guestPlayerIds": [],
                  "price": {"amount": "45.00", "currency": "EUR"}, "channel": "ONLINE"})
            )  # fmt: skip
            if rng.random() < 0.6:  # the round is played (its completion a later event)
                self.queued.append(
                    ("teetime.booking.completed", "teetime", {"teetimePlayerId": player},
                     {"bookingId": booking, "playerId": player})
                )  # fmt: skip
        else:
            self.queued.append(
                ("scl.payment.received", "scl", {"sclMemberId": member},
                 {"paymentId": f"pay-{self.run}-{self.made}", "memberId": member,
                  "amount": "20.00", "currency": "EUR", "purpose": "BAR_LEVY"})
            )  # fmt: skip

    def batch(self, size: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < size:
            if not self.queued:
                self._story()
            kind, source, identity, payload = self.queued.pop(0)
            out.append({
                "id": str(uuid.uuid4()), "type": kind, "version": 1,
                "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
                "tenantSlug": self.slug, "source": source, "identity": identity,
                "payload": payload,
            })  # fmt: skip
        return out


FIRST_NAMES = ("Aoife", "Sean", "Niamh", "Ciaran", "Saoirse", "Liam", "Orla", "Darragh")
LAST_NAMES = ("Byrne", "Murphy", "Kelly", "Walsh", "Ryan", "Doyle", "Nolan", "Kavanagh")


def _per_club_statement(schemas: list[str], template: str) -> Any:
    """One statement over the clubs: `template` per schema (its tables as {raw} and
    {activity}, the schema's name as a literal {schema}), joined by UNION ALL."""
    from psycopg import sql

    return sql.SQL(" UNION ALL ").join(
        sql.SQL(template).format(
            schema=sql.Literal(schema),
            raw=sql.Identifier(schema, "profiles_rawevent"),
            activity=sql.Identifier(schema, "profiles_activity"),
        )
        for schema in schemas
    )


def _newest_event_ids(schemas: list[str]) -> dict[str, int]:
    statement = _per_club_statement(schemas, "SELECT {schema}, coalesce(max(id), 0) FROM {raw}")
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection))
        return {schema: newest for schema, newest in cursor.fetchall()}


def _events_since(since: dict[str, int]) -> dict[str, int]:
    """Counts over every busy club of the events stored after `since` (one statement)."""
    from psycopg import sql

    statement = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE status = 'APPLIED'), "
            "count(*) FILTER (WHERE status = 'PENDING'), "
            "count(*) FILTER (WHERE status = 'UNKNOWN'), "
            "count(*) FILTER (WHERE status = 'PARKED'), "
            "(SELECT count(*) FROM {activity} WHERE raw_event_id > {since}) "
            "FROM {raw} WHERE id > {since}"
        ).format(
            raw=sql.Identifier(schema, "profiles_rawevent"),
            activity=sql.Identifier(schema, "profiles_activity"),
            since=sql.Literal(newest),
        )
        for schema, newest in since.items()
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection))
        rows = cursor.fetchall()
    keys = ("stored", "applied", "pending", "unknown", "parked", "activities")
    return {key: sum(row[index] for row in rows) for index, key in enumerate(keys)}


def _settle_every_club(schemas: list[str]) -> None:
    """One transaction each: one for all would hold a lock on every table of every club."""
    from django.db import transaction

    with connection.cursor() as cursor:
        for schema in schemas:
            with transaction.atomic():
                cursor.execute(_settle_cursors(schema).as_string(cursor.connection))


def _redis_figures(broker: redis.Redis) -> dict[str, float]:
    info = broker.info()
    return {
        "commands": float(info["total_commands_processed"]),
        "cpu": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        "memory": float(info["used_memory"]),
        "net_in": float(info["total_net_input_bytes"]),
    }


def _stop(process: subprocess.Popen[bytes], *, grace: float = 60) -> None:
    """A warm shutdown (the main process stops its own children), then the whole group."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _drop_bench_queues(broker: redis.Redis) -> int:
    names = [
        *broker.scan_iter(match=f"{QUEUES}*"),  # queues, the pidbox, the relay's BullMQ queue
        *broker.scan_iter(match=f"_kombu.binding*.{QUEUES}*"),
    ]
    # The bindings kombu keeps in one set per exchange: the worker's pidbox among them.
    for binding in broker.scan_iter(match="_kombu.binding*"):
        if broker.type(binding) == b"set":
            for member in broker.smembers(binding):
                if QUEUES.encode() in member:
                    broker.srem(binding, member)
    if names:
        broker.delete(*names)
    return len(names)


def _held(broker: redis.Redis) -> int:
    """The run's messages a worker holds unacknowledged: those it is running and those with a
    countdown (the fan-out's stagger, the safety net's spread within its minute), which it keeps
    until due."""
    return sum(QUEUES.encode() in value for value in broker.hvals("unacked"))


def _drained(broker: redis.Redis) -> bool:
    """Nothing of the run's waits in a queue or is held by a worker."""
    return not _held(broker) and not any(
        broker.llen(name) for name in settings.CELERY_WORKER_QUEUES
    )


def _after(seconds: int | None, limit: float) -> str:
    return f"{seconds} s later" if seconds is not None else f"NOT within {limit:.0f} s"


def busy_minute(busy: int, *, rate: float, batch: int, seconds: float, tick: float,
                drain: float) -> None:  # fmt: skip
    """`busy` clubs ingest at once through a real gunicorn while a real Celery worker applies
    their events and runs what the dispatcher queues every `tick` seconds."""
    import json
    import urllib.error
    import urllib.request

    from crm.accounts.models import ApiKey
    from crm.accounts.services import api_key_create
    from crm.celery import app

    clubs = list(
        Tenant.objects.filter(status="ACTIVE", slug__startswith="bench-")
        .order_by("slug")
        .values_list("slug", "schema_name")
    )
    if len(clubs) < busy:
        sys.exit(f"--busy {busy} needs at least {busy} ACTIVE bench clubs ({len(clubs)} exist).")
    busy_clubs = clubs[:busy]
    schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    # Beat's every-minute entries that queue work in clubs: the dispatcher's, and a safety net
    # that runs every minute over a bucket of clubs where the schedule has one. Run here as a
    # worker would run them when beat queues them.
    beat = [
        (
            entry["args"][0] + ("" if entry["task"] == DISPATCH else " (safety net)"),
            entry["task"], tuple(entry.get("args", ())), dict(entry.get("kwargs", {})),
        )
        for entry in schedule.values()
        if entry["task"] in (DISPATCH, SAFETY_NET) and entry["schedule"] <= 60
    ]  # fmt: skip
    every_minute = [label for label, task, _args, _kwargs in beat if task == DISPATCH]
    active = Tenant.objects.filter(status="ACTIVE").count()
    run = uuid.uuid4().hex[:8]
    names = {
        "web": f"crm-bench-web-{run}",
        "worker": f"crm-bench-worker-{run}",
        "benchmark": connection.settings_dict["OPTIONS"]["application_name"],
    }
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # The safety net's cursors (Redis, where the schedule has a safety net) are put back after.
    cache = redis.Redis.from_url(settings.REDIS_URL)
    cursors = {key: cache.get(key) for key in cache.scan_iter(match="crm:safety-net:*")}
    started_at = time.perf_counter()
    # Every club as after a minute of its tasks (its event cursors at the newest row), so the
    # dispatcher's idle clubs are idle; kept, as the dispatcher's phase keeps them.
    _settle_every_club([schema for _slug, schema in clubs])
    keys: dict[str, str] = {}
    for slug, schema in busy_clubs:
        with schema_context(schema):
            ApiKey.objects.filter(name=BUSY_KEY_NAME).delete()
            _, keys[slug] = api_key_create(name=BUSY_KEY_NAME, scopes="events:write")
    print(
        f"busy minute: {busy} of {active} ACTIVE clubs ingesting, {rate:g} events/s each in "
        f"POSTs of {batch} ({busy * rate:.0f} events/s in all) for {seconds:.0f} s; the "
        f"dispatcher's {len(every_minute)} every-minute tasks (and {len(beat) - len(every_minute)} "
        f"safety-net runs) every {tick:.0f} s; settled the "
        f"clubs' cursors and made the keys in {time.perf_counter() - started_at:.1f} s ({load()})",
        flush=True,
    )

    base_env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PGAPPNAME", "DATABASE_POOL_MAX_SIZE", "DEBUG", "DATABASE_APPLICATION_NAME")
    }
    base_env.update(ALLOWED_HOSTS="127.0.0.1,localhost", SECURE_SSL_REDIRECT="0",
                    LOG_LEVEL="WARNING")  # fmt: skip
    logs = Path(tempfile.mkdtemp(prefix="bench-many-clubs-"))
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--worker-class", "gthread", "--threads", "8", "--timeout", "120",
         "--log-level", "warning"],
        cwd=ROOT, env={**base_env, "DATABASE_APPLICATION_NAME": names["web"]},
        stdout=subprocess.DEVNULL, stderr=(logs / "web.log").open("w"), start_new_session=True,
    )  # fmt: skip
    hostname = f"{QUEUES}worker@%h"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "WARNING",
         "--concurrency", "2", "--queues", ",".join(settings.CELERY_WORKER_QUEUES),
         "--hostname", hostname, "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env={**base_env, "DATABASE_APPLICATION_NAME": names["worker"]},
        stdout=subprocess.DEVNULL, stderr=(logs / "worker.log").open("w"),
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    lock = threading.Lock()
    statuses: dict[int | str, int] = {}
    latencies: list[float] = []
    accepted = {"warm-up": 0, "window": 0}
    late = 0

    def post(slug: str, events: list[dict[str, Any]], phase: str) -> None:
        request = urllib.request.Request(
            f"{base}/t/{slug}/api/v1/events",
            data=json.dumps({"events": events}).encode(),
            headers={"Authorization": f"Bearer {keys[slug]}", "Content-Type": "application/json"},
        )
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status: int | str = response.status
                answers = json.loads(response.read())["data"]
        except urllib.error.HTTPError as error:
            status, answers = error.code, []
        except OSError as error:
            status, answers = type(error).__name__, []
        took = time.perf_counter() - began
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            accepted[phase] += sum(answer["status"] == "accepted" for answer in answers)
            rejected = [answer for answer in answers if answer["status"] == "rejected"]
            if rejected and "rejected" not in statuses:
                print(f"  rejected: {rejected[0]}", flush=True)
                statuses["rejected"] = 0
            if rejected:
                statuses["rejected"] += len(rejected)
            if phase == "window":
                latencies.append(took)

    feeds = {slug: ClubFeed(slug, run, seed) for seed, (slug, _schema) in enumerate(busy_clubs)}
    watcher = Watcher(names)
    schemas = [schema for _slug, schema in busy_clubs]
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise SystemExit(f"gunicorn did not start: {logs / 'web.log'}") from None
                time.sleep(0.2)
        while not app.control.ping(destination=[hostname.replace("%h", socket.gethostname())],
                                   timeout=1):  # fmt: skip
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the worker did not start: {logs / 'worker.log'}")
        since = _newest_event_ids(schemas)
        # Every club once through the server before the clock starts (both processes warm).
        warm = [
            threading.Thread(target=post, args=(slug, feeds[slug].batch(2), "warm-up"))
            for slug, _schema in busy_clubs
        ]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()

        period = batch / rate
        window_start = time.monotonic()
        window_end = window_start + seconds

        def client(slug: str, offset: float) -> None:
            nonlocal late
            due = window_start + offset  # clubs spread over the period, not in step
            while due < window_end:
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -period:
                    with lock:
                        late += 1
                post(slug, feeds[slug].batch(batch), "window")
                due += period

        redis_before = _redis_figures(broker)
        background_before = _server_background_cpu()
        cpu_before = {"web": tree_cpu(web.pid), "worker": tree_cpu(worker.pid)}
        load_before = load()
        watcher.start()
        clients = [
            threading.Thread(target=client, args=(slug, period * index / busy), daemon=True)
            for index, (slug, _schema) in enumerate(busy_clubs)
        ]
        for thread in clients:
            thread.start()
        dispatched: dict[str, int] = {label: 0 for label, *_rest in beat}
        ticks, tick_walls, dispatcher_cpu = 0, [], 0.0
        next_tick = window_start
        while next_tick < window_end:
            time.sleep(max(0.0, next_tick - time.monotonic()))
            began, cpu = time.perf_counter(), time.thread_time()
            for label, task, args, kwargs in beat:
                dispatched[label] += app.tasks[task](*args, **kwargs)
            tick_walls.append(time.perf_counter() - began)
            dispatcher_cpu += time.thread_time() - cpu
            connection.set_schema_to_public()
            ticks += 1
            next_tick += tick
        for thread in clients:
            thread.join()
        window = time.monotonic() - window_start
        cpu_after = {"web": tree_cpu(web.pid), "worker": tree_cpu(worker.pid)}
        watcher.stop.set()
        watcher.join()
        background_after = _server_background_cpu()
        redis_after = _redis_figures(broker)
        load_after = load()
        backlog = {
            name.removeprefix(QUEUES): length
            for name in settings.CELERY_WORKER_QUEUES
            if (length := broker.llen(name))
        }
        relayed = broker.llen(f"{QUEUES}bull:crm-outbound:wait")
        held = _held(broker)
        counts = _events_since(since)
        pending_at_end = counts["pending"]
        # After the window: how long until every event is applied, and until the worker has
        # worked through its queues (countdowns aside).
        waited, applied_after, queues_after = 0, None, None
        while waited <= drain:
            if applied_after is None and not counts["pending"]:
                applied_after = waited
            if queues_after is None and _drained(broker):
                queues_after = waited
            if applied_after is not None and queues_after is not None:
                break
            time.sleep(1)
            waited += 1
            counts = _events_since(since)
        errors = [
            line
            for name in ("web.log", "worker.log")
            for line in (logs / name).read_text().splitlines()
            if "ERROR" in line or "Traceback" in line
        ]  # before the servers are stopped: a shutdown logs its own
    finally:
        watcher.stop.set()
        _stop(web, grace=30)
        _stop(worker, grace=60)
        for _slug, schema in busy_clubs:
            with schema_context(schema):
                ApiKey.objects.filter(name=BUSY_KEY_NAME).delete()
        connection.set_schema_to_public()
        dropped = _drop_bench_queues(broker)
        for key in cache.scan_iter(match="crm:safety-net:*"):
            if key not in cursors:
                cache.delete(key)
        for key, value in cursors.items():
            if value is not None:
                cache.set(key, value)

    sent = accepted["warm-up"] + accepted["window"]
    latencies.sort()
    p = {share: latencies[min(len(latencies) - 1, int(len(latencies) * share))]
         for share in (0.5, 0.95)} if latencies else {0.5: 0.0, 0.95: 0.0}  # fmt: skip
    print(
        f"ingest: {accepted['window']} events accepted in {window:.1f} s = "
        f"{accepted['window'] / window:.0f} events/s (target {busy * rate:.0f}), "
        f"{len(latencies)} POSTs (p50 {p[0.5] * 1000:.0f} ms, p95 {p[0.95] * 1000:.0f} ms, "
        f"{late} more than a period late), answers {dict(sorted(statuses.items(), key=str))}; "
        f"plus {accepted['warm-up']} in the warm-up ({load_before} -> {load_after})"
    )
    whole = (
        counts["stored"] == sent
        and counts["applied"] + counts["unknown"] == sent
        and not counts["pending"] + counts["parked"]
    )
    print(
        f"applied: {counts['applied']} of {counts['stored']} stored ({sent} accepted: "
        f"{'every one stored and applied, none lost' if whole else 'MISMATCH'}), "
        f"{counts['unknown']} unknown, {counts['pending']} pending, {counts['parked']} parked; "
        f"{counts['activities']} timeline rows (at most one per event); {pending_at_end} pending "
        f"at the end of the window, all applied {_after(applied_after, drain)}; queues at the end "
        f"of the window {backlog or 'empty'} and {held} tasks held by the worker (running or "
        f"waiting for their countdown), all worked through {_after(queues_after, drain)}; "
        f"{relayed} outbound events relayed to the run's own BullMQ queue ({load()})"
    )
    per_minute = 60 / (ticks * tick)
    fan_out = active * len(every_minute)
    total = sum(dispatched.values())
    print(
        f"dispatcher: {ticks} dispatches of every kind, {sum(tick_walls):.1f} s wall "
        f"(max {max(tick_walls):.1f} s a tick), {dispatcher_cpu:.2f} s CPU in this process; "
        f"{total * per_minute:.0f} tasks a minute queued against {fan_out} a minute by "
        f"fan-out ({active} clubs x {len(every_minute)} tasks; {load_after})"
    )
    print("| task | queued a minute | fan-out a minute (before) |")
    print("|---|---|---|")
    for label, queued in dispatched.items():
        before = active if label in every_minute else "-"
        print(f"| {label} | {queued * per_minute:.0f} | {before} |")
    used = {label: cpu_after[label] - cpu_before[label] for label in cpu_before}
    db = watcher.cpu()
    background = sum(
        background_after[pid] - value
        for pid, value in background_before.items()
        if pid in background_after
    )
    print(
        f"CPU over the {window:.0f} s window: gunicorn {used['web']:.1f} s, worker "
        f"{used['worker']:.1f} s, dispatcher {dispatcher_cpu:.1f} s; PostgreSQL backends: web "
        f"{db['web']:.1f} s, worker {db['worker']:.1f} s, benchmark {db['benchmark']:.1f} s, the "
        f"server's own processes {background:.1f} s; {os.cpu_count()} CPUs = "
        f"{(os.cpu_count() or 1) * window:.0f} CPU-s available ({load_before} -> {load_after})"
    )
    commands = redis_after["commands"] - redis_before["commands"]
    print(
        f"Redis (the whole server, other users included): {commands:.0f} commands = "
        f"{commands / window:.0f}/s, {redis_after['cpu'] - redis_before['cpu']:.1f} s CPU, "
        f"{(redis_after['net_in'] - redis_before['net_in']) / 1024:.0f} kB in; memory "
        f"{redis_before['memory'] / 2**20:.1f} MB -> peak {watcher.redis_peak / 2**20:.1f} MB "
        f"-> {redis_after['memory'] / 2**20:.1f} MB; {dropped} benchmark keys deleted after "
        f"({load_before} -> {load_after})"
    )
    print(
        f"PostgreSQL connections, peak of {watcher.samples} samples every 50 ms: "
        + ", ".join(f"{label} ({names[label]}) {watcher.peak[label]}" for label in names)
        + f"; all three at once {watcher.peak_total} (gunicorn 2 x 8 threads, worker "
        f"concurrency 2; {load_after})"
    )
    print(
        f"server logs {logs}: {len(errors)} error lines"
        + (f"; first: {errors[0]}" if errors else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clubs", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=3)
    parser.add_argument(
        "--sample", type=int, default=10,
        help="clubs migrated one at a time for the baselines (phases 2 and 5)",
    )  # fmt: skip
    parser.add_argument(
        "--periodic-only", action="store_true",
        help="create the clubs, then only beat's idle minute and the dispatcher's",
    )  # fmt: skip
    parser.add_argument(
        "--idle-worker", type=int, default=0, metavar="CONCURRENCY",
        help="also run the fan-out's idle minute through a real Celery worker",
    )  # fmt: skip
    parser.add_argument(
        "--worker-args", default="",
        help="extra arguments for the idle minute's worker, e.g. '--disable-prefetch'",
    )  # fmt: skip
    parser.add_argument(
        "--idle-worker-clubs", type=int, default=100,
        help="clubs whose idle minute the worker runs (the figure per task is then scaled)",
    )  # fmt: skip
    parser.add_argument(
        "--new-migration", action="store_true",
        help="phase 5: one new tenant migration over every club (then undone)",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=int, default=2,
        help="TENANT_MULTIPROCESSING_MAX_PROCESSES for phase 5",
    )  # fmt: skip
    parser.add_argument(
        "--busy", type=int, nargs="?", const=50, default=None, metavar="N",
        help="phase 6: the busy minute with N clubs ingesting at once (50 if N is left out)",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=5.0, help="events/s per busy club")
    parser.add_argument("--batch", type=int, default=0, help="events per POST (default: --rate)")
    parser.add_argument("--seconds", type=float, default=60.0, help="the busy window's length")
    parser.add_argument("--tick", type=float, default=60.0, help="seconds between dispatches")
    parser.add_argument(
        "--drain", type=float, default=180.0,
        help="seconds to wait after the window for the events and queued tasks to be done",
    )  # fmt: skip
    parser.add_argument(
        "--all", action="store_true",
        help="with --new-migration or --busy, run phases 1-4 as well",
    )  # fmt: skip
    args = parser.parse_args()
    if not settings.DATABASES["default"]["NAME"].startswith(("crm_many", "crm_bench", "bench")):
        sys.exit("Use a database of its own (its name starting crm_many, crm_bench or bench).")
    # A stop by SIGTERM or SIGHUP runs the finally blocks (the migration file, the servers).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    print(f"{load()} at start; {os.cpu_count()} CPUs")
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    create_clubs(args.clubs)
    new_only = (args.new_migration or args.busy is not None or args.idle_worker) and not args.all
    if not new_only:
        if not args.periodic_only:
            baseline_by_migrations(args.baseline)
            migrate_all(args.sample)
        idle_minute()
        dispatcher_minute()
    if args.idle_worker:
        idle_minute_for_workers(args.idle_worker, args.idle_worker_clubs, args.worker_args.split())
    if args.new_migration:
        new_migration(args.sample, args.processes)
    if args.busy is not None:
        busy_minute(
            args.busy, rate=args.rate, batch=args.batch or max(1, round(args.rate)),
            seconds=args.seconds, tick=args.tick, drain=args.drain,
        )  # fmt: skip


if __name__ == "__main__":
    main()
