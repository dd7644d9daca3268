"""The club admin's Customer Intelligence, used as staff use it: real events ingested through the
API, real staff logging in, real admin pages and actions.

The 360° page, notes, export and erasure; search; the duplicate queue; the event log's replay
of parked events; and that another club's session never reaches any of it."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from profiles.models import (
    Customer,
    CustomerNote,
    CustomerStatus,
    DuplicateCandidate,
    DuplicateStatus,
    EventStatus,
    RawEvent,
    SourceRecord,
)
from tests.conftest import STAFF_PASSWORD
from tests.events import contact, envelope, member, player

ADMIN = "/t/alpha-golf/admin"
CUSTOMERS = f"{ADMIN}/profiles/customer"
DUPLICATES = f"{ADMIN}/profiles/duplicatecandidate"
EVENTS = f"{ADMIN}/profiles/rawevent"
DASH = "\N{EN DASH}"  # as in "Showing 1-50 of 57"


@pytest.fixture
def login(clubs, api, make_staff):
    """`login("ADMIN")` -> a test client signed in to alpha's admin with that role."""

    def _login(role: str, tenant_ref: str = "alpha-golf"):
        tenant = clubs.alpha if tenant_ref == "alpha-golf" else clubs.bravo
        client = api()
        response = client.post(
            f"/t/{tenant_ref}/admin/login/",
            {
                "username": make_staff(tenant, role),
                "password": STAFF_PASSWORD,
                "next": f"/t/{tenant_ref}/admin/",
            },
        )
        assert response.status_code == 302, response.content
        return client

    return _login


def _customer_id(clubs, kind: str, key: str) -> str:
    with schema_context(clubs.alpha.schema_name):
        return str(SourceRecord.objects.get(kind=kind, key=key).customer_id)


def _customer(clubs, customer_id: str) -> Customer:
    with schema_context(clubs.alpha.schema_name):
        return Customer.objects.get(id=customer_id)


def _page(client, url: str, follow: bool = False, **params) -> str:
    response = client.get(url, params, follow=follow)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _listed_customers(html: str) -> set[str]:
    return set(re.findall(r"/admin/profiles/customer/([0-9a-f-]{36})/change/", html))


@pytest.fixture
def aoife(clubs, ingest) -> str:
    """One person seen by all three services: an SCL member, a TeeTime player who names her
    member id, and a Messaging contact matched on her email. Returns her customer id."""
    ingest(
        [
            member(
                1, email="aoife@example.ie", phoneNumber="087 123 4567", joinedOn="2019-03-01",
                renewalDueOn="2027-01-01",
            ),
            player("p1", sclMemberId=1, handicapIndex=12.4, homeClubId="alpha-gc", at=1),
            contact("c1", email="aoife@example.ie", at=2),
            envelope(
                "teetime.handicap.updated", {"playerId": "p1", "fromIndex": 12.4, "toIndex": 11.8},
                at=5,
            ),
            envelope(
                "scl.payment.received",
                {"paymentId": "pay-1", "memberId": 1, "amount": "95.00", "currency": "EUR",
                 "purpose": "SUBSCRIPTION"},
                at=6,
            ),
            envelope(
                "messaging.contactPreference.updated",
                {"contactId": "c1", "channel": "EMAIL", "optedIn": True,
                 "source": "PREFERENCE_CENTRE"},
                at=7,
            ),
            envelope(
                "teetime.booking.created",
                {"bookingId": "b1", "playerId": "p1", "holes": 18, "course": {"name": "Old"}},
                at=8,
            ),
        ]
    )  # fmt: skip
    return _customer_id(clubs, "scl", "1")


# --- the 360° page -----------------------------------------------------------------------------


def test_360_page_shows_the_whole_customer(clubs, aoife, login):
    with schema_context(clubs.alpha.schema_name):
        CustomerNote.objects.create(
            customer_id=aoife, body="Prefers early tee times.", author_label="pro@alpha.example"
        )
    html = _page(login("STAFF"), f"{CUSTOMERS}/{aoife}/change/")

    assert re.search(r"<h1[^>]*>Aoife Byrne</h1>", html)
    # Identities, with how each was matched.
    for text in ("SCL member id", "TeeTime player id", "Messaging contact id", "p1", "c1",
                 "aoife@example.ie", "+353871234567", "The customer&#x27;s first record",
                 "Linked by SCL member id", "(sclMemberId)", "Same email address", "(email)",
                 "95%"):  # fmt: skip
        assert text in html, text
    # Membership, golf, payments, consent.
    assert "FULL" in html and "1 Mar 2019" in html and "1 Jan 2027" in html
    assert "11.8" in html and "alpha-gc" in html
    assert "12.4 → <strong>11.8</strong>" in html  # the handicap history
    assert "€95.00" in html  # lifetime value, in the club's currency
    assert "Paid 95.00 EUR (subscription)" in html
    consent = html[html.index('id="consent"') :]
    assert re.search(r"Email opt-in</th><td><img src=\"[^\"]*icon-yes", consent)
    assert re.search(r"SMS opt-in</th><td><img src=\"[^\"]*icon-no", consent)
    assert "Do not contact" not in html
    # Timeline, newest first, and the notes.
    timeline = html[html.index('id="timeline"') : html.index('id="notes"')]
    titles = ["Booked 18 holes at Old", "Opted in to email", "Paid 95.00 EUR", "Handicap 12.4",
              "Messaging contact created", "Golf profile created", "Joined as Full member"]  # fmt: skip
    positions = [timeline.index(title) for title in titles]
    assert positions == sorted(positions)
    assert f"Showing 1{DASH}7 of 7" in timeline
    assert "Prefers early tee times." in html and "pro@alpha.example" in html


def test_timeline_filters_by_category_and_pages(clubs, aoife, ingest, login):
    ingest(
        [
            envelope("messaging.email.opened", {"contactId": "c1", "messageId": f"m{i}"}, at=10 + i)
            for i in range(50)
        ]
    )
    client = login("STAFF")
    url = f"{CUSTOMERS}/{aoife}/change/"

    payments = _page(client, url, category="payment")
    timeline = payments[payments.index('id="timeline"') : payments.index('id="notes"')]
    assert "Paid 95.00 EUR" in timeline
    assert "Golf profile created" not in timeline and "Opened an email" not in timeline
    assert f"Showing 1{DASH}1 of 1" in timeline

    first = _page(client, url)
    timeline = first[first.index('id="timeline"') : first.index('id="notes"')]
    assert f"Showing 1{DASH}50 of 57" in timeline
    assert timeline.count("Opened an email") == 50  # the newest 50
    assert "timeline_page=2" in timeline and "Older activity" in timeline
    assert "Messaging (50)" in timeline  # the category chips count everything
    second = _page(client, url, timeline_page=2)
    timeline = second[second.index('id="timeline"') : second.index('id="notes"')]
    assert f"Showing 51{DASH}57 of 57" in timeline and "Joined as Full member" in timeline


def test_staff_adds_a_note_but_cannot_export_or_erase(clubs, aoife, login):
    client = login("STAFF")
    page = _page(client, f"{CUSTOMERS}/{aoife}/change/")
    assert "Add note" in page
    assert "Export data (JSON)" not in page and "Erase personal data" not in page

    response = client.post(
        f"{CUSTOMERS}/{aoife}/notes/add/", {"body": "Wants a locker next season."}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Note added." in html and "Wants a locker next season." in html
    with schema_context(clubs.alpha.schema_name):
        note = CustomerNote.objects.get(customer_id=aoife)
        assert note.author_label == "staff@alpha-golf.example"
        assert AuditEntry.objects.filter(action="customer.note_added", object_id=aoife).exists()

    blank = client.post(f"{CUSTOMERS}/{aoife}/notes/add/", {"body": "   "}, follow=True)
    assert "A note needs some text." in blank.content.decode()
    assert client.get(f"{CUSTOMERS}/{aoife}/notes/add/").status_code == 405

    assert client.get(f"{CUSTOMERS}/{aoife}/export/").status_code == 403
    assert client.get(f"{CUSTOMERS}/{aoife}/erase/").status_code == 403
    assert client.post(f"{CUSTOMERS}/{aoife}/erase/").status_code == 403
    assert _customer(clubs, aoife).status == CustomerStatus.ACTIVE
    # Customers are read-only here: no add, edit or delete through the admin.
    assert client.get(f"{CUSTOMERS}/add/").status_code == 403
    assert client.post(f"{CUSTOMERS}/{aoife}/change/", {"first_name": "X"}).status_code == 403
    assert client.get(f"{CUSTOMERS}/{aoife}/delete/").status_code == 403


def test_admin_exports_then_erases(clubs, aoife, login):
    client = login("ADMIN")
    page = _page(client, f"{CUSTOMERS}/{aoife}/change/")
    assert "Export data (JSON)" in page and "Erase personal data (GDPR)" in page
    assert client.post(f"{CUSTOMERS}/{aoife}/change/", {"first_name": "X"}).status_code == 403

    export = client.get(f"{CUSTOMERS}/{aoife}/export/")
    assert export.status_code == 200
    assert export["Content-Type"] == "application/json"
    assert export["Content-Disposition"] == f'attachment; filename="customer-{aoife}.json"'
    document = json.loads(export.content)
    assert document["customer"]["email"] == "aoife@example.ie"
    by_title = {entry["title"]: entry for entry in document["timeline"]}
    handicap = by_title["Handicap 12.4 → 11.8"]
    assert handicap["rawEvent"]["type"] == "teetime.handicap.updated"
    assert handicap["rawEvent"]["payload"]["toIndex"] == 11.8
    assert by_title["Paid 95.00 EUR (subscription)"]["amountCents"] == 9500
    assert len(document["timeline"]) == 7
    with schema_context(clubs.alpha.schema_name):
        assert AuditEntry.objects.filter(action="customer.exported", object_id=aoife).exists()

    confirm = _page(client, f"{CUSTOMERS}/{aoife}/erase/")
    assert "cannot be undone" in confirm and "Aoife Byrne" in confirm
    assert "3 source records" in confirm
    assert _customer(clubs, aoife).status == CustomerStatus.ACTIVE  # GET only asks

    erased = client.post(f"{CUSTOMERS}/{aoife}/erase/", follow=True)
    assert erased.redirect_chain[-1][0] == f"{CUSTOMERS}/{aoife}/change/"
    html = erased.content.decode()
    assert "Personal data erased" in html
    assert re.search(r"<h1[^>]*>Erased customer</h1>", html) and "c360-status-deleted" in html
    assert "Do not contact" in html
    for personal in ("Aoife", "Byrne", "aoife@example.ie", "+353871234567", "p1</code>", "FULL"):
        assert personal not in html, personal
    assert "(erased)" in html  # the anonymous facts of the timeline stay
    assert "Export data (JSON)" not in html and "Add note" not in html
    customer = _customer(clubs, aoife)
    assert (customer.status, customer.email, customer.first_name) == (
        CustomerStatus.DELETED,
        "",
        "",
    )


# --- the customer list -------------------------------------------------------------------------


def test_search_by_local_phone_email_and_source_ids(clubs, aoife, ingest, login):
    ingest(
        [
            member(2, firstName="Conor", lastName="Walsh", email="conor@example.ie",
                   phoneNumber="086 765 4321"),
            player("p2", firstName="Niamh", lastName="Kelly", email="niamh@example.ie"),
        ]
    )  # fmt: skip
    conor = _customer_id(clubs, "scl", "2")
    client = login("STAFF")
    for term in ("087 123 4567", "0871234567", "+353 87 123 4567", "AOIFE@Example.IE", "p1", "c1",
                 "byrne"):  # fmt: skip
        assert _listed_customers(_page(client, f"{CUSTOMERS}/", q=term)) == {aoife}, term
    assert _listed_customers(_page(client, f"{CUSTOMERS}/", q="086 765 4321")) == {conor}
    assert aoife in _listed_customers(_page(client, f"{CUSTOMERS}/", q="1"))  # SCL member id
    assert _listed_customers(_page(client, f"{CUSTOMERS}/", q="nobody@example.ie")) == set()

    listing = _page(client, f"{CUSTOMERS}/")
    assert len(_listed_customers(listing)) == 3
    for column in ("Aoife Byrne", "aoife@example.ie", "+353871234567", "FULL", "Member"):
        assert column in listing, column
    members = _page(client, f"{CUSTOMERS}/", membership_status="ACTIVE")
    assert _listed_customers(members) == {aoife, conor}


# --- duplicate queue ---------------------------------------------------------------------------


@pytest.fixture
def household(clubs, ingest) -> dict[str, str]:
    """Two members sharing a household email, and a TeeTime player with only that email: the
    email joins nobody, and every pair becomes a duplicate candidate."""
    ingest(
        [
            member(1, firstName="Aoife", email="home@example.ie"),
            member(2, firstName="Conor", email="home@example.ie", at=1),
            player("p9", firstName="Aoife", lastName="Byrne", email="home@example.ie", at=2),
        ]
    )
    return {
        "aoife": _customer_id(clubs, "scl", "1"),
        "conor": _customer_id(clubs, "scl", "2"),
        "player": _customer_id(clubs, "teetime", "p9"),
    }


def _candidate(clubs, one: str, other: str) -> DuplicateCandidate:
    with schema_context(clubs.alpha.schema_name):
        return DuplicateCandidate.objects.get(
            customer_a_id__in=[one, other], customer_b_id__in=[one, other]
        )


def test_duplicate_queue_dismiss_and_merge(clubs, household, login):
    members = _candidate(clubs, household["aoife"], household["conor"])
    mergeable = _candidate(clubs, household["aoife"], household["player"])
    assert members.reason == "shared email"

    staff = login("STAFF")
    queue = _page(staff, f"{DUPLICATES}/")
    assert len(_listed_customers(queue)) == 3 and "home@example.ie" in queue
    assert "merge_candidates" not in queue  # no actions for STAFF
    staff.post(f"{DUPLICATES}/", {"action": "merge_candidates", "_selected_action": [mergeable.id]})
    assert staff.post(f"{DUPLICATES}/{mergeable.id}/merge/").status_code == 403
    mergeable.refresh_from_db()
    assert mergeable.status == DuplicateStatus.OPEN

    admin = login("ADMIN")
    # Two members hold different SCL ids: the merge is refused with the reason.
    refused = admin.post(
        f"{DUPLICATES}/",
        {"action": "merge_candidates", "_selected_action": [members.id]},
        follow=True,
    )
    assert "were not merged" in refused.content.decode()
    assert "scl" in refused.content.decode()
    dismissed = admin.post(
        f"{DUPLICATES}/",
        {"action": "dismiss_candidates", "_selected_action": [members.id]},
        follow=True,
    )
    assert "Dismissed 1 candidate(s)." in dismissed.content.decode()
    with schema_context(clubs.alpha.schema_name):
        members.refresh_from_db()
        assert (members.status, members.decided_by) == (
            DuplicateStatus.DISMISSED,
            "admin@alpha-golf.example",
        )
    # The queue shows open candidates unless asked otherwise.
    assert f"{DUPLICATES}/{members.id}/change/" not in _page(admin, f"{DUPLICATES}/")
    decided = _page(admin, f"{DUPLICATES}/", status="DISMISSED")
    assert f"{DUPLICATES}/{members.id}/change/" in decided
    assert f"{DUPLICATES}/{members.id}/change/" in _page(admin, f"{DUPLICATES}/", status="all")

    merged = admin.post(
        f"{DUPLICATES}/",
        {"action": "merge_candidates", "_selected_action": [mergeable.id]},
        follow=True,
    )
    assert "Merged 1 pair(s)." in merged.content.decode()
    winner = _customer(clubs, str(mergeable.customer_a_id))
    loser = _customer(clubs, str(mergeable.customer_b_id))
    assert (loser.status, loser.merged_into_id) == (CustomerStatus.MERGED, winner.id)
    assert winner.scl_member_id == 1 and winner.teetime_player_id == "p9"
    with schema_context(clubs.alpha.schema_name):
        mergeable.refresh_from_db()
        assert mergeable.status == DuplicateStatus.MERGED

    # The loser's page says where it went.
    html = _page(admin, f"{CUSTOMERS}/{loser.id}/change/")
    assert "This customer was merged" in html and f"{CUSTOMERS}/{winner.id}/change/" in html


def test_duplicates_on_the_360_page(clubs, household, login):
    conor = household["conor"]
    staff_page = _page(login("STAFF"), f"{CUSTOMERS}/{conor}/change/")
    assert "Possible duplicates to review (2)" in staff_page
    assert "They share an email address" in staff_page
    assert "Not the same person" not in staff_page and "Merge into" not in staff_page

    admin = login("ADMIN")
    page = _page(admin, f"{CUSTOMERS}/{conor}/change/")
    assert "Not the same person" in page and "Merge into" in page
    candidate = _candidate(clubs, conor, household["player"])
    response = admin.post(
        f"{DUPLICATES}/{candidate.id}/dismiss/",
        {"next": f"{CUSTOMERS}/{conor}/change/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"{CUSTOMERS}/{conor}/change/"
    assert "Possible duplicates to review (1)" in response.content.decode()
    # An outside `next` is not followed.
    other = _candidate(clubs, conor, household["aoife"])
    away = admin.post(f"{DUPLICATES}/{other.id}/dismiss/", {"next": "https://evil.example/"})
    assert away.status_code == 302 and away["Location"].startswith(f"{CUSTOMERS}/")


def test_merge_from_the_360_page_between_a_member_and_a_player(clubs, ingest, login):
    """A member and a player with different emails: nothing links them, so a candidate is made
    by hand (as a name match might) and merged from the page."""
    ingest(
        [
            member(7, email="aoife@example.ie"),
            player("p7", firstName="A.", lastName="Byrne", email="a.byrne@example.ie"),
        ]
    )
    the_member, the_player = _customer_id(clubs, "scl", "7"), _customer_id(clubs, "teetime", "p7")
    with schema_context(clubs.alpha.schema_name):
        candidate = DuplicateCandidate.objects.create(
            customer_a_id=the_member, customer_b_id=the_player, reason="same name",
            detail="Aoife Byrne / A. Byrne",
        )  # fmt: skip
    admin = login("ADMIN")
    page = _page(admin, f"{CUSTOMERS}/{the_player}/change/")
    assert "Merge into Aoife Byrne" in page
    response = admin.post(f"{DUPLICATES}/{candidate.id}/merge/", follow=True)
    assert response.redirect_chain[-1][0] == f"{CUSTOMERS}/{the_member}/change/"
    html = response.content.decode()
    assert "Merged;" in html and "a.byrne@example.ie" in html  # the player's identities moved
    assert _customer(clubs, the_player).status == CustomerStatus.MERGED


# --- event log ---------------------------------------------------------------------------------


def test_parked_event_is_shown_and_replayed(
    clubs, ingest, apply_all, login, django_capture_on_commit_callbacks
):
    ingest([member(1), member(2, at=1)], apply=False)
    with schema_context(clubs.alpha.schema_name):
        broken = RawEvent.objects.order_by("id").first()
        good_timestamp = broken.envelope["timestamp"]
        broken.envelope = {**broken.envelope, "timestamp": "yesterday"}  # no longer valid
        broken.save()
    apply_all()
    with schema_context(clubs.alpha.schema_name):
        broken.refresh_from_db()
        assert (broken.status, broken.attempts) == (EventStatus.PARKED, 3)

    staff = login("STAFF")
    parked = _page(staff, f"{EVENTS}/", status="PARKED")
    assert broken.event_id in parked and "replay_events" not in parked
    detail = _page(staff, f"{EVENTS}/{broken.id}/change/")
    assert "no longer validates" in detail
    assert "&quot;timestamp&quot;: &quot;yesterday&quot;" in detail  # pretty-printed envelope
    assert "scl.member.created" in detail

    admin = login("ADMIN")
    assert "replay_events" in _page(admin, f"{EVENTS}/", status="PARKED")
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        response = admin.post(
            f"{EVENTS}/?status=PARKED",
            {"action": "replay_events", "_selected_action": [broken.id]},
            follow=True,
        )
    assert "Queued 1 event(s)" in response.content.decode()
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "profiles_rawevent"')]
    assert len(updates) == 1
    assert len(callbacks) == 1  # the apply task, queued once the replay commits
    with schema_context(clubs.alpha.schema_name):
        broken.refresh_from_db()
        assert (broken.status, broken.attempts, broken.last_error) == (EventStatus.PENDING, 0, "")
        # Once the cause is fixed, the worker applies it like any other event.
        broken.envelope = {**broken.envelope, "timestamp": good_timestamp}
        broken.save()
    apply_all()
    with schema_context(clubs.alpha.schema_name):
        broken.refresh_from_db()
        assert broken.status == EventStatus.APPLIED

    # An applied event is not replayed.
    again = admin.post(
        f"{EVENTS}/", {"action": "replay_events", "_selected_action": [broken.id]}, follow=True
    )
    assert "Only parked or unknown events can be replayed." in again.content.decode()


def test_event_log_filters_and_search(clubs, aoife, login):
    client = login("STAFF")
    with schema_context(clubs.alpha.schema_name):
        handicap = RawEvent.objects.get(type="teetime.handicap.updated")
    found = _page(client, f"{EVENTS}/", q=handicap.event_id)
    assert found.count(f"{EVENTS}/") and handicap.event_id in found
    assert "scl.payment.received" not in found
    teetime = _page(client, f"{EVENTS}/", source="teetime")
    assert "teetime.booking.created" in teetime and "scl.payment.received" not in teetime
    assert "teetime.booking.created" in _page(client, f"{EVENTS}/", transport="rest")
    assert "teetime.booking.created" not in _page(client, f"{EVENTS}/", transport="webhook")
    detail = _page(client, f"{EVENTS}/{handicap.id}/change/")
    assert f"{CUSTOMERS}/{aoife}/change/" in detail  # the customer it is about
    assert client.get(f"{EVENTS}/add/").status_code == 403


# --- other clubs -------------------------------------------------------------------------------


def test_another_clubs_session_gets_nothing(clubs, aoife, login):
    """Bravo's ADMIN, signed in to bravo, is a stranger to alpha's admin: every alpha URL sends
    them to alpha's login page and shows none of alpha's data."""
    client = login("ADMIN", tenant_ref="bravo-golf")
    assert client.get("/t/bravo-golf/admin/profiles/customer/").status_code == 200
    # Bravo's own admin does not know alpha's customer.
    assert client.get(f"/t/bravo-golf/admin/profiles/customer/{aoife}/export/").status_code == 404
    assert "Aoife" not in _page(
        client, f"/t/bravo-golf/admin/profiles/customer/{aoife}/change/", follow=True
    )
    with schema_context(clubs.alpha.schema_name):
        event_id = RawEvent.objects.order_by("id").first().id
    gets = [
        f"{CUSTOMERS}/",
        f"{CUSTOMERS}/{aoife}/change/",
        f"{CUSTOMERS}/{aoife}/export/",
        f"{CUSTOMERS}/{aoife}/erase/",
        f"{DUPLICATES}/",
        f"{EVENTS}/{event_id}/change/",
    ]
    posts = [f"{CUSTOMERS}/{aoife}/notes/add/", f"{CUSTOMERS}/{aoife}/erase/"]
    # Bravo's session cookie is bravo's alone (sessionid_club_bravo_golf): alpha never sees it.
    responses = []
    for method, url in [("get", url) for url in gets] + [("post", url) for url in posts]:
        responses.append(
            getattr(client, method)(url, {"body": "hello"} if method == "post" else {})
        )
    for url, response in zip(gets + posts, responses, strict=True):
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{ADMIN}/login/"), url
        body = response.content.decode()
        assert "Aoife" not in body and "aoife@example.ie" not in body, url
    assert _customer(clubs, aoife).status == CustomerStatus.ACTIVE
    with schema_context(clubs.alpha.schema_name):
        assert not CustomerNote.objects.exists()
    assert client.get("/t/bravo-golf/admin/").status_code == 200  # still signed in at bravo
