"""Dead letters in the admin: the platform sees all of them, a club only its own; staff retry
them one by one or all at once; the sweep mirrors, rescues and expires them.

The queues are real (Redis, each test under its own key prefix); the admin's rows live in the
test's transaction like any other test data.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from bullmq import Queue, Worker
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from crm.tenants.models import PlatformAuditEntry, Tenant
from crm.transport.models import DeadLetter, DeadLetterStatus
from crm.transport.priorities import event_priority
from crm.transport.queues import (
    DEAD_LETTER_QUEUE,
    EVENTS_QUEUE,
    connection_options,
    open_queue,
    run_async,
)
from crm.transport.services import (
    dead_letter_data,
    dead_letter_job_id,
    dead_letter_mirror,
    dead_letters_sweep,
)
from tests.conftest import STAFF_PASSWORD
from tests.events import member
from tests.test_bullmq_inbound import bull, counts, queue_jobs  # noqa: F401

# Each test with its own BullMQ key prefix.
pytestmark = pytest.mark.usefixtures("bull")
LIST = "admin/transport/deadletter/"


def _dlq_add(job_id: str, payload: dict[str, Any], *, timestamp: int | None = None) -> None:
    async def add() -> None:
        async with open_queue(DEAD_LETTER_QUEUE) as queue:
            opts: dict[str, Any] = {"jobId": job_id}
            if timestamp is not None:
                opts["timestamp"] = timestamp
            await queue.add(payload["name"] or "event", payload, opts)

    run_async(add)


def dead_letter(
    tenant: Tenant | None,
    *,
    reason: str = "Rejected: payload.memberId: This field is required.",
    raw_data: str = "",
    failed_days_ago: float = 0,
    mirror: bool = True,
) -> tuple[str, dict[str, Any]]:
    """A dead letter as the consumer writes it: a job on the DLQ and (mirror) the admin's row."""
    envelope = {**member(int(time.time_ns() % 10**9)), "tenantSlug": tenant.slug if tenant else "x"}
    failed_at = timezone.now() - timedelta(days=failed_days_ago)
    source_job_id = str(uuid.uuid4().int % 10**8)
    payload = dead_letter_data(
        source_job_id=source_job_id,
        name=envelope["type"],
        data=None if raw_data else envelope,
        raw_data=raw_data,
        reason=reason,
        permanent=True,
        attempts=1,
        tenant=tenant,
        tenant_reference=envelope["tenantSlug"],
        failed_at=failed_at,
    )
    timestamp = int(failed_at.timestamp() * 1000)
    job_id = dead_letter_job_id(source_job_id=source_job_id, timestamp=timestamp)
    _dlq_add(job_id, payload, timestamp=timestamp)
    if mirror:
        dead_letter_mirror(job_id=job_id, data=payload)
        connection.set_schema_to_public()
    return job_id, payload


def _club_login(client, slug: str, email: str) -> None:
    response = client.post(
        f"/t/{slug}/admin/login/",
        {"username": email, "password": STAFF_PASSWORD, "next": f"/t/{slug}/admin/"},
    )
    assert response.status_code == 302, response.content.decode()[:500]


def _platform_login(client) -> None:
    connection.set_schema_to_public()
    User.objects.create_superuser(email="ops@platform.example", password=STAFF_PASSWORD)
    response = client.post(
        "/admin/login/",
        {"username": "ops@platform.example", "password": STAFF_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302


def test_platform_sees_every_dead_letter_and_a_club_only_its_own(clubs, api, make_staff):
    _alpha_id, alpha_letter = dead_letter(clubs.alpha)
    bravo_id, bravo_letter = dead_letter(clubs.bravo)
    _unknown_id, unknown_letter = dead_letter(None, reason="Unknown tenant: no club has …")
    bravo_row = DeadLetter.objects.get(job_id=bravo_id)

    client = api()
    _club_login(client, "alpha-golf", make_staff(clubs.alpha, "ADMIN"))
    page = client.get(f"/t/alpha-golf/{LIST}")
    assert page.status_code == 200
    html = page.content.decode()
    assert alpha_letter["data"]["id"] in html
    assert bravo_letter["data"]["id"] not in html and unknown_letter["data"]["id"] not in html
    assert "Retry all dead letters" in html
    # Another club's dead letter does not exist here, whatever the URL says.
    detail = client.get(f"/t/alpha-golf/{LIST}{bravo_row.pk}/change/")
    assert detail.status_code == 302 and bravo_letter["data"]["id"] not in detail.content.decode()
    assert client.get(f"/t/alpha-golf/{LIST}{bravo_row.pk}/retry/").status_code == 404
    assert client.post(f"/t/alpha-golf/{LIST}{bravo_row.pk}/retry/").status_code == 404
    client.post(
        f"/t/alpha-golf/{LIST}",
        {"action": "retry_selected", "_selected_action": [bravo_row.pk]},
    )
    client.post(f"/t/alpha-golf/{LIST}retry-all/")
    bravo_row.refresh_from_db()
    assert bravo_row.status == DeadLetterStatus.DEAD
    assert bravo_id in {job.id for job in queue_jobs(DEAD_LETTER_QUEUE, "waiting")}

    # Bravo's admin sees Bravo's.
    bravo_client = api()
    _club_login(bravo_client, "bravo-golf", make_staff(clubs.bravo, "STAFF"))
    html = bravo_client.get(f"/t/bravo-golf/{LIST}").content.decode()
    assert bravo_letter["data"]["id"] in html and alpha_letter["data"]["id"] not in html

    # The platform sees all three, the one naming no known club included.
    platform = api()
    _platform_login(platform)
    html = platform.get(f"/{LIST}").content.decode()
    for letter in (alpha_letter, bravo_letter, unknown_letter):
        assert letter["data"]["id"] in html
    assert "unknown (x)" in html


def test_staff_read_dead_letters_but_only_admins_retry(clubs, api, make_staff):
    job_id, letter = dead_letter(clubs.alpha)
    row = DeadLetter.objects.get(job_id=job_id)
    client = api()
    _club_login(client, "alpha-golf", make_staff(clubs.alpha, "STAFF"))
    html = client.get(f"/t/alpha-golf/{LIST}").content.decode()
    assert letter["data"]["id"] in html
    assert "Retry all dead letters" not in html and "retry_selected" not in html
    assert client.get(f"/t/alpha-golf/{LIST}retry-all/").status_code == 403
    assert client.post(f"/t/alpha-golf/{LIST}{row.pk}/retry/").status_code == 403
    row.refresh_from_db()
    assert row.status == DeadLetterStatus.DEAD


def test_admin_retries_one_then_all_back_onto_crm_events(clubs, api, make_staff):
    letters = [dead_letter(clubs.alpha) for _ in range(3)]
    bravo_id, _ = dead_letter(clubs.bravo)
    unreadable_id, _ = dead_letter(clubs.alpha, raw_data="{not json", reason="not valid JSON")
    rows = {row.job_id: row for row in DeadLetter.objects.all()}
    email = make_staff(clubs.alpha, "ADMIN")
    client = api()
    _club_login(client, "alpha-golf", email)

    # One by one: the change page's button leads to a confirmation, then back onto the queue.
    first_id, first = letters[0]
    first_row = rows[first_id]
    change = client.get(f"/t/alpha-golf/{LIST}{first_row.pk}/change/").content.decode()
    assert "Retry this dead letter" in change and first["data"]["id"] in change
    confirm = client.get(f"/t/alpha-golf/{LIST}{first_row.pk}/retry/")
    assert confirm.status_code == 200 and "Yes, retry 1" in confirm.content.decode()
    assert client.post(f"/t/alpha-golf/{LIST}{first_row.pk}/retry/").status_code == 302
    (job,) = queue_jobs(EVENTS_QUEUE, "prioritized", "waiting")
    assert (job.name, job.data) == (first["name"], first["data"])
    assert job.opts["attempts"] == 3 and job.opts["backoff"]["delay"] == 1000
    assert job.priority == event_priority(first["name"], "scl")
    first_row.refresh_from_db()
    assert first_row.status == DeadLetterStatus.RETRIED and first_row.retried_by == email
    assert first_id not in {j.id for j in queue_jobs(DEAD_LETTER_QUEUE, "waiting")}
    with schema_context(clubs.alpha.schema_name):
        entry = AuditEntry.objects.get(action="dead_letters.retried")
        assert entry.details["count"] == 1 and entry.actor_label == email

    # All at once: the club's other dead letters, not Bravo's; the unreadable one is skipped.
    confirm = client.get(f"/t/alpha-golf/{LIST}retry-all/").content.decode()
    assert "Yes, retry 3" in confirm  # two retryable and the unreadable one are waiting
    response = client.post(f"/t/alpha-golf/{LIST}retry-all/", follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert any("Put 2 dead letter(s) back" in m for m in messages), messages
    assert any("1 not retried" in m for m in messages), messages
    requeued = {j.data["id"] for j in queue_jobs(EVENTS_QUEUE, "prioritized", "waiting")}
    assert requeued == {letter["data"]["id"] for _id, letter in letters}
    waiting = {j.id for j in queue_jobs(DEAD_LETTER_QUEUE, "waiting")}
    assert waiting == {bravo_id, unreadable_id}
    assert DeadLetter.objects.get(job_id=bravo_id).status == DeadLetterStatus.DEAD
    assert DeadLetter.objects.get(job_id=unreadable_id).status == DeadLetterStatus.DEAD

    # The list's action does the same for a selection (nothing left to retry here).
    response = client.post(
        f"/t/alpha-golf/{LIST}",
        {"action": "retry_selected", "_selected_action": [rows[letters[1][0]].pk]},
        follow=True,
    )
    assert any("No dead letters waiting" in str(m) for m in response.context["messages"])


def test_platform_admin_retries_a_letter_whose_club_was_unknown(clubs, api):
    job_id, letter = dead_letter(None, reason="Unknown tenant: no club has tenantSlug 'x'.")
    row = DeadLetter.objects.get(job_id=job_id)
    client = api()
    _platform_login(client)
    response = client.post(
        f"/{LIST}", {"action": "retry_selected", "_selected_action": [row.pk]}, follow=True
    )
    assert response.status_code == 200
    (job,) = queue_jobs(EVENTS_QUEUE, "prioritized", "waiting")
    assert job.data == letter["data"]
    row.refresh_from_db()
    assert row.status == DeadLetterStatus.RETRIED
    assert PlatformAuditEntry.objects.filter(
        action="dead_letters.retried", actor="ops@platform.example"
    ).exists()


def _fail_one_job_with_another_worker() -> None:
    """A job that fails on crm-events through some other worker (or stalls too often): the
    consumer never saw it, so it never went to the DLQ."""

    async def run() -> None:
        async with open_queue(EVENTS_QUEUE) as queue:
            await queue.add("scl.member.created", {**member(77), "tenantSlug": "alpha-golf"})

        async def boom(job, token):
            raise RuntimeError("boom from another worker")

        worker = Worker(EVENTS_QUEUE, boom, connection_options())
        async with open_queue(EVENTS_QUEUE) as queue:
            for _ in range(100):
                if (await queue.getJobCounts("failed"))["failed"]:
                    break
                await asyncio.sleep(0.1)
        await worker.close()

    run_async(run)


def test_sweep_rescues_stray_failures_mirrors_and_expires_after_seven_days(clubs):
    _fail_one_job_with_another_worker()
    assert counts()["failed"] == 1
    unmirrored_id, _ = dead_letter(clubs.alpha, mirror=False)
    old_id, _ = dead_letter(clubs.alpha, failed_days_ago=8)
    kept_id, _ = dead_letter(clubs.bravo, failed_days_ago=6)
    assert DeadLetter.objects.filter(job_id=old_id).exists()

    result = dead_letters_sweep()
    assert result == {"moved": 1, "mirrored": 2, "expiredJobs": 1, "expiredRows": 1}
    assert counts()["failed"] == 0
    waiting = {job.id: job.data for job in queue_jobs(DEAD_LETTER_QUEUE, "waiting")}
    assert old_id not in waiting and {unmirrored_id, kept_id} <= set(waiting)
    (stray,) = [data for data in waiting.values() if data["reason"] == "boom from another worker"]
    assert stray["tenantId"] == str(clubs.alpha.id)
    rows = {row.job_id: row for row in DeadLetter.objects.all()}
    assert set(rows) == set(waiting)
    assert rows[unmirrored_id].tenant == clubs.alpha
    # Again: nothing to do.
    assert dead_letters_sweep() == {"moved": 0, "mirrored": 0, "expiredJobs": 0, "expiredRows": 0}


def test_the_beat_schedule_sweeps_dead_letters_and_relays_every_club():
    from django.conf import settings

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["sweep-dead-letters"]["task"] == "transport.sweep_dead_letters"
    assert schedule["relay-outbound-events"]["args"] == ("transport.relay_outbound_events",)
    # Every minute in the clubs with unrelayed rows; every club at the safety net's period.
    assert schedule["relay-outbound-events"]["task"] == "crm.tasks.dispatch_due"
    assert schedule["relay-outbound-events-safety-net"]["task"] == "crm.tasks.safety_net"


def test_a_dead_letter_queue_job_reads_back_as_the_same_row(clubs):
    job_id, payload = dead_letter(clubs.alpha, mirror=False)

    async def read() -> dict:
        queue = Queue(DEAD_LETTER_QUEUE, connection_options())
        try:
            job = await queue.getJob(job_id)
            return job.data
        finally:
            await queue.close()

    assert run_async(read) == payload
    row = dead_letter_mirror(job_id=job_id, data=payload)
    assert (row.tenant, row.event_id, row.event_type, row.permanent, row.attempts) == (
        clubs.alpha,
        payload["data"]["id"],
        "scl.member.created",
        True,
        1,
    )
    assert dead_letter_mirror(job_id=job_id, data=payload).pk == row.pk  # written once
