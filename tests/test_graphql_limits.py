"""GraphQL limits hold on every transport (JSON, form bodies, GET ?query=, application/graphql),
mutations run only over POST and count as writes, cost counts aliases and page sizes,
introspection is depth-limited too, and every refusal is in api.md's error shape, before
anything runs."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import get_introspection_query

from crm.graphql.limits import Limits, check_limits
from crm.graphql.schema import schema
from tests.conftest import error_of

URL = "/t/alpha-golf/graphql"
LONG = "{ tenant { id } }" + " " * 30_000  # over the 20,000-character limit, otherwise valid


@pytest.fixture
def client(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:write"))


@pytest.mark.parametrize("transport", ["json", "form", "get", "graphql"])
def test_the_length_limit_holds_on_every_transport(client, transport):
    if transport == "json":
        response = client.post(URL, json.dumps({"query": LONG}), content_type="application/json")
    elif transport == "form":
        response = client.post(URL, {"query": LONG})
    elif transport == "graphql":
        response = client.post(URL, LONG, content_type="application/graphql")
    else:
        response = client.get(URL, {"query": LONG})
    assert response.status_code == 413
    assert error_of(response)["code"] == "query_too_large"


@pytest.mark.parametrize("transport", ["form", "get"])
def test_queries_other_transports_still_run(client, transport):
    query = "{ tenant { slug } }"
    response = (
        client.post(URL, {"query": query})
        if transport == "form"
        else client.get(URL, {"query": query})
    )
    assert response.status_code == 200, response.content
    assert response.json()["data"]["tenant"]["slug"] == "alpha-golf"


def test_a_mutation_over_get_is_refused_in_the_error_shape(client):
    response = client.get(URL, {"query": 'mutation { createSegment(name: "x", type: STATIC) '
                                         "{ errors { message } } }"})  # fmt: skip
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "POST" in response["Allow"]


def test_a_form_encoded_mutation_counts_as_a_write(client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "write": "1/min",
        },
    }
    from rest_framework.settings import api_settings

    api_settings.reload()
    try:
        mutation = (
            'mutation { createSegment(name: "Form %d", type: STATIC) { errors { message } } }'
        )
        assert client.post(URL, {"query": mutation % 1}).status_code == 200
        refused = client.post(URL, {"query": mutation % 2})
        assert refused.status_code == 429
        assert error_of(refused)["code"] == "rate_limited"
        # Reads are counted apart.
        assert client.post(URL, {"query": "{ tenant { id } }"}).status_code == 200
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK}
        api_settings.reload()


def test_200_aliases_of_a_full_page_are_refused_before_running(client):
    fields = "id email firstName lastName phoneNumber tags"
    aliases = " ".join(f"a{i}: customers(take: 100) {{ items {{ {fields} }} }}" for i in range(200))
    with CaptureQueriesContext(connection) as captured:
        response = client.post(URL, json.dumps({"query": "{" + aliases + "}"}),
                               content_type="application/json")  # fmt: skip
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "query_too_costly"
    assert not any("profiles_customer" in q["sql"] for q in captured.captured_queries)


def test_a_full_page_of_customers_is_within_the_cost_limit(client):
    query = "{ customers(take: 100) { total items { id email firstName lastName tags } } }"
    response = client.post(URL, json.dumps({"query": query}), content_type="application/json")
    assert response.status_code == 200, response.content


def test_page_size_from_a_variable_counts_too(settings):
    document = _parse(
        "query($n: Int) { a: customers(take: $n) { items { id email } }"
        " b: customers(take: $n) { items { id email } } }"
    )
    limits = Limits(max_depth=10, max_introspection_depth=15, max_cost=300)
    assert check_limits(schema.graphql_schema, document, None, {"n": 10}, limits) == []
    errors = check_limits(schema.graphql_schema, document, None, {"n": 100}, limits)
    assert errors and errors[0].extensions["code"] == "query_too_costly"


def test_fragments_are_expanded_and_a_fragment_bomb_is_refused_quickly():
    # Each level spreads the one below twice: expanded, 2**29 fields. Refused at the limit.
    fragments = ["fragment F0 on Tenant { id slug }"] + [
        f"fragment F{n} on Query {{ x{n}a: tenant {{ ...F0 }} ...F{n - 1} ...F{n - 1} }}"
        if n > 1
        else "fragment F1 on Query { x1: tenant { ...F0 } }"
        for n in range(1, 30)
    ]
    document = _parse("{ ...F29 } " + " ".join(fragments))
    limits = Limits(max_depth=10, max_introspection_depth=15, max_cost=1000)
    errors = check_limits(schema.graphql_schema, document, None, None, limits)
    assert errors and errors[0].extensions["code"] == "query_too_costly"


def test_introspection_is_depth_limited(client):
    nested = "name " + "ofType { " * 20 + "name" + " }" * 20
    query = "{ __schema { types { fields { type { " + nested + " } } } } }"
    response = client.post(URL, json.dumps({"query": query}), content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "query_too_deep"


def test_the_standard_introspection_query_still_runs(client):
    response = client.post(
        URL, json.dumps({"query": get_introspection_query()}), content_type="application/json"
    )
    assert response.status_code == 200, response.content[:500]
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ tenant { id "}, "graphql_syntax_error"),
        ({"query": "{ tenant { nope } }"}, "graphql_validation_failed"),
        ({"query": "query($n: Int!) { customers(take: $n) { total } }"}, "graphql_invalid"),
        ({"query": "{ tenant { id } }", "variables": "[1]"}, "validation_error"),
        ({"query": 42}, "validation_error"),
        ({}, "bad_request"),
    ],
)
def test_every_refusal_before_running_is_in_the_error_shape(client, body, code):
    response = client.post(URL, json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == code


def _parse(query: str):
    from graphql import parse

    return parse(query)
