"""Interop: the services' side is real Node (npm `bullmq` + `ioredis`, tests/node/producer.js)
adding jobs to `crm-events` as the NestJS services do; the CRM's side is the real consumer, run
as `manage.py consume_events` subprocesses, on the real Redis and PostgreSQL.

The consumer sees only committed rows, so these tests commit and clean up after themselves (as
test_worker_crash.py does). Every test has its own BullMQ key prefix (`bull` fixture), so
parallel runs and other tests never share a queue. Other BullMQ test modules import the helpers
from here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django_tenants.utils import schema_context

from crm.tenants.models import Tenant
from crm.transport.priorities import event_priority
from crm.transport.queues import DEAD_LETTER_QUEUE, EVENTS_QUEUE, open_queue, run_async
from tests.events import contact, envelope, member, player

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
SERVICES_JOB_OPTIONS = {"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}}


# --- fixtures and helpers (shared with the other test_bullmq_* modules) -----------------------


@pytest.fixture(scope="session")
def node_ready() -> Path:
    """tests/node with its npm packages installed from the lock file (`npm ci`)."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for the BullMQ interop tests")
        pytest.skip("node and npm are needed for the BullMQ interop tests")
    if not (NODE_DIR / "node_modules" / "bullmq" / "package.json").is_file():
        result = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return NODE_DIR


@pytest.fixture
def bull() -> Iterator[str]:
    """A BullMQ key prefix of this test alone, in the settings and for subprocesses."""
    prefix = f"bull-test-{settings.RUN_ID}-{uuid.uuid4().hex[:8]}"
    with override_settings(BULLMQ_PREFIX=prefix):
        yield prefix
    client = redis.Redis.from_url(settings.BULLMQ_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def subprocess_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CRM_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "BULLMQ_PREFIX": settings.BULLMQ_PREFIX,
        "BULLMQ_REDIS_URL": settings.BULLMQ_REDIS_URL,
    }


def produce(jobs: list[dict[str, Any]], *, queue: str = EVENTS_QUEUE) -> list[str]:
    """Add jobs with the Node producer; returns their ids."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(jobs, handle)
    try:
        result = subprocess.run(
            ["node", "producer.js", settings.BULLMQ_REDIS_URL, settings.BULLMQ_PREFIX, queue,
             handle.name],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def node_worker(queue: str, count: int, timeout: float = 60) -> subprocess.Popen:
    """A Node Worker reading `count` jobs off `queue`; `.communicate()` gives them as JSON."""
    return subprocess.Popen(
        ["node", "worker.js", settings.BULLMQ_REDIS_URL, settings.BULLMQ_PREFIX, queue,
         str(count), str(timeout)],
        cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def node_jobs(process: subprocess.Popen) -> list[dict[str, Any]]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


class Consumer:
    """`manage.py consume_events` as a real subprocess, its output kept for failures."""

    def __init__(self, *args: str) -> None:
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "consume_events", *args],
            cwd=ROOT, env=subprocess_env(), stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 60) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"consumer ignored SIGTERM:\n{self.output()}") from None
        return self.process.returncode

    def close(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


@pytest.fixture
def consumers(bull, node_ready) -> Iterator[Callable[..., Consumer]]:
    started: list[Consumer] = []

    def start(*args: str) -> Consumer:
        consumer = Consumer(*args)
        started.append(consumer)
        return consumer

    yield start
    for index, consumer in enumerate(started):
        # Shown by pytest with a failing test's captured output.
        print(f"--- consumer {index} (exit {consumer.process.poll()}) ---\n{consumer.output()}")
        consumer.close()


def counts(queue: str = EVENTS_QUEUE) -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with open_queue(queue) as q:
            return await q.getJobCounts()

    return run_async(read)


def queue_jobs(queue: str, *states: str) -> list:
    async def read() -> list:
        async with open_queue(queue) as q:
            return await q.getJobs(list(states), 0, -1, True)

    return run_async(read)


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def drained(expected_completed: int, expected_dead: int = 0) -> Callable[[], bool]:
    def check() -> bool:
        events = counts()
        busy = sum(events[state] for state in ("active", "waiting", "prioritized", "delayed"))
        return (
            busy == 0
            and events["completed"] >= expected_completed
            and counts(DEAD_LETTER_QUEUE)["waiting"] >= expected_dead
        )

    return check


def job_for(event: dict[str, Any], **opts: Any) -> dict[str, Any]:
    """A job as the services add it: name = type, data = envelope, priority by type."""
    return {
        "name": event["type"],
        "data": event,
        "opts": {
            **SERVICES_JOB_OPTIONS,
            "priority": event_priority(event["type"], event.get("source")),
            **opts,
        },
    }


def wipe_club(schema: str) -> None:
    from crm.outbox.models import OutboundEvent
    from profiles.models import Activity, Customer, DuplicateCandidate, RawEvent, SourceRecord

    with schema_context(schema):
        for model in (Activity, RawEvent, DuplicateCandidate, SourceRecord, OutboundEvent):
            model.objects.all().delete()
        Customer.objects.all().delete()


def apply_everything(schema: str) -> None:
    from profiles.apply import events_apply_pending

    with schema_context(schema):
        while events_apply_pending(limit=1000):
            pass


def customers_snapshot(schema: str) -> set:
    from profiles.models import Customer, SourceRecord

    with schema_context(schema):
        groups: dict = {}
        for kind, key, customer_id in SourceRecord.objects.values_list(
            "kind", "key", "customer_id"
        ):
            groups.setdefault(customer_id, set()).add(f"{kind}:{key}")
        return {
            (
                frozenset(groups.get(c.id, ())), c.status, c.email, c.first_name, c.last_name,
                c.phone_number, c.membership_tier, c.membership_status, c.lifecycle_stage,
                c.email_opt_in, c.sms_opt_in, c.email_hard_bounced, c.lifetime_value,
                c.activities.count(),
            )
            for c in Customer.objects.all()
        }  # fmt: skip


def raw_events(schema: str) -> Counter:
    from profiles.models import RawEvent

    with schema_context(schema):
        return Counter(RawEvent.objects.values_list("source", "event_id", "type"))


@pytest.fixture
def committed(django_db_setup, django_db_blocker) -> Iterator[dict[str, Tenant]]:
    """The session's clubs, with committed work wiped afterwards."""
    from crm.transport.models import DeadLetter

    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        # pytest-django creates the test database only if some selected test asks for `db`;
        # never commit into a developer's own database.
        if not connection.settings_dict["NAME"].startswith("test_"):
            pytest.fail("No test database: run this with a test that uses `db` (the module does).")
        clubs = {tenant.slug: tenant for tenant in Tenant.objects.all()}
        try:
            yield clubs
        finally:
            connection.set_schema_to_public()
            DeadLetter.objects.all().delete()
            for tenant in clubs.values():
                wipe_club(tenant.schema_name)
            connection.set_schema_to_public()
            purge_celery_queue(list(clubs.values()))


def purge_celery_queue(clubs: list[Tenant]) -> None:
    """Drop the apply and relay tasks that committed work queued on this run's Celery queue: no
    worker ran them here, and a later test's worker must not have to wade through them. Each
    club's "apply task queued" flag goes with its task (profiles/ingestion.py): left behind, it
    would keep the next test's events from queueing one until it expired."""
    from django.core.cache import cache

    from profiles.ingestion import APPLY_QUEUED_KEY

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    names = list(client.scan_iter(match=f"{queue}*", count=1000))  # and its priority lists
    if names:
        client.delete(*names)
    client.close()
    for tenant in clubs:
        with schema_context(tenant.schema_name):
            cache.delete(APPLY_QUEUED_KEY)
    connection.set_schema_to_public()


# --- in process: how one batch of jobs is judged ----------------------------------------------


def test_jobs_are_judged_as_rest_judges_events_with_the_club_from_the_envelope(clubs):
    """No subprocess: `event_jobs_ingest` on a batch, as the consumer calls it."""
    from crm.transport.inbound import InboundJob, event_jobs_ingest
    from profiles.models import RawEvent

    alpha, bravo = clubs.alpha, clubs.bravo
    first = member(1)
    tier = envelope("scl.tier.changed", {"memberId": 1, "toTier": {"code": "SENIOR"}}, at=1)
    jobs = [
        InboundJob("1", first["type"], first),
        InboundJob("2", first["type"], first),  # the same event again in the batch
        InboundJob("3", "scl.member.tier.changed", tier),  # name and type are aliases: agree
        InboundJob("4", "scl.member.created", {**member(2), "tenantSlug": "alpha-old"}),
        InboundJob("5", "scl.member.created",
                   {**member(3), "tenantId": str(bravo.id).upper(), "tenantSlug": None}),
        InboundJob("6", "scl.member.created",
                   {**member(4), "tenantId": str(alpha.id), "tenantSlug": "bravo-golf"}),
        InboundJob("7", "scl.member.created", {**member(5), "tenantSlug": "closed-golf"}),
        InboundJob("8", "scl.member.created", None, unreadable="Expecting value"),
        InboundJob("9", "scl.member.created", {**member(6), "tenantId": "club-7"}),
        InboundJob("10", "scl.member.created", {**member(7), "tenantSlug": None}),
    ]  # fmt: skip
    outcomes = event_jobs_ingest(jobs=jobs)

    assert [o.result.get("status") for o in outcomes[:5]] == [
        "accepted", "duplicate", "accepted", "accepted", "accepted",
    ]  # fmt: skip
    assert [o.result["tenant"] for o in outcomes[:5]] == ["alpha-golf"] * 4 + ["bravo-golf"]
    failed = outcomes[5:]
    assert all(not o.ok and o.permanent for o in failed)
    assert [o.reason for o in failed] == [
        "Rejected: tenantSlug: Names another tenant than this endpoint's.",
        "The club 'closed-golf' is disabled: it takes no events.",
        "The job's data is not valid JSON (Expecting value).",
        "tenantId 'club-7' is not a UUID.",
        "The envelope names no club: give tenantId or tenantSlug.",
    ]
    assert failed[0].tenant == alpha and failed[1].tenant == clubs.closed
    with schema_context(alpha.schema_name):
        stored = RawEvent.objects.values_list("event_id", "type", "transport")
        assert set(stored) == {
            (first["id"], "scl.member.created", "bullmq"),
            (tier["id"], "scl.member.tier.changed", "bullmq"),
            (jobs[3].data["id"], "scl.member.created", "bullmq"),
        }
    with schema_context(bravo.schema_name):
        assert RawEvent.objects.filter(event_id=jobs[4].data["id"]).exists()


@pytest.mark.parametrize(
    ("event_type", "source", "priority"),
    [
        ("scl.payment.failed", "scl", 1),
        ("messaging.message.bounced", "messaging", 1),
        ("contactPreference.updated", "messaging", 1),  # unprefixed, as Messaging sends it
        ("scl.member.status_changed", "scl", 1),  # an alias
        ("scl.member.created", "scl", 5),
        ("teetime.booked", "teetime", 5),
        ("email.opened", "messaging", 10),
        ("messaging.email.clicked", "messaging", 10),
        ("teetime.score.posted", "teetime", 10),
        ("scl.locker.assigned", "scl", 5),  # unknown types are normal
    ],
)
def test_priorities_by_type(event_type, source, priority):
    assert event_priority(event_type, source) == priority


# --- the services' story -------------------------------------------------------------------------


def _story() -> list[dict[str, Any]]:
    """Good events as the three services send them: aliases, unprefixed messaging types and
    updates that arrive out of order."""
    return [
        member(1, email="aoife@example.ie", at=0),
        member(2, email="sean@example.ie", at=0, firstName="Seán", lastName="Murphy"),
        player("p1", sclMemberId=1, at=1),
        contact("c1", email="aoife@example.ie", at=2),
        # The newer update first, the older one after: the newer last name must stay.
        envelope("scl.member.updated", {"memberId": 1, "lastName": "Byrne-Walsh"}, at=30),
        envelope(
            "scl.member.updated",
            {"memberId": 1, "lastName": "Byrne", "phoneNumber": "087 555 1234"},
            at=20,
        ),
        envelope(
            "scl.tier.changed",
            {
                "memberId": 1,
                "fromTier": {"code": "FULL"},
                "toTier": {"code": "SENIOR", "name": "Senior"},
            },
            at=25,
        ),
        envelope(
            "scl.member.status_changed",
            {"memberId": 2, "fromStatus": "ACTIVE", "toStatus": "LAPSED"},
            at=26,
        ),
        envelope(
            "teetime.booked",
            {
                "bookingId": "b1",
                "playerId": "p1",
                "holes": 18,
                "price": {"amount": "45.00", "currency": "EUR"},
            },
            at=27,
        ),
        envelope("teetime.completed", {"bookingId": "b1", "playerId": "p1"}, at=28),
        envelope(
            "contactPreference.updated",
            {"contactId": "c1", "channel": "EMAIL", "optedIn": True},
            source="messaging",
            at=29,
        ),
        envelope("email.opened", {"contactId": "c1", "messageId": "m1"}, source="messaging", at=31),
        envelope(
            "scl.payment.received",
            {
                "paymentId": "pay1",
                "memberId": 1,
                "amount": "120.00",
                "currency": "EUR",
                "purpose": "SUBSCRIPTION",
            },
            at=32,
        ),
        envelope(
            "scl.payment.failed",
            {
                "paymentId": "pay2",
                "memberId": 2,
                "amount": "90.00",
                "currency": "EUR",
                "failureReason": "card expired",
            },
            at=33,
        ),
        envelope("scl.locker.assigned", {"memberId": 1}, at=34),  # unknown: kept, shown raw
    ]


def test_node_jobs_make_the_same_customers_as_rest_and_bad_jobs_are_dead_lettered(
    committed, consumers
):
    from crm.accounts.services import api_key_create
    from crm.transport.models import DeadLetter

    alpha = committed["alpha-golf"]
    good = _story()
    duplicates = [good[0], good[4], good[11]]  # at least once: the same events again

    # Through REST first (the reference), then wiped.
    with schema_context(alpha.schema_name):
        key, raw_key = api_key_create(name="bullmq-test", scopes="events:write")
    try:
        response = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}").post(
            "/t/alpha-golf/api/v1/events",
            data={"events": good + duplicates},
            content_type="application/json",
        )
    finally:
        with schema_context(alpha.schema_name):
            key.delete()
    assert response.status_code == 200, response.content
    assert Counter(r["status"] for r in response.json()["data"]) == {
        "accepted": len(good),
        "duplicate": len(duplicates),
    }
    apply_everything(alpha.schema_name)
    through_rest = customers_snapshot(alpha.schema_name)
    rest_events = raw_events(alpha.schema_name)
    wipe_club(alpha.schema_name)

    bad_missing_id = {k: v for k, v in member(9, at=1).items() if k != "id"}
    bad = [
        {"name": "scl.member.created", "data": {"placeholder": True}, "rawData": "{not json"},
        job_for({**member(7), "tenantSlug": "nowhere-golf"}),
        job_for({**member(8), "tenantId": str(uuid.uuid4()), "tenantSlug": None}),
        {"name": "scl.member.created", "data": bad_missing_id, "opts": SERVICES_JOB_OPTIONS},
        {"name": "scl.member.created", "data": "just a string", "opts": SERVICES_JOB_OPTIONS},
        job_for(member(10, email="not-an-email")),
        {"name": "scl.member.created", "data": player("p9"), "opts": SERVICES_JOB_OPTIONS},
    ]
    # Duplicates go in after their originals; bad jobs in between must not hold anything up.
    jobs = [job_for(event) for event in good[:8]] + bad + [job_for(e) for e in good[8:]]
    jobs += [job_for(event) for event in duplicates]
    produce(jobs)

    consumer = consumers()
    wait_for(drained(len(good) + len(duplicates), len(bad)), timeout=60, what="the queue to drain")
    assert consumer.alive(), consumer.output()  # bad jobs never crash the consumer

    events_counts = counts()
    assert events_counts["failed"] == 0  # moved to the DLQ, not kept on crm-events too
    assert events_counts["completed"] == len(good) + len(duplicates)
    results = [job.returnvalue for job in queue_jobs(EVENTS_QUEUE, "completed")]
    assert Counter(r["status"] for r in results) == {
        "accepted": len(good),
        "duplicate": len(duplicates),
    }
    assert {r["tenant"] for r in results} == {"alpha-golf"}

    # Each bad job: on the DLQ once (no retries: a rejection is permanent), with its reason.
    letters = {job.data["jobId"]: job.data for job in queue_jobs(DEAD_LETTER_QUEUE, "waiting")}
    assert len(letters) == len(bad)
    reasons = sorted(letter["reason"] for letter in letters.values())
    expected = [
        "Rejected: id: This field is required.",
        "Rejected: identity.email: Enter a valid email address.",
        "The job's data is not valid JSON",
        "The job's data must be an event envelope (a JSON object), not str.",
        "The job's name 'scl.member.created' does not match the envelope's type "
        "'teetime.player.created'.",
        "Unknown tenant: no club has tenantId",
        "Unknown tenant: no club has tenantSlug 'nowhere-golf'.",
    ]
    for prefix in expected:
        assert any(reason.startswith(prefix) for reason in reasons), (prefix, reasons)
    assert all(letter["permanent"] and letter["attemptsMade"] == 1 for letter in letters.values())

    # The admin's mirror has them, each with the club it names when that club exists.
    connection.set_schema_to_public()
    rows = list(DeadLetter.objects.all())
    assert len(rows) == len(bad)
    by_reason = {row.reason.split(" (")[0].split(":")[0]: row for row in rows}
    assert by_reason["Rejected"].tenant_id == alpha.id
    assert by_reason["Unknown tenant"].tenant_id is None
    assert by_reason["The job's data is not valid JSON"].raw_data == "{not json"
    assert by_reason["The job's data is not valid JSON"].envelope is None

    assert consumer.stop() == 0, consumer.output()

    # The same customers, the same stored events as through REST.
    apply_everything(alpha.schema_name)
    assert raw_events(alpha.schema_name) == rest_events
    assert customers_snapshot(alpha.schema_name) == through_rest
    from profiles.models import Customer, RawEvent

    with schema_context(alpha.schema_name):
        assert set(RawEvent.objects.values_list("transport", flat=True)) == {"bullmq"}
        aoife = Customer.objects.get(scl_member_id=1)
        assert (aoife.last_name, aoife.membership_tier, aoife.email_opt_in) == (
            "Byrne-Walsh",
            "SENIOR",
            True,
        )


def test_two_consumers_never_apply_an_event_twice(committed, consumers):
    from profiles.models import Activity, RawEvent

    alpha = committed["alpha-golf"]
    events = []
    for n in range(400):
        events.append(member(1000 + n, email=f"m{n}@example.ie", at=n))
        events += [
            envelope("email.opened", {"contactId": f"c{n}", "messageId": f"m{n}-{k}"},
                     source="messaging", at=n + k)
            for k in range(2)
        ]  # fmt: skip
    # Every event twice, as separate jobs: the services deliver at least once.
    jobs = [job_for(event) for event in events] * 2
    produce(jobs)
    first = consumers("--concurrency", "50", "--batch-size", "25", "--name", "consumer-one")
    second = consumers("--concurrency", "50", "--batch-size", "25", "--name", "consumer-two")
    wait_for(drained(len(jobs)), timeout=120, what="two consumers to drain the queue")
    assert first.alive() and second.alive()

    results = [job.returnvalue for job in queue_jobs(EVENTS_QUEUE, "completed")]
    assert len(results) == len(jobs)
    accepted = Counter(r["id"] for r in results if r["status"] == "accepted")
    assert set(accepted.values()) == {1} and len(accepted) == len(events)
    assert Counter(r["status"] for r in results)["duplicate"] == len(events)
    # Both did a share of the work.
    assert {r["consumer"] for r in results} == {"consumer-one", "consumer-two"}

    assert first.stop() == 0 and second.stop() == 0
    apply_everything(alpha.schema_name)
    with schema_context(alpha.schema_name):
        assert RawEvent.objects.count() == len(events)
        assert Activity.objects.count() == len(events)
        assert Activity.objects.values("raw_event").distinct().count() == len(events)


def test_urgent_events_are_taken_before_bulk_engagement(committed, consumers):
    from profiles.models import RawEvent

    alpha = committed["alpha-golf"]
    opens = [
        envelope("email.opened", {"contactId": "c1", "messageId": f"m{n}"}, source="messaging")
        for n in range(150)
    ]
    normal = [member(2000 + n) for n in range(20)]
    urgent = [
        envelope("scl.payment.failed", {"paymentId": f"f{n}", "memberId": 2000 + n,
                                        "amount": "10.00", "currency": "EUR"})
        for n in range(5)
    ] + [
        envelope("messaging.message.bounced", {"contactId": "c1", "channel": "EMAIL",
                                               "bounce": {"type": "HARD"}}),
        envelope("contactPreference.updated", {"contactId": "c1", "channel": "SMS",
                                               "optedIn": False}, source="messaging"),
    ]  # fmt: skip
    # Added in the worst order: bulk first, urgent last.
    produce([job_for(e) for e in opens] + [job_for(e) for e in normal + urgent])
    consumer = consumers("--concurrency", "10", "--batch-size", "10")
    wait_for(drained(len(opens) + len(normal) + len(urgent)), timeout=60, what="the queue")
    assert consumer.stop() == 0

    with schema_context(alpha.schema_name):
        order = dict(RawEvent.objects.values_list("event_id", "id"))
    urgent_ids = [order[e["id"]] for e in urgent]
    normal_ids = [order[e["id"]] for e in normal]
    bulk_ids = [order[e["id"]] for e in opens]
    assert max(urgent_ids) < min(normal_ids)
    assert max(normal_ids) < min(bulk_ids)


def test_a_write_that_keeps_failing_is_tried_three_times_then_dead_lettered(committed, consumers):
    from crm.transport.models import DeadLetter

    # A club whose schema is missing (dropped, or not yet created): storing fails every time,
    # for a reason that is not the event's fault, so the job is retried with backoff.
    ghost = Tenant(slug="ghost-golf", name="Ghost GC", schema_name="club_ghost_golf")
    ghost.auto_create_schema = False
    ghost.save()
    try:
        event = {**member(1), "tenantId": str(ghost.id), "tenantSlug": None}
        produce([job_for(event)])
        started = time.monotonic()
        consumer = consumers()
        wait_for(lambda: counts(DEAD_LETTER_QUEUE)["waiting"] == 1, timeout=60, what="the DLQ")
        elapsed = time.monotonic() - started
        assert consumer.alive()
        (letter,) = queue_jobs(DEAD_LETTER_QUEUE, "waiting")
        assert letter.data["attemptsMade"] == 3
        assert letter.data["permanent"] is False
        assert "profiles_rawevent" in letter.data["reason"], letter.data["reason"]
        assert letter.data["data"] == event
        assert elapsed >= 3.0  # 1 s, then 2 s of backoff between the three tries
        assert counts()["failed"] == 0 and counts()["completed"] == 0
        connection.set_schema_to_public()
        row = DeadLetter.objects.get()
        assert (row.tenant_id, row.attempts, row.event_id) == (ghost.id, 3, event["id"])
        assert consumer.stop() == 0
    finally:
        connection.set_schema_to_public()
        DeadLetter.objects.all().delete()
        Tenant.objects.filter(pk=ghost.pk).delete()


def test_sigterm_finishes_the_jobs_in_hand_and_loses_none(committed, consumers):
    from profiles.models import RawEvent

    alpha = committed["alpha-golf"]
    events = [member(3000 + n, at=n) for n in range(3000)]
    produce([job_for(e) for e in events])
    consumer = consumers("--concurrency", "100", "--batch-size", "50")
    wait_for(lambda: counts()["completed"] >= 200, timeout=60, what="the consumer to start")
    consumer.process.send_signal(signal.SIGTERM)
    assert consumer.process.wait(timeout=30) == 0, consumer.output()

    state = counts()
    assert state["active"] == 0  # nothing left held by a consumer that is gone
    assert state["completed"] < len(events), "stopped too late to prove anything"
    assert state["completed"] + state["prioritized"] + state["waiting"] == len(events)
    with schema_context(alpha.schema_name):
        assert RawEvent.objects.count() == state["completed"]

    # Another consumer takes the rest; every event is stored once.
    second = consumers()
    wait_for(drained(len(events)), timeout=120, what="the rest of the queue")
    assert second.stop() == 0
    with schema_context(alpha.schema_name):
        assert RawEvent.objects.count() == len(events)
