"""Journeys in GraphQL: the same services as REST, errors by path, `invalid_state` for refused
state changes, scopes, and the queries the admin and integrators use (journeys with stats,
versions and enrolments; templates; staff tasks)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from journeys.models import StaffTask
from tests.conftest import STAFF_PASSWORD
from tests.test_campaigns_sending import customer
from tests.test_journeys_api import definition

GQL = "/t/alpha-golf/graphql"

JOURNEY = "journey { id name status publishedVersion { number current } hasUnpublishedChanges }"
ERRORS = "errors { field message code }"


@pytest.fixture
def client(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:campaigns"))


@pytest.fixture
def people(clubs):
    with schema_context(clubs.alpha.schema_name):
        return [customer(first_name=name) for name in ("Aoife", "Brian")]


def gql(client, query: str, **variables) -> dict:
    response = client.post(
        GQL, data=json.dumps({"query": query, "variables": variables}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    return response.json()


def create(client, name="Welcome", body=None) -> dict:
    result = gql(
        client,
        f"mutation($input: JourneyInput!) {{ journeyCreate(input: $input) {{ {JOURNEY} {ERRORS} }} }}",
        input=body or {"name": name, "definition": definition()},
    )["data"]["journeyCreate"]
    return result


def test_create_publish_enrol_and_read_back(client, people):
    created = create(client)
    assert created["errors"] == []
    journey_id = created["journey"]["id"]
    assert created["journey"]["status"] == "DRAFT"
    assert created["journey"]["publishedVersion"] is None

    published = gql(
        client,
        f"mutation($id: UUID!) {{ journeyPublish(id: $id) {{ {JOURNEY} {ERRORS} }} }}",
        id=journey_id,
    )["data"]["journeyPublish"]
    assert published["errors"] == []
    assert published["journey"]["status"] == "ACTIVE"
    assert published["journey"]["publishedVersion"] == {"number": 1, "current": True}

    enrolled = gql(
        client,
        "mutation($id: UUID!, $ids: [UUID!]!) { journeyEnrol(id: $id, customerIds: $ids, "
        'key: "gql") { enrolled skipped { customerId reason } errors { field message } } }',
        id=journey_id,
        ids=[str(p.id) for p in people],
    )["data"]["journeyEnrol"]
    assert enrolled["errors"] == [] and len(enrolled["enrolled"]) == 2
    assert enrolled["skipped"] == []

    read = gql(
        client,
        """query($id: UUID!) { journey(id: $id) { name status definition
             versions { number }
             stats { enrolled live conversionRate steps { key type label waiting entered } }
             enrolments(take: 1) { total hasMore items { id status step version source
               customer { firstName } journey { name } events { step kind } } } } }""",
        id=journey_id,
    )["data"]["journey"]
    assert read["definition"]["start"] == "wait"
    assert read["versions"] == [{"number": 1}]
    assert read["stats"]["enrolled"] == 2 and read["stats"]["live"] == 2
    assert read["stats"]["steps"][0]["key"] == "wait" and read["stats"]["steps"][0]["waiting"] == 2
    page = read["enrolments"]
    assert page["total"] == 2 and page["hasMore"] is True
    item = page["items"][0]
    assert item["status"] == "ACTIVE" and item["version"] == 1 and item["source"] == "API"
    assert item["customer"]["firstName"] in ("Aoife", "Brian")
    assert item["journey"]["name"] == "Welcome"

    exited = gql(
        client,
        f'mutation($id: UUID!) {{ enrolmentExit(id: $id, reason: "moved away") '
        f"{{ enrolment {{ status exitReason }} {ERRORS} }} }}",
        id=item["id"],
    )["data"]["enrolmentExit"]
    assert exited == {"enrolment": {"status": "EXITED", "exitReason": "moved away"}, "errors": []}
    again = gql(
        client,
        f"mutation($id: UUID!) {{ enrolmentExit(id: $id) {{ enrolment {{ id }} {ERRORS} }} }}",
        id=item["id"],
    )["data"]["enrolmentExit"]
    assert again["enrolment"] is None and again["errors"][0]["code"] == "invalid_state"

    listed = gql(client, '{ journeys(status: "ACTIVE") { name } journeyTemplates { key } }')
    assert listed["data"]["journeys"] == [{"name": "Welcome"}]
    assert len(listed["data"]["journeyTemplates"]) == 10


def test_bad_definitions_and_state_refusals_come_back_as_errors(client):
    broken = definition()
    broken["steps"]["wait"]["duration"] = {"days": -1}
    bad = create(client, body={"name": "Broken", "definition": broken})
    assert bad["journey"] is None
    assert any(e["field"].endswith("steps.wait.duration.days") for e in bad["errors"]), bad
    taken = create(client, body={"name": "Broken"})
    assert taken["errors"] == []
    again = create(client, body={"name": "Broken"})  # the service's rule, by field
    assert again["errors"] == [
        {"field": "name", "message": "Another journey already has this name.", "code": "invalid"}
    ]
    journey_id = create(client)["journey"]["id"]
    resumed = gql(
        client,
        f"mutation($id: UUID!) {{ journeyResume(id: $id) {{ {JOURNEY} {ERRORS} }} }}",
        id=journey_id,
    )["data"]["journeyResume"]
    assert resumed["journey"] is None and resumed["errors"][0]["code"] == "invalid_state"
    archived = gql(
        client,
        f"mutation($id: UUID!) {{ journeyArchive(id: $id) {{ {JOURNEY} {ERRORS} }} }}",
        id=journey_id,
    )["data"]["journeyArchive"]
    assert archived["journey"]["status"] == "ARCHIVED"
    edit = gql(
        client,
        'mutation($id: UUID!) { journeyUpdate(id: $id, input: {name: "Again"}) '
        f"{{ {JOURNEY} {ERRORS} }} }}",
        id=journey_id,
    )["data"]["journeyUpdate"]
    assert edit["errors"][0]["code"] == "invalid_state"
    missing = gql(
        client,
        'mutation { journeyPause(id: "00000000-0000-4000-8000-000000000000") '
        f"{{ {JOURNEY} {ERRORS} }} }}",
    )["data"]["journeyPause"]
    assert missing["errors"][0]["code"] == "not_found"


def test_update_copy_template_and_staff_tasks(clubs, api, make_staff, client, people):
    journey_id = create(client)["journey"]["id"]
    edited = definition()
    edited["steps"]["welcome"]["template"] = "member_welcome_v2"
    updated = gql(
        client,
        "mutation($id: UUID!, $input: JourneyInput!) { journeyUpdate(id: $id, input: $input) "
        f"{{ journey {{ name definition }} {ERRORS} }} }}",
        id=journey_id,
        input={"name": "Welcome (new)", "definition": edited},
    )["data"]["journeyUpdate"]
    assert updated["errors"] == [] and updated["journey"]["name"] == "Welcome (new)"
    assert updated["journey"]["definition"]["steps"]["welcome"]["template"] == "member_welcome_v2"

    copied = gql(
        client,
        'mutation { journeyTemplateCopy(key: "birthday", name: "Birthdays") '
        f"{{ journey {{ name status templateKey }} {ERRORS} }} }}",
    )["data"]["journeyTemplateCopy"]
    assert copied == {
        "journey": {"name": "Birthdays", "status": "DRAFT", "templateKey": "birthday"},
        "errors": [],
    }
    unknown = gql(
        client,
        f'mutation {{ journeyTemplateCopy(key: "nope", name: "N") {{ {ERRORS} }} }}',
    )["data"]["journeyTemplateCopy"]
    assert unknown["errors"][0]["field"] == "key"

    with schema_context(clubs.alpha.schema_name):
        task = StaffTask.objects.create(
            customer=people[0], title="Welcome call", assigned_to="STAFF",
            created_at=timezone.now(),
        )  # fmt: skip
    tasks = gql(client, "{ staffTasks { id title status customer { firstName } } }")
    assert tasks["data"]["staffTasks"] == [
        {"id": str(task.id), "title": "Welcome call", "status": "OPEN",
         "customer": {"firstName": "Aoife"}}
    ]  # fmt: skip

    email = make_staff(clubs.alpha, "STAFF")
    staff = api()
    staff.post("/t/alpha-golf/admin/login/", {"username": email, "password": STAFF_PASSWORD})
    done = gql(
        staff,
        f"mutation($id: UUID!) {{ staffTaskComplete(id: $id) {{ task {{ status doneBy }} "
        f"{ERRORS} }} }}",
        id=str(task.id),
    )["data"]["staffTaskComplete"]
    assert done == {"task": {"status": "DONE", "doneBy": email}, "errors": []}
    assert gql(client, "{ staffTasks { id } }")["data"]["staffTasks"] == []
    assert len(gql(client, '{ staffTasks(status: "ALL") { id } }')["data"]["staffTasks"]) == 1

    # STAFF may close tasks, never change journeys.
    refused = gql(
        staff,
        f"mutation($id: UUID!) {{ journeyPublish(id: $id) {{ {JOURNEY} {ERRORS} }} }}",
        id=journey_id,
    )
    assert refused["errors"][0]["extensions"]["code"] == "permission_denied"


def test_scopes(clubs, api, make_key):
    reader = api(make_key(clubs.alpha, "crm:read"))
    assert gql(reader, "{ journeys { id } }")["data"]["journeys"] == []
    refused = gql(reader, 'mutation { journeyCreate(input: {name: "No"}) { errors { field } } }')
    assert refused["errors"][0]["extensions"]["code"] == "permission_denied"
    nobody = api(make_key(clubs.alpha, "events:write"))
    assert gql(nobody, "{ journeys { id } }")["errors"][0]["extensions"]["code"] == (
        "permission_denied"
    )
