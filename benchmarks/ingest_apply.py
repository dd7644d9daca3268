"""Ingestion and apply throughput at club scale, against a naive baseline, in one run.

1. Generates `--events` envelopes for `--customers` people (member, player linked by
   sclMemberId, messaging contact, then bookings, completions, payments, opens...).
2. Starts gunicorn (2 workers, like production on this machine) and POSTs batches of 1,000
   from 2 client threads: events/s accepted (stored durably, answered).
3. Applies them in-process with `events_apply_pending` batches: events/s applied (and per
   CPU-second of this process and its PostgreSQL backend, a figure other users' load moves
   less). A server with autovacuum off gets a stand-in for it (class Autovacuum).
4. Baseline, same run, on the first `--naive-events`: one ORM create per event to store, then
   one event per transaction to apply (what a straightforward implementation does).
5. Server time of a customer search and the 360° detail at that size.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
os.environ.setdefault("RATE_LIMIT_INGEST", "1000000/min")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

import django  # noqa: E402
import psycopg  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.accounts.services import api_key_create  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402
from profiles.apply import BATCH_SIZE, events_apply_pending  # noqa: E402
from profiles.models import Customer, EventStatus, RawEvent  # noqa: E402

FIRST = [
    "Aoife",
    "Seán",
    "Niamh",
    "Ciarán",
    "Saoirse",
    "Liam",
    "Orla",
    "Darragh",
    "Clodagh",
    "Eoin",
]
LAST = [
    "Byrne",
    "Murphy",
    "Kelly",
    "O'Brien",
    "Walsh",
    "Ryan",
    "Doyle",
    "McCarthy",
    "Nolan",
    "Kavanagh",
]


def generate(customers: int, events: int, slug: str, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: list[dict] = []

    def env(type_, source, payload, identity, minutes):
        out.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "type": type_, "version": 1,
            "timestamp": (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
            "tenantSlug": slug, "source": source, "identity": identity, "payload": payload,
        })  # fmt: skip

    per_person = max(3, events // customers)
    for n in range(1, customers + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower().replace(chr(39), '')}{n}@example.ie"
        phone = f"+35387{n:07d}"
        member_id, player_id, contact_id = n, f"p{n}", f"c_{n:08x}"
        t = rng.randint(0, 1000)
        env("scl.member.created", "scl", {"memberId": member_id, "firstName": first, "lastName": last,
            "email": email, "phoneNumber": phone, "status": "ACTIVE", "tier": {"code": "FULL"},
            "joinedOn": "2020-04-01"}, {"sclMemberId": member_id}, t)  # fmt: skip
        env("teetime.player.created", "teetime", {"playerId": player_id, "firstName": first,
            "lastName": last, "email": email, "sclMemberId": member_id, "handicapIndex": 18.2},
            {"teetimePlayerId": player_id}, t + 1)  # fmt: skip
        env("messaging.contact.created", "messaging", {"contactId": contact_id, "email": email},
            {"messagingContactId": contact_id}, t + 2)  # fmt: skip
        for k in range(per_person - 3):
            minute = t + 10 + k * rng.randint(600, 20000)
            kind = rng.random()
            if kind < 0.45:
                env("teetime.booking.created", "teetime", {"bookingId": f"b{n}-{k}", "playerId": player_id,
                    "holes": 18, "price": {"amount": "45.00", "currency": "EUR"}},
                    {"teetimePlayerId": player_id}, minute)  # fmt: skip
            elif kind < 0.75:
                env("teetime.booking.completed", "teetime", {"bookingId": f"b{n}-{k}", "playerId": player_id},
                    {"teetimePlayerId": player_id}, minute)  # fmt: skip
            elif kind < 0.85:
                env("scl.payment.received", "scl", {"paymentId": f"pay{n}-{k}", "memberId": member_id,
                    "amount": "20.00", "currency": "EUR", "purpose": "BAR_LEVY"},
                    {"sclMemberId": member_id}, minute)  # fmt: skip
            else:
                env("messaging.email.opened", "messaging", {"contactId": contact_id, "messageId": f"m{n}-{k}"},
                    {"messagingContactId": contact_id}, minute)  # fmt: skip
    rng.shuffle(out)  # arrival order is not event order
    return out[:events]


def load() -> str:
    """The machine is shared: every figure goes out with the load average it was measured in."""
    one, five, _fifteen = os.getloadavg()
    return f"[load {one:.2f}, {five:.2f} (1, 5 min) on {os.cpu_count()} cores]"


def backend_cpu() -> float:
    """CPU seconds the PostgreSQL backend serving this process has used (Linux /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # a server on another machine
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Autovacuum(threading.Thread):
    """What autovacuum does on a production server, for a server that has it off (this
    project's shared one does): VACUUM (ANALYZE) the club's tables once a minute, from another
    connection, while the apply runs. Without it no table is ever analyzed and every update
    leaves a dead row version that each later index scan steps over."""

    TABLES = ("profiles_rawevent", "profiles_sourcerecord", "profiles_recordlink",
              "profiles_customer", "profiles_activity", "profiles_outboundevent")  # fmt: skip

    def __init__(self, schema: str, every: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.schema, self.every, self.passes = schema, every, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
            while not self.stopped.wait(self.every):
                tables = ", ".join(f'"{self.schema}"."{table}"' for table in self.TABLES)
                conn.execute(f"VACUUM (ANALYZE) {tables}")
                self.passes += 1

    def stop(self) -> None:
        self.stopped.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_all(port: int, slug: str, key: str, events: list[dict], threads: int = 2) -> float:
    batches = [events[i : i + 1000] for i in range(0, len(events), 1000)]
    lock = threading.Lock()
    errors: list[str] = []

    def worker():
        while True:
            with lock:
                if not batches:
                    return
                batch = batches.pop()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/t/{slug}/api/v1/events",
                data=json.dumps({"events": batch}).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                body = json.loads(response.read())
            bad = [r for r in body["data"] if r["status"] == "rejected"]
            if bad:
                errors.append(str(bad[0]))

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        print("rejected:", errors[:3])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--naive-events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="events per apply batch")
    parser.add_argument("--slug", default=None)
    args = parser.parse_args()
    slug = args.slug or f"bench-{uuid.uuid4().hex[:6]}"

    print(f"generating {args.events:,} events for {args.customers:,} customers ...", flush=True)
    events = generate(args.customers, args.events, slug)
    tenant, _ = tenant_create(slug=slug, name=f"Benchmark {slug}")
    with schema_context(tenant.schema_name):
        _, key = api_key_create(name="bench", scopes="events:write,crm:read")

    port = free_port()
    env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
           "LOG_LEVEL": "WARNING"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "-w", "2", "-b", f"127.0.0.1:{port}",
         "--timeout", "300", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        # Stop the apply trigger from racing us: measure storing and applying separately.
        elapsed = post_all(port, slug, key, events)
    finally:
        server.terminate()
        server.wait()
    with schema_context(tenant.schema_name):
        stored = RawEvent.objects.count()
    accepted_rate = stored / elapsed
    print(
        f"accepted: {stored:,} events in {elapsed:.1f} s = {accepted_rate:,.0f} events/s {load()}",
        flush=True,
    )

    # The worker that applies events in production holds no million generated envelopes: drop
    # them, or every full collection of Python's cyclic GC walks them during the apply (measured:
    # 26% more CPU per applied event at 1,000,000 events).
    del events
    gc.collect()

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = None if cursor.fetchone()[0] == "on" else Autovacuum(tenant.schema_name)
    with schema_context(tenant.schema_name):
        cpu_started, db_cpu_started = time.process_time(), backend_cpu()
        started = time.perf_counter()
        if autovacuum:
            autovacuum.start()
        applied = 0
        while done := events_apply_pending(limit=args.batch):
            applied += done
        apply_elapsed = time.perf_counter() - started
        if autovacuum:
            autovacuum.stop()
        cpu = time.process_time() - cpu_started + backend_cpu() - db_cpu_started
        customers = Customer.objects.exclude(status="MERGED").count()
        pending = RawEvent.objects.filter(status=EventStatus.PENDING).count()
    apply_rate = applied / apply_elapsed
    print(f"applied:  {applied:,} events in {apply_elapsed:.1f} s = {apply_rate:,.0f} events/s "
          f"(batches of {args.batch:,}) -> {customers:,} customers ({pending} pending) {load()}",
          flush=True)  # fmt: skip
    if autovacuum:
        print(f"          the server has autovacuum off: {autovacuum.passes} VACUUM (ANALYZE) "
              "passes of the club's tables ran alongside, once a minute, as it would")  # fmt: skip
    if cpu:
        print(f"          {cpu:.1f} CPU-s (this process and its PostgreSQL backend) = "
              f"{applied / cpu:,.0f} events per CPU-second", flush=True)  # fmt: skip

    # --- naive baseline on a fresh club, same kind of data ------------------------------------
    naive_slug = f"{slug}-naive"
    naive_events = generate(max(1, args.naive_events // 10), args.naive_events, naive_slug, seed=2)
    naive_tenant, _ = tenant_create(slug=naive_slug, name="Naive baseline")
    from profiles.envelope import validate_envelope

    with schema_context(naive_tenant.schema_name):
        started = time.perf_counter()
        for data in naive_events:
            env_, _errors = validate_envelope(
                data, tenant=naive_tenant, tenant_slugs=frozenset({naive_slug})
            )
            RawEvent.objects.create(
                source=env_.source, event_id=env_.event_id, type=env_.type, received_type=env_.received_type,
                version=env_.version, occurred_at=env_.occurred_at, transport="naive", envelope=data,
            )  # fmt: skip
        naive_accept = len(naive_events) / (time.perf_counter() - started)
        started = time.perf_counter()
        while events_apply_pending(limit=1):
            pass
        naive_apply = len(naive_events) / (time.perf_counter() - started)
    print(f"naive:    accepted {naive_accept:,.0f} events/s, applied {naive_apply:,.0f} events/s "
          f"(one ORM create per event; one event per transaction), on {len(naive_events):,} events "
          f"{load()}")  # fmt: skip
    print(
        f"ratio:    accepted x{accepted_rate / naive_accept:.1f}, applied x{apply_rate / naive_apply:.1f}"
    )

    # --- reads at this size ---------------------------------------------------------------------
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    with schema_context(tenant.schema_name):
        sample = list(
            Customer.objects.exclude(status="MERGED").values_list("id", "last_name", "email")[:50]
        )
    timings: dict[str, list[float]] = {
        "search q=name": [],
        "search email": [],
        "360 detail": [],
        "timeline": [],
    }
    for cid, last, email in sample:
        for label, url in (
            ("search q=name", f"/t/{slug}/api/v1/customers?q={urllib.request.quote(last)}"),
            ("search email", f"/t/{slug}/api/v1/customers?email={urllib.request.quote(email)}"),
            ("360 detail", f"/t/{slug}/api/v1/customers/{cid}"),
            ("timeline", f"/t/{slug}/api/v1/customers/{cid}/activities"),
        ):
            started = time.perf_counter()
            response = client.get(url)
            timings[label].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:200]
    for label, values in timings.items():
        print(
            f"{label:14s} median {statistics.median(values):6.1f} ms, p95 {sorted(values)[int(len(values) * 0.95)]:6.1f} ms"
        )
    print(f"reads measured {load()}")
    connection.close()


if __name__ == "__main__":
    main()
