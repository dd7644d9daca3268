"""Journeys with real Celery workers on the real Redis and PostgreSQL.

- End to end: an event ingested for the club is applied by the worker, enrols the member in a
  welcome journey, whose send step goes through the ledger to the fake Messaging peer on
  127.0.0.1 (metadata.journeyId set); the open the Messaging Service reports back (its sendId)
  moves the member on past "did they open it?".
- A worker SIGKILLed in the middle of 20,000 due enrolments: the batches it committed are
  whole, the rest are still due and the next worker takes them; every customer ends with one
  ledger row and the peer with one key each.
- Two engines side by side never take the same enrolment (SKIP LOCKED).
- Beat's fan-out runs each club's due steps in that club only.

In a module of its own, so no other test's worker consumes its queue. The data is committed
(the workers are other processes) and removed afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from campaigns.testing import MessagingPeer
from crm.tenants.models import Tenant
from tests.test_celery_integration import ROOT, _worker_env

pytestmark = pytest.mark.integration
TOKEN = "journey-token"


def _start_worker(peer_url: str = "", concurrency: int = 1) -> subprocess.Popen:
    from django.conf import settings

    env = {**_worker_env(), "MESSAGING_TOKEN": TOKEN, "CAMPAIGN_TRANSPORT": "http"}
    if peer_url:
        env["MESSAGING_URL"] = peer_url
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "WARNING",
         "--concurrency", str(concurrency), "--queues", ",".join(settings.CELERY_WORKER_QUEUES),
         "--hostname", f"journeys-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
         "--without-mingle"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _wipe(schema: str) -> None:
    from campaigns.models import Campaign, CampaignSettings
    from crm.accounts.models import AuditEntry
    from crm.outbox.models import OutboundEvent
    from journeys.models import (
        Enrolment,
        EnrolmentEvent,
        Journey,
        JourneyCursor,
        JourneyVersion,
        StaffTask,
        WebhookDelivery,
    )
    from profiles.models import (
        Activity,
        Customer,
        CustomerNote,
        DuplicateCandidate,
        RawEvent,
        SourceRecord,
    )

    with schema_context(schema):
        for model in (WebhookDelivery, StaffTask, EnrolmentEvent, Enrolment):
            model.objects.all().delete()
        Journey.objects.update(published_version=None)
        JourneyVersion.objects.all().delete()
        for model in (Journey, JourneyCursor, CampaignSettings, CustomerNote, Activity, RawEvent,
                      DuplicateCandidate, SourceRecord, OutboundEvent, Customer):  # fmt: skip
            model.objects.all().delete()
        Campaign.objects.filter(journey_id__isnull=False).delete()
        AuditEntry.objects.filter(action__startswith="journey.").delete()


def _no_quiet_hours() -> None:
    from campaigns.sending import campaign_settings

    rules = campaign_settings()
    rules.quiet_hours_enabled = False
    rules.frequency_cap = 0
    rules.save()


def _until(check, seconds: float, what: str, nudge=None, every: float = 2.0):
    deadline = time.monotonic() + seconds
    nudged = 0.0
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        if nudge and time.monotonic() - nudged > every:
            nudge()
            nudged = time.monotonic()
        time.sleep(0.2)


def _seed(schema: str, count: int, steps: dict, name: str) -> str:
    """`count` opted-in customers, each enrolled in a published journey, all due now."""
    from journeys.models import Journey
    from journeys.services import JourneyInput, journey_create, journey_publish

    with schema_context(schema), transaction.atomic():
        _no_quiet_hours()
        journey = journey_create(data=JourneyInput(name=name, definition={
            "trigger": {"type": "manual"}, "reentry": {"policy": "ALWAYS"},
            "start": next(iter(steps)), "steps": steps,
        }))  # fmt: skip
        journey_publish(journey=journey)
        journey = Journey.objects.get(pk=journey.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO profiles_customer (id, status, email, phone_number, first_name,
                    last_name, gender, lifecycle_stage, tags, membership_tier, membership_status,
                    home_club_id, lifetime_value, activity_count_30d, booking_count_30d,
                    email_opt_in, sms_opt_in, push_opt_in, whatsapp_opt_in, email_hard_bounced,
                    complained, address, competition_entry_count_365d, created_at, updated_at)
                SELECT gen_random_uuid(), 'ACTIVE', %s || n || '@ex.ie', '', 'Golfer' || n,
                    'Test', '', 'SUBSCRIBER', '{}', '', '', '', 0, 0, 0, true, false, false,
                    false, false, false, '{}', 0, now(), now()
                FROM generate_series(1, %s) AS n
                """,
                [name.lower().replace(" ", "-"), count],
            )
            cursor.execute(
                """
                INSERT INTO journeys_enrolment (id, journey_id, version_id, customer_id, status,
                    step, due_at, entry_key, source, context, entered_at, step_entered_at,
                    finished_at, exit_reason, attempts, last_error)
                SELECT gen_random_uuid(), %s, %s, c.id, 'ACTIVE', %s, now(), 'seed', 'MANUAL',
                       '{}', now(), now(), NULL, '', 0, ''
                FROM profiles_customer AS c WHERE c.email LIKE %s
                """,
                [journey.id, journey.published_version_id, next(iter(steps)),
                 name.lower().replace(" ", "-") + "%%@ex.ie"],
            )  # fmt: skip
            cursor.execute("ANALYZE journeys_enrolment")
        return str(journey.id)


def test_an_ingested_event_reaches_the_messaging_peer_through_a_journey(
    django_db_setup, django_db_blocker
):
    from crm.accounts.services import api_key_create
    from journeys.models import Enrolment
    from journeys.services import JourneyInput, journey_create, journey_publish
    from journeys.tasks import run_triggers
    from profiles.ingestion import events_ingest
    from profiles.models import Customer
    from tests.events import contact, envelope, member

    with django_db_blocker.unblock():
        alpha = Tenant.objects.get(slug="alpha-golf")
        schema = alpha.schema_name
        worker = None
        with MessagingPeer(token=TOKEN) as peer:
            try:
                with schema_context(schema), transaction.atomic():
                    _no_quiet_hours()
                    api_key_create(name="journeys-e2e", scopes="events:write")
                    journey = journey_create(data=JourneyInput(name="Welcome a new member", definition={
                        "trigger": {"type": "event", "eventType": "scl.member.created"},
                        "reentry": {"policy": "ONCE"}, "start": "welcome",
                        "steps": {
                            "welcome": {"type": "send", "channel": "EMAIL",
                                        "template": "member_welcome", "next": "opened"},
                            "opened": {"type": "waitForEvent", "eventType": "email.opened",
                                       "ofStep": "welcome", "timeout": {"days": 3},
                                       "onEvent": "thanks", "onTimeout": None},
                            "thanks": {"type": "update", "addTags": ["opened-welcome"],
                                       "next": None},
                        },
                    }))  # fmt: skip
                    journey_publish(journey=journey, actor_label="tests")
                worker = _start_worker(peer.url, concurrency=2)
                with schema_context(schema):
                    with transaction.atomic():  # the commit queues the apply task
                        results = events_ingest(tenant=alpha, transport="rest", envelopes=[
                            member(9001, email="new.member@ex.ie", firstName="Nora", at=0),
                            contact("c-9001", email="new.member@ex.ie", at=1),
                            envelope("messaging.contactPreference.updated",
                                     {"contactId": "c-9001", "channel": "EMAIL", "optedIn": True,
                                      "source": "PREFERENCE_CENTRE"},
                                     identity={"messagingContactId": "c-9001"}, at=2),
                        ])  # fmt: skip
                    assert {r["status"] for r in results} == {"accepted"}
                    # What beat does every minute: the trigger scan (its follow-up comes by itself).
                    accepted = _until(
                        lambda: list(peer.state.accepted.values()),
                        120,
                        "the welcome never reached the peer",
                        nudge=lambda: run_triggers.delay(),
                    )
                    request = accepted[0]
                    person = Customer.objects.get(scl_member_id=9001)
                    assert request["metadata"]["journeyId"] == str(journey.id)
                    assert request["metadata"]["customerId"] == str(person.id)
                    assert request["templateId"] == "member_welcome"
                    assert request["variables"]["firstName"] == "Nora"
                    entry = Enrolment.objects.get(journey=journey)
                    assert (entry.source, entry.step, entry.status) == (
                        "EVENT",
                        "opened",
                        "WAITING",
                    )

                    with transaction.atomic():
                        events_ingest(tenant=alpha, transport="rest", envelopes=[
                            envelope("email.opened", {
                                "messageId": request["_messageId"],
                                "sendId": request["idempotencyKey"], "contactId": "c-9001",
                                "channel": "EMAIL"}, source="messaging",
                                identity={"messagingContactId": "c-9001"}, at=3),
                        ])  # fmt: skip
                    _until(
                        lambda: "opened-welcome" in Customer.objects.get(pk=person.pk).tags, 120,
                        "the open never moved the member on", nudge=lambda: run_triggers.delay(),
                    )  # fmt: skip
                    entry.refresh_from_db()
                    assert entry.status == "COMPLETED"
                    assert len(peer.state.accepted) == 1 and not peer.state.repeats
            finally:
                if worker is not None:
                    _stop(worker)
                _wipe(schema)
                from crm.accounts.models import ApiKey

                with schema_context(schema):
                    ApiKey.objects.filter(name="journeys-e2e").delete()


def test_a_worker_killed_mid_run_leaves_whole_batches_and_the_next_one_finishes(
    django_db_setup, django_db_blocker
):
    from campaigns.models import CampaignRun, Send
    from campaigns.tasks import deliver_run
    from journeys.models import Enrolment, EnrolmentEvent
    from journeys.tasks import run_due

    count = 20_000
    steps = {
        "hello": {"type": "send", "channel": "EMAIL", "template": "welcome", "next": "note"},
        "note": {"type": "update", "note": "Welcomed by the journey", "next": None},
    }
    with django_db_blocker.unblock():
        alpha = Tenant.objects.get(slug="alpha-golf")
        schema = alpha.schema_name
        worker = None
        with MessagingPeer(token=TOKEN) as peer:
            try:
                _seed(schema, count, steps, "Crash journey")
                worker = _start_worker(peer.url, concurrency=1)
                with schema_context(schema):
                    run_due.delay()
                    moved = EnrolmentEvent.objects.filter(step="hello", kind="COMPLETED")
                    _until(lambda: moved.count() >= 2000, 120, "the worker never got going")
                    os.killpg(worker.pid, signal.SIGKILL)  # mid-run, its pool included
                    worker.wait()
                    at_kill = moved.count()
                    print(f"SIGKILL with {at_kill} of {count} enrolments past the send step")
                    assert at_kill < count, "killed too late to prove anything"
                    assert at_kill % 1000 == 0  # only whole batches committed
                    assert Send.objects.count() == at_kill  # and their ledger rows with them
                    due = Enrolment.objects.filter(status="ACTIVE", step="hello").count()
                    assert due == count - at_kill

                    worker = _start_worker(peer.url, concurrency=2)
                    run_due.delay()  # what beat does every minute
                    _until(
                        lambda: not Enrolment.objects.filter(status__in=("ACTIVE", "WAITING"))
                        .exists(), 180, "the rest was never run", nudge=lambda: run_due.delay(),
                        every=10,
                    )  # fmt: skip

                    def delivered() -> bool:
                        return not Send.objects.exclude(status="ACCEPTED").exists()

                    def nudge() -> None:  # campaigns' minute tick for runs left mid-hand-over
                        for run_id in CampaignRun.objects.values_list("id", flat=True):
                            deliver_run.delay(str(run_id))

                    _until(delivered, 240, "the ledger was never handed over", nudge=nudge,
                           every=10)  # fmt: skip
                    _stop(worker)
                    per_customer = dict(
                        Send.objects.values_list("customer_id").annotate(
                            n=__import__("django.db.models", fromlist=["Count"]).Count("id")
                        )
                    )
                    assert len(per_customer) == count and set(per_customer.values()) == {1}
                    assert moved.count() == count
                    assert EnrolmentEvent.objects.filter(kind="COMPLETED").count() == 2 * count
                    assert len(peer.state.accepted) == count
                    assert set(peer.state.customers().values()) == {1}
                    from profiles.models import CustomerNote

                    assert CustomerNote.objects.count() == count  # one each, none twice
            finally:
                if worker is not None:
                    _stop(worker, signal.SIGKILL)
                _wipe(schema)


def test_two_engines_side_by_side_never_take_the_same_enrolment(django_db_setup, django_db_blocker):
    from django.db import connections

    from journeys.engine import run_due
    from journeys.models import EnrolmentEvent
    from profiles.models import CustomerNote

    count = 3000
    steps = {"note": {"type": "update", "note": "Once", "addTags": ["seen"], "next": None}}
    with django_db_blocker.unblock():
        alpha = Tenant.objects.get(slug="alpha-golf")
        schema = alpha.schema_name
        try:
            _seed(schema, count, steps, "Parallel journey")
            taken: list[int] = []
            start = threading.Barrier(2)

            def engine() -> None:
                try:
                    with schema_context(schema):
                        start.wait()
                        taken.append(run_due(batch_size=100).taken)
                finally:
                    connections.close_all()

            threads = [threading.Thread(target=engine) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            print(f"taken by each engine: {taken}")
            assert sum(taken) == count and all(n > 0 for n in taken)
            with schema_context(schema):
                assert CustomerNote.objects.count() == count
                assert EnrolmentEvent.objects.filter(kind="COMPLETED").count() == count
        finally:
            _wipe(schema)


def test_beats_fan_out_runs_each_clubs_due_steps_in_that_club(django_db_setup, django_db_blocker):
    from crm.tasks import fan_out_to_tenants
    from journeys.models import Enrolment

    steps = {"tag": {"type": "update", "addTags": ["fanned"], "next": None}}
    with django_db_blocker.unblock():
        clubs = {slug: Tenant.objects.get(slug=slug) for slug in ("alpha-golf", "bravo-golf")}
        worker = None
        try:
            for club in clubs.values():
                _seed(club.schema_name, 5, steps, f"Fan {club.slug}")
            worker = _start_worker()
            connection.set_schema_to_public()
            fan_out_to_tenants.delay("journeys.run_due")
            for club in clubs.values():
                with schema_context(club.schema_name):
                    _until(lambda: not Enrolment.objects.filter(status="ACTIVE").exists(), 60,
                           f"{club.slug} was never run")  # fmt: skip
                    emails = set(
                        Enrolment.objects.values_list("customer__email", flat=True).distinct()
                    )
                    assert all(e.startswith(f"fan-{club.slug}") for e in emails)
                    assert Enrolment.objects.filter(status="COMPLETED").count() == 5
        finally:
            if worker is not None:
                _stop(worker)
            for club in clubs.values():
                _wipe(club.schema_name)
