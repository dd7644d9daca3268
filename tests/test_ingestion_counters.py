"""Counters and lifecycle stage kept up to date batch by batch equal a full recount.

An apply batch adds the new timeline entries of customers whose timelines only grew to their
stored counters instead of recounting them (profiles/projection.py, _REFRESH_SQL): this checks
that the result is the same as recounting everything, however the events are batched and
ordered, for every lifecycle rule and every counter, including windows that entries leave.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from profiles.apply import events_apply_pending
from profiles.ingestion import events_ingest
from profiles.models import Customer
from profiles.projection import counters_refresh_all
from tests.events import contact, envelope, member, player

COUNTERS = (
    "status", "last_activity_at", "activity_count_30d", "booking_count_30d", "lifetime_value",
    "competition_entry_count_365d", "lifecycle_stage",
)  # fmt: skip


def _timeline() -> list[dict]:
    now = timezone.now().replace(microsecond=0)

    def ago(days: float):
        return now - timedelta(days=days)

    def booking(n: int, player_id: str, days: float, kind: str = "created") -> dict:
        return envelope(
            f"teetime.booking.{kind}",
            {"bookingId": f"b{n}", "playerId": player_id, "holes": 18,
             **({"price": {"amount": "45.00", "currency": "EUR"}} if kind == "created" else {})},
            at=ago(days),
        )  # fmt: skip

    def payment(n: int, member_id: int, amount: str, days: float, kind: str = "received") -> dict:
        return envelope(
            f"scl.payment.{kind}",
            {"paymentId": f"pay{n}", "memberId": member_id, "amount": amount, "currency": "EUR",
             "purpose": "BAR_LEVY"},
            at=ago(days),
        )  # fmt: skip

    def entry(n: int, player_id: str, days: float) -> dict:
        return envelope(
            "teetime.competition.entry.created",
            {"competitionId": f"k{n}", "playerId": player_id},
            at=ago(days),
        )

    def message(n: int, contact_id: str, kind: str, days: float) -> dict:
        return envelope(
            f"messaging.email.{kind}",
            {"contactId": contact_id, "messageId": f"m{n}"},
            at=ago(days),
        )

    return [
        # A player who books (PROSPECT), then plays (CUSTOMER); bookings in and out of 30 days.
        player("p1", email="p1@example.ie", at=ago(400)),
        booking(1, "p1", 40),
        booking(2, "p1", 29),
        booking(3, "p1", 2),
        booking(4, "p1", 1, kind="completed"),
        booking(5, "p1", 0.5, kind="cancelled"),
        envelope("teetime.lesson.booked", {"playerId": "p1"}, at=ago(1)),  # unknown type
        # A contact who opens and clicks (LEAD), and one who does nothing (SUBSCRIBER).
        contact("c2", email="c2@example.ie", at=ago(300)),
        message(1, "c2", "opened", 100),
        message(2, "c2", "clicked", 3),
        contact("c3", email="c3@example.ie", at=ago(300)),
        # A long-standing member with competition entries in and out of 365 days (ADVOCATE),
        # payments and a refund (lifetime value), a TeeTime player linked to them.
        member(
            4,
            email="m4@example.ie",
            joinedOn=str((now - timedelta(days=3000)).date()),
            at=ago(3000),
        ),
        player("p4", sclMemberId=4, at=ago(2999)),
        entry(1, "p4", 400),
        entry(2, "p4", 200),
        entry(3, "p4", 100),
        entry(4, "p4", 10),
        payment(1, 4, "1450.00", 300),
        payment(2, 4, "20.00", 5),
        payment(3, 4, "20.00", 4, kind="refunded"),
        booking(6, "p4", 6),
        # A lapsed member who paid once (CHURNED).
        member(5, email="m5@example.ie", status="LAPSED", at=ago(800)),
        payment(4, 5, "300.00", 700),
        # A player seen only through a payment-less booking long ago.
        player("p6", email="p6@example.ie", at=ago(500)),
        booking(7, "p6", 450),
    ]


def _counters() -> dict:
    return {
        frozenset(c.records.values_list("key", flat=True)): tuple(getattr(c, f) for f in COUNTERS)
        for c in Customer.objects.exclude(status__in=["MERGED", "DELETED"])
    }


def _apply(clubs, events: list[dict], batch: int) -> None:
    for start in range(0, len(events), batch):
        events_ingest(
            tenant=clubs.alpha, envelopes=events[start : start + batch], transport="replay"
        )
        while events_apply_pending(limit=batch):
            pass


@pytest.mark.parametrize(("seed", "batch"), [(None, 1000), (None, 1), (1, 1), (2, 3), (3, 2)])
def test_counters_kept_batch_by_batch_equal_a_full_recount(clubs, seed, batch):
    events = _timeline()
    if seed is not None:
        random.Random(seed).shuffle(events)
    with schema_context(clubs.alpha.schema_name), transaction.atomic():
        _apply(clubs, events, batch)
        kept = _counters()
        counters_refresh_all()
        assert kept == _counters()
        transaction.set_rollback(True)


def test_the_counters_are_what_the_rules_say(clubs):
    with schema_context(clubs.alpha.schema_name), transaction.atomic():
        _apply(clubs, _timeline(), 1)
        by_key = {key: counters for keys, counters in _counters().items() for key in keys}
        transaction.set_rollback(True)
    # (status, last activity, activity 30d, bookings 30d, lifetime value, entries 365d, stage)
    # In 30 days: two bookings, the completed round and the cancellation (the unknown event is
    # kept on the timeline but is not something the person did).
    assert by_key["p1"][2:] == (4, 2, 0, 0, "CUSTOMER")
    assert by_key["c2"][2:] == (1, 0, 0, 0, "LEAD")
    assert by_key["c3"][2:] == (0, 0, 0, 0, "SUBSCRIBER")
    # In 30 days: an entry, a payment, a booking (a refund is not something they did); the
    # refund is taken off the lifetime value.
    assert by_key["4"][2:] == (3, 1, 145000, 3, "ADVOCATE")
    assert by_key["5"][2:] == (0, 0, 30000, 0, "CHURNED")
    assert by_key["p6"][2:] == (0, 0, 0, 0, "PROSPECT")
