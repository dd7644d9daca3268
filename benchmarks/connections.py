"""PostgreSQL connections under load: persistent connections (today's default) against Django
5.2's psycopg pool, and one club against many, through a real gunicorn.

Run against a database of its own (it creates `--clubs` clubs, `conn-0001` ..., and leaves them
for re-runs):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench .venv/bin/python \\
        benchmarks/connections.py --clubs 50

Each phase starts gunicorn as the Dockerfile does (here `--workers 2 --worker-class gthread
--threads 8`, so 16 requests can be in flight) and runs `--clients` client threads for
`--seconds`, each request a club's `GET api/v1/customers?take=20` with that club's API key:
the clubs picked round-robin from one club or from all of them. A watcher samples
`pg_stat_activity` every 20 ms for the phase's `application_name` and prints the peak. Phases:

1. persistent connections (`CONN_MAX_AGE=60`, no pool), one club;
2. the same, requests spread over every club;
3. the pool (`DATABASE_POOL_MAX_SIZE=--pool` per process), every club.

What it shows: connections follow processes and threads, never clubs (django-tenants switches a
club with `SET search_path` on the same connection), and the pool caps them per process at the
cost of requests waiting for a free one. The load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from crm.accounts.models import ApiKey  # noqa: E402
from crm.accounts.services import api_key_create  # noqa: E402
from crm.tenants.models import Tenant  # noqa: E402
from crm.tenants.services import tenant_create  # noqa: E402

KEY_NAME = "bench-connections"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_clubs(count: int) -> list[str]:
    slugs = [f"conn-{n:04d}" for n in range(1, count + 1)]
    existing = set(Tenant.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    for slug in slugs:
        if slug not in existing:
            tenant_create(slug=slug, name=f"Connections Club {slug[-4:]}")
    return slugs


def make_keys(slugs: list[str]) -> dict[str, str]:
    keys = {}
    for tenant in Tenant.objects.filter(slug__in=slugs):
        with schema_context(tenant.schema_name):
            ApiKey.objects.filter(name=KEY_NAME).delete()
            _, keys[tenant.slug] = api_key_create(name=KEY_NAME, scopes="crm:read")
    return keys


def drop_keys(slugs: list[str]) -> None:
    for tenant in Tenant.objects.filter(slug__in=slugs):
        with schema_context(tenant.schema_name):
            ApiKey.objects.filter(name=KEY_NAME).delete()


def connections_of(app_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
        )
        return cursor.fetchone()[0]


def phase(
    label: str, *, keys: dict[str, str], slugs: list[str], pool: int, clients: int, seconds: float
) -> None:
    app_name = f"crm-bench-conn-{uuid.uuid4().hex[:6]}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PGAPPNAME", "DATABASE_POOL_MAX_SIZE", "DEBUG")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DATABASE_APPLICATION_NAME=app_name,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",  # plain http on loopback; production sits behind TLS
    )
    if pool:
        env["DATABASE_POOL_MAX_SIZE"] = str(pool)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--worker-class", "gthread", "--threads", "8"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/t"

    def get(slug: str) -> int:
        request = urllib.request.Request(
            f"{base}/{slug}/api/v1/customers?take=20",
            headers={"Authorization": f"Bearer {keys[slug]}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(slugs[0])
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        for slug in slugs:  # every worker has seen every club before the clock starts
            get(slug)

        latencies: list[float] = []
        failures = 0
        peak = 0
        stop = threading.Event()
        lock = threading.Lock()

        def client(offset: int) -> None:
            nonlocal failures
            n = offset
            while not stop.is_set():
                slug = slugs[n % len(slugs)]
                n += clients
                started = time.perf_counter()
                status = get(slug)
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    failures += status != 200

        def watch() -> None:
            nonlocal peak
            try:
                while not stop.is_set():
                    peak = max(peak, connections_of(app_name))
                    time.sleep(0.02)
            finally:
                connection.close()

        before = load()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        threads.append(threading.Thread(target=watch))
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95)] if latencies else 0.0
        print(
            f"{label:<46} {len(latencies) / seconds:>8.0f} {statistics.median(latencies) * 1000:>8.1f}"
            f" {p95 * 1000:>8.1f} {peak:>6} {failures:>6}   ({before} → {load()})",
            flush=True,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clubs", type=int, default=50)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--pool", type=int, default=4, help="pool size per gunicorn process")
    args = parser.parse_args()
    if not settings.DATABASES["default"]["NAME"].startswith(("crm_many", "crm_bench", "bench")):
        raise SystemExit("Run against a database of its own (crm_bench…): it creates clubs.")

    print(f"clubs: {args.clubs}, gunicorn 2 workers x 8 threads, {args.clients} clients, "
          f"{args.seconds:.0f} s per phase ({load()})")  # fmt: skip
    slugs = ensure_clubs(args.clubs)
    keys = make_keys(slugs)
    try:
        print(f"{'phase':<46} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'conns':>6} {'errors':>6}")
        common = {"keys": keys, "clients": args.clients, "seconds": args.seconds}
        phase("persistent connections, one club", slugs=slugs[:1], pool=0, **common)
        phase(f"persistent connections, {len(slugs)} clubs", slugs=slugs, pool=0, **common)
        phase(f"pool of {args.pool} per process, {len(slugs)} clubs", slugs=slugs, pool=args.pool,
              **common)  # fmt: skip
    finally:
        drop_keys(slugs)


if __name__ == "__main__":
    main()
