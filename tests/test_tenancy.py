"""Tenant resolution: `/t/<slug or UUID>/`, old slugs, host names, and the one JSON 404."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from crm.tenants.models import Domain
from tests.conftest import error_of


def test_slug_uuid_and_old_slug_reach_the_same_club(clubs, make_key, api):
    client = api(make_key(clubs.alpha))
    answers = [
        client.get(f"/t/{ref}/api/v1/tenant").json()["data"]
        for ref in ("alpha-golf", str(clubs.alpha.id), "alpha-old")
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0] == {
        "id": str(clubs.alpha.id),
        "slug": "alpha-golf",
        "name": "Alpha Golf Club",
        "timezone": "Europe/Dublin",
        "country": "IE",
        "currency": "EUR",
    }


def test_customers_answer_the_same_by_slug_and_uuid(clubs, make_key, api):
    client = api(make_key(clubs.alpha))
    by_slug = client.get("/t/alpha-golf/api/v1/customers")
    by_uuid = client.get(f"/t/{clubs.alpha.id}/api/v1/customers")
    assert by_slug.status_code == by_uuid.status_code == 200
    assert (
        by_slug.json()
        == by_uuid.json()
        == {
            "data": [],
            "meta": {"total": 0, "skip": 0, "take": 25, "hasMore": False},
        }
    )


@pytest.mark.parametrize(
    "reference",
    [
        "no-such-club",
        "closed-golf",  # disabled
        "00000000-0000-0000-0000-000000000000",  # well-formed, unknown
        "Alpha-Golf",  # slugs are lower case
        "alpha_golf",
        "alpha%20golf",
        "%2e%2e",
        "caf%C3%A9",
        "a" * 300,
        "-alpha",
        "public",
    ],
)
def test_unknown_malformed_or_disabled_club_is_the_same_json_404(clubs, make_key, api, reference):
    client = api(make_key(clubs.alpha))
    for suffix in ("api/v1/tenant", "admin/", "graphql", ""):
        response = client.get(f"/t/{reference}/{suffix}")
        assert response.status_code == 404, (reference, suffix)
        error = error_of(response)
        assert error["code"] == "tenant_not_found"
        assert error["message"] == "No club is known at this address."


def test_uuid_of_a_disabled_club_is_404(clubs, api, make_key):
    response = api(make_key(clubs.alpha)).get(f"/t/{clubs.closed.id}/api/v1/tenant")
    assert response.status_code == 404
    assert error_of(response)["code"] == "tenant_not_found"


def test_upper_case_uuid_reaches_the_same_club_and_slugs_stay_lower_case(clubs, api, make_key):
    """A UUID is case-insensitive (issue 15): it is resolved as its lower-case spelling, so
    the URL conf cache still holds one entry per club. Slugs are lower case only."""
    client = api(make_key(clubs.alpha))
    response = client.get(f"/t/{str(clubs.alpha.id).upper()}/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["data"]["id"] == str(clubs.alpha.id)
    assert client.get("/t/ALPHA-GOLF/api/v1/tenant").status_code == 404


def test_mapped_host_name_reaches_its_club_without_the_prefix(clubs, make_key, api):
    Domain.objects.create(domain="alpha.crm.test", tenant=clubs.alpha, is_primary=True)
    client = api(make_key(clubs.alpha), HTTP_HOST="alpha.crm.test")
    response = client.get("/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["data"]["id"] == str(clubs.alpha.id)


def test_mapped_host_of_a_disabled_club_is_404(clubs, make_key, api):
    Domain.objects.create(domain="closed.crm.test", tenant=clubs.closed, is_primary=True)
    response = api(HTTP_HOST="closed.crm.test").get("/api/v1/tenant")
    assert response.status_code == 404
    assert error_of(response)["code"] == "tenant_not_found"


def test_the_public_schema_has_no_club_api(clubs, make_key, api):
    response = api(make_key(clubs.alpha)).get("/api/v1/customers")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_each_club_has_its_own_schema(clubs):
    assert len({clubs.alpha.schema_name, clubs.bravo.schema_name, clubs.closed.schema_name}) == 3
    # The schema is fixed at creation; renaming the slug did not move it.
    assert clubs.alpha.schema_name == "club_alpha_old"
    with schema_context(clubs.alpha.schema_name):
        from profiles.models import Customer

        assert Customer.objects.count() == 0
