"""Privacy and identity that hold (issue 15): an erased person never comes back, whatever
arrives later, on any transport, in any order; the erasure leaves nothing of them in any table
of the club's schema (a generic scan of every text, JSON and array column, so a new table
cannot be forgotten); the export carries everything every app holds; merges keep the contract.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.outbox.models import OutboundEvent
from crm.transport.inbound import InboundJob, event_jobs_ingest
from profiles.models import Customer, CustomerStatus, EventStatus, RawEvent, SourceRecord
from tests.conftest import error_of
from tests.events import envelope
from tests.test_bullmq_inbound import bull  # noqa: F401

BASE = "/t/alpha-golf/api/v1/customers"

# The repro of the issue: member 99004 with an email and a phone, erased, then the same email
# and phone arriving from the other services.
EMAIL = "Zebedee.Quillfeather@Example.ie"
EMAIL_NORMAL = EMAIL.lower()
PHONE_TYPED = "087 555 0199"
PHONE = "+353875550199"
MEMBER = 99004


def _created(at: int = 0) -> dict:
    return envelope(
        "scl.member.created",
        {"memberId": MEMBER, "firstName": "Zebedee", "lastName": "Quillfeather",
         "email": EMAIL, "phoneNumber": PHONE_TYPED, "dateOfBirth": "1971-03-04",
         "status": "ACTIVE", "tier": {"code": "FULL", "name": "Full"}},
        identity={"sclMemberId": MEMBER, "email": EMAIL}, at=at,
    )  # fmt: skip


def _deleted(at: int = 10) -> dict:
    return envelope(
        "scl.member.deleted", {"memberId": MEMBER, "reason": "gdpr_erasure"},
        identity={"sclMemberId": MEMBER}, at=at,
    )  # fmt: skip


def _contact(at: int = 20, contact_id: str = "c_zq1") -> dict:
    return envelope(
        "messaging.contact.created",
        {"contactId": contact_id, "email": EMAIL, "firstName": "Zebedee", "lastName": "Quillfeather"},
        identity={"messagingContactId": contact_id, "email": EMAIL}, at=at,
    )  # fmt: skip


def _player(at: int = 30, player_id: str = "p_zq1") -> dict:
    return envelope(
        "teetime.player.created",
        {"playerId": player_id, "firstName": "Zebedee", "lastName": "Quillfeather",
         "phoneNumber": PHONE_TYPED, "dateOfBirth": "1971-03-04"},
        identity={"teetimePlayerId": player_id, "phoneNumber": PHONE_TYPED}, at=at,
    )  # fmt: skip


# Everything the person was known by, as it may be stored (normalised or as typed).
NEEDLES = [EMAIL_NORMAL, PHONE, PHONE_TYPED, "Zebedee", "Quillfeather", "c_zq1", "p_zq1",
           "auth-zq1", "1971-03-04"]  # fmt: skip
NUMBERS = [str(MEMBER)]

_TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


def _columns(schema: str) -> dict[str, list[tuple[str, str]]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name, c.data_type
            FROM information_schema.columns AS c
            JOIN information_schema.tables AS t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'
            ORDER BY c.table_name, c.ordinal_position
            """,
            [schema],
        )
        tables: dict[str, list[tuple[str, str]]] = {}
        for table, column, data_type in cursor.fetchall():
            tables.setdefault(table, []).append((column, data_type))
    return tables


def scan(schema: str, needles=NEEDLES, numbers=NUMBERS) -> tuple[dict[str, set[str]], int]:
    """Every (table -> columns) of the club's schema holding one of the needles, and how many
    tables were scanned. Text, JSON and array columns are searched case-insensitively for the
    needles; every column (numbers included) for the numbers as whole words (a member id inside
    a UUID's hex is not a hit)."""
    tables = _columns(schema)
    hits: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        for table, columns in tables.items():
            for column, data_type in columns:
                text = f'"{column}"::text'
                conditions, params = [], []
                if data_type in _TEXT_TYPES or data_type == "ARRAY":
                    for needle in needles:
                        conditions.append(f"{text} ILIKE %s")
                        params.append(f"%{needle}%")
                if data_type in (*_TEXT_TYPES, "ARRAY", "bigint", "integer"):
                    for number in numbers:
                        conditions.append(f"{text} ~ %s")
                        params.append(rf"(^|[^0-9a-fA-F-]){re.escape(number)}([^0-9a-fA-F-]|$)")
                if not conditions:
                    continue
                cursor.execute(
                    f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}" '  # noqa: S608
                    f"WHERE {' OR '.join(conditions)})",
                    params,
                )
                if cursor.fetchone()[0]:
                    hits.setdefault(table, set()).add(column)
    return hits, len(tables)


@pytest.fixture
def admin(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read,crm:write,crm:admin"))


@pytest.fixture
def reader(clubs, api, make_key):
    return api(make_key(clubs.alpha, "crm:read"))


@pytest.fixture
def send(clubs, api, make_key, apply_all):
    """send(events, transport) stores events through REST or BullMQ's consumer path, then
    applies them, as the worker would."""
    rest = api(make_key(clubs.alpha, "events:write"))

    def _send(events: list[dict], transport: str = "rest") -> None:
        if transport == "rest":
            response = rest.post(
                "/t/alpha-golf/api/v1/events", {"events": events}, content_type="application/json"
            )
            assert response.status_code == 200, response.content
            assert {r["status"] for r in response.json()["data"]} <= {"accepted", "duplicate"}
        else:
            jobs = [InboundJob(str(uuid.uuid4()), e["type"], e) for e in events]
            outcomes = event_jobs_ingest(jobs=jobs)
            assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
        apply_all()

    return _send


def _alive(schema: str) -> list[Customer]:
    with schema_context(schema):
        return list(Customer.objects.exclude(status=CustomerStatus.DELETED))


_ORDERS = list(itertools.permutations(range(4)))
_SAMPLE = [
    (3, 0, 1, 2),
    (1, 2, 0, 3),
    (1, 3, 2, 0),
    (0, 1, 2, 3),
    *random.Random(15).sample(_ORDERS, 4),
]


@pytest.mark.parametrize(
    ("order", "transports", "batched"),
    [
        *[(order, "rest", False) for order in _SAMPLE[:4]],
        *[(order, "bullmq", False) for order in _SAMPLE[4:]],
        ((1, 2, 0, 3), "mixed", False),
        ((2, 1, 3, 0), "mixed", True),
        ((0, 1, 2, 3), "rest", True),
        ((3, 2, 1, 0), "bullmq", True),
    ],
)
def test_an_erased_person_never_comes_back(clubs, send, reader, order, transports, batched):
    """scl.member.created (email + phone), scl.member.deleted (gdpr_erasure), then a Messaging
    contact with the email and a TeeTime player with the phone: in any order, one at a time or
    in one batch, through REST, BullMQ or both, nothing of the person is left anywhere."""
    events = [_created(), _deleted(), _contact(), _player()]
    story = [events[i] for i in order]
    if batched:
        send(story, "bullmq" if transports == "bullmq" else "rest")
    else:
        for index, event in enumerate(story):
            transport = transports if transports != "mixed" else ("rest", "bullmq")[index % 2]
            send([event], transport)
    # Replays on the other transport change nothing (at least once delivery).
    send(story, "bullmq" if transports == "rest" else "rest")

    schema = clubs.alpha.schema_name
    assert _alive(schema) == []
    for query in (f"email={EMAIL_NORMAL}", "phoneNumber=087 555 0199", f"sclMemberId={MEMBER}",
                  "q=Quillfeather"):  # fmt: skip
        assert reader.get(f"{BASE}?{query}").json()["meta"]["total"] == 0, query
    with schema_context(schema):
        hits, _count = scan(schema)
        assert hits == {}, hits
        # Kept only as anonymous facts.
        assert RawEvent.objects.count() == 4
        assert set(RawEvent.objects.values_list("status", flat=True)) <= {
            EventStatus.ERASED,
            EventStatus.APPLIED,
        }


def test_a_late_copy_of_an_erased_players_event_on_any_id_is_suppressed(clubs, send):
    """Every id the person had suppresses, whichever one a later event names: the auth user
    id, the player id (with another email), the contact id (with no contact point at all)."""
    send([_created(), _player(), _contact(),
          envelope("scl.payment.received",
                   {"paymentId": "pay1", "memberId": MEMBER, "amount": "10.00", "currency": "EUR"},
                   identity={"sclMemberId": MEMBER, "authUserId": "auth-zq1"}, at=5)])  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        assert Customer.objects.exclude(status=CustomerStatus.DELETED).count() == 1
    send([_deleted()])
    send(
        [
            envelope("scl.member.updated", {"memberId": 77, "firstName": "Zebedee"},
                     identity={"sclMemberId": 77, "authUserId": "auth-zq1"}, at=40),
            envelope("teetime.player.updated",
                     {"playerId": "p_zq1", "email": "new.address@example.ie"}, at=41),
            envelope("messaging.contactPreference.updated",
                     {"contactId": "c_zq1", "channel": "EMAIL", "optedIn": True}, at=42),
        ]
    )  # fmt: skip
    assert _alive(clubs.alpha.schema_name) == []
    with schema_context(clubs.alpha.schema_name):
        assert scan(clubs.alpha.schema_name, [*NEEDLES, "new.address@example.ie"])[0] == {}


def test_a_new_member_with_the_erased_email_is_a_new_person(clubs, send, reader):
    """The rule for a returning email (README, "Privacy"): an event that names only an erased
    email or phone is about the erased person (a contact or player the erasure never reached);
    one that also names a different id of a kind the person had (here a new SCL member number)
    is someone else by SCL's own account, and is taken in as a new person inheriting nothing."""
    send([_created(), _deleted()])
    send([_contact(at=30)])  # the erased person's Messaging contact: still suppressed
    assert _alive(clubs.alpha.schema_name) == []
    newcomer = envelope(
        "scl.member.created",
        {"memberId": 99100, "firstName": "Ada", "lastName": "Newcombe", "email": EMAIL,
         "status": "ACTIVE", "tier": {"code": "FULL", "name": "Full"}},
        identity={"sclMemberId": 99100, "email": EMAIL}, at=60,
    )  # fmt: skip
    send([newcomer])
    found = reader.get(f"{BASE}?email={EMAIL_NORMAL}").json()
    assert found["meta"]["total"] == 1
    data = found["data"][0]
    assert (data["sclMemberId"], data["firstName"], data["messagingContactId"]) == (
        99100, "Ada", None,
    )  # fmt: skip
    assert data["dateOfBirth"] is None and data["phoneNumber"] == ""
    # The erased member's own id still brings nothing back.
    send([_created(at=70)])
    assert reader.get(f"{BASE}?sclMemberId={MEMBER}").json()["meta"]["total"] == 0


# --- everything in every app: export, then erase, then scan --------------------------------


def _touch_every_app(schema: str, customer: Customer) -> None:
    """Give the person what each app keeps about someone: a segment membership and its change
    log, a campaign send with their own template values, a journey enrolment with the trigger's
    details, a step log, a staff task and a webhook delivery, competition entry and score, a
    results post and promotion item naming them, a score, a note."""
    from campaigns.models import Campaign, CampaignRun, Send, SendStatus
    from journeys.models import (
        Enrolment,
        EnrolmentEvent,
        EnrolmentSource,
        EnrolmentStatus,
        Journey,
        JourneyVersion,
        StaffTask,
        WebhookDelivery,
    )  # fmt: skip
    from profiles.models import CustomerScore
    from profiles.services import customer_note_add
    from segments.models import Segment, SegmentMembership, SegmentMembershipChange
    from social.models import (
        CompetitionEntry,
        CompetitionPromotion,
        CompetitionScore,
        Network,
        Post,
        PostVariant,
        PromotionItem,
        SocialAccount,
    )  # fmt: skip

    now = timezone.now()
    trigger = {"type": "teetime.booking.created", "payload": {"playerId": "p_zq1"},
               "identity": {"email": EMAIL_NORMAL}}  # fmt: skip
    segment = Segment.objects.create(name="Weekday golfers", type="STATIC", member_count=1)
    SegmentMembership.objects.create(segment=segment, customer=customer, entered_at=now)
    SegmentMembershipChange.objects.create(
        segment=segment, customer=customer, kind="ENTERED", at=now
    )
    campaign = Campaign.objects.create(name="Spring", channels=["EMAIL"])
    run = CampaignRun.objects.create(campaign=campaign, key="once")
    Send.objects.create(
        run=run, campaign=campaign, customer=customer, channel="EMAIL",
        status=SendStatus.ACCEPTED, created_at=now, variables={"trigger": trigger},
        detail=f"Accepted for {EMAIL_NORMAL}", handed_at=now,
    )  # fmt: skip
    Send.objects.create(
        run=CampaignRun.objects.create(campaign=campaign, key="later"), campaign=campaign,
        customer=customer, channel="SMS", status=SendStatus.PENDING, created_at=now,
        variables={"phone": PHONE},
    )  # fmt: skip
    definition = {"trigger": {"type": "manual"}, "steps": []}
    journey = Journey.objects.create(name="Welcome", definition=definition)
    version = JourneyVersion.objects.create(
        journey=journey, number=1, definition=definition, published_at=now
    )
    enrolment = Enrolment.objects.create(
        journey=journey, version=version, customer=customer, status=EnrolmentStatus.WAITING,
        step="s1", entry_key="once", source=EnrolmentSource.EVENT, context=trigger,
        entered_at=now, step_entered_at=now, due_at=now + timedelta(days=1),
    )  # fmt: skip
    EnrolmentEvent.objects.create(
        enrolment=enrolment, journey=journey, version=version, step="s1", kind="ENTERED",
        detail={"email": EMAIL_NORMAL}, at=now,
    )  # fmt: skip
    StaffTask.objects.create(
        customer=customer, journey=journey, enrolment=enrolment, step="s1",
        title="Call Zebedee Quillfeather", body=f"On {PHONE}", assigned_to="STAFF",
        created_at=now,
    )  # fmt: skip
    WebhookDelivery.objects.create(
        journey=journey, enrolment=enrolment, step="s2", url="https://hooks.example/x",
        body={"customer": {"email": EMAIL_NORMAL}}, next_attempt_at=now, created_at=now,
    )  # fmt: skip
    CompetitionEntry.objects.create(
        competition_id="comp1", player_id="p_zq1", entered=True, changed_at=now, event_key="e"
    )
    CompetitionScore.objects.create(
        competition_id="comp1", player_id="p_zq1", gross=80, position=1, posted_at=now,
        event_key="e",
    )  # fmt: skip
    account = SocialAccount.objects.create(
        network=Network.FACEBOOK, remote_id="page1", name="Alpha GC", access_token_enc="x"
    )
    post = Post.objects.create(title="Results")
    PostVariant.objects.create(
        post=post, account=account, network=Network.FACEBOOK,
        text="Well played Zebedee Quillfeather, winner of the Spring Cup!",
    )  # fmt: skip
    promotion = CompetitionPromotion.objects.create(competition_id="comp1", name="Spring Cup")
    PromotionItem.objects.create(
        promotion=promotion, key="results-email", kind="RESULTS", channel="EMAIL",
        text="Congratulations to Zebedee Quillfeather",
    )  # fmt: skip
    CustomerScore.objects.create(
        customer=customer, engagement_score=70, churn_risk_reasons=[{"code": "x", "text": "Fewer rounds"}],
        pnp_details={"player": "p_zq1"},
    )  # fmt: skip
    customer_note_add(customer=customer, body=f"Prefers texts to {PHONE}", author_label="pro@x")


def test_erasure_leaves_nothing_in_any_table_and_the_export_had_it_all(clubs, send, admin, reader):
    schema = clubs.alpha.schema_name
    send(
        [
            _created(),
            _player(at=1),
            _contact(at=2),
            envelope(
                "teetime.booking.created",
                {"bookingId": "b1", "playerId": "p_zq1", "teeTime": "2026-06-02T08:00:00Z",
                 "holes": 18, "partySize": 2, "channel": "ONLINE"},
                identity={"teetimePlayerId": "p_zq1", "authUserId": "auth-zq1"}, at=3,
            ),
            envelope("messaging.email.opened",
                     {"messageId": "m1", "contactId": "c_zq1", "channel": "EMAIL",
                      "recipient": {"email": EMAIL}}, at=4),
            envelope("brand.new.thing", {"whoever": EMAIL}, source="teetime",
                     identity={"email": EMAIL}, at=5),
        ]
    )  # fmt: skip
    with schema_context(schema):
        customer = Customer.objects.get(scl_member_id=MEMBER)
        assert customer.teetime_player_id == "p_zq1" and customer.messaging_contact_id == "c_zq1"
        _touch_every_app(schema, customer)

    export = admin.get(f"{BASE}/{customer.id}/export")
    assert export.status_code == 200, export.content
    document = export.json()["data"]
    assert document["format"] == "crm.customer-export/1"
    assert {"profiles", "segments", "campaigns", "journeys", "social"} <= set(document)
    text = json.dumps(document).lower()
    with schema_context(schema):
        before, table_count = scan(schema)
    # Every table that held the person's data is covered by the export, and what it held is in
    # it (the audit log of this very export is the exception: written after it was made).
    assert set(before) - {"accounts_auditentry"} <= set(document["tables"]), before
    for needle in [*NEEDLES, *NUMBERS]:
        assert needle.lower() in text, needle
    # The two sends share a creation time: find the email by its channel, not its place.
    email_send = next(s for s in document["campaigns"]["sends"] if s["channel"] == "EMAIL")
    assert email_send["variables"]["trigger"]["payload"]["playerId"]
    assert document["journeys"]["staffTasks"][0]["title"] == "Call Zebedee Quillfeather"
    assert document["social"]["competitionScores"][0]["position"] == 1
    assert document["segments"]["memberships"][0]["segment"] == "Weekday golfers"
    assert document["profiles"]["scores"]["engagementScore"] == 70
    assert len(before) >= 15, before
    assert table_count >= 59

    erased = admin.post(
        f"{BASE}/{customer.id}/erase", {"reason": "Member asked"}, content_type="application/json"
    )
    assert erased.status_code == 200, erased.content
    assert erased.json()["data"] == {"id": str(customer.id), "status": "DELETED"}
    with schema_context(schema):
        after, _ = scan(schema)
        assert after == {}, after
    assert reader.get(f"{BASE}/{customer.id}").status_code == 404

    # Everything arriving later, on either transport, stays an anonymous fact.
    send([_created(at=50), _contact(at=51)], "bullmq")
    moved = envelope(
        "messaging.contact.updated", {"contactId": "c_zq1", "email": "zq.moved@example.ie"},
        identity={"messagingContactId": "c_zq1"}, at=53,
    )  # fmt: skip
    send([_player(at=52), moved], "rest")
    assert _alive(schema) == []
    with schema_context(schema):
        assert scan(schema, [*NEEDLES, "zq.moved@example.ie"])[0] == {}
        from campaigns.models import Send
        from journeys.models import Enrolment

        assert set(Send.objects.values_list("status", "reason")) >= {("SUPPRESSED", "ERASED")}
        assert Enrolment.objects.get().status == "EXITED"
        deleted = OutboundEvent.objects.filter(type="crm.profile.deleted")
        assert deleted.count() == 1


# --- the API: scopes, other clubs, bad input, audit --------------------------------------------


def test_export_and_erase_need_admin_and_stay_in_their_club(
    clubs, send, api, make_key, make_staff, admin, reader
):
    send([_created()])
    with schema_context(clubs.alpha.schema_name):
        customer_id = str(Customer.objects.get().id)
    for client in (reader, api(make_key(clubs.alpha, "crm:read,crm:write"))):
        assert client.get(f"{BASE}/{customer_id}/export").status_code == 403
        assert client.post(f"{BASE}/{customer_id}/erase").status_code == 403
    assert api().get(f"{BASE}/{customer_id}/export").status_code == 401
    # Bravo's admin key knows no such customer: the same 404 as for an unknown id.
    bravo = api(make_key(clubs.bravo, "crm:read,crm:write,crm:admin"))
    other = f"/t/bravo-golf/api/v1/customers/{customer_id}"
    unknown = f"/t/bravo-golf/api/v1/customers/{uuid.uuid4()}"
    for url in (other, unknown):
        assert bravo.get(f"{url}/export").status_code == 404
        response = bravo.post(f"{url}/erase")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    # Alpha's key on bravo's URL is nobody there.
    assert admin.get(f"{other}/export").status_code == 401
    with schema_context(clubs.alpha.schema_name):
        assert Customer.objects.get().status == CustomerStatus.ACTIVE


@pytest.mark.parametrize(
    "body",
    [{"reason": "x" * 201}, {"reason": "ok", "confirm": True}, {"reason": ["a"]}, ["x"]],
)
def test_erase_bad_input_is_refused_by_field_and_erases_nothing(clubs, send, admin, body):
    send([_created()])
    with schema_context(clubs.alpha.schema_name):
        customer_id = str(Customer.objects.get().id)
    response = admin.post(f"{BASE}/{customer_id}/erase", body, content_type="application/json")
    assert response.status_code == 400, response.content
    error_of(response)
    assert admin.get(f"{BASE}/not-a-uuid/export").status_code == 404
    assert admin.post(f"{BASE}/not-a-uuid/erase").status_code == 404
    with schema_context(clubs.alpha.schema_name):
        assert Customer.objects.get().status == CustomerStatus.ACTIVE


def test_export_and_erase_are_audited_and_erase_is_final(clubs, send, admin):
    from crm.accounts.models import AuditEntry

    send([_created()])
    with schema_context(clubs.alpha.schema_name):
        customer_id = str(Customer.objects.get().id)
    assert admin.get(f"{BASE}/{customer_id}/export").status_code == 200
    erase = f"{BASE}/{customer_id}/erase"
    assert admin.post(erase, content_type="application/json").status_code == 200
    assert admin.post(erase, content_type="application/json").status_code == 404
    assert admin.get(f"{BASE}/{customer_id}/export").status_code == 404
    with schema_context(clubs.alpha.schema_name):
        actions = list(
            AuditEntry.objects.filter(object_id=customer_id)
            .order_by("created_at", "id")
            .values_list("action", "actor_label")
        )
    assert [a for a, _ in actions] == ["customer.exported", "customer.erased"]
    assert all(label for _, label in actions)


def test_openapi_and_graphql_have_export_and_erase(clubs, send, admin, api, make_key):
    schema = admin.get("/t/alpha-golf/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "get" in paths["/t/alpha-golf/api/v1/customers/{customer_id}/export"]
    assert "post" in paths["/t/alpha-golf/api/v1/customers/{customer_id}/erase"]

    send([_created()])
    with schema_context(clubs.alpha.schema_name):
        customer_id = str(Customer.objects.get().id)
    query = "query ($id: UUID!) { customerExport(id: $id) }"
    reader = api(make_key(clubs.alpha, "crm:read"))
    denied = reader.post(
        "/t/alpha-golf/graphql", {"query": query, "variables": {"id": customer_id}},
        content_type="application/json",
    ).json()  # fmt: skip
    assert denied["errors"][0]["extensions"]["code"] == "permission_denied"
    exported = admin.post(
        "/t/alpha-golf/graphql", {"query": query, "variables": {"id": customer_id}},
        content_type="application/json",
    ).json()  # fmt: skip
    assert exported["data"]["customerExport"]["customer"]["first_name"] == "Zebedee"
    mutation = (
        "mutation ($id: UUID!, $r: String) { eraseCustomer(customerId: $id, reason: $r) "
        "{ customerId errors { field code message } } }"
    )
    too_long = admin.post(
        "/t/alpha-golf/graphql", {"query": mutation, "variables": {"id": customer_id, "r": "x" * 201}},
        content_type="application/json",
    ).json()  # fmt: skip
    assert too_long["data"]["eraseCustomer"]["errors"][0]["field"] == "reason"
    done = admin.post(
        "/t/alpha-golf/graphql", {"query": mutation, "variables": {"id": customer_id}},
        content_type="application/json",
    ).json()  # fmt: skip
    assert done["data"]["eraseCustomer"] == {"customerId": customer_id, "errors": []}
    with schema_context(clubs.alpha.schema_name):
        assert Customer.objects.get().status == CustomerStatus.DELETED
        assert scan(clubs.alpha.schema_name)[0] == {}
    again = admin.post(
        "/t/alpha-golf/graphql", {"query": mutation, "variables": {"id": customer_id}},
        content_type="application/json",
    ).json()  # fmt: skip
    assert again["data"]["eraseCustomer"]["errors"][0]["code"] == "not_found"


# --- merges as the contracts say ---------------------------------------------------------------


def test_a_merged_away_id_answers_with_the_winners_data_and_the_event_names_the_losers_ids(
    clubs, send, admin, reader
):
    send(
        [
            _created(),
            envelope("messaging.contact.created",
                     {"contactId": "c_other", "email": "zq.work@example.ie",
                      "firstName": "Zeb", "lastName": "Q"},
                     identity={"messagingContactId": "c_other"}, at=1),
        ]
    )  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        winner = str(SourceRecord.objects.get(kind="scl").customer_id)
        loser = str(SourceRecord.objects.get(kind="messaging").customer_id)
    merged = admin.post(
        f"{BASE}/{winner}/merge", {"loserId": loser}, content_type="application/json"
    )
    assert merged.status_code == 200
    data = reader.get(f"{BASE}/{loser}").json()["data"]
    won = reader.get(f"{BASE}/{winner}").json()["data"]
    assert (data["id"], data["status"], data["mergedInto"]) == (loser, "MERGED", winner)
    for field in ("firstName", "lastName", "displayName", "email", "sclMemberId", "identities",
                  "messagingContactId", "dateOfBirth"):  # fmt: skip
        assert data[field] == won[field], field
    graphql = reader.post(
        "/t/alpha-golf/graphql",
        {"query": "query ($id: UUID!) { customer(id: $id) { id status mergedInto firstName } }",
         "variables": {"id": loser}},
        content_type="application/json",
    ).json()["data"]["customer"]  # fmt: skip
    assert graphql == {"id": loser, "status": "MERGED", "mergedInto": winner,
                       "firstName": won["firstName"]}  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        event = OutboundEvent.objects.get(type="crm.profile.merged")
    assert event.envelope["payload"] == {
        "winnerId": winner, "loserId": loser, "loserLinkedIds": ["messaging:c_other"],
    }  # fmt: skip


def test_an_automatic_merge_names_the_losers_linked_ids_too(clubs, send):
    send([_contact(at=1, contact_id="c_a")])
    send([_player(at=2, player_id="p_a")])
    # The player is linked to the contact's person by a member event naming both.
    send([envelope("scl.member.created", {"memberId": 5, "email": EMAIL, "phoneNumber": PHONE_TYPED},
                   identity={"sclMemberId": 5}, at=3)])  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        merged = [
            o.envelope["payload"] for o in OutboundEvent.objects.filter(type="crm.profile.merged")
        ]
    assert merged and all(p["loserLinkedIds"] for p in merged), merged


# --- identity edge cases -----------------------------------------------------------------------


def test_an_identity_naming_another_member_than_the_payload_is_rejected(clubs, api, make_key):
    client = api(make_key(clubs.alpha, "events:write"))
    good = _created()
    bad = envelope(
        "scl.member.updated", {"memberId": 99005, "firstName": "X"},
        identity={"sclMemberId": 99006}, at=1,
    )  # fmt: skip
    bad_player = envelope(
        "teetime.player.updated", {"playerId": "p1"}, identity={"teetimePlayerId": "p2"}, at=1
    )
    response = client.post(
        "/t/alpha-golf/api/v1/events", {"events": [good, bad, bad_player]},
        content_type="application/json",
    )  # fmt: skip
    results = response.json()["data"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected"]
    assert "payload.memberId is 99005" in results[1]["errors"]["identity.sclMemberId"][0]
    assert "identity.teetimePlayerId" in results[2]["errors"]
    outcome = event_jobs_ingest(jobs=[InboundJob("j1", bad["type"], bad)])[0]
    assert not outcome.ok and outcome.permanent and "identity.sclMemberId" in outcome.reason
    with schema_context(clubs.alpha.schema_name):
        assert RawEvent.objects.count() == 1


def test_a_tenant_uuid_in_upper_case_reaches_the_same_club(clubs, api, make_key, send):
    send([_created()])
    key = make_key(clubs.alpha, "crm:read")
    lower = api(key).get(f"/t/{clubs.alpha.id}/api/v1/customers")
    upper = api(key).get(f"/t/{str(clubs.alpha.id).upper()}/api/v1/customers")
    mixed = api(key).get(
        f"/t/{str(clubs.alpha.id)[:8].upper()}{str(clubs.alpha.id)[8:]}/api/v1/tenant"
    )
    assert lower.status_code == upper.status_code == mixed.status_code == 200
    assert upper.json()["data"] == lower.json()["data"]
    assert mixed.json()["data"]["slug"] == "alpha-golf"
    bravo_key = make_key(clubs.bravo, "crm:read")
    assert (
        api(bravo_key).get(f"/t/{str(clubs.alpha.id).upper()}/api/v1/customers").status_code == 401
    )
    assert api(key).get(f"/t/{str(uuid.uuid4()).upper()}/api/v1/customers").status_code == 404


# --- the demo club, shuffled ------------------------------------------------------------------


def test_the_demo_clubs_erased_member_stays_erased_in_a_shuffled_replay(clubs, send):
    """The demo club's year (profiles/demo.py: one member asks for erasure after resigning),
    in a shuffled order, half through REST and half through BullMQ: nothing of them is left."""
    from profiles.demo import build_club
    from profiles.normalise import normalise_email, normalise_phone

    club = build_club(tenant_id=str(clubs.alpha.id), tenant_slug="alpha-golf", members=100)
    events = club.events
    (person,) = [p for p in club.people if p.erased_at]
    # Everything the services knew them by (a household email is shared, so it is left out:
    # by the rule the spouse, another member, keeps it).
    shared = {normalise_email(p.email) for p in club.people if p is not person and p.email}
    emails = {
        normalise_email(e) for e in (person.email, person.player_email, person.contact_email) if e
    }
    phones = {p for p in (person.phone, person.player_phone, person.contact_phone) if p}
    ids = {("sclMemberId", str(person.member_id))}
    ids |= {(k, v) for k, v in (("teetimePlayerId", person.player_id),
                                ("messagingContactId", person.contact_id),
                                ("authUserId", person.auth_user_id)) if v}  # fmt: skip
    contacts = (
        (emails - shared) | phones | {normalise_phone(p, default_country="IE") for p in phones}
    )
    rng = random.Random(10386)
    rng.shuffle(events)
    half = len(events) // 2
    for start in range(0, half, 1000):
        send(events[start : min(start + 1000, half)], "rest")
    for start in range(half, len(events), 1000):
        send(events[start : start + 1000], "bullmq")
    schema = clubs.alpha.schema_name
    needles = sorted(contacts | {v for k, v in ids if k != "sclMemberId"})
    numbers = sorted(v for k, v in ids if k == "sclMemberId")
    assert any("@" in n for n in needles) and any(n.startswith("+") for n in needles), needles
    assert len(ids) >= 2, ids
    with schema_context(schema):
        hits, count = scan(schema, needles, numbers)
        assert Customer.objects.filter(status=CustomerStatus.ACTIVE).count() > 90
    assert hits == {}, (hits, needles, numbers)
    assert count >= 50


@pytest.mark.usefixtures("bull")
def test_relayed_events_of_an_erased_person_leave_crm_outbound(
    clubs, send, django_capture_on_commit_callbacks
):
    """The outbox was relayed (jobs waiting on crm-outbound, carrying the email and ids); the
    erasure takes them off the queue and the relay publishes them again, scrubbed."""
    from crm.transport.outbound import outbound_events_relay
    from crm.transport.queues import OUTBOUND_QUEUE, open_queue, run_async
    from profiles.services import customer_erase

    send([_created(), _contact(at=1)])
    with schema_context(clubs.alpha.schema_name):
        relayed = outbound_events_relay()
        assert relayed >= 1

        async def waiting() -> list:
            async with open_queue(OUTBOUND_QUEUE) as queue:
                return await queue.getJobs(["waiting", "prioritized"])

        assert any(EMAIL_NORMAL in json.dumps(job.data) for job in run_async(waiting))
        customer = Customer.objects.get(scl_member_id=MEMBER)
        with django_capture_on_commit_callbacks(execute=True):
            customer_erase(customer=customer, actor_label="tests")
        assert OutboundEvent.objects.filter(published_at=None).count() == relayed + 1
        assert outbound_events_relay() == relayed + 1
        jobs = run_async(waiting)
        assert len(jobs) == relayed + 1
        for job in jobs:
            assert set(job.data["identity"]) <= {"customerId"}, job.data
            for needle in NEEDLES:
                assert needle.lower() not in json.dumps(job.data).lower()
