"""The demo-data generator (profiles/demo.py) on its own: no database.

It has to be a faithful producer: envelopes exactly as events.md describes, deterministic, and
carrying the quirks ingestion and identity resolution must cope with.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from profiles.demo import ALIASES, build_club, generate_club, write_jsonl
from profiles.normalise import normalise_email, normalise_phone

TENANT_ID = "3d4c8f5e-8f0e-4b3f-9a52-6a1c3c0f4b21"
TODAY = date(2026, 5, 1)
END = datetime(2026, 5, 1, tzinfo=UTC)
START = END - timedelta(days=365)

ENVELOPE_KEYS = {
    "id", "type", "version", "timestamp", "tenantId", "tenantSlug", "source", "identity",
    "payload", "metadata",
}  # fmt: skip
IDENTITY_KEYS = {
    "authUserId", "email", "phoneNumber", "sclMemberId", "teetimePlayerId", "messagingContactId",
}  # fmt: skip

# The catalogue of events.md: the payload fields of each type (version 1).
MEMBER = {
    "memberId", "membershipNumber", "firstName", "lastName", "email", "phoneNumber",
    "dateOfBirth", "gender", "tier", "status", "joinedOn", "renewalDueOn", "address",
}  # fmt: skip
PAYMENT = {"paymentId", "memberId", "amount", "currency", "purpose"}
PLAYER = {
    "playerId", "firstName", "lastName", "email", "phoneNumber", "handicapIndex", "gender",
    "dateOfBirth", "homeClubId", "sclMemberId",
}  # fmt: skip
COMPETITION = {
    "competitionId", "name", "description", "startsAt", "entryOpensAt", "entryClosesAt", "format",
    "maxEntries", "entriesCount", "entryFee", "eligibility", "imageUrl", "bookingUrl",
}  # fmt: skip
MESSAGE = {"messageId", "sendId", "contactId", "channel", "recipient"}
CONTACT = {"contactId", "email", "phoneNumber", "firstName", "lastName"}
CATALOGUE = {
    "scl.member.created": MEMBER,
    "scl.member.updated": MEMBER,
    "scl.member.tier.changed": {"memberId", "fromTier", "toTier"},
    "scl.member.status.changed": {"memberId", "fromStatus", "toStatus", "reason"},
    "scl.member.deleted": {"memberId", "reason"},
    "scl.payment.received": PAYMENT,
    "scl.payment.failed": PAYMENT | {"failureReason"},
    "scl.payment.refunded": PAYMENT,
    "teetime.player.created": PLAYER,
    "teetime.player.updated": PLAYER,
    "teetime.handicap.updated": {"playerId", "fromIndex", "toIndex"},
    "teetime.booking.created": {
        "bookingId",
        "playerId",
        "course",
        "teeTime",
        "holes",
        "partySize",
        "guestPlayerIds",
        "price",
        "channel",
    },
    "teetime.booking.cancelled": {"bookingId", "playerId", "reason"},
    "teetime.booking.completed": {"bookingId", "playerId"},
    "teetime.booking.no_show": {"bookingId", "playerId"},
    "teetime.competition.published": COMPETITION,
    "teetime.competition.updated": COMPETITION,
    "teetime.competition.cancelled": {"competitionId", "reason"},
    "teetime.competition.entry.created": {"competitionId", "playerId"},
    "teetime.competition.entry.withdrawn": {"competitionId", "playerId"},
    "teetime.score.posted": {"competitionId", "playerId", "gross", "net", "position"},
    "messaging.contact.created": CONTACT,
    "messaging.contact.updated": CONTACT,
    "messaging.contact.deleted": CONTACT,
    "messaging.contactPreference.updated": {"contactId", "channel", "optedIn", "source"},
    "messaging.message.sent": MESSAGE,
    "messaging.message.delivered": MESSAGE,
    "messaging.message.failed": MESSAGE,
    "messaging.message.bounced": MESSAGE | {"bounce"},
    "messaging.message.complained": MESSAGE,
    "messaging.email.opened": MESSAGE,
    "messaging.email.clicked": MESSAGE | {"url"},
}
ALIAS_OF = {alias: canonical for canonical, alias, _ in ALIASES}
BOOKED = ("teetime.booking.created", "teetime.booked")


def canonical(event: dict) -> str:
    type_ = ALIAS_OF.get(event["type"], event["type"])
    if event["source"] == "messaging" and not type_.startswith("messaging."):
        type_ = f"messaging.{type_}"
    return type_


def phone(raw: str | None) -> str | None:
    return normalise_phone(raw, default_country="IE") if raw else None


@pytest.fixture(scope="module")
def club():
    """The default club (400 members), built once for the module."""
    return build_club(tenant_id=TENANT_ID, tenant_slug="digiwedge", today=TODAY)


@pytest.fixture(scope="module")
def events(club) -> list[dict]:
    return club.events


def test_same_seed_same_events_another_seed_others():
    make = dict(tenant_id=TENANT_ID, tenant_slug="digiwedge", members=60, today=TODAY)
    first = generate_club(seed=11, **make)
    assert first == generate_club(seed=11, **make)
    assert json.dumps(first) == json.dumps(generate_club(seed=11, **make))  # key order too
    other = generate_club(seed=12, **make)
    assert {e["id"] for e in first}.isdisjoint({e["id"] for e in other})


def test_every_event_is_an_envelope_of_the_contract(events):
    assert len({e["id"] for e in events}) == len(events)
    for event in events:
        assert set(event) == ENVELOPE_KEYS, event
        assert str(uuid.UUID(event["id"])) == event["id"]
        assert event["version"] == 1
        assert event["source"] in ("scl", "teetime", "messaging")
        assert (event["tenantId"], event["tenantSlug"]) == (TENANT_ID, "digiwedge")
        assert event["timestamp"].endswith("Z")
        assert set(event["identity"]) <= IDENTITY_KEYS
        assert None not in event["identity"].values()
        assert set(event["metadata"]) == {"correlationId", "userId"}
        type_ = canonical(event)
        assert type_.split(".")[0] == event["source"], event["type"]
        assert set(event["payload"]) == CATALOGUE[type_], (type_, set(event["payload"]))


def test_timestamps_parse_are_sorted_and_inside_the_year(events):
    moments = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert moments == sorted(moments)
    assert moments[0] >= START and moments[-1] < END
    stamps = {e["source"]: e["timestamp"] for e in events}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamps["scl"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamps["messaging"])
    tee_times = [
        datetime.fromisoformat(e["payload"]["teeTime"]) for e in events if e["type"] in BOOKED
    ]
    assert {t.utcoffset() for t in tee_times} == {timedelta(0), timedelta(hours=1)}  # club-local
    assert any(t >= END for t in tee_times)  # some rounds are still to be played


def _money(value, path=""):
    """Every {amount, currency} in a payload, and every payment's amount."""
    if isinstance(value, dict):
        if "amount" in value:
            yield path, value["amount"], value.get("currency")
        for key, inner in value.items():
            if key != "amount":
                yield from _money(inner, f"{path}.{key}")


def test_money_is_a_decimal_string_with_its_currency(events):
    seen = Counter()
    for event in events:
        for path, amount, currency in _money(event["payload"]):
            assert isinstance(amount, str) and re.fullmatch(r"\d+\.\d\d", amount), (path, amount)
            assert Decimal(amount) >= 0
            assert currency == "EUR"
            seen[path or event["type"]] += 1
        if event["type"] in ("scl.member.created", "scl.member.updated"):
            tier = event["payload"]["tier"]
            assert re.fullmatch(r"\d+\.\d\d", tier["annualFee"]) and tier["currency"] == "EUR"
    assert {".price", ".entryFee", "scl.payment.received", "scl.payment.failed"} <= set(seen)


def test_tiers_statuses_and_payments_look_like_a_club(events):
    created = [e["payload"] for e in events if e["type"] == "scl.member.created"]
    tiers = Counter(p["tier"]["code"] for p in created)
    assert tiers == {"FULL": 200, "SENIOR": 60, "FIVE_DAY": 60, "JUNIOR": 40, "SOCIAL": 40}
    assert {p["tier"]["annualFee"] for p in created if p["tier"]["code"] == "FULL"} == {"1450.00"}
    assert all(p["status"] == "ACTIVE" for p in created)
    ends = Counter(
        e["payload"]["toStatus"] for e in events if canonical(e) == "scl.member.status.changed"
    )
    assert ends["LAPSED"] >= 5 and ends["RESIGNED"] >= 5
    joined = sorted(date.fromisoformat(p["joinedOn"]) for p in created)
    assert joined[0] < date(2010, 1, 1) and joined[-1] > TODAY - timedelta(days=90)
    payments = Counter(
        (canonical(e), e["payload"]["purpose"])
        for e in events
        if e["type"].startswith("scl.payment.")
    )
    assert payments["scl.payment.received", "SUBSCRIPTION"] > 300
    assert payments["scl.payment.failed", "SUBSCRIPTION"] > 5
    assert payments["scl.payment.refunded", "LESSON"] == 2
    for purpose in ("BAR_LEVY", "SHOP", "LESSON", "JOINING_FEE"):
        assert payments["scl.payment.received", purpose] > 0
    assert all(e["payload"]["failureReason"] for e in events if e["type"] == "scl.payment.failed")


def test_each_alias_of_events_md_is_used_a_few_times(events):
    used = Counter(e["type"] for e in events)
    for canonical_type, alias, count in ALIASES:
        assert used[alias] == count, alias
        assert used[canonical_type] > 0  # the usual name is still the common one
    unprefixed = [e for e in events if e["type"] in ("email.opened", "contactPreference.updated")]
    assert unprefixed and all(e["source"] == "messaging" for e in unprefixed)


def test_contact_points_come_as_people_typed_them(events):
    created = [e["payload"] for e in events if e["type"] == "scl.member.created"]
    phones = [p["phoneNumber"] for p in created if p["phoneNumber"]]
    assert any(re.fullmatch(r"08\d \d{3} \d{4}", n) for n in phones)  # 087 123 4567
    assert any(re.fullmatch(r"\+353 8\d \d{3} \d{4}", n) for n in phones)  # +353 87 123 4567
    assert all(phone(n) for n in phones)  # every spelling is a real Irish mobile
    emails = [p["email"] for p in created if p["email"]]
    assert any(e != e.strip() for e in emails) and any(e != e.lower() for e in emails)
    assert any(p["email"] is None for p in created)  # a few seniors have no email
    assert any(not p["firstName"].isascii() for p in created)  # Seán, Siobhán


def test_households_share_one_email_and_a_visitor_knows_only_that(events):
    members_by_email = defaultdict(set)
    for e in events:
        if e["type"] == "scl.member.created" and e["payload"]["email"]:
            members_by_email[normalise_email(e["payload"]["email"])].add(e["payload"]["memberId"])
    shared = {email for email, ids in members_by_email.items() if len(ids) == 2}
    assert len(shared) >= 3
    players = [e["payload"] for e in events if e["type"] == "teetime.player.created"]
    visitors = [p for p in players if p["email"] in shared and p["sclMemberId"] is None]
    assert len(visitors) == len(shared)
    assert all(p["phoneNumber"] is None for p in visitors)


def test_unlinked_players_share_an_email_or_phone_with_their_member(club):
    created = {
        e["payload"]["playerId"]: e["payload"]
        for e in club.events
        if e["type"] == "teetime.player.created"
    }
    # Every email and phone SCL ever gave each member (a member may change phone later on).
    known = defaultdict(set)
    for e in club.events:
        if e["type"] in ("scl.member.created", "scl.member.updated"):
            p = e["payload"]
            if p["email"]:
                known[p["memberId"]].add(normalise_email(p["email"]))
            if p["phoneNumber"]:
                known[p["memberId"]].add(phone(p["phoneNumber"]))
    members = [p for p in club.people if p.is_member and p.player_id in created]
    unlinked = [p for p in members if created[p.player_id]["sclMemberId"] is None]
    assert 0.12 < len(unlinked) / len(members) < 0.3  # ~20% carry sclMemberId null
    for person in unlinked:
        player = created[person.player_id]
        points = {normalise_email(player["email"]) if player["email"] else None}
        points.add(phone(player["phoneNumber"]))
        assert points & known[person.member_id], player
    visitors = [p for p in club.people if p.kind == "VISITOR"]
    assert len(visitors) >= 0.15 * len([p for p in club.people if p.is_member])


def test_drifting_members_stop_playing_over_the_last_three_months(club):
    activity = {p.player_id: p.activity for p in club.people if p.player_id}
    rounds = Counter()
    for e in club.events:
        if e["type"] in BOOKED:
            tee = datetime.fromisoformat(e["payload"]["teeTime"])
            if START + timedelta(days=185) <= tee < END:
                period = "last" if tee >= END - timedelta(days=90) else "before"
                rounds[activity[e["payload"]["playerId"]], period] += 1
    drifting = rounds["drifting", "last"] / rounds["drifting", "before"]
    regular = rounds["regular", "last"] / rounds["regular", "before"]
    assert rounds["drifting", "before"] > 100
    assert drifting < 0.5 * regular


def test_bookings_follow_the_week_and_each_story_is_in_order(events):
    tees = [datetime.fromisoformat(e["payload"]["teeTime"]) for e in events if e["type"] in BOOKED]
    weekend = sum(t.weekday() >= 5 for t in tees) / len(tees)
    assert 0.3 < weekend < 0.55  # two days of seven, but the busiest
    created, outcomes = set(), Counter()
    for e in events:
        type_ = canonical(e)
        if type_ == "teetime.booking.created":
            created.add(e["payload"]["bookingId"])
        elif type_.startswith("teetime.booking."):
            assert e["payload"]["bookingId"] in created
            outcomes[type_] += 1
    assert 0.03 < outcomes["teetime.booking.no_show"] / len(created) < 0.08
    assert 0.05 < outcomes["teetime.booking.cancelled"] / len(created) < 0.11
    known = set()
    for e in events:
        key = e["payload"].get("memberId") or e["payload"].get("contactId")
        if canonical(e) in ("scl.member.created", "messaging.contact.created"):
            known.add(key)
        elif key is not None:
            assert key in known, e["type"]


def test_competitions_entries_and_scores(events):
    published = [e for e in events if canonical(e) == "teetime.competition.published"]
    assert 9 <= len(published) <= 12
    starts = {e["payload"]["competitionId"]: e["payload"]["startsAt"] for e in published}
    scores = [e for e in events if e["type"] == "teetime.score.posted"]
    for score in scores:
        if score["payload"]["competitionId"] is not None:
            posted = datetime.fromisoformat(score["timestamp"])
            assert posted > datetime.fromisoformat(starts[score["payload"]["competitionId"]])
    assert any(s["payload"]["competitionId"] is None for s in scores)  # general play
    types = Counter(e["type"] for e in events)
    assert types["teetime.competition.entry.created"] > 100
    assert types["teetime.competition.entry.withdrawn"] > 0
    assert types["teetime.handicap.updated"] > 0


def test_messaging_consent_and_engagement(events):
    types = Counter(canonical(e) for e in events)
    sent = [e for e in events if canonical(e) == "messaging.message.sent"]
    email_sent = [e for e in sent if e["payload"]["channel"] == "EMAIL"]
    assert 0.35 < types["messaging.email.opened"] / len(email_sent) < 0.55
    assert 0.06 < types["messaging.email.clicked"] / len(email_sent) < 0.14
    assert types["messaging.message.complained"] == 1
    bounces = {e["payload"]["bounce"]["type"] for e in events if e["type"].endswith("bounced")}
    assert bounces == {"HARD", "SOFT"}
    assert all(e["payload"]["sendId"] is None for e in sent)
    assert all(re.fullmatch(r"c_[0-9a-f]{8}", e["payload"]["contactId"]) for e in sent)
    # The Messaging Service never emails someone before they opt in, nor after an opt-out, a
    # hard bounce or a complaint.
    allowed: dict[str, bool] = {}
    for e in events:
        type_, p = canonical(e), e["payload"]
        if type_ == "messaging.contactPreference.updated" and p["channel"] == "EMAIL":
            allowed[p["contactId"]] = p["optedIn"]
        elif type_ == "messaging.message.complained" or (
            type_ == "messaging.message.bounced" and p["bounce"]["type"] == "HARD"
        ):
            allowed[p["contactId"]] = False
        elif type_ == "messaging.message.sent" and p["channel"] == "EMAIL":
            assert allowed.get(p["contactId"]), e
    contacts = [e["payload"] for e in events if e["type"] == "messaging.contact.created"]
    addresses = Counter(normalise_email(p["email"]) for p in contacts if p["email"])
    assert max(addresses.values()) == 1  # one contact per address, households included
    opt_outs = Counter(
        e["payload"]["source"]
        for e in events
        if canonical(e) == "messaging.contactPreference.updated" and not e["payload"]["optedIn"]
    )
    assert opt_outs["UNSUBSCRIBE_LINK"] > 0


def test_identity_hints_are_what_each_producer_knows(events):
    hints = defaultdict(set)
    for e in events:
        hints[e["source"]].update(e["identity"])
    assert hints["scl"] == {"sclMemberId", "email", "phoneNumber", "authUserId"}
    assert hints["teetime"] == {"teetimePlayerId", "email", "phoneNumber"}
    assert hints["messaging"] == {"messagingContactId", "email", "phoneNumber"}
    booking_hints = set().union(*(e["identity"] for e in events if e["type"] in BOOKED))
    assert booking_hints == {"teetimePlayerId", "email"}


def test_size_scales_with_members(events):
    assert 40 <= len(events) / 400 <= 65
    small = generate_club(tenant_id=TENANT_ID, tenant_slug="x", members=100, today=TODAY)
    assert 3 < len(events) / len(small) < 5
    assert generate_club(tenant_id=TENANT_ID, tenant_slug="x", members=1, today=TODAY)


def test_write_jsonl(tmp_path):
    events = generate_club(tenant_id=TENANT_ID, tenant_slug="x", members=20, today=TODAY)
    path = tmp_path / "club.jsonl"
    assert write_jsonl(events, path) == len(events)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == events


def test_who_leaves_stops_playing_and_the_erased_stay_erased(club):
    leavers = {p.player_id: p for p in club.people if p.fate and p.player_id}
    assert {p.fate for p in club.people if p.fate} == {"LAPSED", "RESIGNED", "DECEASED"}
    for e in club.events:
        player = leavers.get(e["payload"].get("playerId"))
        if player and e["type"] in BOOKED:
            assert datetime.fromisoformat(e["timestamp"]) < player.fate_at
    erased = [e["payload"]["memberId"] for e in club.events if e["type"] == "scl.member.deleted"]
    assert len(erased) == 1
    erased_at = next(e["timestamp"] for e in club.events if e["type"] == "scl.member.deleted")
    later = [e for e in club.events if e["timestamp"] > erased_at]
    assert all(e["payload"].get("memberId") != erased[0] for e in later)
