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


def test_an_unknown_input_key_is_refused_before_anything_is_made(clubs, api, make_key):
    client = api(make_key(clubs.alpha, "crm:read,crm:campaigns"))
    body = _post(
        client,
        'mutation { journeyCreate(input: {name: "Welcome", nmae: "typo"}) '
        "{ journey { id } errors { field code } } }",
    ).json()
    assert "data" in body, body
    assert body["data"]["journeyCreate"] == {
        "journey": None,
        "errors": [{"field": "input.nmae", "code": "invalid"}],
    }
    with schema_context(clubs.alpha.schema_name):
        assert not AuditEntry.objects.filter(action__startswith="journey.").exists()
