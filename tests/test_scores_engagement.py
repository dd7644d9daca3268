"""Engagement (0-100, its five parts and the bands), the club's scoring settings, and "paying
but not playing" with the numbers behind it, on customers whose timelines are known."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from profiles.models import CustomerScore
from profiles.scoring import ScoringParams, engagement_band, scoring_params
from profiles.scoring_services import scores_recompute, scoring_config_update
from tests.test_scores_churn import DAY, NOW, Club


@pytest.fixture
def bravo(clubs) -> Iterator[None]:
    with schema_context(clubs.bravo.schema_name):
        yield


def _known(club: Club):
    """Last did something 4 days ago; 13 active days in 90; spent 500.00 in the year; golf,
    payments and email, online and by email (5 kinds); 4 emails, 2 opened, 1 clicked."""
    c = club.person("Known")
    for n in range(10):
        club.event(c, "teetime.booking.created", NOW - (4 + 4 * n) * DAY, channel="ONLINE")
    club.event(c, "scl.payment.received", NOW - 60 * DAY, amount=50000)
    for days in (70, 75, 100, 110):
        club.event(c, "messaging.message.sent", NOW - days * DAY, channel="EMAIL")
    club.event(c, "messaging.email.opened", NOW - 70 * DAY, channel="EMAIL")
    club.event(c, "messaging.email.opened", NOW - 75 * DAY, channel="EMAIL")
    club.event(c, "messaging.email.clicked", NOW - 75 * DAY, channel="EMAIL")
    return c


def test_engagement_parts_and_total(bravo):
    club = Club()
    known = _known(club)
    nobody = club.person("Nobody", membership_status="")
    club.save()
    scores_recompute(now=NOW)

    score = CustomerScore.objects.get(customer=known)
    # recency 30 (4 days ≤ 7), frequency 13/24 x 25, spend 500/1000 x 20, breadth 5/6 x 15,
    # depth: open rate 50% and click rate 25% both at or over full marks: 10.
    assert score.engagement_components == {
        "recency": 30.0, "frequency": 13.5, "monetary": 10.0, "breadth": 12.5, "depth": 10.0,
    }  # fmt: skip
    assert score.engagement_score == 76  # 76.04
    assert score.engagement_band == "GOOD"

    empty = CustomerScore.objects.get(customer=nobody)
    # Nothing at all: only the neutral half of depth (nobody sent them anything).
    assert empty.engagement_score == 5 and empty.engagement_band == "AT_RISK"
    assert empty.churn_risk_score is None and empty.churn_risk_reasons == []
    assert empty.paying_not_playing is False


@pytest.mark.parametrize(
    ("score", "band"),
    [(100, "EXCELLENT"), (80, "EXCELLENT"), (79, "GOOD"), (60, "GOOD"), (59, "AVERAGE"),
     (40, "AVERAGE"), (39, "LOW"), (20, "LOW"), (19, "AT_RISK"), (0, "AT_RISK")],
)  # fmt: skip
def test_bands(score, band):
    assert engagement_band(score) == band


def test_a_club_tunes_the_formula(bravo):
    club = Club()
    known = _known(club)
    club.save()
    scoring_config_update(
        overrides={"recency_full_days": 2, "recency_zero_days": 6}, actor_label="admin@bravo"
    )
    assert scoring_params().recency_zero_days == 6
    scores_recompute(now=NOW)
    score = CustomerScore.objects.get(customer=known)
    assert score.engagement_components["recency"] == 15.0  # halfway from 2 to 6 days
    assert score.engagement_score == 61 and score.engagement_band == "GOOD"
    entry = AuditEntry.objects.get(action="scoring_config.updated")
    assert entry.details["after"] == {"recency_full_days": 2, "recency_zero_days": 6}


def test_bad_settings_are_refused_by_name(bravo):
    with pytest.raises(ValidationError) as refused:
        scoring_config_update(
            overrides={"nope": 1, "recency_zero_days": "soon", "churn_horizon_days": 2,
                       "weight_depth": 1.5, "tier_order": "FULL"},
            actor_label="admin@bravo",
        )  # fmt: skip
    assert refused.value.message_dict == {
        "nope": ["Not a scoring parameter."],
        "recency_zero_days": ["A number."],
        "churn_horizon_days": ["At least 7."],
        "weight_depth": ["A whole number."],
        "tier_order": ["A list of tier codes."],
    }
    with pytest.raises(ValidationError) as refused:
        scoring_config_update(overrides={"weight_recency": 50}, actor_label="admin@bravo")
    assert "add up to 100" in refused.value.message_dict["weight_recency"][0]
    assert scoring_params() == ScoringParams()


# --- paying but not playing ---------------------------------------------------------------------


def _rounds(club: Club, c, days_ago: list[int]) -> None:
    for days in days_ago:
        club.event(c, "teetime.booking.completed", NOW - days * DAY)


def test_paying_but_not_playing(bravo):
    club = Club()
    weeks_last_year = [364 + 3 + 7 * n for n in range(8)]  # 8 rounds in the same weeks
    # Paid up, played 8 rounds in these 8 weeks last year and 1 now: flagged.
    slipping = club.person("Slipping")
    club.subscription(slipping, NOW - 100 * DAY)
    _rounds(club, slipping, [*weeks_last_year, 20])
    # Still playing: 6 of 8.
    playing = club.person("Playing")
    _rounds(club, playing, [*weeks_last_year, 3, 10, 17, 24, 31, 38])
    # Fell just as far but the subscription failed and is unpaid: not "paid up".
    unpaid = club.person("Unpaid")
    club.subscription(unpaid, NOW - 5 * DAY, failed=1)
    _rounds(club, unpaid, weeks_last_year)
    # Renewal overdue by more than the grace period: not paid up either.
    overdue = club.person("Overdue", renewal_due_on=(NOW - 60 * DAY).date())
    _rounds(club, overdue, weeks_last_year)
    # Joined 20 weeks ago: their first 8 weeks (6 rounds) are the baseline; 1 round now.
    newer = club.person("Newer", member_since=(NOW - 140 * DAY).date())
    _rounds(club, newer, [138, 130, 125, 118, 110, 90, 30])
    # Joined 10 weeks ago: their first weeks are not over before this window: no baseline.
    new = club.person("New", member_since=(NOW - 70 * DAY).date())
    _rounds(club, new, [68, 60, 55, 50])
    # A visitor who stopped: not a member.
    visitor = club.person("Visitor", membership_status="", member_since=None)
    _rounds(club, visitor, [*weeks_last_year, 400])
    club.save()
    scores_recompute(now=NOW)

    def score(c) -> CustomerScore:
        return CustomerScore.objects.get(customer=c)

    flagged = {s.customer.first_name for s in CustomerScore.objects.filter(paying_not_playing=True)}
    assert flagged == {"Slipping", "Newer"}
    assert score(slipping).pnp_details == {
        "rounds": 1, "baselineRounds": 8, "weeks": 8, "baseline": "same weeks last year",
        "windowFrom": "2026-04-06", "baselineFrom": "2025-04-07", "baselineTo": "2025-06-01",
        "ratio": 0.12, "paidUp": True,
    }  # fmt: skip
    assert score(playing).pnp_details["rounds"] == 6
    assert score(unpaid).pnp_details["paidUp"] is False
    assert score(overdue).pnp_details["paidUp"] is False
    details = score(newer).pnp_details
    assert (details["baseline"], details["baselineRounds"], details["rounds"]) == (
        "first weeks",
        6,
        1,
    )
    assert details["baselineFrom"] == (NOW - 140 * DAY).date().isoformat()
    assert score(new).pnp_details == {}
    assert score(visitor).pnp_details == {}


def test_scores_read_the_club_as_of_their_moment(bravo):
    """A recompute as of a past moment ignores what happened since (the same code trains the
    model on past snapshots)."""
    club = Club()
    known = _known(club)
    club.event(known, "teetime.booking.created", NOW + dt.timedelta(hours=1), channel="APP")
    club.save()
    scores_recompute(now=NOW)
    assert CustomerScore.objects.get(customer=known).engagement_score == 76
