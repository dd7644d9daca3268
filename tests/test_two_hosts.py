"""Workers on two hosts against one Redis and one PostgreSQL: queues by kind reach the right
workers, two hosts applying the same club's events at once apply each event once and in order,
and when one host dies the other finishes its work.

The hosts are separate worker processes with their own host names (`host-a@…`, `host-b@…`),
each consuming the queues a deployment would give it. (Separate network namespaces would need
the servers to listen on a veth address; the embedded PostgreSQL listens on a unix socket only.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from crm.celery import app
from crm.tenants.models import Tenant
from tests.test_celery_integration import ROOT, _worker_env
from tests.test_worker_crash import (
    _customer_snapshot,
    _wipe_customer_data,
    members_with_bookings,
    one_pass_reference,
)

pytestmark = pytest.mark.integration


def _queue(kind: str) -> str:
    return next(q for q in settings.CELERY_WORKER_QUEUES if q.endswith(f"-{kind}"))


def test_each_kind_of_work_has_its_own_queue():
    router = app.amqp.router
    expected = {
        "profiles.apply_pending_events": "ingest",
        "transport.relay_outbound_events": "ingest",
        "campaigns.deliver_run": "sends",
        "journeys.run_due": "journeys",
        "social.publish_due": "social",
        "profiles.rescore_touched": "scoring",
    }
    for task, kind in expected.items():
        assert router.route({}, task)["queue"].name == _queue(kind), task
    assert router.route({}, "segments.refresh_touched")["queue"].name == (
        settings.CELERY_TASK_DEFAULT_QUEUE
    )


def _start_host(name: str, queues: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "INFO",
         "--concurrency", "1", "--queues", ",".join(queues),
         "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=_worker_env(), start_new_session=True,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_two_hosts_apply_each_event_once_and_one_finishes_what_the_other_dropped(
    django_db_setup, django_db_blocker, tmp_path
):
    from profiles.ingestion import events_ingest
    from profiles.models import Activity, EventStatus, RawEvent
    from profiles.tasks import apply_pending_events

    events = members_with_bookings(300, bookings=6, prefix="h")
    ingest = _queue("ingest")
    with django_db_blocker.unblock():
        bravo = Tenant.objects.get(slug="bravo-golf")
        alpha = Tenant.objects.get(slug="alpha-golf")
        hosts: list[subprocess.Popen] = []
        try:
            reference = one_pass_reference(bravo, events)

            # Host A takes everything; host B only ingest work, as a dedicated ingest host would.
            host_a = _start_host("host-a", settings.CELERY_WORKER_QUEUES, tmp_path / "a.log")
            host_b = _start_host("host-b", [ingest], tmp_path / "b.log")
            hosts = [host_a, host_b]
            with schema_context(alpha.schema_name):
                for start in range(0, len(events), 100):  # each commit queues an apply task
                    events_ingest(
                        tenant=alpha, envelopes=events[start : start + 100], transport="rest"
                    )
                deadline = time.monotonic() + 120
                while RawEvent.objects.filter(status=EventStatus.APPLIED).count() < 200:
                    assert time.monotonic() < deadline, "no host started applying"
                    time.sleep(0.05)
                os.killpg(host_a.pid, signal.SIGKILL)  # host A dies, mid-batch or not
                host_a.wait()
                killed_at = RawEvent.objects.filter(status=EventStatus.APPLIED).count()
                assert Activity.objects.count() == killed_at  # whatever committed is whole

                apply_pending_events.delay()  # beat's one-minute sweep, on the ingest queue
                deadline = time.monotonic() + 180
                while RawEvent.objects.filter(status=EventStatus.PENDING).exists():
                    assert time.monotonic() < deadline, "host B never finished the work"
                    time.sleep(0.2)
                assert RawEvent.objects.filter(status=EventStatus.APPLIED).count() == len(events)
                assert Activity.objects.count() == len(events)
                assert Activity.objects.values("raw_event").distinct().count() == len(events)
            # Applied by two hosts, racing and then one dying: the same customers as one pass.
            assert _customer_snapshot(alpha.schema_name) == reference
            host_b_log = (tmp_path / "b.log").read_text()
            assert "profiles.apply_pending_events" in host_b_log
            assert "succeeded" in host_b_log
        finally:
            for host in hosts:
                if host.poll() is None:
                    os.killpg(host.pid, signal.SIGTERM)
                    host.wait(timeout=30)
            _wipe_customer_data(alpha.schema_name)
            _wipe_customer_data(bravo.schema_name)
