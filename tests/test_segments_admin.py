"""The club admin's Segments, used as staff use it: real logins per role, the real change form
saving through the segment services (a refused rule is shown on the form, never a stack
trace), refresh, the change log, static lists by hand and by CSV, and CSV export.

The rule builder itself runs in a real browser in tests/test_segments_builder.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from profiles.models import Activity, ActivityCategory, Customer
from segments.models import (
    MembershipSource,
    Segment,
    SegmentMembership,
    SegmentMembershipChange,
    SegmentType,
)
from segments.services import segment_create, segment_members_add
from tests.conftest import STAFF_PASSWORD

ADMIN = "/t/alpha-golf/admin"
SEGMENTS = f"{ADMIN}/segments/segment"
CHANGES = f"{ADMIN}/segments/segmentmembershipchange"
EXAMPLE = {"combinator": "AND", "rules": [
    {"field": "membershipTier", "operator": "in", "value": ["FULL", "SENIOR"]},
    {"field": "bookingCount", "operator": "eq", "value": 0, "window": {"lastDays": 60}},
    {"field": "emailOpenCount", "operator": "gte", "value": 1, "window": {"lastDays": 30}},
]}  # fmt: skip


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
def people(clubs) -> dict[str, Customer]:
    """Aoife (FULL, no recent booking, opened an email), Brian (SENIOR, booked last week),
    Cara (JUNIOR), Dara (FULL, no email opened)."""
    now = timezone.now()
    with schema_context(clubs.alpha.schema_name):
        made = {
            name: Customer.objects.create(
                first_name=name, last_name="Test", email=f"{name.lower()}@example.ie",
                membership_tier=tier, membership_status="ACTIVE",
            )
            for name, tier in (("Aoife", "FULL"), ("Brian", "SENIOR"), ("Cara", "JUNIOR"),
                               ("Dara", "FULL"))
        }  # fmt: skip

        def act(customer: Customer, type_: str, days_ago: int) -> None:
            Activity.objects.create(
                customer=customer, type=type_, category=ActivityCategory.OTHER, title=type_,
                source=type_.split(".")[0], occurred_at=now - dt.timedelta(days=days_ago),
            )  # fmt: skip

        act(made["Aoife"], "teetime.booking.created", 90)
        act(made["Aoife"], "messaging.email.opened", 3)
        act(made["Brian"], "teetime.booking.created", 7)
        act(made["Brian"], "messaging.email.opened", 10)
        act(made["Cara"], "messaging.email.opened", 1)
        return made


def _add(client, **fields):
    data = {"name": "", "description": "", "type": "DYNAMIC", "refresh": "DAILY",
            "rules": "", "template_key": "", "_save": "Save", **fields}  # fmt: skip
    if not isinstance(data["rules"], str):
        data["rules"] = json.dumps(data["rules"])
    return client.post(f"{SEGMENTS}/add/", data)


def _segment(clubs, **filters) -> Segment:
    with schema_context(clubs.alpha.schema_name):
        return Segment.objects.get(**filters)


def _config(response) -> dict:
    match = re.search(
        r'<script id="segment-builder-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the builder's configuration is not on the page"
    return json.loads(match.group(1))


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "writes"), [("STAFF", False), ("MARKETING", True), ("ADMIN", True)]
)
def test_every_role_reads_segments_marketing_and_admin_edit(clubs, login, people, role, writes):
    with schema_context(clubs.alpha.schema_name):
        segment = segment_create(name="Full members", rules=EXAMPLE)
    client = login(role)
    # Every role reads the app's pages (the home page lists none: the sidebar is by task).
    index = client.get(f"{ADMIN}/segments/").content.decode()
    assert "Segments" in index and "Segment membership changes" in index
    assert client.get(f"{SEGMENTS}/").status_code == 200
    page = client.get(f"{SEGMENTS}/{segment.pk}/change/")
    assert page.status_code == 200
    config = _config(page)
    assert config["readOnly"] is not writes
    assert config["initialRules"] == EXAMPLE
    assert config["previewUrl"] == "/t/alpha-golf/api/v1/segments/preview"
    assert {group["key"] for group in config["groups"]} >= {"membership", "golf", "engagement"}
    assert config["pickers"]["tiers"] == ["FULL", "JUNIOR", "SENIOR"]
    assert config["operatorLabels"]["in"] == "is any of"
    html = page.content.decode()
    assert ('form="segment-refresh-form"' in html) is writes
    assert client.get(f"{SEGMENTS}/add/").status_code == (200 if writes else 403)
    refresh = client.post(f"{SEGMENTS}/{segment.pk}/refresh/")
    assert refresh.status_code == (302 if writes else 403)
    edit = client.post(
        f"{SEGMENTS}/{segment.pk}/change/",
        {"name": "Renamed", "description": "", "refresh": "DAILY", "rules": json.dumps(EXAMPLE)},
    )
    assert edit.status_code == (302 if writes else 403)
    assert _segment(clubs, pk=segment.pk).name == ("Renamed" if writes else "Full members")
    # Everyone may export the members and read the change log; nobody edits the log.
    assert client.get(f"{SEGMENTS}/{segment.pk}/export/").status_code == 200
    assert client.get(f"{CHANGES}/").status_code == 200
    assert client.get(f"{CHANGES}/add/").status_code == 403


def test_another_clubs_session_reaches_no_segment_page(clubs, login, people):
    with schema_context(clubs.alpha.schema_name):
        segment = segment_create(name="Alpha only", rules=EXAMPLE)
    client = login("ADMIN", tenant_ref="bravo-golf")
    for path in (
        f"{SEGMENTS}/",
        f"{SEGMENTS}/{segment.pk}/change/",
        f"{SEGMENTS}/{segment.pk}/export/",
        f"{CHANGES}/",
    ):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], path
    assert client.post(f"{SEGMENTS}/{segment.pk}/refresh/").status_code == 302
    assert _segment(clubs, pk=segment.pk).last_refreshed_at is None
    # Bravo's own admin does not know alpha's segment either.
    assert client.get(f"/t/bravo-golf/admin/segments/segment/{segment.pk}/change/").status_code in (
        302,
        404,
    )


# --- saving through the services ----------------------------------------------------------------


def test_a_segment_made_in_the_admin_is_made_by_the_service(
    clubs, login, people, django_capture_on_commit_callbacks
):
    client = login("MARKETING")
    with django_capture_on_commit_callbacks() as callbacks:
        response = _add(
            client, name="Lapsed but reading", rules=EXAMPLE, refresh="HOURLY",
            template_key="lapsed_golfers",
        )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    segment = _segment(clubs, name="Lapsed but reading")
    assert response["Location"] == f"{SEGMENTS}/"
    assert segment.rules == EXAMPLE and segment.type == SegmentType.DYNAMIC
    assert segment.refresh == "HOURLY" and segment.template_key == "lapsed_golfers"
    assert segment.created_by == "marketing@alpha-golf.example"
    assert segment.watched_event_types == ["*"]  # membershipTier is a customer column
    assert len(callbacks) == 1  # the first materialisation, queued after the commit
    with schema_context(clubs.alpha.schema_name):
        audit = AuditEntry.objects.get(action="segment.create", object_id=str(segment.pk))
        assert audit.actor_label == "marketing@alpha-golf.example"

    # An edit goes through segment_update, and only what changed is sent.
    changed = {**EXAMPLE, "combinator": "OR"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            f"{SEGMENTS}/{segment.pk}/change/",
            {"name": "Lapsed but reading", "description": "Spring campaign", "refresh": "HOURLY",
             "rules": json.dumps(changed, indent=4), "_continue": "1"},
        )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"{SEGMENTS}/{segment.pk}/change/"
    assert _segment(clubs, pk=segment.pk).rules == changed
    assert len(callbacks) == 1
    with schema_context(clubs.alpha.schema_name):
        audit = AuditEntry.objects.get(action="segment.update", object_id=str(segment.pk))
        assert audit.details == {"changed": ["description", "rules"]}

    # Saving the page unchanged (the same rule, written in another key order) writes nothing.
    reordered = {"rules": changed["rules"], "combinator": "OR"}
    client.post(
        f"{SEGMENTS}/{segment.pk}/change/",
        {"name": "Lapsed but reading", "description": "Spring campaign", "refresh": "HOURLY",
         "rules": json.dumps(reordered)},
    )  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        assert AuditEntry.objects.filter(action="segment.update").count() == 1


def test_a_refused_rule_is_shown_on_the_form_by_condition_and_nothing_is_saved(
    clubs, login, people
):
    client = login("MARKETING")
    bad = {"combinator": "AND", "rules": [
        {"field": "membershipTier", "operator": "in", "value": ["FULL"]},
        {"combinator": "OR", "rules": [
            {"field": "bookingCount", "operator": "like", "value": 1},
            {"field": "age", "operator": "eq", "value": 200},
        ]},
    ]}  # fmt: skip
    response = _add(client, name="Broken", rules=bad)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Traceback" not in html
    assert "Please correct the error" in html
    assert (
        "rules[1].rules[0].operator: bookingCount does not take the operator &#x27;like&#x27;"
        in (html)
    )
    assert "rules[1].rules[1].value: Must be at most 130." in html
    config = _config(response)
    assert config["ruleErrors"] == {
        "rules[1].rules[0].operator": [
            "bookingCount does not take the operator 'like'; it takes: "
            "eq, neq, gt, gte, lt, lte, between."
        ],
        "rules[1].rules[1].value": ["Must be at most 130."],
    }
    # The JSON as typed comes back in the box, for the builder to show again.
    form = response.context["adminform"].form
    assert json.loads(form["rules"].value()) == bad
    with schema_context(clubs.alpha.schema_name):
        assert not Segment.objects.exists()
        assert not AuditEntry.objects.filter(action="segment.create").exists()


def test_name_json_and_type_errors_are_shown_where_they_belong(clubs, login, people):
    with schema_context(clubs.alpha.schema_name):
        segment_create(name="Full members", rules=EXAMPLE)
    client = login("MARKETING")

    taken = _add(client, name="FULL MEMBERS", rules=EXAMPLE)
    assert taken.status_code == 200
    assert taken.context["adminform"].form.errors["name"] == [
        "A segment named 'FULL MEMBERS' already exists."
    ]

    not_json = _add(client, name="Typo", rules='{"combinator": "AND", "rules": [}')
    assert not_json.status_code == 200
    assert not_json.context["adminform"].form.errors["rules"] == ["Enter a valid JSON."]

    no_rule = _add(client, name="Nothing", rules="")
    assert no_rule.context["adminform"].form.rule_errors == {
        "rules": ["A DYNAMIC segment needs rules."]
    }

    # A static list has no rule: whatever the JSON box held is not asked for.
    static = _add(client, name="Captains", type="STATIC", rules=EXAMPLE)
    assert static.status_code == 302
    captains = _segment(clubs, name="Captains")
    assert captains.type == SegmentType.STATIC and captains.rules is None


def test_a_segment_cannot_include_itself_and_that_shows_on_the_form(clubs, login, people):
    with schema_context(clubs.alpha.schema_name):
        segment = segment_create(name="Loop", rules=EXAMPLE)
    client = login("MARKETING")
    selfish = {"combinator": "AND", "rules": [
        {"field": "inSegment", "operator": "eq", "value": str(segment.pk)}]}  # fmt: skip
    response = client.post(
        f"{SEGMENTS}/{segment.pk}/change/",
        {"name": "Loop", "description": "", "refresh": "DAILY", "rules": json.dumps(selfish)},
    )
    assert response.status_code == 200
    assert _config(response)["ruleErrors"] == {"rules": ["A segment cannot include itself."]}
    assert _segment(clubs, pk=segment.pk).rules == EXAMPLE
    # The builder does not offer the segment as a choice inside itself.
    assert str(segment.pk) not in {s["id"] for s in _config(response)["pickers"]["segments"]}


def test_deleting_a_segment_another_rule_uses_is_refused_with_a_message(clubs, login, people):
    with schema_context(clubs.alpha.schema_name):
        base = segment_create(name="Base", rules=EXAMPLE)
        segment_create(
            name="Uses base",
            rules={"combinator": "AND", "rules": [
                {"field": "inSegment", "operator": "eq", "value": str(base.pk)}]},
        )  # fmt: skip
        lonely = segment_create(name="Lonely", rules=EXAMPLE)
    client = login("MARKETING")
    confirm = client.get(f"{SEGMENTS}/{base.pk}/delete/")
    assert confirm.status_code == 200 and "Uses base" not in confirm.content.decode()
    refused = client.post(f"{SEGMENTS}/{base.pk}/delete/", {"post": "yes"}, follow=True)
    assert refused.status_code == 200
    assert "Not deleted: Used by the rules of: Uses base." in refused.content.decode()
    assert _segment(clubs, pk=base.pk)
    deleted = client.post(f"{SEGMENTS}/{lonely.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        assert not Segment.objects.filter(pk=lonely.pk).exists()
        assert AuditEntry.objects.filter(action="segment.delete").count() == 1


# --- refresh and the change log -----------------------------------------------------------------


def test_refresh_now_materialises_and_the_page_shows_count_and_latest_changes(clubs, login, people):
    with schema_context(clubs.alpha.schema_name):
        segment = segment_create(name="Lapsed readers", rules=EXAMPLE, refresh="MANUAL")
    client = login("MARKETING")
    before = client.get(f"{SEGMENTS}/{segment.pk}/change/").content.decode()
    assert "Never" in before and "Nobody has entered or left yet" in before

    response = client.post(f"{SEGMENTS}/{segment.pk}/refresh/", follow=True)
    html = response.content.decode()
    assert "Refreshed: 1 entered, 0 left; 1 members now." in html
    refreshed = _segment(clubs, pk=segment.pk)
    assert refreshed.member_count == 1 and refreshed.last_refreshed_at is not None
    assert re.search(r'id="member-count">1<', html)
    assert "Aoife Test" in html and "Entered" in html  # the latest entries
    with schema_context(clubs.alpha.schema_name):
        assert list(
            SegmentMembership.objects.filter(segment=segment).values_list(
                "customer__first_name", flat=True
            )
        ) == ["Aoife"]

    # The full change log: read only, filterable by segment.
    log = client.get(f"{CHANGES}/", {"segment__id__exact": str(segment.pk)}).content.decode()
    assert "Aoife Test" in log and "Lapsed readers" in log
    with schema_context(clubs.alpha.schema_name):
        change = SegmentMembershipChange.objects.get(segment=segment)
    detail = client.get(f"{CHANGES}/{change.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()

    # The CSV export has the members.
    export = client.get(f"{SEGMENTS}/{segment.pk}/export/")
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0][:4] == ["customerId", "firstName", "lastName", "email"]
    assert [row[1] for row in rows[1:]] == ["Aoife"]


# --- static lists ------------------------------------------------------------------------------


def test_static_list_by_hand_and_by_csv_with_the_unmatched_report(clubs, login, people):
    client = login("MARKETING")
    assert _add(client, name="Captains' list", type="STATIC").status_code == 302
    segment = _segment(clubs, name="Captains' list")
    page = client.get(f"{SEGMENTS}/{segment.pk}/change/").content.decode()
    assert 'id="rule-builder"' not in page  # a list, not a rule
    assert "Nobody in this list yet" in page and "Import from a CSV file" in page
    assert "admin/js/autocomplete.js" in page  # Django's search-as-you-type customer picker

    # By hand: the autocomplete posts customer ids.
    aoife, brian = people["Aoife"], people["Brian"]
    response = client.post(
        f"{SEGMENTS}/{segment.pk}/members/add/", {"customers": [aoife.pk, brian.pk]}, follow=True
    )
    assert "Added 2." in response.content.decode()
    again = client.post(
        f"{SEGMENTS}/{segment.pk}/members/add/", {"customers": [aoife.pk]}, follow=True
    )
    assert "Added 0; 1 already in the list." in again.content.decode()
    # The autocomplete it uses answers from the customer admin's search.
    found = client.get(
        f"{ADMIN}/autocomplete/",
        {"app_label": "segments", "model_name": "segmentmembership", "field_name": "customer",
         "term": "cara"},
    )  # fmt: skip
    assert [item["id"] for item in found.json()["results"]] == [str(people["Cara"].pk)]

    # By CSV: matched by email or SCL member id; what matches nobody is reported, not added.
    upload = SimpleUploadedFile(
        "list.csv",
        # Excel's "CSV UTF-8" starts with a byte order mark.
        "\ufeffemail,sclMemberId\ncara@example.ie,\nnobody@example.ie,\n,not-a-number\n".encode(),
        content_type="text/csv",
    )
    report = client.post(f"{SEGMENTS}/{segment.pk}/import/", {"file": upload})
    assert report.status_code == 200
    html = report.content.decode()
    assert "CSV import into Captains" in html
    assert "nobody@example.ie" in html and "Matches no customer" in html
    assert "not-a-number" in html and "Not a valid sclMemberId" in html
    with schema_context(clubs.alpha.schema_name):
        sources = dict(
            SegmentMembership.objects.filter(segment=segment).values_list(
                "customer__first_name", "source"
            )
        )
    assert sources == {
        "Aoife": MembershipSource.MANUAL,
        "Brian": MembershipSource.MANUAL,
        "Cara": MembershipSource.IMPORT,
    }
    assert re.search(
        r"<span class=\"sg-stat-value\">3</span><span class=\"sg-stat-label\">members now", html
    )

    # Remove ticked members.
    response = client.post(
        f"{SEGMENTS}/{segment.pk}/members/remove/", {"customer": [str(brian.pk)]}, follow=True
    )
    assert "Removed 1 member(s)." in response.content.decode()
    page = client.get(f"{SEGMENTS}/{segment.pk}/change/").content.decode()
    assert "Members (2)" in page and "Brian Test" in page  # Brian is still in the change log
    assert f'value="{brian.pk}"' not in page

    # Not UTF-8, or no identifier column: a message, nothing imported.
    latin = SimpleUploadedFile("latin.csv", "email\nsé@example.ie\n".encode("latin-1"))
    response = client.post(f"{SEGMENTS}/{segment.pk}/import/", {"file": latin}, follow=True)
    assert "The file is not UTF-8 text" in response.content.decode()
    no_column = SimpleUploadedFile("x.csv", b"name\nAoife\n")
    response = client.post(f"{SEGMENTS}/{segment.pk}/import/", {"file": no_column}, follow=True)
    assert "Nothing imported: No identifier column." in response.content.decode()


def test_list_actions_are_for_static_segments_and_writers_only(clubs, login, people):
    with schema_context(clubs.alpha.schema_name):
        dynamic = segment_create(name="Rule", rules=EXAMPLE)
        static = segment_create(name="List", type=SegmentType.STATIC)
    marketing = login("MARKETING")
    assert (
        marketing.post(
            f"{SEGMENTS}/{dynamic.pk}/members/add/", {"customers": [people["Aoife"].pk]}
        ).status_code
        == 404
    )
    assert marketing.get(f"{SEGMENTS}/{static.pk}/members/add/").status_code == 405
    staff = login("STAFF")
    page = staff.get(f"{SEGMENTS}/{static.pk}/change/").content.decode()
    assert "Import from a CSV file" not in page and "Add to the list" not in page
    for action in ("members/add", "members/remove", "import"):
        assert staff.post(f"{SEGMENTS}/{static.pk}/{action}/", {}).status_code == 403, action


def test_the_static_members_page_does_not_query_per_member(clubs, login, people):
    with schema_context(clubs.alpha.schema_name):
        segment = segment_create(name="List", type=SegmentType.STATIC)
        segment_members_add(segment=segment, customer_ids=[people["Aoife"].pk])
    client = login("MARKETING")
    url = f"{SEGMENTS}/{segment.pk}/change/"
    client.get(url)  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    with schema_context(clubs.alpha.schema_name):
        more = [
            Customer.objects.create(first_name=f"M{n}", last_name="Many", email=f"m{n}@x.ie")
            for n in range(40)
        ]
        segment_members_add(segment=segment, customer_ids=[c.pk for c in more])
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
