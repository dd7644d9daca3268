"""The customer endpoints: detail with identities, resolve, timeline, merge and unmerge,
erasure, notes and tags."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from crm.outbox.models import OutboundEvent
from profiles.models import Customer, CustomerStatus, EventStatus, RawEvent, SourceRecord
from tests.conftest import STAFF_PASSWORD, error_of
from tests.events import contact, envelope, member, player

BASE = "/t/alpha-golf/api/v1/customers"


def _id_of(clubs, kind: str, key: str) -> str:
    with schema_context(clubs.alpha.schema_name):
        return str(SourceRecord.objects.get(kind=kind, key=key).customer_id)


@pytest.fixture
def reader(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read"))


@pytest.fixture
def admin(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:write,crm:admin"))


def test_detail_lists_identities_and_how_they_were_linked(clubs, ingest, reader):
    ingest(
        [
            member(1, email="aoife@example.ie"),
            player("p1", sclMemberId=1),
            contact("c1", email="aoife@example.ie"),
        ]
    )
    data = reader.get(f"{BASE}/{_id_of(clubs, 'scl', '1')}").json()["data"]
    identities = {
        (i["type"], i["value"]): (i["source"], i["matchedBy"], i["confidence"])
        for i in data["identities"]
    }
    assert identities[("sclMemberId", "1")] == ("scl", "source", 100)
    assert identities[("teetimePlayerId", "p1")] == ("teetime", "sclMemberId", 100)
    assert identities[("messagingContactId", "c1")] == ("messaging", "email", 95)
    assert identities[("email", "aoife@example.ie")][0] == "scl"
    assert data["tenantId"] == str(clubs.alpha.id)
    assert data["membershipTier"] == "FULL"


def test_list_filters_by_every_source_id(clubs, ingest, reader):
    ingest(
        [
            member(1, email="aoife@example.ie", phoneNumber="087 123 4567"),
            player("p1", sclMemberId=1),
            contact("c1", email="aoife@example.ie"),
        ]
    )
    for query in ("email=AOIFE@example.ie", "phoneNumber=%2B353871234567", "phoneNumber=087%20123%204567",
                  "sclMemberId=1", "teetimePlayerId=p1", "messagingContactId=c1", "q=byrne"):  # fmt: skip
        body = reader.get(f"{BASE}?{query}").json()
        assert body["meta"]["total"] == 1, query


def test_list_identities_cost_one_query_per_page(clubs, ingest, reader):
    ingest([player(f"p{i}", email=f"p{i}@example.ie") for i in range(30)])
    reader.get(f"{BASE}?take=1")  # settle the key's last-used stamp
    counts = []
    for take in (1, 30):
        with CaptureQueriesContext(connection) as captured:
            assert len(reader.get(f"{BASE}?take={take}").json()["data"]) == take
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_resolve(clubs, ingest, reader):
    ingest(
        [
            member(1, email="aoife@example.ie"),
            member(2, email="home@example.ie"),
            member(3, email="home@example.ie"),
        ]
    )
    found = reader.post(
        f"{BASE}/resolve", {"email": "Aoife@Example.ie"}, content_type="application/json"
    )
    assert found.status_code == 200
    assert found.json()["data"]["sclMemberId"] == 1
    assert (
        reader.post(f"{BASE}/resolve", {"sclMemberId": 2}, content_type="application/json").json()[
            "data"
        ]["sclMemberId"]
        == 2
    )
    missing = reader.post(
        f"{BASE}/resolve", {"teetimePlayerId": "nobody"}, content_type="application/json"
    )
    assert missing.status_code == 404
    ambiguous = reader.post(
        f"{BASE}/resolve", {"email": "home@example.ie"}, content_type="application/json"
    )
    assert ambiguous.status_code == 409
    assert len(error_of(ambiguous)["details"]["customerIds"]) == 2
    empty = reader.post(f"{BASE}/resolve", {}, content_type="application/json")
    assert empty.status_code == 400


def test_timeline_newest_first_with_category_filter(clubs, ingest, reader):
    ingest(
        [
            player("p1"),
            envelope(
                "teetime.booking.created",
                {
                    "bookingId": "b1",
                    "playerId": "p1",
                    "holes": 18,
                    "course": {"id": "1", "name": "Old"},
                },
                at=10,
            ),
            envelope(
                "teetime.booking.completed",
                {"bookingId": "b1", "playerId": "p1", "holes": 18},
                at=20,
            ),
            envelope(
                "teetime.competition.entry.created",
                {"competitionId": "k1", "playerId": "p1"},
                at=30,
            ),
        ]
    )
    url = f"{BASE}/{_id_of(clubs, 'teetime', 'p1')}/activities"
    titles = [a["title"] for a in reader.get(url).json()["data"]]
    assert titles == [
        "Entered a competition",
        "Played 18 holes",
        "Booked 18 holes at Old",
        "Golf profile created",
    ]
    golf = reader.get(f"{url}?category=golf&take=2").json()
    assert [a["title"] for a in golf["data"]] == ["Played 18 holes", "Booked 18 holes at Old"]
    assert golf["meta"] == {"total": 3, "skip": 0, "take": 2, "hasMore": True}
    assert reader.get(f"{url}?category=nonsense").status_code == 400


def test_merge_then_unmerge_restores_both(clubs, ingest, reader, admin):
    ingest(
        [
            member(1, firstName="Aoife", email="a@example.ie"),
            player("p7", firstName="A.", lastName="Byrne", email="other@example.ie"),
        ]
    )
    winner, loser = _id_of(clubs, "scl", "1"), _id_of(clubs, "teetime", "p7")
    before = {cid: reader.get(f"{BASE}/{cid}").json()["data"] for cid in (winner, loser)}

    assert (
        reader.post(
            f"{BASE}/{winner}/merge", {"loserId": loser}, content_type="application/json"
        ).status_code
        == 403
    )
    merged = admin.post(
        f"{BASE}/{winner}/merge", {"loserId": loser}, content_type="application/json"
    )
    assert merged.status_code == 200
    assert merged.json()["data"]["id"] == winner
    assert merged.json()["data"]["teetimePlayerId"] == "p7"
    old = reader.get(f"{BASE}/{loser}").json()["data"]
    assert (old["id"], old["status"], old["mergedInto"], old["sclMemberId"]) == (
        loser,
        "MERGED",
        winner,
        1,
    )
    assert reader.get(f"{BASE}?teetimePlayerId=p7").json()["data"][0]["id"] == winner

    restored = admin.post(
        f"{BASE}/{winner}/unmerge", {"loserId": loser}, content_type="application/json"
    )
    assert restored.status_code == 200
    after = {cid: reader.get(f"{BASE}/{cid}").json()["data"] for cid in (winner, loser)}
    for cid in (winner, loser):
        for field in (
            "status",
            "mergedInto",
            "firstName",
            "email",
            "sclMemberId",
            "teetimePlayerId",
            "identities",
        ):
            assert after[cid][field] == before[cid][field], (cid, field)
    again = admin.post(
        f"{BASE}/{winner}/unmerge", {"loserId": loser}, content_type="application/json"
    )
    assert again.status_code == 409


def test_merge_of_two_members_is_refused(clubs, ingest, admin):
    ingest([member(1, email="a@example.ie"), member(2, email="b@example.ie")])
    response = admin.post(
        f"{BASE}/{_id_of(clubs, 'scl', '1')}/merge",
        {"loserId": _id_of(clubs, "scl", "2")},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert "scl" in error_of(response)["message"]


@pytest.mark.parametrize("body", [{}, {"loserId": "not-a-uuid"}])
def test_merge_bad_input(clubs, ingest, admin, body):
    ingest([member(1)])
    response = admin.post(
        f"{BASE}/{_id_of(clubs, 'scl', '1')}/merge", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "loserId" in error_of(response)["details"]


def test_gdpr_erasure_removes_the_person_everywhere(clubs, ingest, reader, admin):
    ingest(
        [
            member(1, firstName="Aoife", email="aoife@example.ie", phoneNumber="087 123 4567"),
            player("p1", sclMemberId=1),
            contact("c9", email="aoife.work@example.ie"),  # her work address, not linked yet
            envelope(
                "scl.payment.received",
                {"paymentId": "x", "memberId": 1, "amount": "50.00", "currency": "EUR"},
                at=5,
            ),
        ]
    )
    aoife, merged_away = _id_of(clubs, "scl", "1"), _id_of(clubs, "messaging", "c9")
    merge = admin.post(
        f"{BASE}/{aoife}/merge", {"loserId": merged_away}, content_type="application/json"
    )
    assert merge.status_code == 200
    ingest([envelope("scl.member.deleted", {"memberId": 1, "reason": "gdpr_erasure"}, at=10)])
    with schema_context(clubs.alpha.schema_name):
        customer = Customer.objects.get(id=aoife)
        assert customer.status == CustomerStatus.DELETED
        assert (customer.first_name, customer.email, customer.phone_number, customer.scl_member_id) == (
            "", "", "", None,
        )  # fmt: skip
        assert SourceRecord.objects.count() == 0
        for event in RawEvent.objects.all():
            assert "aoife" not in str(event.envelope).lower()
        assert customer.activities.count() == 5  # anonymous counts stay
        assert OutboundEvent.objects.filter(type="crm.profile.deleted").exists()
    # Gone under every id she had, the merged-away one included.
    assert reader.get(f"{BASE}/{aoife}").status_code == 404
    assert reader.get(f"{BASE}/{merged_away}").status_code == 404
    # A late copy of an old event must not bring her back.
    ingest([envelope("teetime.player.updated", {"playerId": "p1", "firstName": "Aoife"}, at=20)])
    with schema_context(clubs.alpha.schema_name):
        assert Customer.objects.exclude(status=CustomerStatus.DELETED).count() == 0
        assert RawEvent.objects.filter(status=EventStatus.ERASED).count() == 6


def test_notes_staff_may_add_and_keys_need_write(clubs, ingest, api, make_staff, reader, admin):
    ingest([member(1)])
    url = f"{BASE}/{_id_of(clubs, 'scl', '1')}/notes"
    assert reader.post(url, {"body": "x"}, content_type="application/json").status_code == 403
    staff = api()
    with schema_context(clubs.alpha.schema_name):
        assert staff.login(username=make_staff(clubs.alpha, "STAFF"), password=STAFF_PASSWORD)
    created = staff.post(
        url, {"body": "Wants a locker next season."}, content_type="application/json"
    )
    assert created.status_code == 201
    assert created.json()["data"]["author"] == "staff@alpha-golf.example"
    assert admin.post(url, {"body": "   "}, content_type="application/json").status_code == 400
    assert [n["body"] for n in reader.get(url).json()["data"]] == ["Wants a locker next season."]


def test_tags(clubs, ingest, admin, reader):
    ingest([member(1)])
    url = f"{BASE}/{_id_of(clubs, 'scl', '1')}/tags"
    assert reader.post(url, {"add": ["vip"]}, content_type="application/json").status_code == 403
    response = admin.post(
        url, {"add": ["VIP", "junior-coach"], "remove": []}, content_type="application/json"
    )
    assert response.json()["data"]["tags"] == ["junior-coach", "vip"]
    response = admin.post(url, {"remove": ["vip"]}, content_type="application/json")
    assert response.json()["data"]["tags"] == ["junior-coach"]
    assert admin.post(url, {"add": ["x" * 65]}, content_type="application/json").status_code == 400


def test_timeline_only_events_update_counters_without_profile_events(clubs, ingest, reader):
    ingest([player("p1", email="p1@example.ie")])
    with schema_context(clubs.alpha.schema_name):
        published = OutboundEvent.objects.count()
    ingest(
        [
            envelope("teetime.booking.completed", {"bookingId": "b1", "playerId": "p1"}, at=5),
            envelope(
                "scl.payment.received",
                {"paymentId": "x", "memberId": 9, "amount": "12.50", "currency": "EUR"},
                identity={"sclMemberId": 9, "teetimePlayerId": "p1"},
                at=6,
            ),
        ]
    )
    data = reader.get(f"{BASE}/{_id_of(clubs, 'teetime', 'p1')}").json()["data"]
    assert (data["lifetimeValue"], data["lifecycleStage"]) == (1250, "CUSTOMER")
    with schema_context(clubs.alpha.schema_name):
        new_types = list(
            OutboundEvent.objects.order_by("id").values_list("type", flat=True)[published:]
        )
    # The payment linked SCL member 9 (a new identity): that is a profile change; the round is not.
    assert new_types.count("crm.profile.updated") == 1
