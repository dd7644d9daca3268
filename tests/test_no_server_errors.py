"""No input yields a 500 (issue 16): values PostgreSQL or UTF-8 cannot take, absurd paging and
nesting, empty matches. Each is a 400 in api.md's error shape naming what was wrong, and for
events, a rejection of that one event alone."""

from __future__ import annotations

import json
import uuid

import pytest
from django_tenants.utils import schema_context

from profiles.models import RawEvent
from tests.conftest import error_of
from tests.events import member

EVENTS = "/t/alpha-golf/api/v1/events"
SEGMENTS = "/t/alpha-golf/api/v1/segments"
GRAPHQL = "/t/alpha-golf/graphql"


def _post(client, url: str, body) -> object:
    # json.dumps writes a lone surrogate as the escape "\ud800", as any JSON producer would.
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=raw, content_type="application/json")


def _bad_events() -> dict[str, tuple[dict, str]]:
    """name -> (a bad envelope, the field path its rejection names)."""
    nul = member(901, firstName="a\u0000b")
    surrogate = member(902, lastName="\ud800")
    key_nul = member(903)
    key_nul["metadata"] = {"a\u0000b": 1}
    key_surrogate = member(904)
    key_surrogate["metadata"] = {"\udfff": 1}
    version = member(905, version=None)
    version["version"] = 1e30
    big_version = member(906)
    big_version["version"] = 10**30
    deep = member(907)
    nested: dict = {}
    deep["metadata"] = nested
    for _ in range(60):
        nested["x"] = {}
        nested = nested["x"]
    return {
        "nul": (nul, "payload.firstName"),
        "surrogate": (surrogate, "payload.lastName"),
        "nul-in-metadata-key": (key_nul, "metadata"),
        "surrogate-in-metadata-key": (key_surrogate, "metadata"),
        "version-1e30": (version, "version"),
        "version-beyond-int": (big_version, "version"),
        "deep-metadata": (deep, "metadata" + ".x" * 31),  # the envelope is level 0
    }


@pytest.mark.parametrize("name", list(_bad_events()))
def test_a_bad_value_rejects_its_event_alone(clubs, api, make_key, name):
    bad, path = _bad_events()[name]
    good_before, good_after = member(1), member(2)
    response = _post(
        api(make_key(clubs.alpha, "events:write")),
        EVENTS,
        {"events": [good_before, bad, good_after]},
    )
    assert response.status_code == 200, response.content
    results = response.json()["data"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert path in results[1]["errors"], results[1]
    with schema_context(clubs.alpha.schema_name):
        assert RawEvent.objects.count() == 2


def test_non_finite_number_in_an_event_rejects_that_event(clubs, api, make_key):
    body = json.dumps({"events": [member(1), member(2, handicap=1.5)]})
    body = body.replace("1.5", "1e400")  # Python reads it as inf; jsonb refuses Infinity
    response = _post(api(make_key(clubs.alpha, "events:write")), EVENTS, body)
    assert response.status_code == 200, response.content
    results = response.json()["data"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert results[1]["errors"] == {"payload.handicap": ["Number out of range."]}


def test_one_bad_event_in_1000_rejects_one(clubs, api, make_key):
    events = [member(10_000 + i) for i in range(1000)]
    events[500]["payload"]["firstName"] = "nul\u0000here"
    response = _post(api(make_key(clubs.alpha, "events:write")), EVENTS, {"events": events})
    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["data"]]
    assert statuses.count("accepted") == 999
    assert statuses[500] == "rejected"


def test_a_batch_nested_beyond_parsing_is_a_400(clubs, api, make_key):
    body = '{"events": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    response = _post(api(make_key(clubs.alpha, "events:write")), EVENTS, body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:write"))


@pytest.fixture
def static_segment(writer) -> dict:
    response = _post(writer, SEGMENTS, {"name": "Committee", "type": "STATIC"})
    assert response.status_code == 201, response.content
    return response.json()["data"]


def test_adding_unknown_ids_to_a_static_segment_reports_them(writer, static_segment):
    unknown = str(uuid.uuid4())
    response = _post(
        writer, f"{SEGMENTS}/{static_segment['id']}/members", {"customerIds": [unknown]}
    )
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"added": 0, "alreadyMembers": 0, "notFound": [unknown]}


def test_a_csv_import_matching_nobody_reports_every_row(writer, static_segment):
    response = _post(
        writer, f"{SEGMENTS}/{static_segment['id']}/import", {"csv": "email\nnobody@example.ie\n"}
    )
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["added"] == 0 and data["matched"] == 0
    assert data["unmatched"][0]["reason"] == "matches no customer"


def test_graphql_add_segment_members_with_no_match(writer, static_segment):
    unknown = str(uuid.uuid4())
    query = (
        "mutation($id: UUID!, $ids: [UUID!]!) { addSegmentMembers(id: $id, customerIds: $ids) "
        "{ added notFound errors { field message } } }"
    )
    response = _post(
        writer,
        GRAPHQL,
        {"query": query, "variables": {"id": static_segment["id"], "ids": [unknown]}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["addSegmentMembers"] == {"added": 0, "notFound": [unknown], "errors": []}


@pytest.mark.parametrize("value", ["a\u0000b", "\ud800"])
def test_a_bad_character_in_a_rule_value_is_a_400_naming_it(writer, value):
    rules = {"combinator": "AND", "rules": [{"field": "email", "operator": "eq", "value": value}]}
    for url, body in (
        (f"{SEGMENTS}/preview", {"rules": rules}),
        (SEGMENTS, {"name": "Odd", "type": "DYNAMIC", "rules": rules}),
    ):
        response = _post(writer, url, body)
        assert response.status_code == 400, response.content
        error = error_of(response)
        assert error["code"] == "validation_error"
        assert list(error["details"]) == ["rules.rules[0].value"]


def test_a_nul_in_the_customer_search_is_a_400(writer):
    response = writer.get("/t/alpha-golf/api/v1/customers", {"q": "a\u0000b"})
    assert response.status_code == 400
    assert list(error_of(response)["details"]) == ["q"]


@pytest.mark.parametrize("skip", ["9223372036854775808", "99999999999999999999999", "1e3"])
def test_absurd_paging_is_a_400(writer, skip):
    response = writer.get("/t/alpha-golf/api/v1/customers", {"skip": skip})
    assert response.status_code == 400
    assert list(error_of(response)["details"]) == ["skip"]


def test_a_rest_body_nested_100000_deep_is_a_400(writer):
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = _post(writer, SEGMENTS, body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    shallow_but_deep = {"name": "x", "rules": {}}
    node = shallow_but_deep["rules"]
    for _ in range(100):
        node["rules"] = {}
        node = node["rules"]
    response = _post(writer, SEGMENTS, shallow_but_deep)
    assert response.status_code == 400
    assert "Nested more than" in next(iter(error_of(response)["details"].values()))[0]


def test_a_graphql_body_nested_100000_deep_is_a_400(writer):
    body = '{"query": "{ tenant { id } }", "variables": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = _post(writer, GRAPHQL, body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    response = writer.get(
        GRAPHQL, {"query": "{ tenant { id } }", "variables": "[" * 100_000 + "]" * 100_000}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_a_graphql_query_nested_beyond_parsing_is_a_400(writer, settings):
    settings.GRAPHQL_MAX_QUERY_CHARS = 1_000_000
    response = _post(writer, GRAPHQL, {"query": "{" + "a{" * 50_000 + "b" + "}" * 50_001})
    assert response.status_code == 400
    assert error_of(response)["code"] in ("query_too_deep", "graphql_syntax_error")


@pytest.mark.parametrize("value", ["a\\u0000b", "\\ud800"])
def test_a_bad_character_in_a_graphql_string_is_a_400(writer, value):
    response = _post(writer, GRAPHQL, {"query": '{ customers(q: "' + value + '") { total } }'})
    assert response.status_code == 400, response.content
    # graphql-core's lexer refuses an unpaired surrogate escape itself; a NUL is ours to refuse.
    assert error_of(response)["code"] in ("invalid_text", "graphql_syntax_error")
    response = _post(
        writer,
        GRAPHQL,
        {
            "query": "query($q: String) { customers(q: $q) { total } }",
            "variables": {"q": json.loads(f'"{value}"')},
        },
    )
    assert response.status_code == 400, response.content
    assert list(error_of(response)["details"]) == ["variables.q"]
