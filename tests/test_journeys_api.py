"""Journey endpoints (journeys.md): create, edit, publish and versions, the state changes and
their 409s, enrolling by API, enrolments and their exits, a customer's journeys, the stats
(set-based: the same number of queries whatever the size), migration between versions, staff
tasks, the definition's JSON Schema, scopes, and the OpenAPI document."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from journeys.models import (
    Enrolment,
    EnrolmentEvent,
    EnrolmentStatus,
    Journey,
    JourneyVersion,
    StaffTask,
)
from journeys.selectors import journey_stats
from tests.conftest import STAFF_PASSWORD, error_of
from tests.test_campaigns_sending import customer

URL = "/t/alpha-golf/api/v1"


def definition(**extra) -> dict:
    """A manual journey: welcome email, wait 3 days, a condition, a split, end."""
    body = {
        "trigger": {"type": "manual"},
        "entryRule": None,
        "exitRule": None,
        "goal": {"eventType": "teetime.booking.created", "filters": {}},
        "reentry": {"policy": "ONCE"},
        "maxEnrolments": None,
        "start": "wait",
        "steps": {
            "wait": {"type": "wait", "label": "Wait 3 days", "duration": {"days": 3},
                     "next": "welcome"},
            "welcome": {"type": "send", "label": "Welcome", "channel": "EMAIL",
                        "template": "member_welcome", "next": "member"},
            "member": {"type": "condition", "label": "Member?",
                       "rule": {"field": "membershipStatus", "operator": "eq", "value": "ACTIVE"},
                       "yes": "end", "no": "end"},
            "end": {"type": "end", "label": "End"},
        },
    }  # fmt: skip
    body.update(extra)
    return body


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:campaigns"))


@pytest.fixture
def people(clubs):
    with schema_context(clubs.alpha.schema_name):
        return [customer(first_name=name) for name in ("Aoife", "Brian", "Cara")]


def post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def patch(client, url, data):
    return client.patch(url, data=json.dumps(data), content_type="application/json")


def create(client, name="Welcome", **body) -> dict:
    response = post(client, f"{URL}/journeys", {"name": name, "definition": definition(), **body})
    assert response.status_code == 201, response.content
    return response.json()["data"]


def published(client, name="Welcome", **body) -> dict:
    journey = create(client, name, **body)
    response = post(client, f"{URL}/journeys/{journey['id']}/publish")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_create_list_read_and_edit_the_draft(clubs, writer):
    bare = post(writer, f"{URL}/journeys", {"name": "Bare"})
    assert bare.status_code == 201, bare.content
    data = bare.json()["data"]
    assert data["status"] == "DRAFT" and data["publishedVersion"] is None
    assert data["definition"]["trigger"] == {"type": "manual"}  # the empty definition
    assert data["hasUnpublishedChanges"] is True and data["trigger"] is None

    journey = create(writer, description="First ten days")
    assert journey["definition"]["steps"]["welcome"]["template"] == "member_welcome"
    listed = writer.get(f"{URL}/journeys").json()
    assert listed["meta"]["total"] == 2
    assert [j["name"] for j in listed["data"]] == ["Bare", "Welcome"]
    assert writer.get(f"{URL}/journeys?status=ACTIVE").json()["meta"]["total"] == 0
    bad_filter = writer.get(f"{URL}/journeys?status=SLEEPING")
    assert bad_filter.status_code == 400 and "status" in error_of(bad_filter)["details"]

    edited = definition()
    edited["steps"]["wait"]["duration"] = {"days": 5}
    response = patch(writer, f"{URL}/journeys/{journey['id']}", {"name": "Welcome v2",
                                                                   "definition": edited})  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["data"]["name"] == "Welcome v2"
    got = writer.get(f"{URL}/journeys/{journey['id']}").json()["data"]
    assert got["definition"]["steps"]["wait"]["duration"] == {"days": 5}
    assert writer.get(f"{URL}/journeys/{uuid.uuid4()}").status_code == 404
    assert writer.get(f"{URL}/journeys/not-an-id").status_code == 404


def test_bad_input_is_a_400_naming_each_path(clubs, writer):
    broken = definition()
    broken["steps"]["wait"]["duration"] = {"days": -1}
    broken["steps"]["welcome"]["channel"] = "FAX"
    broken["steps"]["member"]["rule"] = {"field": "nope", "operator": "eq", "value": 1}
    response = post(writer, f"{URL}/journeys", {"name": "Broken", "definition": broken})
    assert response.status_code == 400
    assert error_of(response)["details"] == {
        "steps.wait.duration.days": ["Give a whole number, 0 or more."],
        "steps.welcome.channel": ["One of EMAIL, SMS, PUSH."],
        "steps.member.rule.field": ["Unknown field 'nope'. See GET segments/fields."],
    }
    assert "Traceback" not in response.content.decode()

    assert post(writer, f"{URL}/journeys", {"definition": definition()}).status_code == 400
    create(writer, "Taken")
    taken = post(writer, f"{URL}/journeys", {"name": "Taken"})
    assert taken.status_code == 400 and "name" in error_of(taken)["details"]
    not_json = writer.post(f"{URL}/journeys", data="{", content_type="application/json")
    assert not_json.status_code == 400


def test_publish_versions_and_state_changes_with_409s(clubs, writer):
    journey = published(writer)
    journey_id = journey["id"]
    assert journey["status"] == "ACTIVE" and journey["publishedVersion"] == 1
    assert journey["hasUnpublishedChanges"] is False
    assert journey["trigger"] == {"type": "manual", "eventType": None, "segmentId": None}

    edited = definition()
    edited["steps"]["welcome"]["template"] = "member_welcome_v2"
    patch(writer, f"{URL}/journeys/{journey_id}", {"definition": edited})
    assert writer.get(f"{URL}/journeys/{journey_id}").json()["data"]["hasUnpublishedChanges"]
    again = post(writer, f"{URL}/journeys/{journey_id}/publish").json()["data"]
    assert again["publishedVersion"] == 2 and again["status"] == "ACTIVE"
    versions = writer.get(f"{URL}/journeys/{journey_id}/versions").json()
    assert [(v["number"], v["current"]) for v in versions["data"]] == [(2, True), (1, False)]
    assert versions["data"][1]["definition"]["steps"]["welcome"]["template"] == "member_welcome"

    resumed = post(writer, f"{URL}/journeys/{journey_id}/resume")
    assert resumed.status_code == 409
    assert error_of(resumed)["code"] == "invalid_state" and error_of(resumed)["message"]
    paused = post(writer, f"{URL}/journeys/{journey_id}/pause")
    assert paused.status_code == 200 and paused.json()["data"]["status"] == "PAUSED"
    assert post(writer, f"{URL}/journeys/{journey_id}/pause").status_code == 409
    assert post(writer, f"{URL}/journeys/{journey_id}/resume").json()["data"]["status"] == "ACTIVE"

    # Only a draft never published may be deleted.
    refused = writer.delete(f"{URL}/journeys/{journey_id}")
    assert refused.status_code == 409 and error_of(refused)["code"] == "invalid_state"
    archived = post(writer, f"{URL}/journeys/{journey_id}/archive")
    assert archived.json()["data"]["status"] == "ARCHIVED"
    for action in ("publish", "pause", "resume"):
        assert post(writer, f"{URL}/journeys/{journey_id}/{action}").status_code == 409, action
    assert patch(writer, f"{URL}/journeys/{journey_id}", {"name": "Zombie"}).status_code == 409

    draft = create(writer, "Scratch")
    assert writer.delete(f"{URL}/journeys/{draft['id']}").status_code == 204
    assert writer.get(f"{URL}/journeys/{draft['id']}").status_code == 404


def test_enrol_by_api_enrolments_exit_and_a_customers_journeys(clubs, writer, people):
    aoife, brian, cara = people
    draft = create(writer)
    not_active = post(writer, f"{URL}/journeys/{draft['id']}/enrol",
                      {"customerIds": [str(aoife.id)]})  # fmt: skip
    assert not_active.status_code == 200
    assert not_active.json()["data"] == {
        "enrolled": [],
        "skipped": [{"customerId": str(aoife.id), "reason": "journey not active"}],
    }

    journey_id = post(writer, f"{URL}/journeys/{draft['id']}/publish").json()["data"]["id"]
    stranger = str(uuid.uuid4())
    body = {"customerIds": [str(aoife.id), str(brian.id), stranger], "key": "spring-intake"}
    response = post(writer, f"{URL}/journeys/{journey_id}/enrol", body)
    assert response.status_code == 200, response.content
    result = response.json()["data"]
    assert sorted(result["enrolled"]) == sorted([str(aoife.id), str(brian.id)])
    assert result["skipped"] == [{"customerId": stranger, "reason": "no such customer"}]
    repeat = post(writer, f"{URL}/journeys/{journey_id}/enrol", body).json()["data"]
    assert repeat["enrolled"] == []
    assert {s["customerId"] for s in repeat["skipped"]} == {str(aoife.id), str(brian.id), stranger}

    bad = post(writer, f"{URL}/journeys/{journey_id}/enrol", {"customerIds": ["x"]})
    assert bad.status_code == 400 and "customerIds[0]" in error_of(bad)["details"]
    assert post(writer, f"{URL}/journeys/{journey_id}/enrol", {}).status_code == 400

    enrolments = writer.get(f"{URL}/journeys/{journey_id}/enrolments").json()
    assert enrolments["meta"]["total"] == 2
    first = enrolments["data"][0]
    assert first["status"] == "ACTIVE" and first["step"] == "wait"
    assert first["source"] == "API" and first["version"] == 1
    assert first["journeyName"] == "Welcome" and first["dueAt"]
    assert (
        writer.get(f"{URL}/journeys/{journey_id}/enrolments?step=welcome").json()["meta"]["total"]
        == 0
    )
    bad_status = writer.get(f"{URL}/journeys/{journey_id}/enrolments?status=LOST")
    assert bad_status.status_code == 400

    aoifes = writer.get(f"{URL}/customers/{aoife.id}/journeys").json()
    assert aoifes["meta"]["total"] == 1 and aoifes["data"][0]["journeyId"] == journey_id
    assert writer.get(f"{URL}/customers/{cara.id}/journeys").json()["meta"]["total"] == 0
    assert writer.get(f"{URL}/customers/{uuid.uuid4()}/journeys").status_code == 404

    enrolment_id = aoifes["data"][0]["id"]
    detail = writer.get(f"{URL}/enrolments/{enrolment_id}").json()["data"]
    assert detail["customerId"] == str(aoife.id) and isinstance(detail["events"], list)
    exited = post(writer, f"{URL}/enrolments/{enrolment_id}/exit", {"reason": "asked to stop"})
    assert exited.status_code == 200, exited.content
    assert exited.json()["data"]["status"] == "EXITED"
    assert exited.json()["data"]["exitReason"] == "asked to stop"
    twice = post(writer, f"{URL}/enrolments/{enrolment_id}/exit")
    assert twice.status_code == 409 and error_of(twice)["code"] == "invalid_state"
    assert writer.get(f"{URL}/enrolments/{uuid.uuid4()}").status_code == 404

    exited_list = writer.get(f"{URL}/journeys/{journey_id}/enrolments?status=EXITED").json()
    assert [e["id"] for e in exited_list["data"]] == [enrolment_id]
    stats = writer.get(f"{URL}/journeys/{journey_id}/stats").json()["data"]
    assert stats["enrolled"] == 2 and stats["live"] == 1 and stats["exited"] == 1
    assert stats["conversionRate"] == 0
    wait = next(s for s in stats["steps"] if s["key"] == "wait")
    assert wait["waiting"] == 1 and wait["type"] == "wait" and wait["label"] == "Wait 3 days"


def test_a_staff_session_enrols_as_manual(clubs, api, make_staff, people):
    email = make_staff(clubs.alpha, "MARKETING")
    client = api()
    client.post("/t/alpha-golf/admin/login/", {"username": email, "password": STAFF_PASSWORD})
    journey = published(client)
    response = post(client, f"{URL}/journeys/{journey['id']}/enrol",
                    {"customerIds": [str(people[0].id)]})  # fmt: skip
    assert response.status_code == 200, response.content
    listed = client.get(f"{URL}/journeys/{journey['id']}/enrolments").json()["data"]
    assert listed[0]["source"] == "MANUAL"


def test_migrate_moves_live_enrolments_to_the_published_version(clubs, writer, people):
    journey = published(writer)
    journey_id = journey["id"]
    post(writer, f"{URL}/journeys/{journey_id}/enrol", {"customerIds": [str(p.id) for p in people]})
    edited = definition()
    edited["steps"]["welcome"]["template"] = "member_welcome_v2"
    patch(writer, f"{URL}/journeys/{journey_id}", {"definition": edited})
    post(writer, f"{URL}/journeys/{journey_id}/publish")

    bad = post(writer, f"{URL}/journeys/{journey_id}/migrate", {"fromVersion": 7})
    assert bad.status_code == 400 and "fromVersion" in error_of(bad)["details"]
    response = post(writer, f"{URL}/journeys/{journey_id}/migrate", {"fromVersion": 1})
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"migrated": 3}
    versions = {e["version"] for e in
                writer.get(f"{URL}/journeys/{journey_id}/enrolments").json()["data"]}  # fmt: skip
    assert versions == {2}
    v1 = writer.get(f"{URL}/journeys/{journey_id}/stats?version=1").json()["data"]
    assert v1["version"] == 1 and v1["live"] == 0
    assert writer.get(f"{URL}/journeys/{journey_id}/stats?version=9").status_code == 400


def _fill(journey: Journey, version: JourneyVersion, people: list, steps: list[str]) -> None:
    """Enrolments and their log as the engine leaves them: walked through `steps` in turn."""
    now = timezone.now()
    statuses = [EnrolmentStatus.CONVERTED, EnrolmentStatus.ACTIVE, EnrolmentStatus.EXITED]
    for i, person in enumerate(people):
        status = statuses[i % len(statuses)]
        enrolment = Enrolment.objects.create(
            journey=journey, version=version, customer=person, status=status, step=steps[-1],
            due_at=now, entry_key=f"k{i}", source="MANUAL", entered_at=now, step_entered_at=now,
        )  # fmt: skip
        events = []
        for step in steps:
            events.append(EnrolmentEvent(enrolment=enrolment, journey=journey, version=version,
                                         step=step, kind="ENTERED", at=now))  # fmt: skip
            if step != steps[-1]:
                events.append(EnrolmentEvent(enrolment=enrolment, journey=journey,
                                             version=version, step=step, kind="COMPLETED",
                                             branch="next", at=now))  # fmt: skip
        if status == EnrolmentStatus.CONVERTED:
            events.append(EnrolmentEvent(enrolment=enrolment, journey=journey, version=version,
                                         step=steps[-1], kind="CONVERTED", at=now))  # fmt: skip
        if status == EnrolmentStatus.EXITED:
            events.append(EnrolmentEvent(enrolment=enrolment, journey=journey, version=version,
                                         step=steps[-1], kind="EXITED", at=now))  # fmt: skip
        EnrolmentEvent.objects.bulk_create(events)


def _chain(n: int) -> dict:
    steps = {f"s{i}": {"type": "wait", "label": f"Step {i}", "duration": {"days": 1},
                       "next": f"s{i + 1}" if i + 1 < n else None} for i in range(n)}  # fmt: skip
    return {"trigger": {"type": "manual"}, "start": "s0", "steps": steps}


def _selects(queries) -> list[str]:
    """The statements run, without django-tenants' own `SET search_path`."""
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET ")]


@pytest.mark.parametrize("size", [3, 30])
def test_stats_are_set_based_whatever_the_size(clubs, size):
    """Two GROUP BY statements and one read of the versions, for 3 steps and 3 customers as for
    30 steps and 30 customers."""
    with schema_context(clubs.alpha.schema_name):
        people = [customer(first_name=f"P{i}") for i in range(size)]
        chain = _chain(size)
        journey = Journey.objects.create(name="Chain", definition=chain, status="ACTIVE")
        version = JourneyVersion.objects.create(
            journey=journey, number=1, definition=chain, published_at=timezone.now()
        )
        journey.published_version = version
        journey.save()
        _fill(journey, version, people, [f"s{i}" for i in range(size)])
        journey = Journey.objects.select_related("published_version").get(pk=journey.pk)

        with CaptureQueriesContext(connection) as queries:
            stats = journey_stats(journey=journey)
        assert len(_selects(queries)) == 3, _selects(queries)
        with CaptureQueriesContext(connection) as queries:
            one = journey_stats(journey=journey, version=version)
        assert len(_selects(queries)) == 2, _selects(queries)

    converted = len(range(0, size, 3))
    assert stats["enrolled"] == size and one["enrolled"] == size
    assert stats["converted"] == converted
    assert stats["conversionRate"] == round(converted / size, 4)
    assert [s["key"] for s in stats["steps"]] == [f"s{i}" for i in range(size)]
    last = stats["steps"][-1]
    assert last["entered"] == size and last["converted"] == converted
    assert last["waiting"] == len(range(1, size, 3)) and last["exited"] == len(range(2, size, 3))
    first = stats["steps"][0]
    assert first["completed"] == size and first["branches"] == {"next": size}
    assert first["waiting"] == 0


def test_stats_list_steps_of_older_versions_after_the_published_ones(clubs):
    with schema_context(clubs.alpha.schema_name):
        people = [customer(first_name="Old")]
        old, new = _chain(2), _chain(1)
        new["steps"]["s0"]["label"] = "Renamed"
        journey = Journey.objects.create(name="Versions", definition=new, status="ACTIVE")
        v1 = JourneyVersion.objects.create(
            journey=journey, number=1, definition=old, published_at=timezone.now()
        )
        v2 = JourneyVersion.objects.create(
            journey=journey, number=2, definition=new, published_at=timezone.now()
        )
        journey.published_version = v2
        journey.save()
        _fill(journey, v1, people, ["s0", "s1"])
        stats = journey_stats(journey=journey)
        draft = Journey.objects.create(name="Never published", definition=_chain(2))
        nothing = journey_stats(journey=draft)
    assert [(s["key"], s["label"], s["entered"]) for s in stats["steps"]] == [
        ("s0", "Renamed", 1),
        ("s1", "Step 1", 1),
    ]
    assert nothing["enrolled"] == 0 and nothing["conversionRate"] is None
    assert [s["key"] for s in nothing["steps"]] == ["s0", "s1"]


def test_staff_tasks_listed_and_completed(clubs, api, make_key, make_staff, writer, people):
    journey = published(writer)
    with schema_context(clubs.alpha.schema_name):
        now = timezone.now()
        call = StaffTask.objects.create(
            customer=people[0], journey_id=journey["id"], step="call", title="Welcome call",
            body="Ring them", assigned_to="STAFF", created_at=now,
        )  # fmt: skip
        other = StaffTask.objects.create(
            customer=people[1], title="Renewal call", assigned_to="ADMIN", created_at=now
        )
    listed = writer.get(f"{URL}/staff-tasks").json()
    assert listed["meta"]["total"] == 2
    row = next(t for t in listed["data"] if t["id"] == str(call.id))
    assert row["journeyName"] == "Welcome" and row["displayName"] == "Aoife Byrne"
    assert row["assignedTo"] == "STAFF" and row["status"] == "OPEN"
    mine = writer.get(f"{URL}/staff-tasks?assignedTo=admin").json()["data"]
    assert [t["id"] for t in mine] == [str(other.id)]
    by_journey = writer.get(f"{URL}/staff-tasks?journey={journey['id']}").json()["data"]
    assert [t["id"] for t in by_journey] == [str(call.id)]

    # A STAFF member (no campaign rights) makes the call and closes the task.
    email = make_staff(clubs.alpha, "STAFF")
    staff = api()
    staff.post("/t/alpha-golf/admin/login/", {"username": email, "password": STAFF_PASSWORD})
    done = post(staff, f"{URL}/staff-tasks/{call.id}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["status"] == "DONE" and done.json()["data"]["doneBy"] == email
    dismissed = post(writer, f"{URL}/staff-tasks/{other.id}/complete", {"dismiss": True})
    assert dismissed.json()["data"]["status"] == "DISMISSED"
    assert writer.get(f"{URL}/staff-tasks").json()["meta"]["total"] == 0
    assert writer.get(f"{URL}/staff-tasks?status=ALL").json()["meta"]["total"] == 2
    assert writer.get(f"{URL}/staff-tasks?status=DONE").json()["meta"]["total"] == 1
    again = post(writer, f"{URL}/staff-tasks/{call.id}/complete")
    assert again.status_code == 409
    assert post(writer, f"{URL}/staff-tasks/{uuid.uuid4()}/complete").status_code == 404
    reader = api(make_key(clubs.alpha, "crm:read"))
    assert post(reader, f"{URL}/staff-tasks/{other.id}/complete").status_code == 403


def test_scopes_and_roles(clubs, api, make_key, make_staff, writer):
    journey = create(writer)
    reader = api(make_key(clubs.alpha, "crm:read"))
    assert reader.get(f"{URL}/journeys").status_code == 200
    assert reader.get(f"{URL}/journeys/{journey['id']}/stats").status_code == 200
    assert post(reader, f"{URL}/journeys", {"name": "No"}).status_code == 403
    assert post(reader, f"{URL}/journeys/{journey['id']}/publish").status_code == 403
    writer_only = api(make_key(clubs.alpha, "crm:read,crm:write"))
    assert post(writer_only, f"{URL}/journeys", {"name": "No"}).status_code == 403
    assert api().get(f"{URL}/journeys").status_code == 401

    email = make_staff(clubs.alpha, "STAFF")
    staff = api()
    staff.post("/t/alpha-golf/admin/login/", {"username": email, "password": STAFF_PASSWORD})
    assert staff.get(f"{URL}/journeys").status_code == 200
    assert post(staff, f"{URL}/journeys", {"name": "No"}).status_code == 403


def test_json_schema_and_openapi_document(clubs, writer):
    schema = writer.get(f"{URL}/journeys/schema")
    assert schema.status_code == 200
    body = schema.json()
    assert body["$schema"].endswith("2020-12/schema") and "rule" in body["$defs"]
    document = writer.get("/t/alpha-golf/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = document["paths"]
    for path in (
        "/t/alpha-golf/api/v1/journeys",
        "/t/alpha-golf/api/v1/journeys/{journey_id}/stats",
        "/t/alpha-golf/api/v1/journeys/{journey_id}/enrol",
        "/t/alpha-golf/api/v1/enrolments/{enrolment_id}/exit",
        "/t/alpha-golf/api/v1/customers/{customer_id}/journeys",
        "/t/alpha-golf/api/v1/journey-templates/{key}/copy",
        "/t/alpha-golf/api/v1/staff-tasks",
    ):
        assert any(p.endswith(path.split("/api/v1")[1]) for p in paths), path
    operations = {op["operationId"] for item in paths.values() for op in item.values()
                  if isinstance(op, dict) and "operationId" in op}  # fmt: skip
    assert {"journeys_list", "journeys_create", "journeys_stats", "journeys_enrol",
            "enrolments_exit", "staff_tasks_complete", "journey_templates_copy"} <= operations  # fmt: skip
    listing = paths[next(p for p in paths if p.endswith("/journeys/{journey_id}/enrolments"))]
    assert {p["name"] for p in listing["get"]["parameters"]} >= {"status", "step", "skip", "take"}


def test_lists_cost_the_same_number_of_queries_whatever_their_length(clubs, writer):
    """No query per row: journeys, versions, enrolments, a customer's journeys, staff tasks."""

    def fill(n: int) -> dict[str, str]:
        with schema_context(clubs.alpha.schema_name):
            now = timezone.now()
            someone = customer(first_name=f"Solo{n}")
            people = [customer(first_name=f"N{n}-{i}") for i in range(n)]
            first = None
            for i in range(n):
                chain = _chain(2)
                journey = Journey.objects.create(
                    name=f"Size {n} #{i}", definition=chain, status="ACTIVE"
                )
                for number in range(1, n + 2):
                    version = JourneyVersion.objects.create(
                        journey=journey, number=number, definition=chain, published_at=now
                    )
                journey.published_version = version
                journey.save()
                first = first or (journey, version)
                Enrolment.objects.create(
                    journey=journey, version=version, customer=someone, status="ACTIVE",
                    step="s0", due_at=now, entry_key="k", source="API", entered_at=now,
                    step_entered_at=now,
                )  # fmt: skip
                StaffTask.objects.create(
                    customer=people[i], journey=journey, title=f"Call {i}", assigned_to="STAFF",
                    created_at=now, step=f"n{n}",
                )  # fmt: skip
            journey, version = first
            for person in people[1:]:
                Enrolment.objects.create(
                    journey=journey, version=version, customer=person, status="ACTIVE",
                    step="s0", due_at=now, entry_key="k", source="API", entered_at=now,
                    step_entered_at=now,
                )  # fmt: skip
        return {"journey": str(journey.id), "customer": str(someone.id)}

    def counts(ids: dict[str, str]) -> list[int]:
        result = []
        for path in (
            "journeys",
            f"journeys/{ids['journey']}/versions",
            f"journeys/{ids['journey']}/enrolments",
            f"customers/{ids['customer']}/journeys",
            "staff-tasks",
        ):
            with CaptureQueriesContext(connection) as queries:
                response = writer.get(f"{URL}/{path}")
            assert response.status_code == 200, response.content
            result.append(len(_selects(queries)))
        return result

    writer.get(f"{URL}/journeys")  # the key's first use (last-used stamp) out of the way
    small = counts(fill(1))
    large = counts(fill(6))
    assert small == large
