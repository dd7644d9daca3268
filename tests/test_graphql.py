"""GraphQL at /t/<tenant>/graphql: same auth and scopes as REST, depth and size limits."""

from __future__ import annotations

import json

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from profiles.models import Customer
from tests.conftest import STAFF_PASSWORD, error_of

URL = "/t/alpha-golf/graphql"


def _post(client, query: str, **extra):
    return client.post(
        URL, data=json.dumps({"query": query}), content_type="application/json", **extra
    )


def test_tenant_and_customers_with_a_key(clubs, api, make_key):
    with schema_context(clubs.alpha.schema_name):
        Customer.objects.create(first_name="Aoife", last_name="Byrne", email="aoife@example.ie")
    response = _post(
        api(make_key(clubs.alpha)),
        '{ tenant { id slug timezone } customers(q: "byrne") { total hasMore items '
        "{ firstName lastName email tenantId displayName } } }",
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["tenant"] == {
        "id": str(clubs.alpha.id),
        "slug": "alpha-golf",
        "timezone": "Europe/Dublin",
    }
    assert data["customers"]["total"] == 1
    assert data["customers"]["items"][0] == {
        "firstName": "Aoife",
        "lastName": "Byrne",
        "email": "aoife@example.ie",
        "tenantId": str(clubs.alpha.id),
        "displayName": "Aoife Byrne",
    }


def test_no_credentials_is_401_in_the_error_shape(clubs, api):
    response = _post(api(), "{ tenant { id } }")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_missing_scope_is_a_graphql_error(clubs, api, make_key):
    response = _post(api(make_key(clubs.alpha, "events:write")), "{ customers { total } }")
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "permission_denied"


def test_bad_arguments_name_the_field(clubs, api, make_key):
    response = _post(api(make_key(clubs.alpha)), "{ customers(take: 500) { total } }")
    assert response.json()["errors"][0]["extensions"]["field"] == "take"


def test_depth_limit(clubs, api, make_key, settings):
    settings.GRAPHQL_MAX_DEPTH = 1  # customers(0) > items(1) > id(2)
    response = _post(api(make_key(clubs.alpha)), "{ customers { items { id } } }")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "query_too_deep"
    assert "'id'" in error["message"]
    assert error["details"]["errors"][0]["locations"]


def test_standard_validation_still_applies(clubs, api, make_key):
    response = _post(api(make_key(clubs.alpha)), "{ tenant { noSuchField } }")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "graphql_validation_failed"
    assert "Cannot query field 'noSuchField'" in error["message"]


def test_query_size_limit(clubs, api, make_key, settings):
    settings.GRAPHQL_MAX_QUERY_CHARS = 100
    response = _post(api(make_key(clubs.alpha)), "{ tenant { id } }" + " " * 200)
    assert response.status_code == 413
    assert error_of(response)["code"] == "query_too_large"


def _signed_in(client, tenant, email):
    with schema_context(tenant.schema_name):  # the session lives in the club's schema
        assert client.login(username=email, password=STAFF_PASSWORD)
    return client


def test_graphiql_for_signed_in_staff_only(clubs, api, make_staff):
    assert api().get(URL, HTTP_ACCEPT="text/html").status_code == 401
    client = _signed_in(api(), clubs.alpha, make_staff(clubs.alpha, "STAFF"))
    response = client.get(URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "graphiql" in response.content.decode().lower()


def test_staff_session_post_needs_csrf(clubs, api, make_staff):
    client = _signed_in(api(enforce_csrf_checks=True), clubs.alpha, make_staff(clubs.alpha))
    response = _post(client, "{ tenant { id } }")
    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]


def test_customer_list_has_no_n_plus_one(clubs, api, make_key):
    client = api(make_key(clubs.alpha))
    client.get("/t/alpha-golf/api/v1/tenant")  # settle the key's last-used stamp
    with schema_context(clubs.alpha.schema_name):
        Customer.objects.bulk_create(
            Customer(first_name=f"Golfer{i}", email=f"g{i}@example.ie") for i in range(30)
        )
    query = "{ customers(take: %d) { total items { id email tenantId mergedInto } } }"
    counts = []
    for take in (1, 30):
        with CaptureQueriesContext(connection) as captured:
            response = _post(client, query % take)
        assert len(response.json()["data"]["customers"]["items"]) == take
        counts.append(len(captured))
    assert counts[0] == counts[1], counts
