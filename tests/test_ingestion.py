"""POST /t/<tenant>/api/v1/events: per-event answers, durable storage, the transports."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django_tenants.utils import schema_context

from crm.accounts.services import webhook_secret_create
from profiles.models import Activity, EventStatus, RawEvent
from tests.conftest import error_of
from tests.events import envelope, member, player

URL = "/t/alpha-golf/api/v1/events"


def _stored(clubs) -> int:
    with schema_context(clubs.alpha.schema_name):
        return RawEvent.objects.count()


def test_each_event_is_answered_in_order(clubs, ingest):
    good = member(1, email="a@example.ie")
    results = ingest(
        [
            good,
            good,  # the same event twice in one batch
            envelope("scl.member.created", {"memberId": 2, "email": "not-an-email"}),
            envelope(
                "teetime.player.created",
                {"playerId": "p1"},
                tenantId="00000000-0000-0000-0000-000000000000",
            ),
        ]
    )
    assert [r["status"] for r in results] == ["accepted", "duplicate", "rejected", "rejected"]
    assert results[2]["errors"] == {"payload.email": ["Enter a valid email address."]}
    assert results[3]["errors"] == {"tenantId": ["Names another tenant than this endpoint's."]}
    assert ingest([good])[0]["status"] == "duplicate"  # again, later: still one event


def test_one_bad_event_in_a_thousand_rejects_one(clubs, ingest):
    events = [player(f"p{i}", email=f"g{i}@example.ie") for i in range(1000)]
    events[500]["payload"]["handicapIndex"] = "a lot"
    results = ingest(events, apply=False)
    assert sum(r["status"] == "accepted" for r in results) == 999
    assert results[500] == {
        "id": events[500]["id"],
        "status": "rejected",
        "errors": {"payload.handicapIndex": ["Must be a number."]},
    }
    assert _stored(clubs) == 999


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update(source="pos"), "source"),
        (lambda e: e.update(timestamp="2026-06-01T09:00:00"), "timestamp"),
        (lambda e: e.pop("tenantSlug"), "tenantId"),
        (lambda e: e.update(tenantSlug="bravo-golf"), "tenantSlug"),
        (lambda e: e["identity"].update(phoneNumber="call me"), "identity.phoneNumber"),
        (lambda e: e.update(payload=[1, 2]), "payload"),
        (lambda e: e["payload"].pop("memberId"), "payload.memberId"),
        (lambda e: e["payload"].update(tier="gold"), "payload.tier"),
        (lambda e: e["payload"].update(status="ALIVE"), "payload.status"),
    ],
)
def test_bad_envelopes_name_the_field(clubs, ingest, mutate, path):
    event = member(7)
    mutate(event)
    result = ingest([event], apply=False)[0]
    assert result["status"] == "rejected"
    assert path in result["errors"], result["errors"]


def test_unknown_type_and_version_are_kept_and_shown(clubs, ingest):
    results = ingest(
        [
            member(1),
            envelope("scl.locker.assigned", {"locker": 12}, identity={"sclMemberId": 1}, at=1),
            {**member(1, at=2), "version": 2},
        ]
    )
    assert [r["status"] for r in results] == ["accepted"] * 3
    assert "Unknown event type" in results[1]["warnings"][0]
    assert "Unknown version 2" in results[2]["warnings"][0]
    with schema_context(clubs.alpha.schema_name):
        assert RawEvent.objects.filter(status=EventStatus.UNKNOWN).count() == 2
        titles = set(Activity.objects.values_list("title", flat=True))
    assert "Unrecognised event scl.locker.assigned (v1)" in titles


def test_producer_aliases_read_as_catalogue_names(clubs, ingest):
    ingest(
        [
            player("p1"),
            envelope("teetime.booked", {"bookingId": "b1", "playerId": "p1", "holes": 9}, at=1),
            envelope(
                "email.opened", {"contactId": "c1", "messageId": "m1"}, source="messaging", at=2
            ),
        ]
    )
    with schema_context(clubs.alpha.schema_name):
        types = set(RawEvent.objects.values_list("type", flat=True))
    assert types == {"teetime.player.created", "teetime.booking.created", "messaging.email.opened"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        (json.dumps([1, 2]), 400, "validation_error"),
        (json.dumps({"events": []}), 400, "validation_error"),
        (json.dumps({"events": "x"}), 400, "validation_error"),
        (json.dumps({"events": [{}] * 1001}), 413, "too_many_events"),
    ],
)
def test_a_malformed_batch_stores_nothing(clubs, api, make_key, body, status, code):
    response = api(make_key(clubs.alpha, "events:write")).post(
        URL, data=body, content_type="application/json"
    )
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert _stored(clubs) == 0


def test_ingestion_needs_events_write(clubs, api, make_key):
    response = api(make_key(clubs.alpha, "crm:read,crm:write")).post(
        URL, data={"events": [member(1)]}, content_type="application/json"
    )
    assert response.status_code == 403


def test_another_clubs_key_cannot_post_events(clubs, api, make_key):
    for ref in ("bravo-golf", str(clubs.bravo.id)):
        response = api(make_key(clubs.alpha, "events:write")).post(
            f"/t/{ref}/api/v1/events", data={"events": [member(1)]}, content_type="application/json"
        )
        assert response.status_code == 401
    with schema_context(clubs.bravo.schema_name):
        assert RawEvent.objects.count() == 0


def _sign(secret: str, body: bytes, stamp: int | None = None) -> str:
    stamp = int(time.time()) if stamp is None else stamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


@pytest.fixture
def webhook_secret(clubs) -> str:
    with schema_context(clubs.alpha.schema_name):
        return webhook_secret_create(name="teetime")[1]


def test_signed_webhook_single_envelope(clubs, api, webhook_secret):
    body = json.dumps(member(5)).encode()
    response = api().post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_CRM_SIGNATURE=_sign(webhook_secret, body),
    )
    assert response.status_code == 200
    assert response.json()["data"][0]["status"] == "accepted"
    with schema_context(clubs.alpha.schema_name):
        assert RawEvent.objects.get().transport == "webhook"


def test_signature_rotation_accepts_any_matching_v1(clubs, api, webhook_secret):
    body = json.dumps(member(6)).encode()
    header = _sign("whsec_old-and-gone", body) + "," + _sign(webhook_secret, body).split(",")[1]
    response = api().post(
        URL, data=body, content_type="application/json", HTTP_X_CRM_SIGNATURE=header
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=123",
        "v1=abc",
        "t=1,v1=" + "0" * 64,  # 1970: outside the 300 s window
    ],
)
def test_bad_signatures_are_401(clubs, api, webhook_secret, header):
    body = json.dumps(member(5)).encode()
    response = api().post(
        URL, data=body, content_type="application/json", HTTP_X_CRM_SIGNATURE=header
    )
    assert response.status_code == 401
    assert _stored(clubs) == 0


def test_tampered_body_or_stale_signature_is_401(clubs, api, webhook_secret):
    body = json.dumps(member(5)).encode()
    header = _sign(webhook_secret, body)
    tampered = body.replace(b"Aoife", b"Eve")
    assert (
        api()
        .post(URL, data=tampered, content_type="application/json", HTTP_X_CRM_SIGNATURE=header)
        .status_code
        == 401
    )
    stale = _sign(webhook_secret, body, stamp=int(time.time()) - 301)
    response = api().post(
        URL, data=body, content_type="application/json", HTTP_X_CRM_SIGNATURE=stale
    )
    assert response.status_code == 401
    assert "300 s" in error_of(response)["message"]


def test_another_clubs_secret_does_not_sign_for_this_club(clubs, api):
    with schema_context(clubs.bravo.schema_name):
        bravo_secret = webhook_secret_create(name="teetime")[1]
    body = json.dumps(member(5)).encode()
    response = api().post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_CRM_SIGNATURE=_sign(bravo_secret, body),
    )
    assert response.status_code == 401


def test_a_failing_event_is_retried_then_parked_without_blocking_others(clubs, ingest, apply_all):
    ingest([member(1), member(2, at=1)], apply=False)
    with schema_context(clubs.alpha.schema_name):
        broken = RawEvent.objects.get(event_id=RawEvent.objects.order_by("id").first().event_id)
        broken.envelope = {**broken.envelope, "timestamp": "yesterday"}  # no longer valid
        broken.save()
    apply_all()
    with schema_context(clubs.alpha.schema_name):
        broken.refresh_from_db()
        assert broken.status == EventStatus.PARKED
        assert broken.attempts == 3
        assert "no longer validates" in broken.last_error
        assert RawEvent.objects.filter(status=EventStatus.APPLIED).count() == 1


def test_a_burst_of_requests_queues_one_apply_task_until_it_starts(
    clubs, api, make_key, ingest, django_capture_on_commit_callbacks
):
    """A club sending many requests a second queues one apply task, not one per request: the
    task clears the club's flag as it starts, so what arrives after that queues the next."""
    import redis
    from django.conf import settings
    from django.core.cache import cache

    from profiles.ingestion import APPLY_QUEUED_KEY
    from profiles.tasks import apply_pending_events

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = settings.CELERY_TASK_ROUTES["profiles.apply_pending_events"]["queue"]
    for club in (clubs.alpha, clubs.bravo):
        with schema_context(club.schema_name):
            cache.delete(APPLY_QUEUED_KEY)
    broker.delete(queue)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(5):
                ingest([member(100 + n, email=f"burst{n}@example.ie")], apply=False)
        assert broker.llen(queue) == 1
        # Another club's flag is its own: its first request queues its own task.
        bravo = api(make_key(clubs.bravo, "events:write"))
        with django_capture_on_commit_callbacks(execute=True):
            response = bravo.post(
                f"/t/{clubs.bravo.slug}/api/v1/events",
                data={"events": [{**member(300), "tenantSlug": clubs.bravo.slug}]},
                content_type="application/json",
            )
        assert response.json()["data"][0]["status"] == "accepted", response.content
        assert broker.llen(queue) == 2
        # The queued task starts (here, in alpha's schema, as the worker would) and applies all
        # five; a request after that queues the next task.
        with schema_context(clubs.alpha.schema_name):
            assert apply_pending_events() == 5
            assert not RawEvent.objects.filter(status=EventStatus.PENDING).exists()
        with django_capture_on_commit_callbacks(execute=True):
            ingest([member(200, email="after@example.ie")], apply=False)
        assert broker.llen(queue) == 3
    finally:
        broker.delete(queue)
        for club in (clubs.alpha, clubs.bravo):
            with schema_context(club.schema_name):
                cache.delete(APPLY_QUEUED_KEY)
