"""The journeys service layer (what the API and the admin call) and webhook delivery to a real
HTTP server on 127.0.0.1: signed as api.md says, retried on 5xx, never to plain http elsewhere."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, WebhookSecret
from crm.accounts.services import webhook_secret_create
from journeys.engine import run_due
from journeys.models import Enrolment, EnrolmentEvent, Journey, StaffTask, WebhookDelivery
from journeys.services import (
    JourneyInput,
    JourneyStateError,
    enrolment_exit,
    journey_archive,
    journey_create,
    journey_delete,
    journey_enrol,
    journey_publish,
    staff_task_complete,
)
from journeys.webhooks import due_delivery_ids, webhooks_deliver
from profiles.models import Customer


@pytest.fixture
def alpha(clubs) -> Iterator:
    with schema_context(clubs.alpha.schema_name):
        yield clubs.alpha


def body(steps: dict, **extra) -> dict:
    return {
        "trigger": {"type": "manual"}, "entryRule": None, "exitRule": None, "goal": None,
        "reentry": {"policy": "ALWAYS"}, "maxEnrolments": None, "start": next(iter(steps)),
        "steps": steps, **extra,
    }  # fmt: skip


def test_create_validates_every_part_and_defaults_to_an_empty_draft(alpha):
    journey = journey_create(data=JourneyInput(name="  Welcome  "), actor_label="staff@alpha")
    assert (journey.name, journey.status) == ("Welcome", "DRAFT")
    assert journey.definition["steps"] == {"end": {"type": "end"}}
    assert AuditEntry.objects.filter(action="journey.create", object_id=str(journey.id)).exists()
    with pytest.raises(ValidationError) as caught:
        journey_create(data=JourneyInput(name="Welcome"))
    assert "name" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        journey_create(data=JourneyInput())
    assert "name" in caught.value.message_dict
    bad = body({"wait": {"type": "wait", "duration": {"days": -1}, "next": None}})
    with pytest.raises(ValidationError) as caught:
        journey_create(data=JourneyInput(name="Bad", definition=bad))
    assert "steps.wait.duration.days" in caught.value.message_dict


def test_state_changes_and_refusals(alpha):
    draft = journey_create(data=JourneyInput(name="Draft"))
    with pytest.raises(JourneyStateError):
        journey_archive(journey=journey_archive(journey=draft))
    with pytest.raises(JourneyStateError):
        journey_publish(journey=draft)
    fresh = journey_create(data=JourneyInput(name="Fresh"))
    journey_delete(journey=fresh, actor_label="t")
    assert not Journey.objects.filter(pk=fresh.pk).exists()
    live = journey_create(data=JourneyInput(name="Live"))
    version = journey_publish(journey=live, actor_label="t")
    assert version.number == 1 and Journey.objects.get(pk=live.pk).status == "ACTIVE"
    with pytest.raises(JourneyStateError):
        journey_delete(journey=live)
    assert set(Journey.objects.get(pk=live.pk).listening_from) == {
        "activities", "raw_events", "segment_changes",
    }  # fmt: skip


def test_exit_an_enrolment_and_complete_a_task(alpha):
    journey = journey_create(data=JourneyInput(name="Call", definition=body({
        "call": {"type": "notify", "title": "Call this member", "next": "pause"},
        "pause": {"type": "wait", "duration": {"days": 3}, "next": None},
    })))  # fmt: skip
    journey_publish(journey=journey)
    person = Customer.objects.create(email="x@ex.ie")
    journey_enrol(journey=Journey.objects.get(pk=journey.pk), customer_ids=[person.id])
    run_due()
    task = StaffTask.objects.get()
    done = staff_task_complete(task=task, actor_label="staff@alpha")
    assert (done.status, done.done_by) == ("DONE", "staff@alpha")
    with pytest.raises(JourneyStateError):
        staff_task_complete(task=task, actor_label="staff@alpha", dismiss=True)
    enrolment = Enrolment.objects.get()
    out = enrolment_exit(enrolment=enrolment, reason="Asked to stop", actor_label="staff@alpha")
    assert (out.status, out.exit_reason) == ("EXITED", "Asked to stop")
    assert EnrolmentEvent.objects.filter(enrolment=enrolment, kind="EXITED", step="pause").exists()
    with pytest.raises(JourneyStateError):
        enrolment_exit(enrolment=enrolment, reason="again")


# --- webhooks ---------------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers the statuses it is given, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), raw))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/journey"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _hooked(url: str, name: str = "Hook") -> Journey:
    journey = journey_create(data=JourneyInput(name=name, definition=body({
        "hook": {"type": "webhook", "url": url, "next": None},
    })))  # fmt: skip
    journey_publish(journey=journey)
    return Journey.objects.get(pk=journey.pk)


def test_a_webhook_is_signed_retried_and_delivered_once(alpha, settings):
    settings.JOURNEY_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
    _, secret = webhook_secret_create(name="receiver")
    with Receiver([503, 200]) as receiver:
        journey = _hooked(receiver.url)
        person = Customer.objects.create(email="w@ex.ie", scl_member_id=77)
        journey_enrol(journey=journey, customer_ids=[person.id])
        run_due()
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "PENDING"
        assert webhooks_deliver(ids=[delivery.id]) == {
            "delivered": 0, "retry": 1, "failed": 0, "skipped": 0,
        }  # fmt: skip
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.last_status) == (1, 503)
        assert due_delivery_ids() == []  # not before its backoff
        later = timezone.now() + dt.timedelta(minutes=2)
        assert due_delivery_ids(now=later) == [delivery.id]
        assert webhooks_deliver(ids=[delivery.id], now=later)["delivered"] == 1
        assert webhooks_deliver(ids=[delivery.id], now=later)["skipped"] == 1  # once only
    delivery.refresh_from_db()
    assert delivery.status == "DELIVERED" and delivery.attempts == 2
    (h1, raw1), (h2, raw2) = receiver.requests
    assert raw1 == raw2 and h1["X-CRM-Delivery"] == h2["X-CRM-Delivery"] == str(delivery.id)
    stamp, signature = dict(p.split("=", 1) for p in h2["X-CRM-Signature"].split(",")).values()
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + raw2, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    sent = json.loads(raw2)
    assert sent["type"] == "crm.journey.webhook" and sent["step"] == "hook"
    assert sent["customer"] == {
        "id": str(person.id), "sclMemberId": 77, "teetimePlayerId": None,
        "messagingContactId": None, "authUserId": None,
    }  # fmt: skip
    assert sent["journey"]["id"] == str(journey.id) and sent["tenantSlug"] == "alpha-golf"


def test_a_webhook_to_plain_http_elsewhere_or_refused_fails(alpha, settings):
    settings.JOURNEY_WEBHOOK_HTTP_HOSTS = []
    webhook_secret_create(name="receiver")
    with Receiver([404]) as receiver:
        insecure = _hooked(receiver.url, name="Insecure")
        person = Customer.objects.create(email="h@ex.ie")
        journey_enrol(journey=insecure, customer_ids=[person.id])
        run_due()
        delivery = WebhookDelivery.objects.get()
        assert webhooks_deliver(ids=[delivery.id])["failed"] == 1
        assert receiver.requests == []  # never called
        settings.JOURNEY_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
        refused = _hooked(receiver.url, name="Refused")
        journey_enrol(journey=refused, customer_ids=[person.id])
        run_due()
        second = WebhookDelivery.objects.get(journey=refused)
        assert webhooks_deliver(ids=[second.id])["failed"] == 1  # a 404 is not retried
    delivery.refresh_from_db()
    second.refresh_from_db()
    assert "https" in delivery.last_error
    assert (second.status, second.last_status) == ("FAILED", 404)


def test_a_webhook_to_an_internal_address_is_refused_without_a_call(alpha, settings):
    from journeys.webhooks import url_allowed

    settings.JOURNEY_WEBHOOK_HTTP_HOSTS = []
    for url in ("https://127.0.0.1:8443/x", "https://localhost/x", "https://10.0.0.5/x",
                "https://169.254.169.254/latest/meta-data", "https://[::1]/x"):  # fmt: skip
        assert "internal address" in url_allowed(url), url
    assert url_allowed("https://93.184.216.34/hook") is None  # public: allowed (not called)
    settings.JOURNEY_WEBHOOK_HTTP_HOSTS = ["localhost"]
    assert url_allowed("https://localhost/x") is None


# --- always signed ---------------------------------------------------------------------------------


def test_a_webhook_step_is_published_only_while_the_club_can_sign(alpha):
    journey = journey_create(data=JourneyInput(name="Unsigned", definition=body({
        "hello": {"type": "notify", "title": "Say hello", "next": "tell_crm"},
        "tell_crm": {"type": "webhook", "url": "https://example.com/hook", "next": None},
    })))  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        journey_publish(journey=journey)
    problems = caught.value.message_dict
    assert list(problems) == ["steps.tell_crm"]
    assert "Webhook step 'tell_crm'" in problems["steps.tell_crm"][0]
    assert "no active webhook secret" in problems["steps.tell_crm"][0]
    assert Journey.objects.get(pk=journey.pk).status == "DRAFT"
    # A revoked secret does not count; an active one does.
    old, _ = webhook_secret_create(name="old")
    old.revoked_at = timezone.now()
    old.save()
    with pytest.raises(ValidationError):
        journey_publish(journey=journey)
    webhook_secret_create(name="receiver")
    assert journey_publish(journey=journey).number == 1


def test_a_secret_revoked_after_publishing_holds_the_webhook_never_unsigned(alpha, settings):
    from journeys.engine import MAX_ATTEMPTS

    settings.JOURNEY_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
    secret, _ = webhook_secret_create(name="receiver")
    with Receiver([]) as receiver:
        journey = _hooked(receiver.url)
        first, second = (Customer.objects.create(email=f"s{n}@ex.ie") for n in (1, 2))
        journey_enrol(journey=journey, customer_ids=[first.id])
        run_due()  # the step ran while the club could sign: a delivery is written
        written = WebhookDelivery.objects.get()
        secret.revoked_at = timezone.now()
        secret.save()
        # The delivery written before the revocation is held, not sent unsigned.
        assert webhooks_deliver(ids=[written.id]) == {
            "delivered": 0, "retry": 1, "failed": 0, "skipped": 0,
        }  # fmt: skip
        written.refresh_from_db()
        assert written.status == "PENDING" and "no active webhook secret" in written.last_error
        # A step that runs now does not run: the enrolment retries with the reason, then fails.
        journey_enrol(journey=journey, customer_ids=[second.id])
        now = timezone.now()
        run_due(now=now)
        held = Enrolment.objects.get(customer=second)
        assert (held.status, held.step, held.attempts) == ("ACTIVE", "hook", 1)
        assert "Not sent" in held.last_error and "no active webhook secret" in held.last_error
        assert WebhookDelivery.objects.count() == 1
        # A secret added in time lets both go on, signed.
        webhook_secret_create(name="new receiver")
        later = now + dt.timedelta(minutes=5)
        run_due(now=later)
        assert Enrolment.objects.get(customer=second).status == "COMPLETED"
        ids = list(WebhookDelivery.objects.values_list("id", flat=True))
        assert webhooks_deliver(ids=ids, now=later)["delivered"] == 2
        assert len(receiver.requests) == 2
        assert all("v1=" in headers["X-CRM-Signature"] for headers, _ in receiver.requests)
        # Without a secret for good, the enrolment fails with the reason after the retries.
        WebhookSecret.objects.update(revoked_at=timezone.now())
        third = Customer.objects.create(email="s3@ex.ie")
        journey_enrol(journey=journey, customer_ids=[third.id])
        for attempt in range(MAX_ATTEMPTS):
            run_due(now=later + dt.timedelta(hours=attempt + 1))
        failed = Enrolment.objects.get(customer=third)
        assert failed.status == "FAILED" and "no active webhook secret" in failed.last_error
        assert len(receiver.requests) == 2  # nothing went out unsigned
