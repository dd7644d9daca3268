"""Journey webhooks are always signed (issue 16): a journey with a webhook step cannot be
published while the club has no active webhook secret, and the refusal names the step in the
API, in GraphQL and in the admin's builder. (What happens at send time when a secret is revoked
after publishing: tests/test_journeys_engine_services.py.)"""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context

from crm.accounts.services import webhook_secret_create
from journeys.models import JourneyVersion
from tests.conftest import STAFF_PASSWORD, error_of
from tests.test_journeys_admin import JOURNEYS, SIMPLE, _config, _journey, _messages
from tests.test_journeys_api import URL, post
from tests.test_journeys_graphql import ERRORS, JOURNEY, gql
from tests.test_journeys_graphql import create as gql_create


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:campaigns"))


@pytest.fixture
def marketing(clubs, api, make_staff):
    client = api()
    response = client.post(
        "/t/alpha-golf/admin/login/",
        {"username": make_staff(clubs.alpha, "MARKETING"), "password": STAFF_PASSWORD,
         "next": "/t/alpha-golf/admin/"},
    )  # fmt: skip
    assert response.status_code == 302
    return client


HOOKED = {
    **SIMPLE,
    "start": "tell_crm",
    "steps": {
        "tell_crm": {"type": "webhook", "url": "https://example.com/hook", "next": "end"},
        "end": {"type": "end"},
    },
}


def test_the_api_refuses_to_publish_naming_the_webhook_step(clubs, writer):
    created = post(writer, f"{URL}/journeys", {"name": "Hooked", "definition": HOOKED})
    assert created.status_code == 201  # a draft may hold a webhook step
    journey_id = created.json()["data"]["id"]
    refused = post(writer, f"{URL}/journeys/{journey_id}/publish")
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["code"] == "validation_error"
    assert list(error["details"]) == ["steps.tell_crm"]
    assert "Webhook step 'tell_crm'" in error["details"]["steps.tell_crm"][0]
    assert "no active webhook secret" in error["details"]["steps.tell_crm"][0]
    with schema_context(clubs.alpha.schema_name):
        assert not JourneyVersion.objects.filter(journey_id=journey_id).exists()
        webhook_secret_create(name="receiver")
    assert post(writer, f"{URL}/journeys/{journey_id}/publish").status_code == 200


def test_graphql_refuses_to_publish_naming_the_webhook_step(clubs, writer):
    client = writer
    journey_id = gql_create(client, body={"name": "Hooked", "definition": HOOKED})["journey"]["id"]
    published = gql(
        client,
        f"mutation($id: UUID!) {{ journeyPublish(id: $id) {{ {JOURNEY} {ERRORS} }} }}",
        id=journey_id,
    )["data"]["journeyPublish"]
    assert published["journey"] is None
    [problem] = published["errors"]
    assert problem["field"].endswith("steps.tell_crm")
    assert "Webhook step 'tell_crm'" in problem["message"]


def test_the_builder_marks_the_webhook_step_and_publishing_says_why(clubs, marketing):
    journey = _journey(clubs, "Hooked", HOOKED)
    client = marketing
    page = client.get(f"{JOURNEYS}/{journey.pk}/change/")
    [message] = _config(page)["errors"]["steps.tell_crm"]
    assert "no active webhook secret" in message
    # The builder's live check says the same as it is edited.
    checked = client.post(
        f"{JOURNEYS}/validate/", json.dumps({"definition": HOOKED}),
        content_type="application/json",
    )  # fmt: skip
    assert list(checked.json()["errors"]) == ["steps.tell_crm"]
    client.post(f"{JOURNEYS}/{journey.pk}/state/publish/")
    page = client.get(f"{JOURNEYS}/{journey.pk}/change/")
    assert any(m.startswith("Not published") for m in _messages(page))
    with schema_context(clubs.alpha.schema_name):
        assert not JourneyVersion.objects.filter(journey=journey).exists()
        webhook_secret_create(name="receiver")
    page = client.get(f"{JOURNEYS}/{journey.pk}/change/")
    assert _config(page)["errors"] == {}
    client.post(f"{JOURNEYS}/{journey.pk}/state/publish/")
    with schema_context(clubs.alpha.schema_name):
        assert JourneyVersion.objects.filter(journey=journey).count() == 1
