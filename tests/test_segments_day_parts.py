"""Day-part shares kept by apply (each booking's `Activity.day_part`, each customer's all-time
bookings by day part: profiles/projection.py) equal a full recount, however the events are
batched and ordered; the parts are the club's local time; and every share rule, with or without
a window, in any context (ANDed, under OR, under NOT), matches what the definition says.

Also: timeline conditions compiled as sets (under OR or NOT) match what they match as EXISTS.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from profiles.apply import events_apply_pending
from profiles.ingestion import events_ingest
from profiles.models import Activity, Customer
from profiles.projection import counters_refresh_all
from segments.compiler import base_customers, segment_compile
from tests.events import contact, envelope, member, player

DAY_PART_COUNTERS = (
    "booking_count", "weekday_morning_bookings", "weekday_afternoon_bookings",
    "weekday_evening_bookings", "weekend_bookings",
)  # fmt: skip
SHARES = {
    "weekdayMorningShare": 1,
    "weekdayAfternoonShare": 2,
    "weekdayEveningShare": 3,
    "weekendShare": 4,
}


def _booking(n: int, player_id: str, *, booked: datetime, tee: str | None) -> dict:
    payload = {"bookingId": f"b{n}", "playerId": player_id, "holes": 18}
    if tee is not None:
        payload["teeTime"] = tee
    return envelope("teetime.booking.created", payload, at=booked)


def _timeline() -> list[dict]:
    now = timezone.now().replace(microsecond=0)

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    events = [
        player("p1", email="p1@example.ie", at=ago(400)),
        # p2's bookings arrive before the member they belong to links them (records move).
        player("p2", sclMemberId=2, at=ago(300)),
        member(2, email="m2@example.ie", at=ago(301)),
        player("p3", email="p3@example.ie", at=ago(200)),
        contact("c3", email="p3@example.ie", at=ago(199)),
    ]
    tees = [
        "2026-03-30T11:30:00Z",  # Monday 12:30 in Dublin (summer time): afternoon
        "2026-01-05T11:59:00Z",  # Monday 11:59 in Dublin (winter): morning
        "2026-01-05T17:00:00+00:00",  # Monday 17:00: evening
        "2026-06-05T23:30:00Z",  # Friday 23:30 UTC = Saturday 00:30 in Dublin: weekend
        "2026-06-07T08:00:00+01:00",  # Sunday: weekend
        "2026-06-08T16:59:00+01:00",  # Monday 16:59: afternoon
        None,  # no tee time: when it was booked
    ]
    n = 0
    for player_id in ("p1", "p2", "p3"):
        for index, tee in enumerate(tees):
            n += 1
            events.append(_booking(n, player_id, booked=ago(3 + 40 * index + n), tee=tee))
    return events


def _apply(clubs, events: list[dict], batch: int) -> None:
    for start in range(0, len(events), batch):
        events_ingest(
            tenant=clubs.alpha, envelopes=events[start : start + batch], transport="replay"
        )
        while events_apply_pending(limit=batch):
            pass


def _kept() -> tuple[dict, dict]:
    customers = {
        frozenset(c.records.values_list("key", flat=True)): tuple(
            getattr(c, name) for name in DAY_PART_COUNTERS
        )
        for c in Customer.objects.exclude(status__in=["MERGED", "DELETED"])
    }
    parts = dict(Activity.objects.filter(day_part__isnull=False).values_list("id", "day_part"))
    return customers, parts


@pytest.mark.parametrize(("seed", "batch"), [(None, 1000), (None, 1), (1, 1), (2, 3), (3, 5)])
def test_day_parts_kept_batch_by_batch_equal_a_full_recount(clubs, seed, batch):
    events = _timeline()
    if seed is not None:
        random.Random(seed).shuffle(events)
    with schema_context(clubs.alpha.schema_name), transaction.atomic():
        _apply(clubs, events, batch)
        kept = _kept()
        counters_refresh_all()  # every booking's part again in SQL, every customer recounted
        assert kept == _kept()
        customers, parts = kept
        assert len(parts) == 21
        by_key = {key: counts for keys, counts in customers.items() for key in keys}
        # Seven bookings each, the last one dated by when it was made.
        for key in ("p1", "2", "p3"):
            total, morning, afternoon, evening, weekend = by_key[key]
            assert total == 7 and morning >= 1 and afternoon >= 2 and evening >= 1
            assert weekend >= 2 and morning + afternoon + evening + weekend == 7
        transaction.set_rollback(True)


def test_the_day_part_is_the_tee_time_in_the_clubs_zone(clubs):
    with schema_context(clubs.alpha.schema_name), transaction.atomic():
        _apply(clubs, _timeline()[:1], 10)  # player p1
        tees = {
            "2026-03-30T11:30:00Z": 2,
            "2026-01-05T11:59:00Z": 1,
            "2026-01-05T17:00:00Z": 3,
            "2026-06-05T23:30:00Z": 4,
            "2026-06-08T16:59:00+01:00": 2,
            "2026-06-08T17:00:00+01:00": 3,
        }
        events = [
            _booking(100 + i, "p1", booked=datetime(2026, 6, 1, tzinfo=UTC), tee=tee)
            for i, tee in enumerate(tees)
        ]
        _apply(clubs, events, 10)
        got = {
            a.data["teeTime"]: a.day_part
            for a in Activity.objects.filter(type="teetime.booking.created")
        }
        expected = {datetime.fromisoformat(tee).isoformat(): part for tee, part in tees.items()}
        assert got == expected
        transaction.set_rollback(True)


def _share(customer: Customer, part: int, since: datetime | None) -> float | None:
    bookings = Activity.objects.filter(customer=customer, type="teetime.booking.created")
    if since is not None:
        bookings = bookings.filter(occurred_at__gte=since)
    parts = list(bookings.values_list("day_part", flat=True))
    return 100.0 * parts.count(part) / len(parts) if parts else None


def _names(rule, tz: str) -> set:
    return set(segment_compile(rules=rule, tz=tz).values_list("id", flat=True))


def test_share_rules_match_the_definition_in_every_context(clubs):
    with schema_context(clubs.alpha.schema_name), transaction.atomic():
        _apply(clubs, _timeline(), 1000)
        everyone = set(base_customers().values_list("id", flat=True))
        now = timezone.now()
        nobody = {"field": "email", "operator": "eq", "value": "nobody@nowhere.invalid"}
        for field, part in SHARES.items():
            for window, since in (
                (None, None),
                ({"lastDays": 150}, now - timedelta(days=150)),
                # Holds every booking: answered from the all-time counters.
                ({"lastDays": 5000}, now - timedelta(days=5000)),
            ):
                for operator, value, test in (
                    ("gte", 25, lambda s: s is not None and s >= 25),
                    ("lt", 30, lambda s: s is not None and s < 30),
                    ("eq", 0, lambda s: s is not None and s == 0),
                    ("neq", 0, lambda s: s is None or s != 0),
                    ("isNull", None, lambda s: s is None),
                    ("isNotNull", None, lambda s: s is not None),
                ):
                    rule = {"field": field, "operator": operator}
                    if value is not None:
                        rule["value"] = value
                    if window:
                        rule["window"] = window
                    expected = {c.id for c in base_customers() if test(_share(c, part, since))}
                    assert _names(rule, "Europe/Dublin") == expected, rule
                    either = {"combinator": "OR", "rules": [rule, nobody]}
                    assert _names(either, "Europe/Dublin") == expected, rule
                    negated = {"combinator": "AND", "not": True, "rules": [rule]}
                    assert _names(negated, "Europe/Dublin") == everyone - expected, rule
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "bookingCount", "operator": "gte", "value": 1},
        {"field": "bookingCount", "operator": "eq", "value": 0, "window": {"lastDays": 100}},
        {"field": "bookingCount", "operator": "lt", "value": 3, "window": {"lastDays": 200}},
        {"field": "bookingCount", "operator": "between", "value": [2, 4],
         "window": {"lastDays": 200}},
        {"field": "bookingCount", "operator": "neq", "value": 7},
        {"field": "bookingCount", "operator": "gt", "value": 0, "window": {"lastDays": 10}},
        {"field": "lastBookingAt", "operator": "moreThanDaysAgo", "value": 100},
        {"field": "lastBookingAt", "operator": "withinLastDays", "value": 20},
        {"field": "lastBookingAt", "operator": "isNull"},
    ],
)  # fmt: skip
def test_timeline_conditions_match_the_same_as_sets_under_or_and_not(clubs, rule):
    with schema_context(clubs.alpha.schema_name), transaction.atomic():
        _apply(clubs, _timeline(), 1000)
        everyone = set(base_customers().values_list("id", flat=True))
        nobody = {"field": "email", "operator": "eq", "value": "nobody@nowhere.invalid"}
        alone = _names(rule, "UTC")  # ANDed to the root: EXISTS / correlated totals
        assert _names({"combinator": "OR", "rules": [rule, nobody]}, "UTC") == alone
        assert _names({"combinator": "AND", "not": True, "rules": [rule]}, "UTC") == (
            everyone - alone
        )
        transaction.set_rollback(True)
