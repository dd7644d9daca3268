"""The review before sending, from the send's own code: its counts equal what delivery then
hands a Messaging peer on 127.0.0.1; who is held back and why; when they receive it (quiet
hours in club time, with the clock pinned: the tests do not depend on the hour); the REST and
GraphQL faces, bad input, and a test send to the signed-in person's own address that enters
neither the ledger nor the statistics."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django_tenants.utils import schema_context

from campaigns.delivery.http import HttpAdapter
from campaigns.models import Send
from campaigns.review import campaign_review
from campaigns.selectors import campaign_stats
from campaigns.sending import campaign_settings, run_deliver
from campaigns.testing import MessagingPeer
from tests.conftest import STAFF_PASSWORD, error_of
from tests.test_campaigns_sending import customer, make_campaign, send_now, static_segment

TOKEN = "peer-token"
BASE = "/t/alpha-golf/api/v1/campaigns"


@pytest.fixture
def alpha(clubs) -> Iterator:
    with schema_context(clubs.alpha.schema_name):
        yield clubs.alpha


def _rules(*, cap: int = 0, quiet: bool = False) -> None:
    rules = campaign_settings()
    rules.frequency_cap = cap
    rules.quiet_hours_enabled = quiet
    rules.quiet_hours_start, rules.quiet_hours_end = dt.time(21, 0), dt.time(8, 0)
    rules.save()


def _mixed_audience():
    ok = [customer(first_name=f"Ok{n}") for n in range(6)]
    held = {
        "NO_CONSENT": customer(first_name="Nc", email_opt_in=False),
        "HARD_BOUNCED": customer(first_name="Hb", email_hard_bounced=True),
        "COMPLAINED": customer(first_name="Co", complained=True),
        "DECEASED": customer(first_name="De", membership_status="DECEASED"),
    }
    return ok, held


def test_the_review_counts_what_the_send_then_hands_over(alpha):
    _rules(cap=1)
    ok, held = _mixed_audience()
    busy = ok[0]
    everyone = [*ok, *held.values()]
    with MessagingPeer(token=TOKEN) as peer:
        adapter = HttpAdapter(base_url=peer.url, token=TOKEN)
        try:
            # `busy` already had a message this week: the cap defers theirs.
            earlier = send_now(make_campaign([static_segment("Busy", [busy])], name="Earlier"))
            run_deliver(run_id=earlier.id, adapter=adapter)
            peer.state.accepted.clear()
            campaign = make_campaign([static_segment("All", everyone)])
            review = campaign_review(campaign=campaign, start_now=True)
            run = send_now(campaign)
            run_deliver(run_id=run.id, adapter=adapter)
        finally:
            adapter.close()
    assert review["audience"] == len(everyone)
    assert review["messages"] == 6 and review["deferredByCap"] == 1
    assert {h["reason"]: h["messages"] for h in review["heldBack"]} == dict.fromkeys(held, 1)
    assert {h["label"] for h in review["heldBack"]} >= {"Not opted in on this channel",
                                                       "Deceased"}  # fmt: skip
    # What the review said goes now, went now; what it said the cap defers, was deferred.
    now_count = sum(s["messages"] for s in review["schedule"] if s["reason"] == "")
    assert now_count == len(peer.state.accepted) == 5
    capped = Send.objects.get(run=run, customer=busy)
    assert (capped.status, capped.reason) == ("DEFERRED", "CAPPED")
    ledger_held = dict(
        Send.objects.filter(run=run, status="SUPPRESSED").values_list("reason", "customer__id")
    )
    assert set(ledger_held) == set(held)
    assert review["estimatedFinish"] is not None


def test_holdout_is_held_back_as_the_plan_holds_it_out(alpha):
    _rules()
    people = [customer(first_name=f"P{n}") for n in range(40)]
    campaign = make_campaign([static_segment("All", people)], holdoutPercent=25)
    review = campaign_review(campaign=campaign, start_now=True)
    run = send_now(campaign)
    holdout = Send.objects.filter(run=run, status="HOLDOUT").count()
    assert holdout > 0
    assert {h["reason"]: h["messages"] for h in review["heldBack"]} == {"HOLDOUT": holdout}
    assert review["messages"] == 40 - holdout


def test_quiet_hours_say_when_in_club_time(alpha):
    _rules(quiet=True)
    zone = ZoneInfo(alpha.timezone or "UTC")
    # Pinned: 23:30 club time, inside the 21:00-08:00 quiet hours, whatever the hour now.
    night = dt.datetime(2026, 12, 7, 23, 30, tzinfo=zone)
    people = [customer(first_name=f"P{n}") for n in range(3)]
    campaign = make_campaign([static_segment("All", people)])
    review = campaign_review(campaign=campaign, now=night, start_now=True)
    (when,) = review["schedule"]
    assert when["label"] == "3 at 08:00 tomorrow, club time (quiet hours)"
    assert dt.datetime.fromisoformat(when["at"]) == dt.datetime(2026, 12, 8, 8, 0, tzinfo=zone)
    assert review["estimatedFinishLabel"].endswith("tomorrow, club time")
    # At 10:00 it goes now.
    day = dt.datetime(2026, 12, 8, 10, 0, tzinfo=zone)
    review = campaign_review(campaign=campaign, now=day, start_now=True)
    assert review["schedule"][0]["label"] == "3 now"


def test_a_scheduled_campaign_is_reviewed_at_its_time(alpha):
    _rules()
    zone = ZoneInfo(alpha.timezone or "UTC")
    now = dt.datetime(2026, 12, 7, 12, 0, tzinfo=zone)
    campaign = make_campaign(
        [static_segment("All", [customer()])], scheduledAt="2026-12-08T09:00"
    )  # fmt: skip
    review = campaign_review(campaign=campaign, now=now)
    assert review["startLabel"] == "at its scheduled time"
    assert review["schedule"][0]["label"] == "1 at 09:00 tomorrow, club time"


# --- REST and GraphQL ----------------------------------------------------------------------


def post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:campaigns"))


@pytest.fixture
def campaign_id(clubs):
    with schema_context(clubs.alpha.schema_name):
        _rules()
        people = [customer(first_name="Aoife"), customer(email_opt_in=False)]
        return str(make_campaign([static_segment("All", people)]).id)


def test_review_endpoint(clubs, writer, campaign_id):
    response = post(writer, f"{BASE}/{campaign_id}/review", {"sendNow": True})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["audience"], data["messages"]) == (2, 1)
    assert data["heldBack"] == [
        {"reason": "NO_CONSENT", "label": "Not opted in on this channel", "messages": 1}
    ]
    assert data["channels"][0]["label"] == "Email"
    with schema_context(clubs.alpha.schema_name):
        assert not Send.objects.exists()  # nothing written


def test_review_bad_input_names_the_field(clubs, writer, campaign_id):
    for body, field in (({"sendNow": "maybe"}, "sendNow"), ({"sendnow": True}, "sendnow")):
        response = post(writer, f"{BASE}/{campaign_id}/review", body)
        assert response.status_code == 400
        assert field in error_of(response)["details"]
    missing = post(writer, f"{BASE}/00000000-0000-0000-0000-000000000000/review")
    assert missing.status_code == 404 and error_of(missing)["code"]
    assert post(writer, f"{BASE}/not-a-uuid/review").status_code == 404


def test_review_in_another_club_is_not_found(clubs, api, make_key, campaign_id):
    bravo = api(make_key(clubs.bravo, "crm:read,crm:campaigns"))
    response = post(bravo, f"/t/bravo-golf/api/v1/campaigns/{campaign_id}/review")
    assert response.status_code == 404
    assert b"Aoife" not in response.content


def test_review_in_graphql(clubs, writer, campaign_id):
    query = '{ campaign(id: "ID") { review(sendNow: true) } }'.replace("ID", campaign_id)
    response = writer.post(
        "/t/alpha-golf/graphql", data=json.dumps({"query": query}),
        content_type="application/json",
    )  # fmt: skip
    review = response.json()["data"]["campaign"]["review"]
    assert (review["audience"], review["messages"]) == (2, 1)


def test_test_send_goes_to_the_signed_in_person_and_not_the_ledger(
    clubs, api, make_staff, campaign_id
):
    staff = api()
    with schema_context(clubs.alpha.schema_name):
        email = make_staff(clubs.alpha, "MARKETING")
        assert staff.login(username=email, password=STAFF_PASSWORD)
    with MessagingPeer() as peer, override_settings(MESSAGING_URL=peer.url):
        sent = post(staff, f"{BASE}/{campaign_id}/test-send")
        assert sent.status_code == 200, sent.content
        assert sent.json()["data"][0]["address"] == email
        (request,) = peer.state.accepted.values()
        # GraphQL's mutation does the same.
        mutation = """mutation($id: UUID!) { testSendCampaign(id: $id) { results
                      errors { field message } } }"""  # fmt: skip
        answer = staff.post(
            "/t/alpha-golf/graphql",
            data=json.dumps({"query": mutation, "variables": {"id": campaign_id}}),
            content_type="application/json",
        ).json()["data"]["testSendCampaign"]
        assert answer["errors"] == [] and answer["results"][0]["address"] == email
        assert len(peer.state.accepted) == 2
    assert request["to"]["email"] == email and request["metadata"]["test"] is True
    with schema_context(clubs.alpha.schema_name):
        assert not Send.objects.exists()
        from campaigns.models import Campaign

        stats = campaign_stats(campaign=Campaign.objects.get(pk=campaign_id))
        assert stats["total"]["targeted"] == 0
    bad = post(staff, f"{BASE}/{campaign_id}/test-send", {"variant": "Z"})
    assert bad.status_code == 400 and "variant" in error_of(bad)["details"]


def test_a_draft_with_no_audience_yet_reviews_as_nobody(clubs, writer):
    created = post(writer, BASE, {"name": "Draft"}).json()["data"]
    response = post(writer, f"{BASE}/{created['id']}/review")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["audience"] == 0
