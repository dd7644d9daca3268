"""A real Celery worker killed with SIGKILL in the middle of applying events: nothing is lost,
nothing is applied twice, and the customers come out as one clean pass makes them.

In a module of its own so that no other test's worker is consuming the same queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django_tenants.utils import schema_context

from crm.tenants.models import Tenant
from tests.test_celery_integration import ROOT, _worker_env

pytestmark = pytest.mark.integration


def _wipe_customer_data(schema: str) -> None:
    from crm.outbox.models import OutboundEvent
    from profiles.models import Activity, Customer, DuplicateCandidate, RawEvent, SourceRecord

    with schema_context(schema):
        for model in (
            Activity,
            RawEvent,
            DuplicateCandidate,
            SourceRecord,
            OutboundEvent,
            Customer,
        ):
            model.objects.all().delete()


def members_with_bookings(count: int, *, bookings: int, prefix: str) -> list[dict]:
    """`count` members, each a TeeTime player too, with `bookings` bookings each."""
    from tests.events import envelope, member, player

    events = []
    for n in range(count):
        events += [
            member(n + 1, email=f"{prefix}m{n}@example.ie", at=n),
            player(f"{prefix}p{n}", sclMemberId=n + 1, at=n),
        ]
        events += [
            envelope(
                "teetime.booking.created",
                {"bookingId": f"{prefix}b{n}-{k}", "playerId": f"{prefix}p{n}"},
                at=n + k,
            )
            for k in range(bookings)
        ]
    return events


def one_pass_reference(tenant: Tenant, events: list[dict]) -> set:
    """The customers `events` make when applied in one clean pass, in `tenant` (another club
    than the one under test): what a crashed or racing run must come out equal to."""
    from profiles.apply import events_apply_pending
    from profiles.ingestion import events_ingest
    from profiles.models import EventStatus, RawEvent

    with schema_context(tenant.schema_name):
        relabelled = [{**e, "tenantSlug": tenant.slug} for e in events]
        for start in range(0, len(relabelled), 1000):
            events_ingest(
                tenant=tenant, envelopes=relabelled[start : start + 1000], transport="replay"
            )
        while RawEvent.objects.filter(status=EventStatus.PENDING).exists():
            events_apply_pending(limit=1000) or time.sleep(0.1)
    return _customer_snapshot(tenant.schema_name)


def _customer_snapshot(schema: str) -> set:
    from profiles.models import Customer, SourceRecord

    with schema_context(schema):
        groups: dict = {}
        for kind, key, customer_id in SourceRecord.objects.values_list(
            "kind", "key", "customer_id"
        ):
            groups.setdefault(customer_id, set()).add(f"{kind}:{key}")
        return {
            (frozenset(groups[c.id]), c.email, c.last_name, c.lifetime_value, c.activities.count())
            for c in Customer.objects.exclude(status="MERGED")
        }


def test_a_worker_killed_mid_apply_loses_nothing_and_applies_nothing_twice(
    django_db_setup, django_db_blocker
):
    from profiles.ingestion import events_ingest
    from profiles.models import Activity, EventStatus, RawEvent
    from profiles.tasks import apply_pending_events

    events = members_with_bookings(300, bookings=8, prefix="")
    with django_db_blocker.unblock():
        bravo = Tenant.objects.get(slug="bravo-golf")
        alpha = Tenant.objects.get(slug="alpha-golf")
        try:
            # The reference: the same events applied in one clean pass, in another club.
            reference = one_pass_reference(bravo, events)

            worker = _start_worker()
            with schema_context(alpha.schema_name):
                for start in range(0, len(events), 1000):  # each commit queues the apply task
                    events_ingest(
                        tenant=alpha, envelopes=events[start : start + 1000], transport="rest"
                    )
                deadline = time.monotonic() + 120
                while RawEvent.objects.filter(status=EventStatus.APPLIED).count() < 200:
                    assert time.monotonic() < deadline, "the worker never started applying"
                    time.sleep(0.05)
                os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool, mid-batch
                worker.wait()
                killed_at = RawEvent.objects.filter(status=EventStatus.APPLIED).count()
                assert killed_at < len(events), "killed too late to prove anything"
                print(f"SIGKILL after {killed_at} of {len(events)} events applied")
                # Whatever committed is whole: one timeline entry per applied event, no more.
                assert Activity.objects.count() == killed_at

                worker = _start_worker()
                apply_pending_events.delay()  # what beat's one-minute sweeper does
                deadline = time.monotonic() + 180
                while RawEvent.objects.filter(status=EventStatus.PENDING).exists():
                    assert time.monotonic() < deadline, "pending events were never applied"
                    time.sleep(0.2)
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=30)
                assert RawEvent.objects.filter(status=EventStatus.APPLIED).count() == len(events)
                assert Activity.objects.count() == len(events)
                assert Activity.objects.values("raw_event").distinct().count() == len(events)
            assert _customer_snapshot(alpha.schema_name) == reference
        finally:
            _wipe_customer_data(alpha.schema_name)
            _wipe_customer_data(bravo.schema_name)


def _start_worker() -> subprocess.Popen:
    from django.conf import settings

    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "WARNING",
         "--concurrency", "1", "--queues", ",".join(settings.CELERY_WORKER_QUEUES),
         "--hostname", f"kill-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=_worker_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
