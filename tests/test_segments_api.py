"""Segments end to end: REST and GraphQL as segments.md says, materialised membership with its
change log and outbox events, event-driven refreshes, static lists, CSV import and export."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context

from crm.outbox.models import OutboundEvent
from segments.models import Segment, SegmentMembership, SegmentMembershipChange
from segments.services import segment_refresh, segments_refresh_touched
from tests.conftest import error_of
from tests.events import envelope, member

URL = "/t/alpha-golf/api/v1/segments"
FULL_OR_SENIOR = {
    "combinator": "AND",
    "rules": [{"field": "membershipTier", "operator": "in", "value": ["FULL", "SENIOR"]}],
}


@pytest.fixture
def client(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:write"))


@pytest.fixture
def club(ingest):
    """Three members through the real ingestion path: two FULL, one JUNIOR."""
    ingest(
        [
            member(101, firstName="Aoife", lastName="Byrne", email="aoife@example.ie"),
            member(102, firstName="Brian", lastName="Kelly", email="brian@example.ie"),
            member(
                103, firstName="Cara", lastName="Nolan", email="cara@example.ie",
                tier={"code": "JUNIOR", "name": "Junior"},
            ),
        ]
    )  # fmt: skip


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_preview_counts_and_samples_without_saving(client, club):
    response = post(client, f"{URL}/preview", {"rules": FULL_OR_SENIOR})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["count"] == 2
    assert sorted(c["firstName"] for c in data["sample"]) == ["Aoife", "Brian"]
    assert data["sample"][0]["identities"]  # the full customer shape
    with schema_context("club_alpha_old"):
        assert not Segment.objects.exists()


def test_a_bad_rule_is_refused_with_the_path_of_the_bad_part(client, club):
    rules = {"combinator": "AND", "rules": [
        {"field": "membershipTier", "operator": "in", "value": ["FULL"]},
        {"combinator": "OR", "rules": [{"field": "bookingCount", "operator": "like", "value": 1}]},
    ]}  # fmt: skip
    for response in (
        post(client, f"{URL}/preview", {"rules": rules}),
        post(client, URL, {"name": "Broken", "type": "DYNAMIC", "rules": rules}),
    ):
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "validation_error"
        assert list(error["details"]) == ["rules[1].rules[0].operator"]


def test_create_refresh_members_and_change_log(client, club, ingest):
    response = post(
        client, URL, {"name": "Full or senior", "type": "DYNAMIC", "rules": FULL_OR_SENIOR,
                      "refresh": "HOURLY"},
    )  # fmt: skip
    assert response.status_code == 201, response.content
    segment = response.json()["data"]
    assert segment["memberCount"] == 0 and segment["lastRefreshedAt"] is None

    refreshed = post(client, f"{URL}/{segment['id']}/refresh", {}).json()["data"]
    assert refreshed["memberCount"] == 2
    assert refreshed["lastRefresh"] == {"entered": 2, "exited": 0}
    assert refreshed["lastRefreshedAt"]
    again = post(client, f"{URL}/{segment['id']}/refresh", {}).json()["data"]
    assert again["lastRefresh"] == {"entered": 0, "exited": 0}  # idempotent

    members = client.get(f"{URL}/{segment['id']}/members").json()
    assert members["meta"]["total"] == 2
    assert [m["firstName"] for m in members["data"]] == ["Aoife", "Brian"]

    with schema_context("club_alpha_old"):
        assert segments_refresh_touched() == {"customers": 0, "segments": 0}  # starts the cursor
    # Brian moves to JUNIOR: the event-driven refresh takes him out within a minute.
    ingest([envelope("scl.member.tier.changed", {"memberId": 102, "fromTier": {"code": "FULL"},
            "toTier": {"code": "JUNIOR", "name": "Junior"}}, identity={"sclMemberId": 102}, at=5)])  # fmt: skip
    with schema_context("club_alpha_old"):
        touched = segments_refresh_touched()
        assert touched["segments"] == 1
        assert list(
            SegmentMembership.objects.filter(segment_id=segment["id"]).values_list(
                "customer__first_name", flat=True
            )
        ) == ["Aoife"]
        changes = list(
            SegmentMembershipChange.objects.filter(segment_id=segment["id"])
            .order_by("at", "kind", "customer__first_name")
            .values_list("customer__first_name", "kind")
        )
        assert changes == [("Aoife", "ENTERED"), ("Brian", "ENTERED"), ("Brian", "EXITED")]
        events = OutboundEvent.objects.filter(type="crm.segment.membership.changed")
        assert events.count() == 3
        exit_event = next(e.envelope for e in events if e.envelope["payload"]["change"] == "EXITED")
        assert exit_event["payload"]["segmentId"] == segment["id"]
        assert exit_event["identity"]["sclMemberId"] == 102
        assert exit_event["source"] == "crm" and exit_event["tenantSlug"] == "alpha-golf"

    history = client.get(f"{URL}/{segment['id']}/changes").json()
    assert history["meta"]["total"] == 3
    listed = client.get("/t/alpha-golf/api/v1/customers", {"segment": segment["id"]}).json()
    assert [c["firstName"] for c in listed["data"]] == ["Aoife"]


def test_get_patch_delete_and_list(client, club):
    created = post(client, URL, {"name": "Juniors", "rules": {"combinator": "AND", "rules": [
        {"field": "membershipTier", "operator": "eq", "value": "JUNIOR"}]}}).json()["data"]  # fmt: skip
    assert created["type"] == "DYNAMIC" and created["refresh"] == "DAILY"
    detail = client.get(f"{URL}/{created['id']}").json()["data"]
    assert detail["name"] == "Juniors" and "memberCount" in detail
    patched = client.patch(
        f"{URL}/{created['id']}", data=json.dumps({"name": "Junior members", "refresh": "MANUAL"}),
        content_type="application/json",
    )  # fmt: skip
    assert patched.status_code == 200 and patched.json()["data"]["refresh"] == "MANUAL"
    duplicate = post(client, URL, {"name": "junior MEMBERS", "rules": FULL_OR_SENIOR})
    assert duplicate.status_code == 400 and "name" in error_of(duplicate)["details"]
    assert client.get(URL).json()["meta"]["total"] == 1
    assert client.delete(f"{URL}/{created['id']}").status_code == 204
    assert client.get(f"{URL}/{created['id']}").status_code == 404
    assert error_of(client.get(f"{URL}/not-a-uuid"))["code"] == "not_found"


def test_a_segment_named_by_another_cannot_be_deleted(client, club):
    inner = post(client, URL, {"name": "Inner", "rules": FULL_OR_SENIOR}).json()["data"]
    post(client, URL, {"name": "Outer", "rules": {"field": "inSegment", "operator": "eq",
                                                  "value": inner["id"]}})  # fmt: skip
    response = client.delete(f"{URL}/{inner['id']}")
    assert response.status_code == 400
    assert "Outer" in error_of(response)["details"]["segment"][0]


def test_static_lists_by_hand_csv_import_snapshot_and_csv_export(client, club):
    static = post(client, URL, {"name": "Open day guests", "type": "STATIC"}).json()["data"]
    customers = {
        c["firstName"]: c["id"] for c in client.get("/t/alpha-golf/api/v1/customers").json()["data"]
    }
    added = post(client, f"{URL}/{static['id']}/members",
                 {"customerIds": [customers["Aoife"], "5b0c3c4e-0000-4000-8000-000000000000"]})  # fmt: skip
    assert added.json()["data"] == {
        "added": 1, "alreadyMembers": 0, "notFound": ["5b0c3c4e-0000-4000-8000-000000000000"]
    }  # fmt: skip

    csv_text = "Email,phone\nBRIAN@example.ie,\nnobody@example.ie,\n,\nnot-an-email,\n"
    report = post(client, f"{URL}/{static['id']}/import", {"csv": csv_text}).json()["data"]
    assert report["rows"] == 4 and report["matched"] == 1 and report["added"] == 1
    assert [(u["line"], u["reason"]) for u in report["unmatched"]] == [
        (3, "matches no customer"), (4, "no identifier on this row"), (5, "not a valid Email"),
    ]  # fmt: skip

    exported = client.get(f"{URL}/{static['id']}/members", {"format": "csv"})
    assert exported["Content-Type"].startswith("text/csv")
    lines = exported.content.decode().strip().splitlines()
    assert lines[0].startswith("customerId,firstName,lastName,email")
    assert [line.split(",")[1] for line in lines[1:]] == ["Aoife", "Brian"]

    dynamic = post(client, URL, {"name": "Full", "rules": FULL_OR_SENIOR}).json()["data"]
    snap = post(client, f"{URL}/{dynamic['id']}/snapshot", {"name": "Full, 1 June"})
    assert snap.status_code == 201
    assert snap.json()["data"]["type"] == "STATIC" and snap.json()["data"]["memberCount"] == 2
    refused = post(client, f"{URL}/{dynamic['id']}/members", {"customerIds": [customers["Cara"]]})
    assert refused.status_code == 400


def test_templates_fields_and_schema(client, club):
    templates = client.get(f"{URL}/templates").json()["data"]
    assert len(templates) == 13
    assert {"key", "name", "rules"} <= set(templates[0])
    for template in templates:
        assert post(client, f"{URL}/preview", {"rules": template["rules"]}).status_code == 200
    fields = client.get(f"{URL}/fields").json()["data"]
    assert "FULL" in fields["pickers"]["tiers"]
    assert {f["name"] for f in fields["fields"]} >= {"bookingCount", "weekdayMorningShare"}
    schema = client.get(f"{URL}/schema").json()
    assert schema["$schema"].endswith("2020-12/schema")


def test_scopes(clubs, api, make_key, club):
    reader = api(make_key(clubs.alpha, "crm:read"))
    assert post(reader, f"{URL}/preview", {"rules": FULL_OR_SENIOR}).status_code == 200
    assert post(reader, URL, {"name": "x", "rules": FULL_OR_SENIOR}).status_code == 403
    assert api().get(URL).status_code == 401


def test_club_b_segments_are_invisible_to_club_a(clubs, api, make_key, client, club):
    with schema_context(clubs.bravo.schema_name):
        bravo = Segment.objects.create(name="Bravo only", rules=FULL_OR_SENIOR)
    for path in ("", "/members", "/changes"):
        assert client.get(f"{URL}/{bravo.id}{path}").status_code == 404
    assert post(client, f"{URL}/{bravo.id}/refresh", {}).status_code == 404
    assert client.get(URL).json()["meta"]["total"] == 0
    rule = {"field": "inSegment", "operator": "eq", "value": str(bravo.id)}
    response = post(client, URL, {"name": "Sneaky", "rules": rule})
    assert response.status_code == 400
    assert error_of(response)["details"] == {"value": ["No segment with this id in this club."]}


def test_graphql_segments(client, club):
    def gql(query, **variables):
        response = post(client, "/t/alpha-golf/graphql", {"query": query, "variables": variables})
        assert response.status_code == 200, response.content
        return response.json()

    created = gql(
        """mutation($rules: GenericScalar) { createSegment(name: "Full", rules: $rules,
           refresh: HOURLY) { segment { id name memberCount refresh } errors { field message } } }""",
        rules=FULL_OR_SENIOR,
    )["data"]["createSegment"]
    assert created["errors"] == [] and created["segment"]["refresh"] == "HOURLY"
    segment_id = created["segment"]["id"]
    refreshed = gql(
        "mutation($id: UUID!) { refreshSegment(id: $id) { entered segment { memberCount "
        "members { total items { firstName } } } } }",
        id=segment_id,
    )["data"]["refreshSegment"]
    assert refreshed["entered"] == 2 and refreshed["segment"]["members"]["total"] == 2
    preview = gql(
        "query($rules: GenericScalar!) { segmentPreview(rules: $rules) { count sample { firstName } } }",
        rules=FULL_OR_SENIOR,
    )["data"]["segmentPreview"]
    assert preview["count"] == 2
    bad = gql(
        'mutation { createSegment(name: "Bad", rules: {field: "nope", operator: "eq", value: 1}) '
        "{ segment { id } errors { field message } } }"
    )["data"]["createSegment"]
    assert bad["segment"] is None and bad["errors"][0]["field"] == "field"
    listed = gql("{ segments { name memberCount } segmentTemplates { key } }")["data"]
    assert listed["segments"] == [{"name": "Full", "memberCount": 2}]
    assert len(listed["segmentTemplates"]) == 13


def test_refresh_of_a_segment_whose_nested_segment_broke_keeps_its_members(clubs, client, club):
    with schema_context(clubs.alpha.schema_name):
        segment = Segment.objects.create(
            name="Dangling", rules={"field": "inSegment", "operator": "eq",
                                    "value": "5b0c3c4e-0000-4000-8000-000000000000"},
        )  # fmt: skip
        result = segment_refresh(segment_id=segment.id)
        assert result.skipped
