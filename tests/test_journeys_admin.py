"""The club admin's Journeys, used as staff use it: real logins per role, the real change form
saving through the journey services (a refused definition comes back with its errors keyed to
the step and field at fault, never a stack trace), the state buttons, the builder's check,
the ready-made journeys, versions and migration, enrolments (filters, "exit") and the staff
tasks notify steps make (open first, done / dismissed by any staff role).

The builder itself runs in a real browser in tests/test_journeys_builder.py."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from journeys.definition import empty_definition
from journeys.engine import run_due
from journeys.models import (
    Enrolment,
    EnrolmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    StaffTask,
    StaffTaskStatus,
)
from journeys.presets import TEMPLATES
from journeys.selectors import journey_stats
from journeys.services import (
    JourneyInput,
    journey_create,
    journey_enrol,
    journey_publish,
    journey_update,
)
from profiles.models import Customer
from tests.conftest import STAFF_PASSWORD

ADMIN = "/t/alpha-golf/admin"
JOURNEYS = f"{ADMIN}/journeys/journey"
ENROLMENTS = f"{ADMIN}/journeys/enrolment"
TASKS = f"{ADMIN}/journeys/stafftask"
VERSIONS = f"{ADMIN}/journeys/journeyversion"
SIMPLE = {
    "trigger": {"type": "manual"},
    "entryRule": None,
    "exitRule": None,
    "goal": None,
    "reentry": {"policy": "ONCE"},
    "maxEnrolments": None,
    "start": "wait",
    "steps": {
        "wait": {"type": "wait", "duration": {"days": 3}, "next": "end"},
        "end": {"type": "end"},
    },
}
CALL = {
    **SIMPLE,
    "start": "call",
    "steps": {
        "call": {"type": "notify", "title": "Call this member", "body": "Say hello.",
                 "assignTo": "STAFF", "next": "wait"},
        "wait": {"type": "wait", "duration": {"days": 3}, "next": "end"},
        "end": {"type": "end"},
    },
}  # fmt: skip


@pytest.fixture
def login(clubs, api, make_staff):
    """`login("MARKETING")` -> a client signed in to alpha's admin with that role."""

    def _login(role: str, tenant_ref: str = "alpha-golf"):
        tenant = clubs.alpha if tenant_ref == "alpha-golf" else clubs.bravo
        client = api()
        response = client.post(
            f"/t/{tenant_ref}/admin/login/",
            {"username": make_staff(tenant, role), "password": STAFF_PASSWORD,
             "next": f"/t/{tenant_ref}/admin/"},
        )  # fmt: skip
        assert response.status_code == 302, response.content
        return client

    return _login


@pytest.fixture
def people(clubs) -> list[Customer]:
    with schema_context(clubs.alpha.schema_name):
        return [
            Customer.objects.create(
                first_name=name,
                last_name="Golfer",
                email=f"{name.lower()}@example.ie",
                phone_number=f"+35387000000{n}",
                membership_tier="FULL",
                membership_status="ACTIVE",
            )
            for n, name in enumerate(("Aoife", "Brian", "Cara", "Dara"))
        ]


def _journey(clubs, name: str = "Simple", definition: dict | None = None, *, publish=False):
    with schema_context(clubs.alpha.schema_name):
        journey = journey_create(data=JourneyInput(name=name, definition=definition or SIMPLE))
        if publish:
            journey_publish(journey=journey)
            journey.refresh_from_db()
        return journey


def _config(response) -> dict:
    match = re.search(
        r'<script id="journey-builder-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the builder's configuration is not on the page"
    return json.loads(match.group(1))


def _form(name: str, definition, **extra) -> dict:
    return {
        "name": name,
        "description": "",
        "definition": definition if isinstance(definition, str) else json.dumps(definition),
        "_continue": "Save draft",
        **extra,
    }


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "writes"), [("STAFF", False), ("MARKETING", True),
                                              ("ADMIN", True)])  # fmt: skip
def test_every_role_reads_journeys_marketing_and_admin_edit(clubs, login, role, writes):
    journey = _journey(clubs)
    client = login(role)
    # Every role reads the app's pages (the home page lists none: the sidebar is by task).
    index = client.get(f"{ADMIN}/journeys/").content.decode()
    for title in ("Journeys", "Enrolments", "Staff tasks", "Journey versions"):
        assert title in index
    assert client.get(f"{JOURNEYS}/").status_code == 200
    page = client.get(f"{JOURNEYS}/{journey.pk}/change/")
    assert page.status_code == 200
    config = _config(page)
    assert config["readOnly"] is not writes
    assert config["definition"] == SIMPLE
    assert config["errors"] == {}
    assert bool(config["validateUrl"]) is writes
    assert {f["name"] for f in config["rules"]["fields"]} >= {"membershipTier", "emailOpenCount"}
    assert "scl.member.created" in config["catalog"]["eventTypes"]
    html = page.content.decode()
    assert ('name="_publish"' in html) is writes
    assert ('id="id_definition"' in html) is writes
    assert client.get(f"{JOURNEYS}/add/").status_code == (200 if writes else 403)
    assert client.get(f"{JOURNEYS}/templates/").status_code == (200 if writes else 403)
    check = client.post(
        f"{JOURNEYS}/validate/", {"definition": SIMPLE}, content_type="application/json"
    )
    assert check.status_code == (200 if writes else 403)
    state = client.post(f"{JOURNEYS}/{journey.pk}/state/publish/")
    assert state.status_code == (302 if writes else 403)
    # Tasks are every role's.
    assert client.get(f"{TASKS}/").status_code == 200


# --- the form, through the services ------------------------------------------------------------


def test_marketing_saves_a_draft_then_saves_and_publishes(clubs, login):
    client = login("MARKETING")
    add = client.get(f"{JOURNEYS}/add/")
    assert _config(add)["definition"] == empty_definition()
    assert f"{JOURNEYS}/templates/" in add.content.decode()

    response = client.post(f"{JOURNEYS}/add/", _form("Welcome", SIMPLE))
    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context(clubs.alpha.schema_name):
        journey = Journey.objects.get(name="Welcome")
        assert journey.definition == SIMPLE and journey.status == JourneyStatus.DRAFT
        assert AuditEntry.objects.filter(
            action="journey.create", object_id=str(journey.pk)
        ).exists()
    assert response["Location"].endswith(f"/journeys/journey/{journey.pk}/change/")

    changed = {**SIMPLE, "steps": {**SIMPLE["steps"],
                                   "wait": {"type": "wait", "duration": {"days": 5}, "next": "end"}}}  # fmt: skip
    response = client.post(
        f"{JOURNEYS}/{journey.pk}/change/", _form("Welcome", changed, _publish="Save and publish")
    )
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert "Saved and published as version 1." in _messages(page)
    with schema_context(clubs.alpha.schema_name):
        journey.refresh_from_db()
        assert journey.status == JourneyStatus.ACTIVE
        assert journey.published_version.number == 1
        assert journey.published_version.definition == changed
    html = page.content.decode()
    assert 'id="journey-published">Version 1' in html
    assert f"{JOURNEYS}/{journey.pk}/state/pause/" in html
    assert f"{JOURNEYS}/{journey.pk}/state/resume/" not in html
    assert "The draft below is what version 1 runs." in html

    # An edit after publishing is a draft again until published.
    response = client.post(f"{JOURNEYS}/{journey.pk}/change/", _form("Welcome", SIMPLE))
    page = client.get(response["Location"])
    assert "changes not yet published" in page.content.decode()


def test_a_refused_definition_comes_back_with_its_errors_at_the_step(clubs, login):
    client = login("MARKETING")
    bad = {**SIMPLE, "steps": {**SIMPLE["steps"],
                               "wait": {"type": "wait", "duration": {"days": 0}, "next": "end"}}}  # fmt: skip
    response = client.post(f"{JOURNEYS}/add/", _form("Broken", bad))
    assert response.status_code == 200
    config = _config(response)
    assert config["errors"] == {"steps.wait.duration": ["A wait must be longer than nothing."]}
    # What was typed stays in the form for the builder to show again.
    assert json.loads(response.context["adminform"].form["definition"].value()) == bad
    html = response.content.decode()
    assert "steps.wait.duration: A wait must be longer than nothing." in html
    assert "Traceback" not in html
    with schema_context(clubs.alpha.schema_name):
        assert not Journey.objects.filter(name="Broken").exists()

    not_json = client.post(f"{JOURNEYS}/add/", _form("Broken", "{not json"))
    assert not_json.status_code == 200
    assert "Enter a valid JSON." in not_json.content.decode()


def test_a_name_already_taken_is_named_on_the_name_field(clubs, login):
    _journey(clubs, "Birthday")
    client = login("MARKETING")
    response = client.post(f"{JOURNEYS}/add/", _form("Birthday", SIMPLE))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]


def test_the_builders_check_returns_definition_errors_by_path(clubs, login):
    client = login("MARKETING")

    def check(definition):
        response = client.post(
            f"{JOURNEYS}/validate/", {"definition": definition}, content_type="application/json"
        )
        assert response.status_code == 200
        return response.json()["errors"]

    assert check(SIMPLE) == {}
    segment_trigger = {**SIMPLE, "trigger": {"type": "segment",
                                             "segmentId": "00000000-0000-0000-0000-000000000001"}}  # fmt: skip
    assert check(segment_trigger) == {"trigger.segmentId": ["No segment of this club has this id."]}
    loop = {**SIMPLE, "steps": {**SIMPLE["steps"],
                                "end": {"type": "wait", "duration": {"days": 1}, "next": "wait"}}}  # fmt: skip
    assert "steps.wait" in check(loop)
    with schema_context(clubs.alpha.schema_name):
        count = Journey.objects.count()
    bad = client.post(f"{JOURNEYS}/validate/", "{nope", content_type="application/json")
    assert bad.status_code == 400
    with schema_context(clubs.alpha.schema_name):
        assert Journey.objects.count() == count  # the check saves nothing


# --- states ------------------------------------------------------------------------------------


def test_the_state_buttons_call_the_services_and_say_why_when_refused(clubs, login):
    journey = _journey(clubs)
    client = login("MARKETING")
    change = f"{JOURNEYS}/{journey.pk}/change/"

    def press(action: str) -> list[str]:
        response = client.post(f"{JOURNEYS}/{journey.pk}/state/{action}/")
        assert response.status_code == 302 and response["Location"] == change
        return _messages(client.get(change))

    assert press("publish") == ["Published as version 1."]
    assert press("pause")[0].startswith("Paused")
    refused = press("pause")  # already paused: the service says why
    assert refused and not refused[0].startswith("Paused")
    assert press("resume") == ["Resumed."]
    assert press("archive")[0].startswith("Archived")
    with schema_context(clubs.alpha.schema_name):
        journey.refresh_from_db()
        assert journey.status == JourneyStatus.ARCHIVED
    # An archived journey is a record: read only, no buttons.
    page = client.get(change)
    assert _config(page)["readOnly"] is True
    assert "/state/" not in page.content.decode()
    assert client.post(change, _form("Simple", SIMPLE)).status_code == 403
    assert client.post(f"{JOURNEYS}/{journey.pk}/state/nonsense/").status_code == 404


def test_publishing_a_draft_with_problems_is_refused_with_the_problems_marked(clubs, login):
    journey = _journey(clubs)
    with schema_context(clubs.alpha.schema_name):
        # Valid when saved; the segment it names is gone since (a draft can go stale).
        from segments.services import segment_create, segment_delete

        segment = segment_create(name="Gone soon", type="STATIC")
        journey = journey_update(journey=journey, data=JourneyInput(definition={
            **SIMPLE, "trigger": {"type": "segment", "segmentId": str(segment.pk)}}))  # fmt: skip
        segment_delete(segment=segment)
    client = login("MARKETING")
    client.post(f"{JOURNEYS}/{journey.pk}/state/publish/")
    page = client.get(f"{JOURNEYS}/{journey.pk}/change/")
    assert any(m.startswith("Not published") for m in _messages(page))
    assert _config(page)["errors"] == {
        "trigger.segmentId": ["No segment of this club has this id."]
    }
    with schema_context(clubs.alpha.schema_name):
        assert not JourneyVersion.objects.filter(journey=journey).exists()


def test_only_a_draft_never_published_is_deleted_the_rest_is_archived(clubs, login):
    draft = _journey(clubs, "Scrap")
    published = _journey(clubs, "Keep", publish=True)
    staff = login("STAFF")
    assert staff.get(f"{JOURNEYS}/{draft.pk}/delete/").status_code == 403
    client = login("MARKETING")
    assert client.get(f"{JOURNEYS}/{published.pk}/delete/").status_code == 403
    assert "/delete/" not in client.get(f"{JOURNEYS}/{published.pk}/change/").content.decode()
    assert (
        f"{JOURNEYS}/{draft.pk}/delete/"
        in client.get(f"{JOURNEYS}/{draft.pk}/change/").content.decode()
    )
    assert client.get(f"{JOURNEYS}/{draft.pk}/delete/").status_code == 200
    response = client.post(f"{JOURNEYS}/{draft.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        assert not Journey.objects.filter(pk=draft.pk).exists()
        assert AuditEntry.objects.filter(action="journey.delete", object_id=str(draft.pk)).exists()


# --- ready-made journeys -----------------------------------------------------------------------


def test_a_ready_made_journey_is_copied_into_a_draft(clubs, login):
    client = login("MARKETING")
    gallery = client.get(f"{JOURNEYS}/templates/")
    html = gallery.content.decode()
    assert len(TEMPLATES) == 10
    for template in TEMPLATES:
        assert f'id="template-{template["key"]}"' in html and template["name"] in html
    assert f"{JOURNEYS}/templates/" in client.get(f"{JOURNEYS}/").content.decode()

    key = TEMPLATES[0]["key"]
    response = client.post(f"{JOURNEYS}/templates/", {"key": key, "name": "Our welcome"})
    assert response.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        journey = Journey.objects.get(name="Our welcome")
        assert journey.template_key == key and journey.status == JourneyStatus.DRAFT
    assert response["Location"] == f"{JOURNEYS}/{journey.pk}/change/"
    page = client.get(response["Location"])
    assert _config(page)["errors"] == {}  # a ready-made journey is ready to publish

    again = client.post(f"{JOURNEYS}/templates/", {"key": key, "name": "Our welcome"})
    assert again.status_code == 200
    assert 'class="errorlist"' in again.content.decode()


# --- analytics, versions, migration ------------------------------------------------------------


def test_the_page_shows_journey_stats_versions_and_moves_customers_between_versions(
    clubs, login, people
):
    journey = _journey(clubs, publish=True)
    with schema_context(clubs.alpha.schema_name):
        journey_enrol(journey=journey, customer_ids=[p.pk for p in people[:3]], key="t")
        run_due(now=timezone.now() + dt.timedelta(minutes=1))  # into the 3-day wait
        journey = journey_update(journey=journey, data=JourneyInput(definition={
            **SIMPLE, "steps": {**SIMPLE["steps"], "wait": {
                "type": "wait", "duration": {"days": 1}, "next": "end"}}}))  # fmt: skip
        journey_publish(journey=journey)
        journey.refresh_from_db()
        stats = journey_stats(journey=journey)
        v1 = JourneyVersion.objects.get(journey=journey, number=1)
    client = login("MARKETING")
    page = client.get(f"{JOURNEYS}/{journey.pk}/change/")
    config = _config(page)
    assert config["stats"] == json.loads(json.dumps(stats))
    assert {row["key"]: row["waiting"] for row in config["stats"]["steps"]}["wait"] == 3
    html = page.content.decode()
    assert 'id="journey-enrolled">3<' in html and 'id="journey-live">3<' in html
    assert 'id="journey-conversion-rate">0.0%<' in html
    assert config["chart"]["labels"] == ["wait"]
    migrate = f"{JOURNEYS}/{journey.pk}/migrate/1/"
    assert migrate in html  # version 1 still has customers inside
    one_version = client.get(f"{JOURNEYS}/{journey.pk}/change/?stats_version=2")
    assert _config(one_version)["stats"]["enrolled"] == 0

    response = client.post(migrate)
    assert response.status_code == 302
    assert any(
        "Moved 3 live enrolment(s)" in m for m in _messages(client.get(response["Location"]))
    )
    with schema_context(clubs.alpha.schema_name):
        assert set(
            Enrolment.objects.filter(journey=journey).values_list("version__number", flat=True)
        ) == {2}

    version_page = client.get(f"{VERSIONS}/{v1.pk}/change/")
    assert version_page.status_code == 200
    version_config = _config(version_page)
    assert version_config["readOnly"] is True and version_config["definition"] == SIMPLE
    assert client.post(f"{VERSIONS}/{v1.pk}/change/", {}).status_code == 403


def test_the_journey_list_counts_in_one_query_whatever_the_number_of_journeys(clubs, login, people):
    journey = _journey(clubs, "Counted", publish=True)
    with schema_context(clubs.alpha.schema_name):
        journey_enrol(journey=journey, customer_ids=[p.pk for p in people], key="t")
    client = login("MARKETING")
    client.get(f"{JOURNEYS}/")  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        page = client.get(f"{JOURNEYS}/")
    for n in range(5):
        _journey(clubs, f"More {n}")
    with CaptureQueriesContext(connection) as more:
        client.get(f"{JOURNEYS}/")
    assert len(more.captured_queries) == len(few.captured_queries)
    row = re.search(r"Counted</a></th>(.*?)</tr>", page.content.decode(), re.S).group(1)
    assert re.search(r'<td class="field-live[^"]*"[^>]*>\s*4\s*</td>', row)
    assert re.search(r'<td class="field-enrolled[^"]*"[^>]*>\s*4\s*</td>', row)


# --- enrolments --------------------------------------------------------------------------------


def test_enrolments_are_listed_filtered_and_taken_out_by_marketing_not_staff(clubs, login, people):
    journey = _journey(clubs, publish=True)
    with schema_context(clubs.alpha.schema_name):
        result = journey_enrol(journey=journey, customer_ids=[p.pk for p in people], key="t")
        assert len(result.enrolled) == 4
        ids = list(Enrolment.objects.filter(journey=journey).values_list("pk", flat=True))
    staff = login("STAFF")
    listing = staff.get(f"{ENROLMENTS}/?journey__id__exact={journey.pk}&status__exact=ACTIVE")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 4
    assert "exit_selected" not in listing.content.decode()  # staff read, never take out
    assert staff.post(f"{ENROLMENTS}/{ids[0]}/exit/").status_code == 403
    # Enrolled at the first step (nothing has run yet); the step filter offers the journey's.
    at_wait = staff.get(f"{ENROLMENTS}/?journey__id__exact={journey.pk}&step=wait")
    assert at_wait.status_code == 200 and at_wait.context["cl"].result_count == 4
    at_end = staff.get(f"{ENROLMENTS}/?journey__id__exact={journey.pk}&step=end")
    assert at_end.context["cl"].result_count == 0
    assert "step=end" in at_wait.content.decode()
    detail = staff.get(f"{ENROLMENTS}/{ids[0]}/change/")
    assert detail.status_code == 200 and "Exit the journey" not in detail.content.decode()

    marketing = login("MARKETING")
    detail = marketing.get(f"{ENROLMENTS}/{ids[0]}/change/")
    assert "Exit the journey" in detail.content.decode()
    response = marketing.post(f"{ENROLMENTS}/{ids[0]}/exit/", {"reason": "Asked us to stop"})
    assert response.status_code == 302
    response = marketing.post(
        f"{ENROLMENTS}/",
        {"action": "exit_selected", "_selected_action": [str(i) for i in ids]},
    )
    assert response.status_code == 302
    messages_ = _messages(marketing.get(f"{ENROLMENTS}/"))
    assert "3 customer(s) taken out of their journey. 1 had already finished." in messages_
    with schema_context(clubs.alpha.schema_name):
        statuses = dict(Enrolment.objects.filter(pk__in=ids).values_list("pk", "status"))
        assert set(statuses.values()) == {EnrolmentStatus.EXITED}
        assert Enrolment.objects.get(pk=ids[0]).exit_reason == "Asked us to stop"


# --- staff tasks -------------------------------------------------------------------------------


def test_staff_tasks_come_open_first_and_any_staff_role_closes_them(clubs, login, people):
    journey = _journey(clubs, "Calls", CALL, publish=True)
    with schema_context(clubs.alpha.schema_name):
        journey_enrol(journey=journey, customer_ids=[p.pk for p in people[:3]], key="t")
        run_due(now=timezone.now() + dt.timedelta(minutes=1))
        tasks = list(StaffTask.objects.filter(journey=journey).order_by("customer__first_name"))
        assert [t.customer.first_name for t in tasks] == ["Aoife", "Brian", "Cara"]
    staff = login("STAFF")
    # Brian's call is done first, from its own page.
    page = staff.get(f"{TASKS}/{tasks[1].pk}/change/")
    html = page.content.decode()
    assert "Call this member" in html and "Mark done" in html and "+353870000001" in html
    assert staff.post(f"{TASKS}/{tasks[1].pk}/close/", {"outcome": "done"}).status_code == 302
    listing = staff.get(f"{TASKS}/")
    rows = listing.context["cl"].result_list
    assert [t.status for t in rows][:3] == ["OPEN", "OPEN", "DONE"]
    mine = staff.get(f"{TASKS}/?for=me")
    assert mine.context["cl"].result_count == 3  # assigned to STAFF, the role of this user
    response = staff.post(
        f"{TASKS}/", {"action": "dismiss", "_selected_action": [str(tasks[0].pk)]}
    )
    assert response.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        closed = {t.pk: t for t in StaffTask.objects.filter(journey=journey)}
        assert closed[tasks[0].pk].status == StaffTaskStatus.DISMISSED
        assert closed[tasks[1].pk].status == StaffTaskStatus.DONE
        assert closed[tasks[1].pk].done_by == "staff@alpha-golf.example"
        assert closed[tasks[2].pk].status == StaffTaskStatus.OPEN
    open_only = staff.get(f"{TASKS}/?status__exact=OPEN")
    assert [t.pk for t in open_only.context["cl"].result_list] == [tasks[2].pk]


# --- tenants -----------------------------------------------------------------------------------


def test_one_clubs_admin_never_shows_anothers_journeys(clubs, login):
    with schema_context(clubs.bravo.schema_name):
        secret = journey_create(data=JourneyInput(name="Bravo Secret Journey", definition=SIMPLE))
    client = login("ADMIN")
    for url in (
        f"{JOURNEYS}/{secret.pk}/change/",
        f"{JOURNEYS}/",
        f"{VERSIONS}/",
        f"{ENROLMENTS}/",
        f"{TASKS}/",
    ):
        response = client.get(url, follow=True)
        assert "Bravo Secret Journey" not in response.content.decode()
    assert client.post(f"{JOURNEYS}/{secret.pk}/state/archive/").status_code == 404
    # Alpha's session means nothing to bravo's admin.
    response = client.get(f"/t/bravo-golf/admin/journeys/journey/{secret.pk}/change/")
    assert response.status_code == 302 and "/login/" in response["Location"]
