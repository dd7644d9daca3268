"""Typed GraphQL inputs (issue 19): createCampaign / updateCampaign, journeyCreate /
journeyUpdate and updateTeeSheetSettings take input types mirroring REST's bodies. The schema
refuses unknown fields and wrong types, naming them and their path; what REST's serializer and
the services check beyond types comes back in `errors` by field; an update changes only the
fields given; another club's id is `not_found`; GraphiQL documents every field."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context

from campaigns.models import Campaign
from journeys.models import Journey
from tests.conftest import error_of
from tests.test_campaigns_sending import customer, static_segment
from tests.test_journeys_api import definition

URL = "/t/alpha-golf/graphql"
ERRORS = "errors { field message code }"
CAMPAIGN = (
    "campaign { id name type channels priority audience { include exclude } "
    "variants { key weight sendAt } holdoutPercent scheduledAt conversionWindowDays "
    "triggerEventType templates topic }"
)
CREATE = (
    "mutation($input: CampaignInput!) { createCampaign(input: $input) "
    f"{{ {CAMPAIGN} {ERRORS} }} }}"
)
UPDATE = (
    "mutation($id: UUID!, $input: CampaignInput!) { updateCampaign(id: $id, input: $input) "
    f"{{ {CAMPAIGN} {ERRORS} }} }}"
)
JOURNEY = "journey { id name description templateKey definition }"
JOURNEY_CREATE = (
    f"mutation($input: JourneyInput!) {{ journeyCreate(input: $input) {{ {JOURNEY} {ERRORS} }} }}"
)
JOURNEY_UPDATE = (
    "mutation($id: UUID!, $input: JourneyInput!) { journeyUpdate(id: $id, input: $input) "
    f"{{ {JOURNEY} {ERRORS} }} }}"
)


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:campaigns"))


@pytest.fixture
def segment(clubs):
    with schema_context(clubs.alpha.schema_name):
        return static_segment("Members", [customer(first_name="Aoife")])


def post(client, query: str, variables: dict | None = None, url: str = URL):
    return client.post(
        url,
        data=json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
    )


def gql(client, query: str, **variables) -> dict:
    response = post(client, query, variables)
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def campaign_body(segment, **extra) -> dict:
    return {
        "name": "Winter Stableford",
        "type": "ONE_TIME",
        "channels": ["EMAIL", "SMS"],
        "audience": {"include": [str(segment.id)], "exclude": []},
        "templates": {"EMAIL": "tournament_invite", "SMS": "tournament_sms"},
        "content": {"subject": "Entries open"},
        "priority": "HIGH",
        "scheduledAt": "2030-01-15T09:00",
        "variants": [{"key": "A", "weight": 30, "content": {"subject": "Entries open"}},
                     {"key": "B", "weight": 70, "templates": {"EMAIL": "tournament_b"}}],
        "holdoutPercent": 12.5,
        "conversionWindowDays": 10,
        **extra,
    }  # fmt: skip


def literal(client, value: str) -> dict:
    """createCampaign with its input written in the query, refused by GraphQL's validation."""
    query = f"mutation {{ createCampaign(input: {value}) {{ {ERRORS} }} }}"
    return refused_by_schema(post(client, query), code="graphql_validation_failed")


def refused_by_schema(response, code: str = "graphql_invalid") -> dict:
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == code, error
    return error


# --- the schema refuses ------------------------------------------------------------------------


def test_an_unknown_field_is_refused_naming_it(clubs, writer, segment):
    # In variables (what programs send): refused before the mutation runs, the field named.
    for sent, named in (
        ({**campaign_body(segment), "scheduled_at": "2030-01-15T09:00"}, "'scheduled_at'"),
        ({**campaign_body(segment), "trigger": {"eventType": "x", "filter": {}}}, "'filter'"),
    ):
        error = refused_by_schema(post(writer, CREATE, {"input": sent}))
        assert f"Field {named} is not defined" in error["message"], error
    error = refused_by_schema(post(writer, JOURNEY_CREATE, {"input": {"name": "W", "colour": 1}}))
    assert "Field 'colour' is not defined by type 'JourneyInput'" in error["message"]
    # Written in the query (GraphiQL): named, and where it was written.
    error = literal(writer, '{name: "W", sendNow: true}')
    assert "Field 'sendNow' is not defined by type 'CampaignInput'" in error["message"]
    assert error["details"]["errors"][0]["extensions"]["field"] == "input.sendNow"
    with schema_context(clubs.alpha.schema_name):
        assert not Campaign.objects.exists() and not Journey.objects.exists()


def test_a_wrong_type_is_refused_naming_the_field(clubs, writer, segment):
    for field, value, path in (
        ("winnerAfterHours", "soon", "input.winnerAfterHours"),
        ("scheduledAt", "next Tuesday", "input.scheduledAt"),
        ("channels", ["FAX"], "input.channels[0]"),
        ("priority", 3, "input.priority"),
        ("name", 42, "input.name"),
    ):
        error = refused_by_schema(post(writer, CREATE, {"input": {"name": "W", field: value}}))
        assert f"at '{path}'" in error["message"], (field, error)
    error = literal(writer, '{name: "W", holdoutPercent: "ten"}')
    assert error["details"]["errors"][0]["extensions"]["field"] == "input.holdoutPercent"
    with schema_context(clubs.alpha.schema_name):
        assert not Campaign.objects.exists()


def test_a_nested_bad_value_is_refused_naming_its_path(clubs, writer, segment):
    nested = campaign_body(segment)
    nested["variants"][1]["weight"] = "lots"
    error = refused_by_schema(post(writer, CREATE, {"input": nested}))
    assert "at 'input.variants[1].weight'" in error["message"], error
    nested = campaign_body(segment, audience={"include": ["not-a-uuid"]})
    error = refused_by_schema(post(writer, CREATE, {"input": nested}))
    assert "at 'input.audience.include[0]'" in error["message"], error
    nested = campaign_body(segment, templates={"EMAIL": "x", "FAX": "y"})
    error = refused_by_schema(post(writer, CREATE, {"input": nested}))
    assert "Field 'FAX' is not defined by type 'CampaignTemplatesInput'" in error["message"]
    keyed = literal(writer, '{name: "W", variants: [{key: A}, {key: E}]}')
    assert keyed["details"]["errors"][0]["extensions"]["field"] == "input.variants[1].key"
    missing = literal(writer, '{name: "W", trigger: {filters: {}}}')
    assert "CampaignTriggerInput.eventType" in missing["message"]
    assert missing["details"]["errors"][0]["extensions"]["field"] == "input.trigger"
    with schema_context(clubs.alpha.schema_name):
        assert not Campaign.objects.exists()


# --- REST's rules, in errors by field ----------------------------------------------------------


def test_rules_beyond_types_come_back_by_field(clubs, writer, segment):
    with schema_context(clubs.bravo.schema_name):
        elsewhere = static_segment("Bravo members", [customer(first_name="Brid")])
    cases = (
        ({"description": "no name"}, "name"),  # create needs a name (the service)
        ({"name": None}, "name"),  # not null (REST's serializer)
        ({"name": "x" * 201}, "name"),  # REST's serializer's length
        ({"name": "W", "topic": "t" * 121}, "topic"),
        ({"name": "W", "recurrence": "every day"}, "recurrence"),  # the cron (the service)
        ({"name": "W", "holdoutPercent": 80}, "holdoutPercent"),
        ({"name": "W", "audience": {"include": [str(elsewhere.id)]}}, "audience.include[0]"),
        ({"name": "W", "variants": [{"weight": 500}]}, "variants[0].weight"),
        ({"name": "W", "variants": [{"key": "A"}, {"key": "A"}]}, "variants[1].key"),
        ({"name": "W", "trigger": {"eventType": "no.such.event"}}, "trigger.eventType"),
        ({"name": "W", "templates": {"EMAIL": None}}, "templates.EMAIL"),
    )
    for sent, field in cases:
        answer = gql(writer, CREATE, input=sent)["createCampaign"]
        assert answer["campaign"] is None, sent
        assert [e["field"] for e in answer["errors"]] == [field], (sent, answer["errors"])
        assert {e["code"] for e in answer["errors"]} == {"invalid"}
    with schema_context(clubs.alpha.schema_name):
        assert not Campaign.objects.exists()


def test_create_builds_the_same_campaign_as_rest(clubs, writer, segment):
    created = gql(writer, CREATE, input=campaign_body(segment))["createCampaign"]
    assert created["errors"] == [], created
    campaign = created["campaign"]
    assert campaign["type"] == "ONE_TIME" and campaign["priority"] == "HIGH"
    assert campaign["channels"] == ["EMAIL", "SMS"]
    assert campaign["audience"] == {"include": [str(segment.id)], "exclude": []}
    assert [(v["key"], v["weight"]) for v in campaign["variants"]] == [("A", 30), ("B", 70)]
    assert campaign["holdoutPercent"] == 12.5 and campaign["conversionWindowDays"] == 10
    # No offset: the club's own time (Europe/Dublin, GMT in January).
    assert campaign["scheduledAt"].startswith("2030-01-15T09:00:00")
    rest = writer.get(f"/t/alpha-golf/api/v1/campaigns/{campaign['id']}").json()["data"]
    assert rest["variants"][1]["templates"] == {"EMAIL": "tournament_b"}
    assert rest["templates"] == {"EMAIL": "tournament_invite", "SMS": "tournament_sms"}


# --- partial update ----------------------------------------------------------------------------


def test_an_update_changes_only_the_fields_given(clubs, writer, segment):
    created = gql(writer, CREATE, input=campaign_body(segment))["createCampaign"]["campaign"]
    renamed = gql(writer, UPDATE, id=created["id"], input={"name": "Spring Stableford"})
    answer = renamed["updateCampaign"]
    assert answer["errors"] == []
    assert answer["campaign"] == {**created, "name": "Spring Stableford"}

    cleared = gql(
        writer, UPDATE, id=created["id"],
        input={"scheduledAt": None, "conversionWindowDays": None, "variants": []},
    )["updateCampaign"]  # fmt: skip
    assert cleared["errors"] == []
    assert cleared["campaign"]["scheduledAt"] is None
    assert cleared["campaign"]["conversionWindowDays"] is None
    assert cleared["campaign"]["variants"] == []
    assert cleared["campaign"]["audience"] == created["audience"]
    assert cleared["campaign"]["name"] == "Spring Stableford"

    triggered = gql(
        writer, UPDATE, id=created["id"],
        input={"type": "TRIGGERED", "trigger": {"eventType": "teetime.booking.completed"}},
    )["updateCampaign"]  # fmt: skip
    assert triggered["errors"] == []
    assert triggered["campaign"]["triggerEventType"] == "teetime.booking.completed"
    # A trigger cannot be null, in REST's body either: refused by name, nothing changed.
    untriggered = gql(writer, UPDATE, id=created["id"], input={"trigger": None})
    assert [e["field"] for e in untriggered["updateCampaign"]["errors"]] == ["trigger"]
    with schema_context(clubs.alpha.schema_name):
        row = Campaign.objects.get(id=created["id"])
        assert row.trigger_event_type == "teetime.booking.completed"
        assert row.name == "Spring Stableford" and row.scheduled_at is None


def test_a_journey_update_changes_only_the_fields_given(clubs, writer):
    created = gql(
        writer, JOURNEY_CREATE,
        input={"name": "Welcome", "description": "New members", "definition": definition()},
    )["journeyCreate"]  # fmt: skip
    assert created["errors"] == [], created
    journey = created["journey"]
    described = gql(writer, JOURNEY_UPDATE, id=journey["id"], input={"description": "All"})
    assert described["journeyUpdate"] == {
        "journey": {**journey, "description": "All"},
        "errors": [],
    }
    # templateKey is set when creating only: REST's update serializer refuses it, by name.
    keyed = gql(writer, JOURNEY_UPDATE, id=journey["id"], input={"templateKey": "birthday"})
    assert [e["field"] for e in keyed["journeyUpdate"]["errors"]] == ["templateKey"]
    unnamed = gql(writer, JOURNEY_CREATE, input={"description": "no name"})["journeyCreate"]
    assert unnamed["journey"] is None
    assert [e["field"] for e in unnamed["errors"]] == ["name"]
    broken = definition()
    broken["steps"]["wait"]["duration"] = {"days": -1}
    bad = gql(writer, JOURNEY_UPDATE, id=journey["id"], input={"definition": broken})
    fields = [e["field"] for e in bad["journeyUpdate"]["errors"]]
    assert fields and all("steps.wait.duration" in f for f in fields), fields


# --- tenants -----------------------------------------------------------------------------------


def test_another_clubs_campaign_or_journey_is_not_found(clubs, api, make_key, writer):
    bravo = api(make_key(clubs.bravo, "crm:read,crm:campaigns"))
    response = post(bravo, CREATE, {"input": {"name": "Bravo only"}}, url="/t/bravo-golf/graphql")
    campaign_id = response.json()["data"]["createCampaign"]["campaign"]["id"]
    response = post(
        bravo, JOURNEY_CREATE, {"input": {"name": "Bravo journey"}}, url="/t/bravo-golf/graphql"
    )
    journey_id = response.json()["data"]["journeyCreate"]["journey"]["id"]

    answer = gql(writer, UPDATE, id=campaign_id, input={"name": "Taken over"})["updateCampaign"]
    assert answer == {
        "campaign": None,
        "errors": [
            {"field": "id", "message": "No campaign with this id in this club.",
             "code": "not_found"}
        ],
    }  # fmt: skip
    answer = gql(writer, JOURNEY_UPDATE, id=journey_id, input={"name": "Taken over"})
    assert answer["journeyUpdate"]["journey"] is None
    assert answer["journeyUpdate"]["errors"][0]["code"] == "not_found"
    # Alpha's key opens nothing of bravo's either.
    assert post(writer, UPDATE, {"id": campaign_id, "input": {"name": "x"}},
                url="/t/bravo-golf/graphql").status_code in (401, 403)  # fmt: skip
    with schema_context(clubs.bravo.schema_name):
        assert Campaign.objects.get(id=campaign_id).name == "Bravo only"
        assert Journey.objects.get(id=journey_id).name == "Bravo journey"


# --- the gap filler's settings -----------------------------------------------------------------


def test_tee_sheet_settings_take_a_typed_input(clubs, writer):
    mutation = (
        "mutation($input: TeeSheetSettingsInput!) { updateTeeSheetSettings(input: $input) "
        f"{{ settings {{ maxWaves weeklyLimit channels templates }} {ERRORS} }} }}"
    )
    before = gql(writer, "{ teeSheetSettings { weeklyLimit } }")["teeSheetSettings"]
    changed = gql(
        writer, mutation,
        input={"maxWaves": 2, "channels": ["EMAIL"], "templates": {"EMAIL": "tee_offer"}},
    )["updateTeeSheetSettings"]  # fmt: skip
    assert changed["errors"] == []
    assert changed["settings"] == {
        "maxWaves": 2, "weeklyLimit": before["weeklyLimit"], "channels": ["EMAIL"],
        "templates": {"EMAIL": "tee_offer"},
    }  # fmt: skip
    error = refused_by_schema(post(writer, mutation, {"input": {"maxWave": 2}}))
    assert "Field 'maxWave' is not defined" in error["message"]
    error = refused_by_schema(post(writer, mutation, {"input": {"channels": ["FAX"]}}))
    assert "at 'input.channels[0]'" in error["message"]
    ranged = gql(writer, mutation, input={"weeklyLimit": 99})["updateTeeSheetSettings"]
    assert [e["field"] for e in ranged["errors"]] == ["weeklyLimit"]


# --- GraphiQL's documentation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "CampaignInput", "CampaignAudienceInput", "CampaignTriggerInput", "CampaignVariantInput",
        "CampaignTemplatesInput", "JourneyInput", "TeeSheetSettingsInput",
        "CampaignType", "CampaignChannel", "CampaignPriority", "CampaignWinnerMetric",
        "CampaignVariantKey",
    ],
)  # fmt: skip
def test_every_input_field_and_enum_value_is_described(clubs, writer, name):
    described = gql(
        writer,
        "query($name: String!) { __type(name: $name) { kind description "
        "inputFields { name description } enumValues { name description } } }",
        name=name,
    )["__type"]
    assert described["description"], name
    parts = described["inputFields"] or described["enumValues"]
    assert parts, name
    assert [p["name"] for p in parts if not (p["description"] or "").strip()] == [], name
