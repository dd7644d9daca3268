"""Events per second through the BullMQ consumer (1 and 2 processes) against the REST path, in
one run, on the same events.

1. Generates `--events` envelopes for `--customers` people (ingest_apply.generate: members,
   players, contacts, bookings, payments, opens, in shuffled arrival order), for a new club.
2. REST, batches: gunicorn (2 workers) and 2 client threads POSTing batches of 1,000.
3. REST, one event per request (how signed webhooks deliver): the first `--rest-single-events`,
   from 4 client threads.
4. BullMQ, 1 consumer: `manage.py consume_events` is started and idle; the Node producer
   (tests/node, npm bullmq, as the services) adds every event as a job; timed from the first
   add to the last event stored ("live": the producer shares the 2 cores with the consumers,
   so this is bounded by how fast Node adds), and again with the queue filled first while
   paused, timed from `resume` to the last event stored ("backlog": the consumers' own pace).
5. BullMQ, 2 consumers: the same with two processes.

Besides events per second (wall clock), each phase prints its events per CPU-second: the CPU of
the server processes (gunicorn's workers or the consumers) and of the PostgreSQL backends that
served them (found by `application_name`, set through PGAPPNAME), from /proc. Other sessions'
load moves wall-clock rates a lot on a shared 2-core machine and CPU per event much less. Redis
and the Node producer are not counted in either.

Each phase stores every event once (checked), then the club's raw events are emptied for the
next phase. Storing is what is measured: applying is the same code behind every transport
(`ingest_apply.py` measures it). The apply triggers each commit queues go to a Celery queue of
this run that no worker reads, deleted at the end. Prints `uptime`'s load before each phase:
the machine is shared, so compare figures of one run with each other.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python benchmarks/bullmq_consume.py --events 20000

Needs node and npm (`npm ci` runs in tests/node when its node_modules is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
RUN = uuid.uuid4().hex[:8]
os.environ.setdefault("BULLMQ_PREFIX", f"bench-{RUN}")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bench-{RUN}")
os.environ.setdefault("RATE_LIMIT_INGEST", "1000000/min")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402
from ingest_apply import free_port, generate, post_all  # noqa: E402

from crm.accounts.services import api_key_create  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402
from crm.transport.priorities import event_priority  # noqa: E402
from crm.transport.queues import EVENTS_QUEUE, open_queue, run_async  # noqa: E402
from profiles.models import RawEvent  # noqa: E402


def load() -> str:
    """The 1-, 5- and 15-minute load averages (what `uptime` prints)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def stored(schema: str) -> int:
    with schema_context(schema):
        return RawEvent.objects.count()


def empty(schema: str) -> None:
    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("TRUNCATE profiles_rawevent CASCADE")


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(roots: list[int], app_name: str) -> float:
    """CPU seconds used so far by these processes, their children and the PostgreSQL backends
    whose application_name is `app_name`."""
    pids = []
    for root in roots:
        pids += [root, *_children(root)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [app_name])
        pids += [row[0] for row in cursor.fetchall()]
    return sum(_cpu_of(pid) for pid in pids)


def queue_counts() -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with open_queue(EVENTS_QUEUE) as queue:
            return await queue.getJobCounts()

    return run_async(read)


def set_paused(paused: bool) -> None:
    async def run() -> None:
        async with open_queue(EVENTS_QUEUE) as queue:
            await (queue.pause() if paused else queue.resume())

    run_async(run)


def obliterate() -> None:
    async def run() -> None:
        async with open_queue(EVENTS_QUEUE) as queue:
            await queue.obliterate(force=True)

    run_async(run)


def post_singles(port: int, slug: str, key: str, events: list[dict], threads: int = 4) -> float:
    queue = list(events)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                event = queue.pop()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/t/{slug}/api/v1/events",
                data=json.dumps(event).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def ensure_node() -> None:
    if not (NODE_DIR / "node_modules" / "bullmq" / "package.json").is_file():
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True
        )


def start_consumer(args: argparse.Namespace, name: str, baseline: bool) -> subprocess.Popen:
    env = {**os.environ, "LOG_LEVEL": "INFO", "PGAPPNAME": f"bench-{RUN}-consumer"}
    root, options = ROOT, ["--concurrency", str(args.concurrency), "--batch-size",
                           str(args.batch_size)]  # fmt: skip
    if baseline:  # another checkout's consumer (its own defaults), on the same database
        root, options = Path(args.baseline), []
        env["PYTHONPATH"] = str(root)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "consume_events", *options, "--name", name],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:  # ready once it says it is consuming
        if "Consuming" in line:
            break
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
    return process


def through_bullmq(
    args, events: list[dict], schema: str, consumers: int, *, backlog: bool, baseline: bool
) -> tuple[float, float, float]:
    """(events/s end to end, events per CPU-second, the producer's adds/s)."""
    obliterate()
    processes = [start_consumer(args, f"bench-{n}", baseline) for n in range(consumers)]
    jobs = [
        {
            "name": event["type"],
            "data": event,
            "opts": {
                "attempts": 3,
                "backoff": {"type": "exponential", "delay": 1000},
                "priority": event_priority(event["type"], event["source"]),
                "removeOnComplete": True,
            },
        }
        for event in events
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(jobs, handle)
    app_name = f"bench-{RUN}-consumer"
    pids = [process.pid for process in processes]

    def produce() -> float:
        started = time.perf_counter()
        subprocess.run(
            ["node", "producer.js", settings.BULLMQ_REDIS_URL, settings.BULLMQ_PREFIX,
             EVENTS_QUEUE, handle.name],
            cwd=NODE_DIR, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        return time.perf_counter() - started

    try:
        if backlog:
            set_paused(True)
            produced = produce()
            cpu_started = cpu_seconds(pids, app_name)
            started = time.perf_counter()
            set_paused(False)
        else:
            cpu_started = cpu_seconds(pids, app_name)
            started = time.perf_counter()
            produced = produce()
        while stored(schema) < len(events):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        # Every job completed, none failed: the store above is the consumer's work.
        while (counts := queue_counts())["active"] or counts["prioritized"] or counts["waiting"]:
            time.sleep(0.05)
        cpu = cpu_seconds(pids, app_name) - cpu_started
        assert counts["failed"] == 0, counts
    finally:
        os.unlink(handle.name)
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    return len(events) / elapsed, len(events) / cpu, len(events) / produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--rest-single-events", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark club")
    parser.add_argument(
        "--baseline", default="",
        help="a checkout of another version (e.g. `git archive <commit> | tar -x -C DIR`): its "
        "consumer is measured too, in the same run, labelled 'before'",
    )  # fmt: skip
    args = parser.parse_args()
    ensure_node()

    slug = f"bench-bull-{RUN}"
    events = generate(args.customers, args.events, slug)
    tenant, _ = tenant_create(slug=slug, name=f"Benchmark {slug}")
    schema = tenant.schema_name
    with schema_context(schema):
        _, key = api_key_create(name="bench", scopes="events:write")
    print(f"{len(events):,} events, club {slug}, BullMQ prefix {settings.BULLMQ_PREFIX}")
    results: list[tuple[str, float, float, str]] = []

    port = free_port()
    rest_app = f"bench-{RUN}-rest"
    env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
           "PGAPPNAME": rest_app}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "-w", "2", "-b",
         f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        before, cpu = load(), cpu_seconds([server.pid], rest_app)
        elapsed = post_all(port, slug, key, events)
        assert stored(schema) == len(events)
        cpu = cpu_seconds([server.pid], rest_app) - cpu
        results.append(
            ("REST, batches of 1,000 (2 clients)", len(events) / elapsed, len(events) / cpu, before)
        )
        empty(schema)

        singles = events[: args.rest_single_events]
        before, cpu = load(), cpu_seconds([server.pid], rest_app)
        elapsed = post_singles(port, slug, key, singles)
        assert stored(schema) == len(singles)
        cpu = cpu_seconds([server.pid], rest_app) - cpu
        results.append(
            (f"REST, 1 event per request (4 clients, {len(singles):,})",
             len(singles) / elapsed, len(singles) / cpu, before)
        )  # fmt: skip
        empty(schema)
    finally:
        server.terminate()
        server.wait()

    versions = [False, True] if args.baseline else [False]
    for baseline in versions:
        for consumers in (1, 2):
            for backlog in (False, True):
                before = load()
                rate, per_cpu, produce_rate = through_bullmq(
                    args, events, schema, consumers, backlog=backlog, baseline=baseline
                )
                assert stored(schema) == len(events)
                how = "backlog" if backlog else "live"
                label = f"BullMQ, {consumers} consumer(s), {how}{', before' if baseline else ''}"
                results.append((label, rate, per_cpu, before))
                print(f"  ({label}: Node producer added {produce_rate:,.0f} jobs/s)")
                empty(schema)

    print(f"\nconsumer: --concurrency {args.concurrency} --batch-size {args.batch_size}")
    print(f"{'path':48s} {'events/s':>8s}   {'per CPU-s':>9s}")
    for label, rate, per_cpu, before in results:
        print(f"{label:48s} {rate:8,.0f}   {per_cpu:9,.0f}   (load before: {before})")

    # Clean up this run's queues, Celery messages and (unless --keep) the club.
    import redis

    client = redis.Redis.from_url(settings.BULLMQ_REDIS_URL)
    for key_name in client.scan_iter(match=f"{settings.BULLMQ_PREFIX}:*", count=1000):
        client.delete(key_name)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    celery_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    broker.delete(
        celery_queue, f"_kombu.binding.{celery_queue}", f"_kombu.binding_permanent.{celery_queue}"
    )
    if not args.keep:
        connection.set_schema_to_public()
        tenant.delete(force_drop=True)


if __name__ == "__main__":
    main()
