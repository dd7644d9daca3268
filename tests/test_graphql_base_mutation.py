"""The base of every mutation (crm/graphql/mutations.py): one error type for every app, the
scope checked first, the input checked before anything runs, and audit rows that name the
caller's key or staff account, not only a label."""

from __future__ import annotations

import json

from django_tenants.utils import schema_context

from crm.accounts.models import ApiKey, AuditEntry
from tests.conftest import STAFF_PASSWORD

URL = "/t/alpha-golf/graphql"
CREATE = """mutation { createSegment(name: "Seniors", type: STATIC) {
    segment { id } errors { field message code __typename } } }"""


def _post(client, query: str):
    return client.post(URL, data=json.dumps({"query": query}), content_type="application/json")


def test_an_audit_row_written_in_a_mutation_names_the_key(clubs, api, make_key):
    response = _post(api(make_key(clubs.alpha, "crm:read,crm:write")), CREATE)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["createSegment"]["errors"] == []
    with schema_context(clubs.alpha.schema_name):
        entry = AuditEntry.objects.get(action="segment.create")
        assert entry.actor_api_key == ApiKey.objects.get(name="test")
        assert entry.actor_user is None
        assert entry.actor_label.startswith("api-key:")


def test_an_audit_row_written_in_a_mutation_names_the_staff_member(clubs, api, make_staff):
    client = api()  # CSRF is not enforced by the test client unless asked
    email = make_staff(clubs.alpha, "MARKETING")
    with schema_context(clubs.alpha.schema_name):  # the session lives in the club's schema
        assert client.login(username=email, password=STAFF_PASSWORD)
    response = _post(client, CREATE)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["createSegment"]["errors"] == []
    with schema_context(clubs.alpha.schema_name):
        entry = AuditEntry.objects.get(action="segment.create")
        assert entry.actor_user is not None and entry.actor_user.email == email
        assert entry.actor_api_key is None


def test_every_app_refuses_with_the_one_error_type(clubs, api, make_key):
    client = api(make_key(clubs.alpha, "crm:read,crm:write,crm:admin,crm:campaigns,crm:social"))
    missing = "00000000-0000-0000-0000-000000000000"
    for mutation in (
        f'updateSegment(id: "{missing}", name: "x")',
        f'pauseCampaign(id: "{missing}")',
        f'journeyPause(id: "{missing}")',
        f'eraseCustomer(customerId: "{missing}")',
        f'cancelSocialPost(id: "{missing}")',
    ):
        body = _post(client, f"mutation {{ {mutation} {{ errors {{ code __typename }} }} }}")
        assert "data" in body.json(), (mutation, body.json())
        payload = next(iter(body.json()["data"].values()))
        assert payload["errors"] == [{"code": "not_found", "__typename": "MutationError"}], mutation


def test_an_unknown_input_field_is_refused_before_anything_is_made(clubs, api, make_key):
    """Typed inputs (issue 19): GraphQL's own validation refuses the field, naming it and
    where it was written, before the mutation is called."""
    client = api(make_key(clubs.alpha, "crm:read,crm:campaigns"))
    response = _post(
        client,
        'mutation { journeyCreate(input: {name: "Welcome", nmae: "typo"}) '
        "{ journey { id } errors { field code } } }",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "graphql_validation_failed"
    assert error["message"] == (
        "Field 'nmae' is not defined by type 'JourneyInput'. Did you mean 'name'?"
    )
    assert error["details"]["errors"][0]["extensions"] == {"field": "input.nmae"}
    with schema_context(clubs.alpha.schema_name):
        assert not AuditEntry.objects.filter(action__startswith="journey.").exists()


def test_a_rest_serializer_refusal_is_a_mutation_error_by_field(clubs, api, make_key):
    """A mutation reusing REST's serializer on its typed input answers its refusals in
    `errors`, by field path, with the operation rolled back."""
    client = api(make_key(clubs.alpha, "crm:read,crm:campaigns"))
    body = _post(
        client,
        'mutation { createCampaign(input: {name: "%s"}) { campaign { id } '
        "errors { field code __typename } } }" % ("x" * 201),
    ).json()
    assert body["data"]["createCampaign"] == {
        "campaign": None,
        "errors": [{"field": "name", "code": "invalid", "__typename": "MutationError"}],
    }
