"""A real Celery worker on the real Redis: tasks run in the schema they were queued in, and
beat's fan-out reaches every ACTIVE club and no other.

These tests commit their data (the worker is another process and sees only committed rows), so
they clean up after themselves instead of relying on the per-test rollback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.tasks import clear_expired_sessions, fan_out_to_tenants
from crm.tenants.models import Tenant

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ("club_alpha_old", "club_bravo_golf", "club_closed_golf")


def _worker_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CRM_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "TENANT_FAN_OUT_STAGGER_SECONDS": "0",
    }


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    from django.conf import settings

    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "INFO",
         "--concurrency", "1", "--queues", ",".join(settings.CELERY_WORKER_QUEUES),
         "--hostname", f"test-{settings.RUN_ID}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=_worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def expired_sessions(django_db_blocker) -> Iterator[dict[str, str]]:
    """One expired and one live session in every club's schema, committed."""
    keys: dict[str, str] = {}
    with django_db_blocker.unblock():
        for schema in SCHEMAS:
            with schema_context(schema):
                Session.objects.create(
                    session_key=f"expired{schema}"[:40],
                    session_data="",
                    expire_date=timezone.now() - timedelta(days=1),
                )
                Session.objects.create(
                    session_key=f"live{schema}"[:40],
                    session_data="",
                    expire_date=timezone.now() + timedelta(days=1),
                )
                keys[schema] = f"expired{schema}"[:40]
        yield keys
        for schema in SCHEMAS:
            with schema_context(schema):
                Session.objects.all().delete()


def _sessions(schema: str) -> set[str]:
    with schema_context(schema):
        return set(Session.objects.values_list("session_key", flat=True))


def test_task_runs_in_the_schema_it_was_queued_in(worker, expired_sessions, django_db_blocker):
    with django_db_blocker.unblock():
        with schema_context("club_bravo_golf"):
            result = clear_expired_sessions.apply_async(ignore_result=False)
        assert result.get(timeout=60) == 1
        assert expired_sessions["club_bravo_golf"] not in _sessions("club_bravo_golf")
        # The other clubs were not touched.
        assert expired_sessions["club_alpha_old"] in _sessions("club_alpha_old")
        assert expired_sessions["club_closed_golf"] in _sessions("club_closed_golf")


def test_fan_out_reaches_active_clubs_only(worker, expired_sessions, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        result = fan_out_to_tenants.apply_async(
            args=("crm.tasks.clear_expired_sessions",), ignore_result=False
        )
        active = Tenant.objects.filter(status="ACTIVE").count()
        assert result.get(timeout=60) == active
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if expired_sessions["club_alpha_old"] not in _sessions("club_alpha_old") and (
                expired_sessions["club_bravo_golf"] not in _sessions("club_bravo_golf")
            ):
                break
            time.sleep(0.2)
        for schema in ("club_alpha_old", "club_bravo_golf"):
            assert _sessions(schema) == {f"live{schema}"[:40]}, schema
        # Disabled club: nothing ran there.
        assert expired_sessions["club_closed_golf"] in _sessions("club_closed_golf")


def test_beat_loads_its_schedule_into_the_public_schema(
    django_db_setup, django_db_blocker, tmp_path
):
    from django_celery_beat.models import PeriodicTask

    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "beat", "--loglevel", "INFO",
         "--max-interval", "1", "--pidfile", str(tmp_path / "beat.pid"),
         "--schedule", str(tmp_path / "beat-schedule")],
        cwd=ROOT, env=_worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            deadline = time.monotonic() + 60
            task = None
            while time.monotonic() < deadline and task is None:
                task = PeriodicTask.objects.filter(name="clear-expired-sessions").first()
                time.sleep(0.5)
            assert task is not None, "beat did not sync its schedule"
            assert task.task == "crm.tasks.fan_out_to_tenants"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_saved_segment_is_materialised_by_the_worker(worker, django_db_blocker):
    """segment_create queues the first refresh on commit; the worker fills the membership in
    the club's schema and records the entries."""
    from django.db import transaction

    from profiles.models import Customer
    from segments.models import Segment, SegmentMembership
    from segments.services import segment_create

    with django_db_blocker.unblock(), schema_context("club_bravo_golf"):
        customers = [
            Customer.objects.create(first_name=f"Worker{n}", membership_tier=tier)
            for n, tier in enumerate(("FULL", "FULL", "JUNIOR"))
        ]
        try:
            with transaction.atomic():
                segment = segment_create(
                    name="Worker-made",
                    rules={"field": "membershipTier", "operator": "eq", "value": "FULL"},
                )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                segment.refresh_from_db()
                if segment.last_refreshed_at:
                    break
                time.sleep(0.2)
            assert segment.member_count == 2
            assert set(
                SegmentMembership.objects.filter(segment=segment).values_list(
                    "customer__first_name", flat=True
                )
            ) == {"Worker0", "Worker1"}
        finally:
            Segment.objects.filter(name="Worker-made").delete()
            Customer.objects.filter(pk__in=[c.pk for c in customers]).delete()
