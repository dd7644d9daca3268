"""The supported connection pool (Django 5.2's psycopg pool, `DATABASE_POOL_MAX_SIZE`): a
gunicorn process with more threads than pooled connections serves two clubs at once, every
answer is the right club's (a pooled connection never keeps one club's `search_path` for
another's request: the API key is looked up in the club's own schema, so a leaked path would
answer 401), and the process never holds more connections than the pool's size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from crm.accounts.models import ApiKey
from crm.accounts.services import api_key_create
from crm.tenants.models import Tenant
from tests.test_production import ROOT, _free_port, _production_env

pytestmark = pytest.mark.integration

POOL_SIZE = 2
THREADS = 8


def _get(url: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310
        url, headers={"Authorization": f"Bearer {key}", "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _connections(app_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
        )
        return cursor.fetchone()[0]


def test_pooled_connections_serve_two_clubs_without_mixing_them_and_stay_capped(
    django_db_setup, django_db_blocker, tmp_path
):
    app_name = f"crm-pool-test-{uuid.uuid4().hex[:8]}"
    env = {
        **_production_env(tmp_path / "static"),
        "DATABASE_POOL_MAX_SIZE": str(POOL_SIZE),
        "DATABASE_APPLICATION_NAME": app_name,
    }
    env.pop("PGAPPNAME", None)
    port = _free_port()
    with django_db_blocker.unblock():
        clubs = {slug: Tenant.objects.get(slug=slug) for slug in ("alpha-golf", "bravo-golf")}
        keys: dict[str, str] = {}
        for slug, tenant in clubs.items():
            with schema_context(tenant.schema_name):
                _, keys[slug] = api_key_create(name=app_name, scopes="crm:read")
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "crm.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--worker-class", "gthread", "--threads", str(THREADS)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}/t"
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, _ = _get(f"{base}/alpha-golf/api/v1/tenant", keys["alpha-golf"])
                    break
                except OSError:
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
            assert status == 200

            answers: list[tuple[str, int, str | None]] = []
            peak = 0
            stop = threading.Event()

            def client(slug: str) -> None:
                for _ in range(15):
                    code, _body = _get(f"{base}/{slug}/api/v1/customers?take=1", keys[slug])
                    code_t, tenant = _get(f"{base}/{slug}/api/v1/tenant", keys[slug])
                    answers.append((slug, code, None))
                    answers.append((slug, code_t, (tenant.get("data") or {}).get("slug")))

            def watch() -> None:
                nonlocal peak
                try:
                    while not stop.is_set():
                        peak = max(peak, _connections(app_name))
                        time.sleep(0.02)
                finally:
                    connection.close()  # this thread's own; the test database is dropped later

            watcher = threading.Thread(target=watch)
            watcher.start()
            threads = [
                threading.Thread(target=client, args=(slug,))
                for slug in clubs
                for _ in range(THREADS // 2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stop.set()
            watcher.join()

            assert len(answers) == 2 * 15 * THREADS
            assert {code for _, code, _ in answers} == {200}, [a for a in answers if a[1] != 200]
            assert all(seen in (None, slug) for slug, _, seen in answers)
            # The pool caps the process: 8 threads busy at once, never more than 2 connections.
            assert 1 <= peak <= POOL_SIZE, peak
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                output, _ = process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
            for tenant in clubs.values():
                with schema_context(tenant.schema_name):
                    ApiKey.objects.filter(name=app_name).delete()
    assert "Traceback" not in output, output
