"""Churn risk on synthetic clubs where the truth is known: members generated to drift away get
a high risk and the right reasons, steady members do not; a club with no history gets the
rule-based score; the model never sees data from after its cut-off; `crm.churn.risk.high` is
published on the rise only; events rescore their customer within the minute.

Timelines are written straight into the club's tables (customers by the ORM, activities by
COPY), as ingestion would have left them; `Club` below builds them."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.db import copy_rows
from crm.outbox.models import OutboundEvent
from profiles.churn import FEATURE_NAMES, churn_train, feature_matrix
from profiles.features import snapshot, timeline_load, to_days
from profiles.models import (
    Activity,
    ActivityCategory,
    ChurnModel,
    ChurnModelStatus,
    Customer,
    CustomerScore,
)
from profiles.scoring import ScoringParams
from profiles.scoring_services import (
    churn_model_train,
    scores_recompute,
    scores_refresh_touched,
)

NOW = dt.datetime(2026, 6, 1, 6, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

_CATEGORY = {
    "teetime": ActivityCategory.GOLF,
    "teetime.competition": ActivityCategory.COMPETITION,
    "scl.payment": ActivityCategory.PAYMENT,
    "scl.member": ActivityCategory.MEMBERSHIP,
    "messaging": ActivityCategory.MESSAGING,
}
_DOING = {
    "teetime.booking.created", "teetime.booking.completed", "teetime.booking.cancelled",
    "teetime.competition.entry.created", "scl.payment.received", "messaging.email.opened",
    "messaging.email.clicked",
}  # fmt: skip


def _category(type_: str) -> str:
    for prefix in ("teetime.competition", "scl.payment", "scl.member", "teetime", "messaging"):
        if type_.startswith(prefix):
            return _CATEGORY[prefix]
    return ActivityCategory.OTHER


@dataclass
class Club:
    """A synthetic club: people with known stories, written in one go by `save()`."""

    now: dt.datetime = NOW
    seed: int = 7
    customers: list[Customer] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.saved = 0

    def person(self, name: str, **fields) -> Customer:
        fields.setdefault("membership_status", "ACTIVE")
        fields.setdefault("membership_tier", "FULL")
        fields.setdefault("member_since", dt.date(2015, 3, 1))
        fields.setdefault("renewal_due_on", dt.date(2027, 3, 1))
        customer = Customer(
            id=uuid.uuid4(), first_name=name, last_name=f"N{len(self.customers)}",
            email=f"{name.lower()}{len(self.customers)}@example.ie", lifecycle_stage="MEMBER",
            **fields,
        )  # fmt: skip
        self.customers.append(customer)
        return customer

    def event(self, c: Customer, type_: str, at: dt.datetime, *, amount=None, data=None,
              channel: str = "") -> None:  # fmt: skip
        self.rows.append(
            (c.id, type_, _category(type_), channel, type_, type_.split(".")[0], at, amount,
             "EUR" if amount is not None else "", type_ in _DOING, json.dumps(data or {}))
        )  # fmt: skip

    def golf(self, c: Customer, start: dt.datetime, end: dt.datetime, every: float) -> None:
        """Book (online) and play a round about every `every` days in [start, end)."""
        at = start + self.rng.uniform(0, every) * DAY
        while at < end:
            self.event(c, "teetime.booking.created", at, channel="ONLINE")
            if at + 2 * DAY < self.now:
                self.event(c, "teetime.booking.completed", at + 2 * DAY)
            at += self.rng.uniform(0.7, 1.3) * every * DAY

    def emails(self, c: Customer, start: dt.datetime, end: dt.datetime, *, opens: bool) -> None:
        """The monthly newsletter; opened (and sometimes clicked) when `opens`."""
        at = start
        while at < end:
            self.event(c, "messaging.message.sent", at, channel="EMAIL")
            if opens:
                self.event(c, "messaging.email.opened", at + dt.timedelta(hours=3), channel="EMAIL")
                if self.rng.random() < 0.3:
                    self.event(c, "messaging.email.clicked", at + dt.timedelta(hours=3, minutes=1),
                               channel="EMAIL")  # fmt: skip
            at += 30 * DAY

    def subscription(self, c: Customer, at: dt.datetime, *, failed: int = 0) -> None:
        """The annual subscription paid at `at`; or `failed` failures five days apart, the last
        at `at`."""
        for n in range(failed):
            self.event(c, "scl.payment.failed", at - (failed - 1 - n) * 5 * DAY, amount=145000,
                       data={"purpose": "SUBSCRIPTION"})  # fmt: skip
        if not failed:
            self.event(c, "scl.payment.received", at, amount=145000,
                       data={"purpose": "SUBSCRIPTION"})  # fmt: skip

    def lapse(self, c: Customer, at: dt.datetime) -> None:
        self.event(c, "scl.member.status.changed", at, data={"to": "LAPSED"})
        if at <= self.now:
            c.membership_status = "LAPSED"

    # --- the stories ---

    def steady(self, name: str = "Steady", years: float = 2.0) -> Customer:
        c = self.person(name)
        start = self.now - dt.timedelta(days=365 * years)
        self.golf(c, start, self.now, every=self.rng.uniform(4, 8))
        self.emails(c, start, self.now, opens=True)
        for year in range(int(years) + 1):
            paid = self.now - dt.timedelta(days=90 + 365 * year)
            if paid > start:
                self.subscription(c, paid)
        if self.rng.random() < 0.5:
            self.event(c, "teetime.competition.entry.created", self.now - 40 * DAY)
        return c

    def drifter(self, name: str, lapse_at: dt.datetime) -> Customer:
        """Plays weekly, tapers off from four months before lapsing, stops two months before,
        stops opening emails 100 days before, and the subscription fails twice (40 and 35 days
        before)."""
        c = self.person(name)
        start = self.now - dt.timedelta(days=730)
        drift = lapse_at - 120 * DAY
        self.golf(c, start, min(drift, self.now), every=self.rng.uniform(5, 8))
        self.golf(c, drift, min(lapse_at - 60 * DAY, self.now), every=20)
        self.emails(c, start, min(lapse_at - 100 * DAY, self.now), opens=True)
        self.emails(c, lapse_at - 100 * DAY, min(lapse_at, self.now), opens=False)
        if lapse_at - 35 * DAY < self.now:
            self.subscription(c, lapse_at - 35 * DAY, failed=2)
        self.lapse(c, lapse_at)
        return c

    def stopped(self, name: str) -> Customer:
        """Played about weekly for two years and stopped 60 days ago; stopped opening emails
        95 days ago; the subscription failed twice in the last fortnight."""
        c = self.person(name)
        start = self.now - 730 * DAY
        self.golf(c, start, self.now - 60 * DAY, every=self.rng.uniform(5, 8))
        self.emails(c, start, self.now - 95 * DAY, opens=True)
        self.emails(c, self.now - 95 * DAY, self.now, opens=False)
        self.subscription(c, self.now - 3 * DAY, failed=2)
        return c

    def save(self) -> None:
        """Write the people and events added since the last save."""
        Customer.objects.bulk_create(self.customers[self.saved :])
        self.saved = len(self.customers)
        copy_rows(
            Activity._meta.db_table,
            ["customer_id", "type", "category", "channel", "title", "source", "occurred_at",
             "amount_cents", "currency", "counts_as_activity", "data"],
            self.rows,
        )  # fmt: skip
        self.rows = []


def history_club(*, churners: int = 120, steady: int = 240, current_drifters: int = 15) -> Club:
    """A club with two years of history: members lapsing all along (after drifting), steady
    members, and some drifting right now (their lapse is a month away)."""
    club = Club()
    for n in range(steady):
        club.steady(f"Steady{n}")
    for n in range(churners):
        club.drifter(f"Gone{n}", NOW - dt.timedelta(days=10 + n * 590 / churners))
    for n in range(current_drifters):
        club.drifter(f"Drifting{n}", NOW + 30 * DAY)
    return club


@pytest.fixture
def alpha(clubs) -> Iterator[None]:
    with schema_context(clubs.alpha.schema_name):
        yield


@pytest.fixture
def bravo(clubs) -> Iterator[None]:
    with schema_context(clubs.bravo.schema_name):
        yield


def _scores(prefix: str) -> list[CustomerScore]:
    return list(
        CustomerScore.objects.filter(customer__first_name__startswith=prefix).select_related(
            "customer"
        )
    )


# --- the model ------------------------------------------------------------------------------


def test_model_learns_the_club_and_finds_the_drifters(alpha):
    club = history_club()
    club.save()

    model = churn_model_train(now=NOW)
    assert model.status == ChurnModelStatus.READY, model.notes
    assert model.version == 1
    assert model.features == FEATURE_NAMES
    assert model.train_lapses >= 20 and model.test_positives >= 5
    assert model.roc_auc > 0.9
    assert model.precision_top_decile > 0.5
    assert model.cutoff == NOW and model.horizon_days == 90

    scores_recompute(now=NOW)
    drifting = _scores("Drifting")
    steady = _scores("Steady")
    assert len(drifting) == 15 and len(steady) == 240
    assert {s.churn_method for s in drifting + steady} == {"MODEL"}
    assert {s.churn_model_version for s in drifting} == {1}
    assert min(s.churn_risk_score for s in drifting) > 80
    assert max(s.churn_risk_score for s in steady) < 20
    for score in drifting:
        texts = [reason["text"] for reason in score.churn_risk_reasons]
        assert 1 <= len(texts) <= 3
        codes = {reason["code"] for reason in score.churn_risk_reasons}
        # They stopped playing and their subscription failed: both are among the top reasons.
        assert codes & {"golf_recency", "golf_frequency"}, texts
        assert "payments" in codes, texts
        assert "Subscription payment failed twice; still unpaid" in texts
    # A manager's words, with the member's own numbers.
    some = drifting[0].churn_risk_reasons
    golf = next(r["text"] for r in some if r["code"] in ("golf_recency", "golf_frequency"))
    assert "tee time" in golf
    # Members who already left have no churn risk; their engagement is still scored.
    gone = _scores("Gone")
    assert gone and all(s.churn_risk_score is None and s.churn_method == "" for s in gone)
    assert all(s.engagement_score is not None for s in gone)


def test_a_club_with_no_lapses_gets_the_rule_based_score(bravo):
    club = Club()
    steady = [club.steady(f"Steady{n}") for n in range(30)]
    drifting = [club.stopped(f"Drifting{n}") for n in range(5)]
    club.save()

    model = churn_model_train(now=NOW)
    assert model.status == ChurnModelStatus.INSUFFICIENT_HISTORY
    assert "Too little history: 0 members lapsed" in model.notes
    assert model.parameters == {}

    scores_recompute(now=NOW)
    for customer in drifting:
        score = CustomerScore.objects.get(customer=customer)
        assert score.churn_method == "RULES" and score.churn_model_version is None
        # Activity decline 35, payment issues 25 (failed twice), engagement drop 20.
        assert score.churn_risk_score == 80, score.churn_risk_reasons
        texts = [reason["text"] for reason in score.churn_risk_reasons]
        assert texts[1] == "Subscription payment failed twice; still unpaid"
        assert texts[2].startswith("Opened no club emails in 90 days (")
        assert texts[0].startswith("No tee time in ") and texts[0].endswith(
            "; usually plays weekly"
        )
        assert [reason["points"] for reason in score.churn_risk_reasons] == [35, 25, 20]
    for customer in steady:
        score = CustomerScore.objects.get(customer=customer)
        assert score.churn_method == "RULES"
        assert score.churn_risk_score < 20, score.churn_risk_reasons


def test_rules_serve_before_any_model_was_trained(bravo):
    club = Club()
    c = club.person("Nobody", membership_status="ACTIVE")
    club.subscription(c, NOW - 10 * DAY, failed=1)
    club.event(c, "scl.member.tier.changed", NOW - 5 * DAY, data={"from": "FULL", "to": "FIVE_DAY"})
    club.event(c, "messaging.message.complained", NOW - 3 * DAY)
    club.save()
    scores_recompute(now=NOW)
    score = CustomerScore.objects.get(customer=c)
    assert ChurnModel.objects.count() == 0
    assert score.churn_method == "RULES"
    # Payment issues: one failure, still unpaid (25); tier downgrade 10; complaint 10.
    assert score.churn_risk_score == 45
    assert [r["text"] for r in score.churn_risk_reasons] == [
        "Subscription payment failed once; still unpaid",
        "Moved to a lower membership tier in the last year",
        "Marked a club email as spam",
    ]


def test_the_model_never_sees_data_from_after_its_cutoff(alpha):
    club = history_club(churners=60, steady=120, current_drifters=5)
    club.save()
    params = ScoringParams()

    def load(until: dt.datetime):
        with transaction.atomic():
            return timeline_load(
                until=until, since=until - dt.timedelta(days=1200), tier_order=params.tier_order
            )

    first = churn_model_train(now=NOW)
    assert first.status == ChurnModelStatus.READY, first.notes
    before = churn_train(load(NOW), params)
    test_at = to_days(NOW) - 90
    features_before = feature_matrix(snapshot(load(NOW), test_at))

    # The future: every steady member lapses right after the cut-off, after a burst of failed
    # payments, complaints and no-shows; and events between the test snapshot and the cut-off
    # that would change its features if they leaked into them.
    future = Club(seed=99)
    for customer in Customer.objects.filter(first_name__startswith="Steady"):
        for days in (1, 3, 5):
            future.event(customer, "scl.payment.failed", NOW + days * DAY, amount=1,
                         data={"purpose": "SUBSCRIPTION"})  # fmt: skip
            future.event(customer, "teetime.booking.no_show", NOW + days * DAY)
        future.event(customer, "messaging.message.complained", NOW + 2 * DAY)
        future.event(customer, "scl.member.status.changed", NOW + 10 * DAY, data={"to": "LAPSED"})
        # Between the test snapshot and the cut-off: no-shows the snapshot must not see.
        future.event(customer, "teetime.booking.no_show", NOW - 30 * DAY)
    future.save()
    assert Activity.objects.filter(occurred_at__gte=NOW).count() > 0

    again = churn_model_train(now=NOW)
    assert again.version == first.version + 1
    assert again.parameters == first.parameters
    for name in ("train_rows", "train_positives", "train_lapses", "test_rows", "test_positives",
                 "roc_auc", "precision_top_decile", "base_rate"):  # fmt: skip
        assert getattr(again, name) == getattr(first, name), name
    after = churn_train(load(NOW), params)
    for part in ("train", "test"):
        x0, y0 = before.matrices[part]
        x1, y1 = after.matrices[part]
        assert np.array_equal(x0, x1) and np.array_equal(y0, y1), part
    # A snapshot's features only read events before it, whatever came later.
    assert np.array_equal(features_before, feature_matrix(snapshot(load(NOW), test_at)))


# --- the alert, and rescoring after events ------------------------------------------------------


def test_risk_high_is_published_on_the_rise_only(bravo):
    club = Club()
    c = club.person("Rising")
    club.golf(c, NOW - 400 * DAY, NOW - 80 * DAY, every=6)
    club.emails(c, NOW - 400 * DAY, NOW - 100 * DAY, opens=True)
    club.emails(c, NOW - 100 * DAY, NOW, opens=False)
    club.save()

    def published() -> list[dict]:
        return [
            e.envelope
            for e in OutboundEvent.objects.filter(type="crm.churn.risk.high").order_by("id")
        ]

    def risk() -> int:
        return CustomerScore.objects.get(customer=c).churn_risk_score

    scores_recompute(now=NOW)
    assert risk() == 55  # activity decline 35, engagement drop 20
    assert published() == []

    club.subscription(c, NOW - 2 * DAY, failed=1)  # payment issues 25
    club.event(c, "messaging.message.complained", NOW - DAY)  # complaints 10
    club.save()
    scores_recompute(now=NOW)
    assert risk() == 90
    events = published()
    assert len(events) == 1
    payload = events[0]["payload"]
    assert payload["churnRiskScore"] == 90 and payload["previousChurnRiskScore"] == 55
    assert payload["scoredBy"] == "RULES" and payload["modelVersion"] is None
    assert payload["reasons"][1] == "Subscription payment failed once; still unpaid"
    assert events[0]["identity"]["customerId"] == str(c.id)
    assert events[0]["source"] == "crm" and events[0]["tenantSlug"] == "bravo-golf"

    scores_recompute(now=NOW)  # still high: nothing more
    scores_recompute(now=NOW + DAY)
    assert len(published()) == 1

    club.subscription(c, NOW + 2 * DAY)  # paid: one failure, resolved, is half the points
    club.save()
    scores_recompute(now=NOW + 3 * DAY)
    assert risk() <= 80
    club.subscription(c, NOW + 4 * DAY, failed=1)  # a second failure: the risk rises again
    club.save()
    scores_recompute(now=NOW + 5 * DAY)
    assert risk() == 90
    assert len(published()) == 2


def test_events_rescore_only_their_customers_within_the_minute(bravo):
    # Rescoring after events runs at the real time, so this club's story ends now.
    club = Club(now=timezone.now())
    quiet, busy = club.steady("Quiet"), club.steady("Busy")
    club.save()
    assert scores_refresh_touched() == {"customers": 2}  # the first run scores everyone
    stamps = dict(CustomerScore.objects.values_list("customer_id", "computed_at"))

    a_minute_ago = timezone.now() - dt.timedelta(minutes=1)
    club.event(busy, "scl.payment.failed", a_minute_ago, amount=1, data={"purpose": "SUBSCRIPTION"})
    club.event(quiet, "messaging.email.opened", a_minute_ago)  # waits for the night
    club.save()
    assert scores_refresh_touched() == {"customers": 1}
    after = dict(CustomerScore.objects.values_list("customer_id", "computed_at"))
    assert after[quiet.id] == stamps[quiet.id]
    assert after[busy.id] > stamps[busy.id]
    busy_score = CustomerScore.objects.get(customer=busy)
    assert busy_score.churn_risk_reasons[0]["text"] == (
        "Subscription payment failed once; still unpaid"
    )
    assert scores_refresh_touched() == {"customers": 0}


def test_a_new_club_and_a_new_customer_are_scored_within_the_minute(bravo):
    """Not at the next nightly run: the club's first rescoring scores all its history, and a
    customer first seen afterwards is scored whatever their events (a newsletter open is not
    a touching event, but an unscored customer is scored on any)."""
    club = Club(now=timezone.now())
    old = club.steady("Old")
    club.save()
    assert not CustomerScore.objects.exists()
    assert scores_refresh_touched() == {"customers": 1}
    assert CustomerScore.objects.get(customer=old).engagement_score > 0

    newcomer = club.person("Newcomer", membership_status="")
    club.event(newcomer, "messaging.email.opened", timezone.now() - dt.timedelta(minutes=1))
    club.save()
    assert scores_refresh_touched() == {"customers": 1}
    assert CustomerScore.objects.filter(customer=newcomer).exists()
    assert scores_refresh_touched() == {"customers": 0}


def test_scoring_runs_with_debug_on(bravo):
    """`python3 dev.py run` sets DEBUG=1, where Django wraps cursors in CursorDebugWrapper,
    whose copy() takes no params: the timeline's COPY must not go through it."""
    from django.db import connection
    from django.test.utils import override_settings

    club = Club()
    steady = club.steady("Steady")
    club.save()
    with override_settings(DEBUG=True):
        with connection.cursor() as cursor:
            assert type(cursor).__name__ == "CursorDebugWrapper"
        assert scores_recompute(now=NOW)["scored"] == 1
        assert scores_refresh_touched() == {"customers": 1}
    assert CustomerScore.objects.get(customer=steady).churn_risk_score is not None


def test_merged_and_erased_customers_lose_their_scores(bravo):
    club = Club()
    kept, merged = club.steady("Kept"), club.steady("Merged")
    club.save()
    scores_recompute(now=NOW)
    assert CustomerScore.objects.count() == 2
    Customer.objects.filter(id=merged.id).update(status="MERGED", merged_into=kept)
    scores_recompute(now=NOW)
    assert list(CustomerScore.objects.values_list("customer_id", flat=True)) == [kept.id]


# --- running it -----------------------------------------------------------------------------


def test_tasks_and_beat(bravo):
    from profiles.tasks import recompute_scores, rescore_touched, train_churn_model

    club = Club()
    club.steady("Steady")
    club.save()
    assert recompute_scores() == {"scored": 1, "risen": 0, "removed": 0}
    assert rescore_touched() == {"customers": 1}  # a club's first run scores everyone
    assert rescore_touched() == {"customers": 0}
    assert train_churn_model()["status"] == ChurnModelStatus.INSUFFICIENT_HISTORY

    schedule = settings.CELERY_BEAT_SCHEDULE
    # Nightly and weekly work fans out to every club (spread over the night); the customers
    # behind new events are rescored within a minute in the clubs that have any (dispatch_due).
    entries = {
        (entry["task"], entry["args"][0]): entry["schedule"]
        for entry in schedule.values()
        if entry.get("args")
    }
    assert entries[("crm.tasks.fan_out_to_tenants", "profiles.recompute_scores")] == 24 * 60 * 60
    assert entries[("crm.tasks.dispatch_due", "profiles.rescore_touched")] == 60
    assert entries[("crm.tasks.fan_out_to_tenants", "profiles.train_churn_model")] == (
        7 * 24 * 60 * 60
    )
