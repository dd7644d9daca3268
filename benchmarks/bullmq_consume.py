"""Events per second through the BullMQ consumer (1 and 2 processes) against the REST path, in
one run, on the same events.

1. Generates `--events` envelopes for `--customers` people (ingest_apply.generate: members,
   players, contacts, bookings, payments, opens, in shuffled arrival order), for a new club.
2. REST, batches: gunicorn (2 workers) and 2 client threads POSTing batches of 1,000.
3. REST, one event per request (how signed webhooks deliver): the first `--rest-single-events`,
   from 4 client threads.
4. BullMQ, 1 consumer: `manage.py consume_events` is started and idle; the Node producer
   (tests/node, npm bullmq, as the services) adds every event as a job; timed from the first
   add to the last job completed.
5. BullMQ, 2 consumers: the same with two processes.

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


def queue_counts() -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with open_queue(EVENTS_QUEUE) as queue:
            return await queue.getJobCounts()

    return run_async(read)


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


def start_consumer(args: argparse.Namespace, name: str) -> subprocess.Popen:
    env = {**os.environ, "LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "consume_events", "--concurrency", str(args.concurrency),
         "--batch-size", str(args.batch_size), "--name", name],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:  # ready once it says it is consuming
        if "Consuming" in line:
            break
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
    return process


def through_bullmq(args, events: list[dict], schema: str, consumers: int) -> tuple[float, float]:
    """(events/s end to end, producer's adds/s)."""
    obliterate()
    processes = [start_consumer(args, f"bench-{n}") for n in range(consumers)]
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
    try:
        started = time.perf_counter()
        subprocess.run(
            ["node", "producer.js", settings.BULLMQ_REDIS_URL, settings.BULLMQ_PREFIX,
             EVENTS_QUEUE, handle.name],
            cwd=NODE_DIR, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        produced = time.perf_counter() - started
        while stored(schema) < len(events):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        # Every job completed, none failed: the store above is the consumer's work.
        while (counts := queue_counts())["active"] or counts["prioritized"] or counts["waiting"]:
            time.sleep(0.05)
        assert counts["failed"] == 0, counts
    finally:
        os.unlink(handle.name)
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    return len(events) / elapsed, len(events) / produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--rest-single-events", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark club")
    args = parser.parse_args()
    ensure_node()

    slug = f"bench-bull-{RUN}"
    events = generate(args.customers, args.events, slug)
    tenant, _ = tenant_create(slug=slug, name=f"Benchmark {slug}")
    schema = tenant.schema_name
    with schema_context(schema):
        _, key = api_key_create(name="bench", scopes="events:write")
    print(f"{len(events):,} events, club {slug}, BullMQ prefix {settings.BULLMQ_PREFIX}")
    results: list[tuple[str, float, str]] = []

    port = free_port()
    env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING"}
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
        before = load()
        elapsed = post_all(port, slug, key, events)
        assert stored(schema) == len(events)
        results.append(("REST, batches of 1,000 (2 clients)", len(events) / elapsed, before))
        empty(schema)

        singles = events[: args.rest_single_events]
        before = load()
        elapsed = post_singles(port, slug, key, singles)
        assert stored(schema) == len(singles)
        results.append(
            (f"REST, 1 event per request (4 clients, {len(singles):,})",
             len(singles) / elapsed, before)
        )  # fmt: skip
        empty(schema)
    finally:
        server.terminate()
        server.wait()

    for consumers in (1, 2):
        before = load()
        rate, produce_rate = through_bullmq(args, events, schema, consumers)
        assert stored(schema) == len(events)
        results.append((f"BullMQ, {consumers} consumer(s)", rate, before))
        print(f"  (Node producer added {produce_rate:,.0f} jobs/s)")
        empty(schema)

    print(f"\nconsumer: --concurrency {args.concurrency} --batch-size {args.batch_size}")
    for label, rate, before in results:
        print(f"{label:48s} {rate:8,.0f} events/s   (load before: {before})")

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
