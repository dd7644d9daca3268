"""The tee-sheet gap filler end to end: TeeTime's slot events through the events API, the
filler choosing golfers from their booking history, offers through the campaign ledger to a
Messaging peer on 127.0.0.1, a booking of the slot counted as recovered revenue, and the slot
filling stopping the waves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.delivery.http import HttpAdapter
from campaigns.models import Send, TeeSheetGap, TeeSheetOffer, TeeSheetSettings
from campaigns.sending import campaign_settings, run_deliver
from campaigns.tee_sheet import tee_sheet_fill, tee_sheet_settings_update
from campaigns.tee_sheet_selectors import tee_sheet_utilisation, tee_sheet_weekly
from campaigns.testing import MessagingPeer
from profiles.models import Customer, TeeSlot
from tests.events import envelope

TOKEN = "peer-token"
DUBLIN = ZoneInfo("Europe/Dublin")
COURSE = {"id": "c1", "name": "Championship"}


@pytest.fixture
def peer() -> Iterator[MessagingPeer]:
    with MessagingPeer(token=TOKEN) as running:
        yield running


@pytest.fixture
def http(peer) -> Iterator[HttpAdapter]:
    adapter = HttpAdapter(base_url=peer.url, token=TOKEN)
    yield adapter
    adapter.close()


def next_weekday_morning(now: dt.datetime) -> dt.datetime:
    """09:10 club time on the next weekday at least a day away."""
    day = (now.astimezone(DUBLIN) + dt.timedelta(days=1)).date()
    while day.isoweekday() >= 6:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(9, 10), tzinfo=DUBLIN)


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def golfer(pid: str, *, bookings: list[dt.datetime], course: dict = COURSE, opted_in=True,
           handicap: float = 12.0, member: bool = False) -> list[dict]:  # fmt: skip
    email = f"{pid}@example.ie"
    events = [
        envelope("teetime.player.created",
                 {"playerId": pid, "firstName": pid.title(), "lastName": "Golfer",
                  "email": email, "handicapIndex": handicap},
                 identity={"teetimePlayerId": pid}, at=0),
        envelope("messaging.contact.created", {"contactId": f"m-{pid}", "email": email},
                 identity={"messagingContactId": f"m-{pid}"}, at=1),
    ]  # fmt: skip
    if opted_in:
        events.append(
            envelope("messaging.contactPreference.updated",
                     {"contactId": f"m-{pid}", "channel": "EMAIL", "optedIn": True},
                     identity={"messagingContactId": f"m-{pid}"}, at=2)
        )  # fmt: skip
    for n, tee in enumerate(bookings):
        events.append(
            envelope("teetime.booking.created",
                     {"bookingId": f"b-{pid}-{n}", "playerId": pid, "course": course,
                      "teeTime": stamp(tee), "holes": 18,
                      "price": {"amount": "45.00", "currency": "EUR"}},
                     identity={"teetimePlayerId": pid},
                     at=tee - dt.timedelta(days=2) if tee < timezone.now() else timezone.now()
                     - dt.timedelta(minutes=30))
        )  # fmt: skip
    if member:
        events.append(
            envelope("scl.member.created",
                     {"memberId": abs(hash(pid)) % 10**6 + 1, "email": email, "status": "ACTIVE",
                      "tier": {"code": "FULL", "name": "Full"}},
                     identity={"email": email}, at=3)
        )  # fmt: skip
    return events


def slot_event(slot: dt.datetime, *, booked: int, at: dt.datetime, capacity: int = 4,
               **payload) -> dict:  # fmt: skip
    body = {
        "slotId": "s-0910", "course": COURSE, "teeTime": stamp(slot), "holes": 18,
        "capacity": capacity, "booked": booked, "price": {"amount": "45.00", "currency": "EUR"},
        "rules": {"memberOnly": False, "maxHandicap": 28},
        "bookingUrl": "https://teetime.example/book/s-0910", **payload,
    }  # fmt: skip
    return envelope("teetime.slot.availability", body, at=at)


def customer_of(pid: str) -> Customer:
    return Customer.objects.get(teetime_player_id=pid)


def test_a_released_slot_is_offered_to_the_right_golfers_until_it_fills(clubs, ingest, peer, http):
    now = timezone.now()
    slot = next_weekday_morning(now)
    mornings = [slot - dt.timedelta(days=7 * k) for k in (1, 2, 3)]
    evenings = [m.replace(hour=18) for m in mornings]
    events = [
        *golfer("anna", bookings=mornings),
        *golfer("gerry", bookings=mornings[:2]),
        *golfer("hugh", bookings=[*mornings, evenings[0]]),
        # Not these: plays that day already, plays evenings, not opted in, handicap above the
        # slot's limit, plays another course.
        *golfer("bea", bookings=[*mornings, slot.replace(hour=14)]),
        *golfer("cora", bookings=evenings),
        *golfer("dan", bookings=mornings, opted_in=False),
        *golfer("eve", bookings=mornings, handicap=30.0),
        *golfer("finn", bookings=mornings, course={"id": "c2", "name": "Parkland"}),
    ]
    results = ingest(events)
    assert {r["status"] for r in results} == {"accepted"}, results

    with schema_context(clubs.alpha.schema_name):
        rules = campaign_settings()
        rules.quiet_hours_enabled = False
        rules.frequency_cap = 0
        rules.save()
        tee_sheet_settings_update(
            data={"enabled": True, "horizonHours": 24 * 4, "golfersPerPlace": 4,
                  "holdoutPercent": 0, "templates": {"EMAIL": "tee_time_offer"}},
            actor_label="tests",
        )  # fmt: skip

    # One place released on a full slot.
    assert ingest([slot_event(slot, booked=3, at=now - dt.timedelta(minutes=1))])[0]["status"] == (
        "accepted"
    )
    # An older state arriving late changes nothing.
    ingest([slot_event(slot, booked=0, at=now - dt.timedelta(minutes=10))])
    with schema_context(clubs.alpha.schema_name):
        state = TeeSlot.objects.get(slot_id="s-0910")
        assert (state.capacity, state.booked, state.free_places) == (4, 3, 1)
        assert state.price_cents == 4500 and state.max_handicap == 28

        result = tee_sheet_fill(now=now)
        assert (result.opened, result.waves) == (1, 1)
        gap = TeeSheetGap.objects.get(slot=state)
        wave = gap.waves.get()
        chosen = set(TeeSheetOffer.objects.filter(gap=gap).values_list("customer_id", flat=True))
        right = {customer_of(p).id for p in ("anna", "gerry", "hugh")}
        assert chosen == right

        delivered = run_deliver(run_id=wave.run_id, adapter=http)
        assert delivered.accepted == 3
        requests = list(peer.state.accepted.values())
        assert {r["metadata"]["customerId"] for r in requests} == {str(c) for c in right}
        offer = requests[0]
        assert offer["templateId"] == "tee_time_offer"
        assert offer["variables"]["slot"]["course"] == "Championship"
        assert offer["variables"]["slot"]["freePlaces"] == 1
        assert offer["variables"]["slot"]["price"] == "45.00 EUR"
        assert offer["variables"]["slot"]["bookingUrl"] == (
            f"https://teetime.example/book/s-0910?crmOffer={offer['idempotencyKey']}"
        )
        # No second wave before its time, and nobody is offered the same gap twice.
        assert tee_sheet_fill(now=now + dt.timedelta(minutes=5)).waves == 0

    # Anna books it; TeeTime says the slot is full.
    later = now + dt.timedelta(minutes=10)
    ingest(
        [
            envelope("teetime.booking.created",
                     {"bookingId": "b-recovered", "playerId": "anna", "course": COURSE,
                      "teeTime": stamp(slot), "holes": 18,
                      "price": {"amount": "45.00", "currency": "EUR"}},
                     identity={"teetimePlayerId": "anna"}, at=later),
            slot_event(slot, booked=4, at=later),
        ]
    )  # fmt: skip
    with schema_context(clubs.alpha.schema_name):
        result = tee_sheet_fill(now=later + dt.timedelta(minutes=1))
        assert (result.filled, result.converted, result.waves) == (1, 1, 0)
        gap.refresh_from_db()
        assert gap.status == "FILLED"
        converted = TeeSheetOffer.objects.get(gap=gap, booked_at__isnull=False)
        assert converted.customer_id == customer_of("anna").id
        assert (converted.amount_cents, converted.currency) == (4500, "EUR")
        # Filled: no more waves, however long we wait.
        assert tee_sheet_fill(now=later + dt.timedelta(hours=2)).waves == 0
        assert len(peer.state.accepted) == 3

        week = tee_sheet_weekly(weeks=1, now=later)[-1]
        assert (week["offers"], week["bookings"], week["revenueRecoveredCents"]) == (3, 1, 4500)
        assert week["revenueRecovered"] == "45.00 EUR" or week["currency"] == "EUR"
        parts = {row["dayPart"]: row for row in tee_sheet_utilisation(now=later)}
        assert parts["weekday_morning"]["capacity"] == 4
        assert parts["weekday_morning"]["booked"] == 4


def test_the_holdout_gets_no_offer_and_a_filled_slot_cancels_unsent_offers(
    clubs, ingest, peer, http
):
    now = timezone.now()
    slot = next_weekday_morning(now)
    mornings = [slot - dt.timedelta(days=7 * k) for k in (1, 2)]
    ingest([event for n in range(12) for event in golfer(f"g{n}", bookings=mornings)])
    with schema_context(clubs.alpha.schema_name):
        rules = campaign_settings()
        rules.quiet_hours_enabled = False
        rules.frequency_cap = 0
        rules.save()
        tee_sheet_settings_update(
            data={"enabled": True, "horizonHours": 96, "golfersPerPlace": 6,
                  "holdoutPercent": 50},
            actor_label="tests",
        )  # fmt: skip
    ingest([slot_event(slot, booked=2, at=now - dt.timedelta(minutes=1))])
    with schema_context(clubs.alpha.schema_name):
        tee_sheet_fill(now=now)
        wave = TeeSheetGap.objects.get().waves.get()
        assert wave.chosen == 12
        held = set(
            TeeSheetOffer.objects.filter(wave=wave, holdout=True).values_list(
                "customer_id", flat=True
            )
        )
        assert 0 < len(held) < 12 and wave.held_out == len(held)
        sends = Send.objects.filter(run_id=wave.run_id)
        assert {s.customer_id for s in sends if s.status == "HOLDOUT"} == held

    # The slot fills before the offers went out: none of them is sent.
    ingest([slot_event(slot, booked=4, at=now)])
    with schema_context(clubs.alpha.schema_name):
        assert tee_sheet_fill(now=now + dt.timedelta(minutes=1)).filled == 1
        assert run_deliver(run_id=wave.run_id, adapter=http).handed == 0
        assert not peer.state.accepted
        reasons = set(Send.objects.filter(run_id=wave.run_id).values_list("reason", flat=True))
        assert reasons == {"HOLDOUT", "CANCELLED"}


def test_bad_slot_events_are_refused_one_by_one(clubs, ingest):
    now = timezone.now()
    slot = next_weekday_morning(now)
    good = slot_event(slot, booked=1, at=now)
    over = slot_event(slot, booked=5, at=now, slotId="s-over")
    past = slot_event(now - dt.timedelta(hours=1), booked=1, at=now - dt.timedelta(hours=2),
                      slotId="s-past")  # fmt: skip
    before_event = slot_event(slot, booked=1, at=slot + dt.timedelta(minutes=1), slotId="s-x")
    unknown_rules = slot_event(slot, booked=1, at=now, slotId="s-y", capacity=0)
    results = ingest([over, good, past, before_event, unknown_rules])
    statuses = [r["status"] for r in results]
    assert statuses == ["rejected", "accepted", "rejected", "rejected", "rejected"]
    assert "capacity of 4" in results[0]["errors"]["payload.booked"][0]
    assert "past" in results[2]["errors"]["payload.teeTime"][0]
    assert "past" in results[3]["errors"]["payload.teeTime"][0]
    assert "payload.capacity" in results[4]["errors"]
    with schema_context(clubs.alpha.schema_name):
        assert list(TeeSlot.objects.values_list("slot_id", flat=True)) == ["s-0910"]


def test_tee_sheet_api_settings_slots_gaps_and_graphql(clubs, api, make_key, ingest):
    from tests.conftest import error_of

    now = timezone.now()
    slot = next_weekday_morning(now)
    ingest([slot_event(slot, booked=1, at=now)])
    with schema_context(clubs.alpha.schema_name):
        tee_sheet_fill(now=now)
    reader = api(make_key(clubs.alpha, "crm:read"))
    writer = api(make_key(clubs.alpha, "crm:read,crm:campaigns"))
    base = "/t/alpha-golf/api/v1/tee-sheet"

    settings = reader.get(f"{base}/settings").json()["data"]
    assert settings["enabled"] is False and settings["horizonHours"] == 48
    assert reader.patch(f"{base}/settings", {"enabled": True},
                        content_type="application/json").status_code == 403  # fmt: skip
    bad = writer.patch(f"{base}/settings", {"enabled": True, "horizonHours": 0, "colour": "red"},
                       content_type="application/json")  # fmt: skip
    assert bad.status_code == 400
    details = error_of(bad)["details"]
    assert "horizonHours" in details and "colour" in details
    assert reader.get(f"{base}/settings").json()["data"]["enabled"] is False  # nothing saved
    ok = writer.patch(f"{base}/settings", {"enabled": True, "weeklyLimit": 3},
                      content_type="application/json")  # fmt: skip
    assert ok.status_code == 200 and ok.json()["data"]["weeklyLimit"] == 3

    slots = reader.get(f"{base}/slots").json()["data"]
    assert [s["slotId"] for s in slots] == ["s-0910"]
    assert slots[0]["freePlaces"] == 3 and slots[0]["price"]["label"] == "45.00 EUR"
    gaps = reader.get(f"{base}/gaps").json()["data"]
    assert len(gaps) == 1 and gaps[0]["status"] == "OPEN"
    detail = reader.get(f"{base}/gaps/{gaps[0]['id']}").json()["data"]
    assert detail["outcome"]["offers"] == 0 and detail["slot"]["slotId"] == "s-0910"
    assert reader.get(f"{base}/gaps/999999").status_code == 404
    assert reader.get(f"{base}/gaps/nonsense").status_code == 404
    assert reader.get(f"{base}/gaps?status=LOST").status_code == 400
    summary = reader.get(f"{base}/summary").json()["data"]
    assert len(summary["weeks"]) == 8 and len(summary["utilisation"]) == 4

    # Another club sees none of it, and alpha's key opens nothing of bravo's.
    bravo = api(make_key(clubs.bravo, "crm:read"))
    assert bravo.get("/t/bravo-golf/api/v1/tee-sheet/slots").json()["data"] == []
    assert bravo.get("/t/bravo-golf/api/v1/tee-sheet/gaps").json()["data"] == []
    assert reader.get("/t/bravo-golf/api/v1/tee-sheet/slots").status_code in (401, 403)

    query = "{ teeSheetSettings { enabled weeklyLimit } teeSheetGaps { status slot { slotId } outcome } }"
    body = reader.post("/t/alpha-golf/graphql", {"query": query},
                       content_type="application/json").json()  # fmt: skip
    assert body["data"]["teeSheetSettings"] == {"enabled": True, "weeklyLimit": 3}
    assert body["data"]["teeSheetGaps"][0]["slot"]["slotId"] == "s-0910"
    mutation = "mutation { updateTeeSheetSettings(input: {maxWaves: 0}) { errors { field } } }"
    body = writer.post("/t/alpha-golf/graphql", {"query": mutation},
                       content_type="application/json").json()  # fmt: skip
    assert body["data"]["updateTeeSheetSettings"]["errors"] == [{"field": "maxWaves"}]


def test_the_settings_page_saves_through_the_fillers_service(clubs, api, make_staff):
    """The admin page writes the row with `tee_sheet_settings_update` (issue 19): its audit
    row, its `updated_by`, and its refusals shown on the page (nothing saved)."""
    from crm.accounts.models import AuditEntry
    from tests.conftest import STAFF_PASSWORD

    client = api()
    email = make_staff(clubs.alpha, "MARKETING")
    client.post(
        "/t/alpha-golf/admin/login/",
        {"username": email, "password": STAFF_PASSWORD, "next": "/t/alpha-golf/admin/"},
    )
    form = {
        "enabled": "on", "horizon_hours": "48", "golfers_per_place": "4", "max_waves": "3",
        "minutes_between_waves": "30", "weekly_limit": "2", "min_day_part_share": "50",
        "offer_window_hours": "2", "holdout_percent": "10", "channels": "EMAIL",
        "templates": '{"EMAIL": "tee_time_offer"}', "content": "{}",
    }  # fmt: skip
    url = "/t/alpha-golf/admin/campaigns/teesheetsettings/add/"
    with schema_context(clubs.alpha.schema_name):
        if TeeSheetSettings.objects.exists():
            url = "/t/alpha-golf/admin/campaigns/teesheetsettings/1/change/"
    answer = client.post(url, form)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    with schema_context(clubs.alpha.schema_name):
        row = TeeSheetSettings.objects.get()
        assert (row.pk, row.enabled, row.horizon_hours, row.updated_by) == (1, True, 48, email)
        audits = AuditEntry.objects.filter(action="tee_sheet.settings.updated")
        assert audits.count() == 1 and audits.get().actor_label == email
    # SMS without an SMS template: the service's refusal, on the page; nothing changes.
    refused = client.post(
        "/t/alpha-golf/admin/campaigns/teesheetsettings/1/change/",
        {**form, "channels": "EMAIL,SMS", "horizon_hours": "24"},
    )
    assert refused.status_code == 200 and "No template for SMS" in refused.content.decode()
    with schema_context(clubs.alpha.schema_name):
        assert TeeSheetSettings.objects.get().horizon_hours == 48
