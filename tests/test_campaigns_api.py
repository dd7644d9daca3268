"""Campaign endpoints of segments.md (REST and GraphQL): shapes, validation errors by field,
the `crm:campaigns` scope, 409 for refused state changes, the campaign-send rate limit,
preview and test send, and an unsubscribe link that only works in its own club."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.models import Campaign, CampaignRun, Send
from campaigns.sending import unsubscribe_url
from campaigns.testing import MessagingPeer
from tests.conftest import error_of
from tests.test_campaigns_sending import customer, static_segment

BASE = "/t/alpha-golf/api/v1/campaigns"


@pytest.fixture
def segment(clubs):
    with schema_context(clubs.alpha.schema_name):
        return static_segment("Members", [customer(first_name="Aoife"), customer()])


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:campaigns"))


def body(segment, **extra) -> dict:
    return {
        "name": "Winter Stableford",
        "type": "ONE_TIME",
        "channels": ["EMAIL", "SMS"],
        "audience": {"include": [str(segment.id)], "exclude": []},
        "templates": {"EMAIL": "tournament_invite", "SMS": "tournament_sms"},
        "content": {"subject": "Entries open"},
        "variants": [{"key": "A", "weight": 50, "content": {"subject": "Entries open"}},
                     {"key": "B", "weight": 50, "content": {"subject": "Last call"}}],
        "holdoutPercent": 10,
        **extra,
    }  # fmt: skip


def post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def test_create_read_list_and_patch(clubs, writer, segment):
    response = post(writer, BASE, body(segment, scheduledAt="2030-01-15T09:00"))
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["status"] == "DRAFT" and data["type"] == "ONE_TIME"
    assert data["channels"] == ["EMAIL", "SMS"]
    assert data["audience"] == {"include": [str(segment.id)], "exclude": []}
    assert [v["key"] for v in data["variants"]] == ["A", "B"]
    assert data["holdoutPercent"] == 10
    # No offset: the club's own time (Europe/Dublin, GMT in January).
    assert data["scheduledAt"] == "2030-01-15T09:00:00Z"
    campaign_id = data["id"]

    listed = writer.get(BASE).json()
    assert listed["meta"]["total"] == 1 and listed["data"][0]["id"] == campaign_id
    patched = writer.patch(
        f"{BASE}/{campaign_id}", data=json.dumps({"name": "Winter Stableford 2030"}),
        content_type="application/json",
    )  # fmt: skip
    assert patched.status_code == 200 and patched.json()["data"]["name"] == "Winter Stableford 2030"
    assert writer.get(f"{BASE}/{campaign_id}").json()["data"]["status"] == "DRAFT"


def test_bad_input_names_each_field(clubs, writer, segment):
    response = post(
        writer,
        BASE,
        body(
            segment,
            channels=["EMAIL", "FAX"],
            audience={"include": ["not-a-uuid", "00000000-0000-0000-0000-000000000000"]},
            recurrence="every monday",
            variants=[{"key": "A", "weight": 0}, {"key": "A", "weight": 50},
                      {"key": "C"}, {"key": "D"}, {"key": "B"}],
            holdoutPercent=80,
        ),
    )  # fmt: skip
    assert response.status_code == 400
    details = error_of(response)["details"]
    assert details == {"channels[1]": ['"FAX" is not a valid choice.']}
    service = post(
        writer,
        BASE,
        body(segment, audience={"include": ["not-a-uuid", "00000000-0000-0000-0000-000000000000"]},
             recurrence="every monday", holdoutPercent=80,
             variants=[{"key": "A", "weight": 0}, {"key": "A", "weight": 50}, {"key": "C"},
                       {"key": "D"}, {"key": "B"}]),
    )  # fmt: skip
    details = error_of(service)["details"]
    assert details["audience.include[0]"] == ["Not a segment id."]
    assert details["audience.include[1]"] == ["No segment with this id in this club."]
    assert "recurrence" in details
    assert details["holdoutPercent"] == ["Between 0 and 50."]
    assert details["variants"] == ["At most 4 variants."]
    assert details["variants[0].weight"] == ["A whole number from 1 to 100."]
    assert details["variants[1].key"] == ["Variant A appears twice."]


def test_an_unknown_trigger_event_is_refused_on_its_field(clubs, writer, segment):
    """A trigger must name an event the club receives (the composer offers a list; the API
    takes any text): a typo is refused naming the field, and nothing is made."""
    with schema_context(clubs.alpha.schema_name):
        before = Campaign.objects.count()
    refused = post(
        writer, BASE,
        body(segment, type="TRIGGERED", trigger={"eventType": "teetime.booking.complete"}),
    )  # fmt: skip
    assert refused.status_code == 400
    details = error_of(refused)["details"]
    assert list(details) == ["trigger.eventType"]
    assert (
        "'teetime.booking.complete' is not an event the club receives"
        in details["trigger.eventType"][0]
    )
    with schema_context(clubs.alpha.schema_name):
        assert Campaign.objects.count() == before
    # A producer's alias reads as the catalogue's name.
    made = post(
        writer, BASE, body(segment, type="TRIGGERED", trigger={"eventType": "teetime.completed"})
    )
    assert made.status_code == 201, made.content
    assert made.json()["data"]["trigger"]["eventType"] == "teetime.booking.completed"


def test_writes_need_the_campaigns_scope(clubs, api, make_key, segment):
    reader = api(make_key(clubs.alpha, "crm:read,crm:write"))
    response = post(reader, BASE, body(segment))
    assert response.status_code == 403
    assert reader.get(BASE).status_code == 200


def test_state_changes_and_409_with_the_reason(clubs, writer, segment):
    campaign_id = post(writer, BASE, body(segment)).json()["data"]["id"]
    refused = post(writer, f"{BASE}/{campaign_id}/pause")
    assert refused.status_code == 409
    error = error_of(refused)
    assert error["code"] == "invalid_state"
    assert error["message"] == (
        "Cannot pause a DRAFT campaign; pause applies to SCHEDULED or SENDING campaigns."
    )
    # Scheduling a ONE_TIME campaign needs its time (a 400 naming the field, not a 409).
    missing = post(writer, f"{BASE}/{campaign_id}/schedule")
    assert missing.status_code == 400 and "scheduledAt" in error_of(missing)["details"]

    sent = post(writer, f"{BASE}/{campaign_id}/send")
    assert sent.status_code == 200 and sent.json()["data"]["status"] == "SENDING"
    again = post(writer, f"{BASE}/{campaign_id}/send")
    assert again.status_code == 409
    paused = post(writer, f"{BASE}/{campaign_id}/pause")
    assert paused.json()["data"]["status"] == "PAUSED"
    assert post(writer, f"{BASE}/{campaign_id}/resume").json()["data"]["status"] == "SENDING"
    edit = writer.patch(f"{BASE}/{campaign_id}", data='{"name": "x"}',
                        content_type="application/json")  # fmt: skip
    assert edit.status_code == 409
    assert post(writer, f"{BASE}/{campaign_id}/cancel").json()["data"]["status"] == "CANCELLED"
    assert post(writer, f"{BASE}/{campaign_id}/cancel").status_code == 409


def test_unknown_campaign_is_404(clubs, writer):
    assert writer.get(f"{BASE}/6f0e3f5e-1111-4b3f-9a52-6a1c3c0f4b21").status_code == 404
    assert writer.get(f"{BASE}/nope/stats").status_code == 404


def test_stats_shape(clubs, writer, segment):
    campaign_id = post(writer, BASE, body(segment)).json()["data"]["id"]
    stats = writer.get(f"{BASE}/{campaign_id}/stats")
    assert stats.status_code == 200
    data = stats.json()["data"]
    assert set(data["total"]) >= {
        "targeted", "sent", "delivered", "opened", "clicked", "bounced", "complained",
        "unsubscribed", "converted", "suppressed", "rates",
    }  # fmt: skip
    assert data["variants"] == [] and data["lift"] is None


def test_sends_are_rate_limited_per_key(clubs, writer, segment):
    campaign_id = post(writer, BASE, body(segment)).json()["data"]["id"]
    if time.time() % 60 > 50:  # the limit counts per minute: stay inside one window
        time.sleep(61 - time.time() % 60)
    answers = [post(writer, f"{BASE}/{campaign_id}/send").status_code for _ in range(11)]
    assert answers[0] == 200 and set(answers[1:10]) == {409} and answers[10] == 429


def test_preview_and_test_send(clubs, writer, segment):
    with schema_context(clubs.alpha.schema_name):
        aoife = customer(first_name="Aoife", membership_tier="FULL", email_opt_in=False)
    campaign_id = post(writer, BASE, body(segment, fallbacks={"membershipTier": "Member"})).json()[
        "data"
    ]["id"]
    preview = post(
        writer, f"{BASE}/{campaign_id}/preview",
        {"customerId": str(aoife.id), "channel": "EMAIL", "variant": "B"},
    )  # fmt: skip
    assert preview.status_code == 200, preview.content
    data = preview.json()["data"]
    assert data["request"]["variables"]["firstName"] == "Aoife"
    assert data["request"]["variables"]["membershipTier"] == "FULL"
    assert data["request"]["content"]["subject"] == "Last call"
    assert data["suppressedBecause"] == "NO_CONSENT"
    assert data["email"]["subject"] == "Last call"

    with MessagingPeer() as peer, override_settings(MESSAGING_URL=peer.url):
        sent = post(writer, f"{BASE}/{campaign_id}/test-send",
                    {"addresses": ["pro@alpha.example"], "customerId": str(aoife.id)})  # fmt: skip
        assert sent.status_code == 200, sent.content
        assert sent.json()["data"][0]["outcome"] == "accepted"
        (request,) = peer.state.accepted.values()
    assert request["to"]["email"] == "pro@alpha.example"
    assert request["metadata"]["test"] is True
    with schema_context(clubs.alpha.schema_name):
        assert not Send.objects.exists()
    bad = post(writer, f"{BASE}/{campaign_id}/test-send", {"addresses": ["not-an-email"]})
    assert bad.status_code == 400 and "addresses[0]" in error_of(bad)["details"]


def test_an_unsubscribe_link_only_works_in_its_own_club(clubs, client):
    with schema_context(clubs.alpha.schema_name):
        person = customer()
        campaign = Campaign.objects.create(name="A", channels=["EMAIL"])
        run = CampaignRun.objects.create(campaign=campaign, key="once", status="SENDING")
        send = Send.objects.create(
            run=run, campaign=campaign, customer=person, channel="EMAIL", status="ACCEPTED",
            created_at=timezone.now(),
        )  # fmt: skip
    token = unsubscribe_url(base_url="", tenant_id="", send_id=str(send.id)).rsplit("/", 1)[1]
    for ref in ("bravo-golf", str(clubs.bravo.id)):
        response = client.post(f"/t/{ref}/unsubscribe/{token}")
        assert response.status_code == 404
        assert b"Alpha" not in response.content and b"Bravo" not in response.content
    with schema_context(clubs.alpha.schema_name):
        person.refresh_from_db()
        assert person.email_opt_in


# --- GraphQL -----------------------------------------------------------------------------------


def gql(client, query: str, variables: dict | None = None) -> dict:
    response = client.post(
        "/t/alpha-golf/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


CREATE = """mutation($input: CampaignInput!) { createCampaign(input: $input) {
  campaign { id status priority audience { include } variants { key weight } }
  errors { field message code } } }"""


def test_graphql_create_send_and_refusal(clubs, writer, segment):
    created = gql(writer, CREATE, {"input": body(segment, priority="HIGH")})["data"]
    campaign = created["createCampaign"]["campaign"]
    assert created["createCampaign"]["errors"] == []
    assert campaign["status"] == "DRAFT" and campaign["priority"] == "HIGH"
    assert campaign["audience"]["include"] == [str(segment.id)]
    bad = gql(writer, CREATE, {"input": {"name": ""}})["data"]["createCampaign"]
    assert bad["campaign"] is None and bad["errors"][0]["field"] == "name"

    send = """mutation($id: UUID!) { sendCampaign(id: $id) { campaign { status }
              errors { message code } } }"""  # fmt: skip
    first = gql(writer, send, {"id": campaign["id"]})["data"]["sendCampaign"]
    assert first == {"campaign": {"status": "SENDING"}, "errors": []}
    second = gql(writer, send, {"id": campaign["id"]})["data"]["sendCampaign"]
    assert second["campaign"] is None and second["errors"][0]["code"] == "invalid_state"

    query = '{ campaigns { name status stats } campaign(id: "ID") { name } }'
    read = gql(writer, query.replace("ID", campaign["id"]))["data"]
    assert read["campaigns"][0]["status"] == "SENDING"
    assert read["campaigns"][0]["stats"]["total"]["targeted"] == 0  # not planned yet


def test_graphql_refuses_misnamed_campaign_fields_as_rest_does(clubs, writer, segment):
    """GraphQL's campaign input is typed (issue 19): a misspelt field is refused by the schema,
    naming it and its path, before anything runs; never dropped."""
    for sent, named in (
        ({**body(segment), "scheduledat": "2030-01-01T09:00"}, "'scheduledat'"),
        ({**body(segment), "audience": {"inclde": [str(segment.id)]}}, "'inclde'"),
    ):
        response = writer.post(
            "/t/alpha-golf/graphql",
            data=json.dumps({"query": CREATE, "variables": {"input": sent}}),
            content_type="application/json",
        )
        assert response.status_code == 400, response.content
        assert error_of(response)["code"] == "graphql_invalid"
        assert f"Field {named} is not defined" in error_of(response)["message"]
    with schema_context(clubs.alpha.schema_name):
        assert not Campaign.objects.exists()


def test_graphql_writes_need_the_campaigns_scope(clubs, api, make_key, segment):
    client = api(make_key(clubs.alpha, "crm:read,crm:write"))
    answer = gql(client, CREATE, {"input": body(segment)})
    assert answer["errors"][0]["extensions"]["code"] == "permission_denied"


def test_schedule_in_the_past_is_refused(clubs, writer, segment):
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    campaign_id = post(writer, BASE, body(segment, scheduledAt=past)).json()["data"]["id"]
    response = post(writer, f"{BASE}/{campaign_id}/schedule")
    assert response.status_code == 400
    assert "scheduledAt" in error_of(response)["details"]


def test_the_list_costs_the_same_queries_for_more_campaigns(clubs, writer, segment):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def listed() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = writer.get(BASE)
        assert response.status_code == 200
        return len(queries)

    for _ in range(2):
        post(writer, BASE, body(segment))
    few = listed()
    for _ in range(5):
        post(writer, BASE, body(segment))
    assert listed() == few


def test_the_service_input_keeps_not_given_apart_from_empty(clubs, segment):
    """`CampaignInput`: a field left UNSET is not changed, an empty one empties it, and a
    misnamed field cannot be passed at all (issue 19)."""
    from campaigns.services import AudienceInput, CampaignInput, campaign_create, campaign_update

    with pytest.raises(TypeError):
        CampaignInput(subjet="Entries open")  # type: ignore[call-arg]
    with schema_context(clubs.alpha.schema_name):
        campaign = campaign_create(
            data=CampaignInput(
                name="Winter Stableford", description="Members only", topic="competition:7",
                audience=AudienceInput(include=[str(segment.id)]),
            )
        )  # fmt: skip
        campaign = campaign_update(campaign=campaign, data=CampaignInput(name="Spring"))
        assert (campaign.name, campaign.description, campaign.topic) == (
            "Spring", "Members only", "competition:7",
        )  # fmt: skip
        assert list(campaign.include_segments.all()) == [segment]
        campaign = campaign_update(
            campaign=campaign,
            data=CampaignInput(description="", topic="", audience=AudienceInput()),
        )
        assert (campaign.name, campaign.description, campaign.topic) == ("Spring", "", "")
        assert not campaign.include_segments.exists()
