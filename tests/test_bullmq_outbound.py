"""What the CRM puts on BullMQ, read back by a real Node `bullmq` Worker (tests/node/worker.js),
as the services read it: the outbox relayed to `crm-outbound`, send requests on
`messaging-send`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from crm.transport.outbound import (
    SendRequestError,
    messaging_send_enqueue,
    outbound_events_relay,
)
from crm.transport.queues import MESSAGING_QUEUE, OUTBOUND_QUEUE
from tests.events import contact, member, player
from tests.test_bullmq_inbound import (  # noqa: F401
    ROOT,
    bull,
    committed,
    counts,
    node_jobs,
    node_ready,
    node_worker,
    subprocess_env,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("bull", "node_ready")


def test_the_outbox_goes_to_crm_outbound_once_whatever_happens_to_the_relay(clubs, ingest):
    from crm.outbox.models import OutboundEvent

    ingest(
        [
            member(1, email="aoife@example.ie"),
            player("p1", sclMemberId=1, at=1),
            contact("c1", email="sean@example.ie", at=2),
        ]
    )
    with schema_context(clubs.alpha.schema_name):
        outbox = {str(row.event_id): row for row in OutboundEvent.objects.filter(published_at=None)}
        assert len(outbox) >= 2  # Aoife (member and player), Seán (contact)
        reader = node_worker(OUTBOUND_QUEUE, len(outbox))
        assert outbound_events_relay(batch_size=2) == len(outbox)  # several batches
        assert not OutboundEvent.objects.filter(published_at=None).exists()
        jobs = node_jobs(reader)

        assert {job["id"] for job in jobs} == set(outbox)
        for job in jobs:
            row = outbox[job["id"]]
            assert job["name"] == row.type and job["data"] == row.envelope
            assert job["data"]["source"] == "crm"
            assert job["data"]["tenantId"] == str(clubs.alpha.id)
        assert {job["name"] for job in jobs} >= {"crm.profile.created"}

        # Nothing left: a second relay sends nothing.
        assert outbound_events_relay() == 0
        # A relay that died after adding, before marking: the same rows go again, and BullMQ
        # keeps one job per event id.
        OutboundEvent.objects.update(published_at=None)
        assert outbound_events_relay() == len(outbox)
    state = counts(OUTBOUND_QUEUE)
    assert state["completed"] == len(outbox)
    assert state["waiting"] == state["prioritized"] == state["active"] == 0


@pytest.mark.integration
def test_an_apply_that_writes_the_outbox_queues_the_relay_on_commit(committed):  # noqa: F811
    """End to end with a real Celery worker: events stored -> applied (on commit) -> the
    outbox relayed (on commit) -> a Node worker reads the CRM's events."""
    from django.conf import settings

    from crm.outbox.models import OutboundEvent
    from profiles.ingestion import events_ingest

    alpha = committed["alpha-golf"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "WARNING",
         "--concurrency", "1", "--queues", ",".join(settings.CELERY_WORKER_QUEUES),
         "--hostname", f"relay-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
         "--without-mingle"],
        cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        reader = node_worker(OUTBOUND_QUEUE, 2, timeout=90)
        with schema_context(alpha.schema_name):
            results = events_ingest(
                tenant=alpha,
                envelopes=[member(501, email="one@example.ie"), member(502, at=1)],
                transport="rest",
            )
            assert [r["status"] for r in results] == ["accepted", "accepted"]
        jobs = node_jobs(reader)
        assert sorted(job["data"]["payload"]["customerId"] for job in jobs) == sorted(
            job["data"]["identity"]["customerId"] for job in jobs
        )
        assert {job["name"] for job in jobs} == {"crm.profile.created"}
        with schema_context(alpha.schema_name):
            published = set(
                OutboundEvent.objects.exclude(published_at=None).values_list("event_id", flat=True)
            )
        assert {uuid.UUID(job["id"]) for job in jobs} <= published
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        connection.set_schema_to_public()


def _request(channel: str, **overrides) -> dict:
    to = {
        "email": {"email": "aoife.byrne@example.ie", "name": "Aoife Byrne", "contactId": "c_93af"},
        "sms": {"phoneNumber": "+353871234567", "contactId": "c_93af"},
        "push": {"contactId": "c_93af"},
    }[channel]
    return {
        "idempotencyKey": str(uuid.uuid4()),
        "tenantId": "3d4c8f5e-8f0e-4b3f-9a52-6a1c3c0f4b21",
        "channel": channel,
        "templateId": "tournament_invite",
        "to": to,
        "variables": {"firstName": "Aoife", "competitionName": "Winter Stableford"},
        "content": {"subject": "Entries open: Winter Stableford"},
        "metadata": {"campaignId": "camp-1", "journeyId": None, "variant": "B"},
        **overrides,
    }


def test_send_requests_reach_the_messaging_worker_once_per_idempotency_key():
    requests = [_request("email"), _request("sms"), _request("push")]
    reader = node_worker(MESSAGING_QUEUE, 3, timeout=30)
    assert messaging_send_enqueue(requests=requests) == [r["idempotencyKey"] for r in requests]
    # A retry after a crash re-sends the same keys (even with other content): nothing new.
    again = [{**requests[0], "content": {"subject": "changed"}}, requests[1]]
    messaging_send_enqueue(requests=again)
    jobs = node_jobs(reader)

    assert sorted(job["id"] for job in jobs) == sorted(r["idempotencyKey"] for r in requests)
    by_key = {job["id"]: job for job in jobs}
    for request in requests:
        job = by_key[request["idempotencyKey"]]
        assert job["name"] == request["channel"]
        assert job["data"] == request
        assert job["attempts"] == 3
    time.sleep(0.5)
    state = counts(MESSAGING_QUEUE)
    assert state["completed"] == 3 and state["waiting"] == state["active"] == 0


def test_a_malformed_send_request_adds_nothing():
    good = _request("email")
    bad_channel = {**_request("email"), "channel": "fax"}
    no_address = _request("sms", to={"contactId": "c1"})
    no_key = {k: v for k, v in _request("push").items() if k != "idempotencyKey"}
    with pytest.raises(SendRequestError) as raised:
        messaging_send_enqueue(requests=[good, bad_channel, no_address, no_key])
    assert raised.value.errors == {
        "1.channel": ["Must be one of email, sms, push."],
        "2.to.phoneNumber": ["An sms request needs a phone number."],
        "3.idempotencyKey": ["This field is required."],
    }
    assert sum(counts(MESSAGING_QUEUE).values()) == 0
