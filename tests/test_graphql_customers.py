"""GraphQL customers: the REST customer's fields, identities, notes and the timeline (a Relay
connection) without N+1, customer(id) after a merge, resolveCustomer, and the mutations."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from profiles.models import Customer, SourceRecord
from tests.conftest import STAFF_PASSWORD, error_of
from tests.events import contact, envelope, member, player

URL = "/t/alpha-golf/graphql"
REST = "/t/alpha-golf/api/v1/customers"


def _post(client, query: str, variables: dict | None = None, url: str = URL):
    return client.post(
        url,
        data=json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
    )


def _gql(client, query: str, variables: dict | None = None) -> dict:
    """The whole GraphQL answer ({"data", "errors"?})."""
    response = _post(client, query, variables)
    assert response.status_code in (200, 400), response.content
    return response.json()


def _data(client, query: str, variables: dict | None = None) -> dict:
    body = _gql(client, query, variables)
    assert "errors" not in body, body["errors"]
    return body["data"]


def _id_of(clubs, kind: str, key: str) -> str:
    with schema_context(clubs.alpha.schema_name):
        return str(SourceRecord.objects.get(kind=kind, key=key).customer_id)


@pytest.fixture
def reader(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read"))


@pytest.fixture
def writer(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:write"))


@pytest.fixture
def admin(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:write,crm:admin"))


CUSTOMER = """
query ($id: UUID!) {
  customer(id: $id) {
    id status mergedInto sclMemberId teetimePlayerId messagingContactId email firstName
    emailHardBounced complained doNotContact lifecycleStage tags
    identities { type value source matchedBy confidence }
    notes { body author customerId }
  }
}
"""


# --- fields ------------------------------------------------------------------------------------


def test_identities_and_the_rest_fields_match_rest(clubs, ingest, reader):
    ingest(
        [
            member(1, email="aoife@example.ie"),
            player("p1", sclMemberId=1),
            contact("c1", email="aoife@example.ie"),
        ]
    )
    customer_id = _id_of(clubs, "scl", "1")
    data = _data(reader, CUSTOMER, {"id": customer_id})["customer"]
    identities = {
        (i["type"], i["value"]): (i["source"], i["matchedBy"], i["confidence"])
        for i in data["identities"]
    }
    assert identities[("sclMemberId", "1")] == ("scl", "source", 100)
    assert identities[("teetimePlayerId", "p1")] == ("teetime", "sclMemberId", 100)
    assert identities[("messagingContactId", "c1")] == ("messaging", "email", 95)

    rest = reader.get(f"{REST}/{customer_id}").json()["data"]
    for field in ("identities", "emailHardBounced", "complained", "doNotContact",
                  "lifecycleStage", "status", "mergedInto", "sclMemberId", "email"):  # fmt: skip
        assert data[field] == rest[field], field
    listed = _data(reader, "{ customers { items { id identities { type value source matchedBy "
                           "confidence } } } }")["customers"]["items"]  # fmt: skip
    assert listed == [{"id": customer_id, "identities": rest["identities"]}]


def test_suppression_fields(clubs, ingest, reader):
    ingest(
        [
            contact("c1", email="a@example.ie"),
            envelope(
                "messaging.message.bounced",
                {"contactId": "c1", "channel": "EMAIL", "bounce": {"type": "HARD"}},
                at=1,
            ),
            envelope("messaging.message.complained", {"contactId": "c1", "channel": "EMAIL"}, at=2),
            member(1, email="a@example.ie", at=3),
            envelope(
                "scl.member.status.changed",
                {"memberId": 1, "fromStatus": "ACTIVE", "toStatus": "DECEASED"},
                at=4,
            ),
        ]
    )
    data = _data(reader, CUSTOMER, {"id": _id_of(clubs, "scl", "1")})["customer"]
    assert (data["emailHardBounced"], data["complained"], data["doNotContact"]) == (True,) * 3
    assert data["lifecycleStage"] == "CHURNED"


def test_customer_by_a_merged_away_id_deleted_and_unknown(clubs, ingest, reader, admin):
    ingest(
        [
            member(1, firstName="Aoife", email="a@example.ie"),
            player("p7", firstName="A.", lastName="Byrne", email="other@example.ie"),
        ]
    )
    winner, loser = _id_of(clubs, "scl", "1"), _id_of(clubs, "teetime", "p7")
    merged = _data(
        admin,
        "mutation ($w: UUID!, $l: UUID!) { mergeCustomers(winnerId: $w, loserId: $l) "
        "{ customer { id teetimePlayerId } errors { field message } } }",
        {"w": winner, "l": loser},
    )["mergeCustomers"]
    assert merged == {"customer": {"id": winner, "teetimePlayerId": "p7"}, "errors": []}

    old = _data(reader, CUSTOMER, {"id": loser})["customer"]
    assert (old["id"], old["status"], old["mergedInto"]) == (loser, "MERGED", winner)
    assert (old["sclMemberId"], old["teetimePlayerId"]) == (1, "p7")
    now = _data(reader, CUSTOMER, {"id": winner})["customer"]
    assert old["identities"] == now["identities"]  # the winner's data
    assert (now["status"], now["mergedInto"]) == ("ACTIVE", None)
    rest = reader.get(f"{REST}/{loser}").json()["data"]
    assert {k: old[k] for k in ("id", "status", "mergedInto", "identities")} == {
        k: rest[k] for k in ("id", "status", "mergedInto", "identities")
    }

    # Both in one document: each answers under its own id.
    both = _data(
        reader,
        "query ($a: UUID!, $b: UUID!) { a: customer(id: $a) { id status identities { value } } "
        "b: customer(id: $b) { id status identities { value } } }",
        {"a": winner, "b": loser},
    )
    assert (both["a"]["id"], both["a"]["status"]) == (winner, "ACTIVE")
    assert (both["b"]["id"], both["b"]["status"]) == (loser, "MERGED")
    assert both["a"]["identities"] == both["b"]["identities"]

    assert _data(reader, CUSTOMER, {"id": str(uuid.uuid4())})["customer"] is None
    ingest([envelope("scl.member.deleted", {"memberId": 1, "reason": "gdpr_erasure"}, at=10)])
    assert _data(reader, CUSTOMER, {"id": winner})["customer"] is None
    assert _data(reader, CUSTOMER, {"id": loser})["customer"] is None


RESOLVE = """
query ($identity: IdentityInput!) {
  resolveCustomer(identity: $identity) { id sclMemberId email }
}
"""


def test_resolve_customer(clubs, ingest, reader, api, make_key):
    ingest(
        [
            member(1, email="aoife@example.ie", phoneNumber="087 123 4567"),
            member(2, email="home@example.ie"),
            member(3, email="home@example.ie"),
        ]
    )
    found = _data(reader, RESOLVE, {"identity": {"email": "Aoife@Example.ie"}})
    assert found["resolveCustomer"]["sclMemberId"] == 1
    by_phone = _data(reader, RESOLVE, {"identity": {"phoneNumber": "087 123 4567"}})
    assert by_phone["resolveCustomer"]["sclMemberId"] == 1
    assert (
        _data(reader, RESOLVE, {"identity": {"sclMemberId": 2}})["resolveCustomer"]["sclMemberId"]
        == 2
    )
    none = _data(reader, RESOLVE, {"identity": {"teetimePlayerId": "nobody"}})
    assert none == {"resolveCustomer": None}

    ambiguous = _gql(reader, RESOLVE, {"identity": {"email": "home@example.ie"}})
    assert ambiguous["data"] == {"resolveCustomer": None}
    (error,) = ambiguous["errors"]
    assert error["extensions"]["code"] == "ambiguous"
    assert sorted(error["extensions"]["customerIds"]) == sorted(
        [_id_of(clubs, "scl", "2"), _id_of(clubs, "scl", "3")]
    )

    for hints, field in (({}, "identity"), ({"email": "nope"}, "email"),
                         ({"phoneNumber": "abc"}, "phoneNumber")):  # fmt: skip
        body = _gql(reader, RESOLVE, {"identity": hints})
        assert body["errors"][0]["extensions"] == {"code": "invalid", "field": field}, hints
    events_only = api(make_key(clubs.alpha, "events:write"))
    denied = _gql(events_only, RESOLVE, {"identity": {"sclMemberId": 1}})
    assert denied["errors"][0]["extensions"]["code"] == "permission_denied"


# --- timeline ----------------------------------------------------------------------------------

TIMELINE = """
query ($id: UUID!, $first: Int, $after: String, $category: String) {
  customer(id: $id) {
    timeline(first: $first, after: $after, category: $category) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { title category occurredAt } }
    }
  }
}
"""


def _booking_story():
    return [
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
            "teetime.booking.completed", {"bookingId": "b1", "playerId": "p1", "holes": 18}, at=20
        ),
        envelope(
            "teetime.competition.entry.created", {"competitionId": "k1", "playerId": "p1"}, at=30
        ),
    ]


def test_timeline_connection(clubs, ingest, reader):
    ingest(_booking_story())
    customer_id = _id_of(clubs, "teetime", "p1")

    def timeline(**args):
        return _data(reader, TIMELINE, {"id": customer_id, **args})["customer"]["timeline"]

    everything = timeline()
    titles = [e["node"]["title"] for e in everything["edges"]]
    assert titles == [
        "Entered a competition",
        "Played 18 holes",
        "Booked 18 holes at Old",
        "Golf profile created",
    ]
    rest = reader.get(f"{REST}/{customer_id}/activities").json()["data"]
    assert titles == [a["title"] for a in rest]
    assert everything["totalCount"] == 4
    assert everything["pageInfo"]["hasNextPage"] is False

    first = timeline(first=2)
    assert [e["node"]["title"] for e in first["edges"]] == titles[:2]
    assert first["totalCount"] == 4
    info = first["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, False)
    assert info["startCursor"] == first["edges"][0]["cursor"]
    assert info["endCursor"] == first["edges"][1]["cursor"]

    second = timeline(first=2, after=info["endCursor"])
    assert [e["node"]["title"] for e in second["edges"]] == titles[2:]
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["totalCount"] == 4  # of the whole timeline, not what is left

    # Cursors are positions, not offsets: a newer activity does not shift the next page.
    ingest(
        [envelope("teetime.competition.entry.created", {"competitionId": "k2", "playerId": "p1"},
                  at=40)]
    )  # fmt: skip
    again = timeline(first=2, after=info["endCursor"])
    assert [e["node"]["title"] for e in again["edges"]] == titles[2:]
    assert again["totalCount"] == 5

    golf = timeline(category="golf", first=2)
    assert [e["node"]["title"] for e in golf["edges"]] == [
        "Played 18 holes",
        "Booked 18 holes at Old",
    ]
    assert {e["node"]["category"] for e in golf["edges"]} == {"golf"}
    assert (golf["totalCount"], golf["pageInfo"]["hasNextPage"]) == (3, True)
    last_golf = timeline(category="golf", first=2, after=golf["pageInfo"]["endCursor"])
    assert [e["node"]["title"] for e in last_golf["edges"]] == ["Golf profile created"]

    empty = timeline(category="payment")
    assert (empty["totalCount"], empty["edges"], empty["pageInfo"]["endCursor"]) == (0, [], None)

    for args, field in (({"category": "nonsense"}, "category"), ({"after": "bm9wZQ=="}, "after"),
                        ({"after": "%%%"}, "after"), ({"first": 0}, "first"),
                        ({"first": 101}, "first")):  # fmt: skip
        body = _gql(reader, TIMELINE, {"id": customer_id, **args})
        assert body["errors"][0]["extensions"] == {"code": "invalid", "field": field}, args


def test_page_of_customers_costs_the_same_queries_whatever_its_size(clubs, ingest, api, make_key):
    events = []
    for i in range(20):
        events.append(player(f"p{i}", email=f"p{i}@example.ie", at=i))
        events.append(
            envelope(
                "teetime.booking.created",
                {"bookingId": f"b{i}", "playerId": f"p{i}", "holes": 9,
                 "course": {"id": "1", "name": "Old"}},
                at=100 + i,
            )
        )  # fmt: skip
        events.append(
            envelope(
                "teetime.booking.completed",
                {"bookingId": f"b{i}", "playerId": f"p{i}", "holes": 9},
                at=200 + i,
            )
        )
    ingest(events)
    client = api(make_key(clubs.alpha, "crm:read,crm:write"))
    client.get("/t/alpha-golf/api/v1/tenant")  # settle the key's last-used stamp
    with schema_context(clubs.alpha.schema_name):
        ids = [str(c.id) for c in Customer.objects.all()]
    for customer_id in ids[:5]:
        for body in ("First note", "Second note"):
            _data(
                client,
                "mutation ($id: UUID!, $b: String!) { addCustomerNote(customerId: $id, body: $b) "
                "{ errors { message } } }",
                {"id": customer_id, "b": body},
            )

    # The default depth limit (10) admits this: customers > items > timeline > edges > node.
    query = """{ customers(take: %d) { items {
        identities { value }
        timeline(first: 2) { totalCount pageInfo { hasNextPage } edges { node { title } } }
        notes { body }
    } } }"""
    counts = {}
    for take in (1, 20):
        with CaptureQueriesContext(connection) as captured:
            items = _data(client, query % take)["customers"]["items"]
        assert len(items) == take
        counts[take] = len(captured)
        for item in items:
            assert [e["node"]["title"] for e in item["timeline"]["edges"]] == [
                "Played 9 holes",
                "Booked 9 holes at Old",
            ]
            assert item["timeline"]["totalCount"] == 3
            assert item["timeline"]["pageInfo"]["hasNextPage"] is True
            assert len(item["identities"]) >= 2
    assert counts[1] == counts[20], counts
    noted = _data(client, query % 20)["customers"]["items"]
    assert sorted(len(i["notes"]) for i in noted) == [0] * 15 + [2] * 5
    assert {tuple(n["body"] for n in i["notes"]) for i in noted if i["notes"]} == {
        ("Second note", "First note")  # newest first
    }


# --- mutations ---------------------------------------------------------------------------------

MERGE = """
mutation ($w: UUID!, $l: UUID!) {
  mergeCustomers(winnerId: $w, loserId: $l) {
    customer { id teetimePlayerId }
    errors { field message code }
  }
}
"""
UNMERGE = """
mutation ($w: UUID!, $l: UUID!) {
  unmergeCustomers(winnerId: $w, loserId: $l) {
    customer { id status mergedInto }
    winner { id teetimePlayerId }
    errors { field message code }
  }
}
"""


def test_merge_then_unmerge_restores_both(clubs, ingest, reader, admin):
    ingest(
        [
            member(1, firstName="Aoife", email="a@example.ie"),
            player("p7", firstName="A.", lastName="Byrne", email="other@example.ie"),
        ]
    )
    winner, loser = _id_of(clubs, "scl", "1"), _id_of(clubs, "teetime", "p7")
    before = {cid: _data(reader, CUSTOMER, {"id": cid})["customer"] for cid in (winner, loser)}

    denied = _gql(reader, MERGE, {"w": winner, "l": loser})
    assert denied["data"] == {"mergeCustomers": None}
    assert denied["errors"][0]["extensions"]["code"] == "permission_denied"

    merged = _data(admin, MERGE, {"w": winner, "l": loser})["mergeCustomers"]
    assert merged == {"customer": {"id": winner, "teetimePlayerId": "p7"}, "errors": []}
    listed = _data(reader, '{ customers(teetimePlayerId: "p7") { items { id } } }')
    assert listed["customers"]["items"] == [{"id": winner}]

    restored = _data(admin, UNMERGE, {"w": winner, "l": loser})["unmergeCustomers"]
    assert restored == {
        "customer": {"id": loser, "status": "ACTIVE", "mergedInto": None},
        "winner": {"id": winner, "teetimePlayerId": None},
        "errors": [],
    }
    after = {cid: _data(reader, CUSTOMER, {"id": cid})["customer"] for cid in (winner, loser)}
    assert after == before

    again = _data(admin, UNMERGE, {"w": winner, "l": loser})["unmergeCustomers"]
    assert again["customer"] is None
    assert again["errors"] == [
        {
            "field": "loserId",
            "message": "No staff merge of this customer into that one to undo.",
            "code": "unmerge_refused",
        }
    ]
    with schema_context(clubs.alpha.schema_name):
        assert AuditEntry.objects.filter(action="customer.merged").count() == 1
        assert AuditEntry.objects.filter(action="customer.unmerged").count() == 1


def test_merge_of_two_members_is_refused_in_the_payload(clubs, ingest, admin, reader):
    ingest([member(1, email="a@example.ie"), member(2, email="b@example.ie")])
    one, two = _id_of(clubs, "scl", "1"), _id_of(clubs, "scl", "2")
    body = _gql(admin, MERGE, {"w": one, "l": two})
    assert "errors" not in body  # not a GraphQL error: the payload says why
    payload = body["data"]["mergeCustomers"]
    assert payload["customer"] is None
    (error,) = payload["errors"]
    assert (error["field"], error["code"]) == ("loserId", "merge_refused")
    assert "scl" in error["message"]
    assert _data(reader, CUSTOMER, {"id": two})["customer"]["status"] == "ACTIVE"

    itself = _data(admin, MERGE, {"w": one, "l": one})["mergeCustomers"]
    assert itself["errors"][0]["field"] == "loserId"
    unknown = _data(admin, MERGE, {"w": one, "l": str(uuid.uuid4())})["mergeCustomers"]
    assert unknown["errors"] == [
        {"field": "loserId", "message": "No customer with this id in this club.",
         "code": "not_found"}
    ]  # fmt: skip


NOTE = """
mutation ($id: UUID!, $body: String!) {
  addCustomerNote(customerId: $id, body: $body) {
    note { body author customerId }
    errors { field message code }
  }
}
"""


def test_add_customer_note(clubs, ingest, api, make_staff, reader, writer):
    ingest([member(1)])
    customer_id = _id_of(clubs, "scl", "1")

    denied = _gql(reader, NOTE, {"id": customer_id, "body": "x"})
    assert denied["data"] == {"addCustomerNote": None}
    assert denied["errors"][0]["extensions"]["code"] == "permission_denied"

    by_key = _data(writer, NOTE, {"id": customer_id, "body": "Wants a locker."})["addCustomerNote"]
    assert by_key["errors"] == []
    assert by_key["note"]["body"] == "Wants a locker."
    assert by_key["note"]["customerId"] == customer_id

    staff = api()  # STAFF may add notes (the role-only crm:notes) though not write anything else
    with schema_context(clubs.alpha.schema_name):
        assert staff.login(username=make_staff(clubs.alpha, "STAFF"), password=STAFF_PASSWORD)
    by_staff = _data(staff, NOTE, {"id": customer_id, "body": "  Paid the locker.  "})
    assert by_staff["addCustomerNote"]["note"] == {
        "body": "Paid the locker.",
        "author": "staff@alpha-golf.example",
        "customerId": customer_id,
    }
    tags = _gql(staff, TAGS, {"id": customer_id, "add": ["vip"], "remove": []})
    assert tags["errors"][0]["extensions"]["code"] == "permission_denied"

    blank = _data(writer, NOTE, {"id": customer_id, "body": "   "})["addCustomerNote"]
    assert blank == {
        "note": None,
        "errors": [{"field": "body", "message": "A note needs some text.", "code": "invalid"}],
    }
    notes = _data(reader, CUSTOMER, {"id": customer_id})["customer"]["notes"]
    assert [n["body"] for n in notes] == ["Paid the locker.", "Wants a locker."]
    rest = reader.get(f"{REST}/{customer_id}/notes").json()["data"]
    assert [n["body"] for n in rest] == [n["body"] for n in notes]


TAGS = """
mutation ($id: UUID!, $add: [String!], $remove: [String!]) {
  setCustomerTags(customerId: $id, add: $add, remove: $remove) {
    customer { id tags }
    errors { field message code }
  }
}
"""


def test_set_customer_tags(clubs, ingest, reader, writer):
    ingest([member(1)])
    customer_id = _id_of(clubs, "scl", "1")
    denied = _gql(reader, TAGS, {"id": customer_id, "add": ["vip"]})
    assert denied["errors"][0]["extensions"]["code"] == "permission_denied"

    added = _data(writer, TAGS, {"id": customer_id, "add": ["VIP", "junior-coach"]})
    assert added["setCustomerTags"] == {
        "customer": {"id": customer_id, "tags": ["junior-coach", "vip"]},
        "errors": [],
    }
    removed = _data(writer, TAGS, {"id": customer_id, "remove": ["vip"]})
    assert removed["setCustomerTags"]["customer"]["tags"] == ["junior-coach"]
    too_long = _data(writer, TAGS, {"id": customer_id, "add": ["x" * 65]})["setCustomerTags"]
    assert too_long["customer"] is None
    assert [(e["field"], e["code"]) for e in too_long["errors"]] == [("add", "invalid")]
    assert _data(reader, CUSTOMER, {"id": customer_id})["customer"]["tags"] == ["junior-coach"]


def test_a_refused_mutation_rolls_back_the_whole_document(clubs, ingest, writer, reader):
    ingest([member(1)])
    customer_id = _id_of(clubs, "scl", "1")
    body = _gql(
        writer,
        """mutation ($id: UUID!) {
          tag: setCustomerTags(customerId: $id, add: ["vip"]) { errors { field } }
          note: addCustomerNote(customerId: $id, body: " ") { errors { field } }
        }""",
        {"id": customer_id},
    )
    assert body["data"]["note"]["errors"] == [{"field": "body"}]
    assert _data(reader, CUSTOMER, {"id": customer_id})["customer"]["tags"] == []


# --- tenancy -----------------------------------------------------------------------------------


def test_other_clubs_keys_and_customers(clubs, ingest, api, make_key):
    alpha_key = make_key(clubs.alpha, "crm:read,crm:write,crm:admin")
    response = _post(api(alpha_key), "{ customers { total } }", url="/t/bravo-golf/graphql")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"  # unknown in that club

    with schema_context(clubs.bravo.schema_name):
        theirs = str(Customer.objects.create(first_name="Bea", email="bea@example.co.uk").id)
    ingest([member(1)])
    mine = _id_of(clubs, "scl", "1")
    alpha = api(alpha_key)
    assert _data(alpha, CUSTOMER, {"id": theirs}) == {"customer": None}
    assert _data(alpha, "{ customers { total } }")["customers"]["total"] == 1
    merge = _data(alpha, MERGE, {"w": mine, "l": theirs})["mergeCustomers"]
    assert [e["code"] for e in merge["errors"]] == ["not_found"]
    tags = _data(alpha, TAGS, {"id": theirs, "add": ["x"]})["setCustomerTags"]
    assert [e["code"] for e in tags["errors"]] == ["not_found"]

    bravo = api(make_key(clubs.bravo, "crm:read"))
    seen = _post(bravo, CUSTOMER, {"id": theirs}, url="/t/bravo-golf/graphql").json()["data"]
    assert seen["customer"]["email"] == "bea@example.co.uk"
    with schema_context(clubs.bravo.schema_name):
        assert Customer.objects.get(id=theirs).tags == []
