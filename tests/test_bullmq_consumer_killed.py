"""A consumer killed with SIGKILL in the middle of a backlog loses nothing and stores nothing
twice: the jobs it held (taken, being written, written but not yet completed) stay active under
locks nobody renews, the next consumer's stalled-job check hands them out again, and those
already stored are answered as duplicates. Real Node producer, real consumers, real Redis and
PostgreSQL, as in test_bullmq_inbound.py (whose fixtures this uses)."""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
from django_tenants.utils import schema_context

from crm.transport.queues import EVENTS_QUEUE
from tests.events import member
from tests.test_bullmq_inbound import (  # noqa: F401
    bull,
    committed,
    consumers,
    counts,
    drained,
    job_for,
    node_ready,
    produce,
    queue_jobs,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_a_consumer_killed_mid_backlog_loses_nothing(committed, consumers):  # noqa: F811
    from profiles.models import RawEvent

    alpha = committed["alpha-golf"]
    events = [member(6000 + n, at=n) for n in range(3000)]
    produce([job_for(event) for event in events])
    # Short locks, so the killed consumer's jobs come back within seconds, not BullMQ's 30 s.
    first = consumers("--lock-seconds", "2", "--name", "killed")
    wait_for(lambda: counts()["completed"] >= 300, timeout=60, what="the consumer to start")
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=30)
    held = counts()["active"]

    second = consumers("--lock-seconds", "2", "--name", "survivor")
    wait_for(drained(len(events)), timeout=180, what="the second consumer to drain the queue")
    assert second.stop() == 0, second.output()

    results = [job.returnvalue for job in queue_jobs(EVENTS_QUEUE, "completed")]
    assert len(results) == len(events)  # every job completed once
    statuses = Counter(result["status"] for result in results)
    assert set(statuses) <= {"accepted", "duplicate"}
    # No event accepted twice; a job stored by the killed consumer but not completed came back
    # and was answered as a duplicate.
    accepted = Counter(result["id"] for result in results if result["status"] == "accepted")
    assert set(accepted.values()) <= {1}
    assert set(accepted) | {r["id"] for r in results} == {event["id"] for event in events}
    with schema_context(alpha.schema_name):
        assert RawEvent.objects.count() == len(events)
        stored = set(RawEvent.objects.values_list("event_id", flat=True))
    assert stored == {event["id"] for event in events}
    print(f"killed holding {held} jobs; {statuses['duplicate']} answered as duplicates")
