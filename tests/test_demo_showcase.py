"""`load_demo_data` leaves a club that shows the product working: everyone scored (with the
churn model, or its rule-based fallback said as such), five template segments materialised,
a finished campaign whose opens, clicks and conversions came back as events, two published
journeys with customers waiting at several steps, a competition with its promotion plan,
members at risk with their reasons, and a dashboard with no empty tile for members, at risk,
golf and marketing (posts aside). A second run adds nothing.

The demo's history is made at fixed moments of its own days (the services' clocks), so none
of this depends on the hour the test runs at (quiet hours)."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

from django.core.management import call_command
from django_tenants.utils import schema_context

from crm.dashboard import dashboard_build


def _load(slug: str) -> str:
    out = io.StringIO()
    call_command("load_demo_data", slug, "--members", "40", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_demo_club_is_scored_segmented_and_its_dashboard_full(clubs):
    from campaigns.models import Campaign
    from journeys.models import Enrolment, Journey
    from profiles.models import Activity, ChurnModel, Customer, CustomerScore, RawEvent
    from segments.models import Segment
    from social.models import CompetitionPromotion, PromotionItem

    first = _load("bravo-golf")
    assert "Scores:" in first and "churn model" in first
    with schema_context(clubs.bravo.schema_name):
        live = Customer.objects.exclude(status__in=("MERGED", "DELETED")).count()
        assert CustomerScore.objects.count() == live > 40
        model = ChurnModel.objects.get()
        if model.status != "READY":
            assert "(the rule-based score is used)" in first
        segments = {s.template_key: s for s in Segment.objects.exclude(template_key="")}
        assert len(segments) == 5
        assert all(s.last_refreshed_at is not None for s in segments.values())
        assert segments["weekday_morning_players"].member_count > 0
        data = dashboard_build()
        for section in ("members", "atRisk", "golf"):
            assert data[section]["figures"]["missing"] is None, section
        assert data["members"]["figures"]["activeMembers"] > 30
        assert data["atRisk"]["figures"]["scoredBy"] in ("Churn model", "Rule-based score")
        assert len(data["atRisk"]["figures"]["trend"]) == 12
        # Members drifting away, with the reasons the score gives.
        at_risk = data["atRisk"]["figures"]
        assert at_risk["highOrCriticalRisk"] >= 2 and at_risk["payingNotPlaying"] >= 1
        reasons = " ".join(row["topReason"] for row in at_risk["topAtRisk"])
        assert "No tee time in" in reasons, at_risk["topAtRisk"]

        # The campaign: finished, handed over through the fallback, engagement as events.
        marketing = data["marketing"]
        (campaign,) = marketing["campaigns"]["items"]
        assert campaign["status"] == "Completed"
        assert campaign["sent"] >= campaign["opened"] >= campaign["clicked"] > 0
        assert 0 < campaign["converted"] <= campaign["opened"]
        sent_at = Campaign.objects.get(pk=campaign["id"]).started_at
        assert (
            sent_at.astimezone(ZoneInfo(clubs.bravo.timezone)).hour == 10
        )  # not the hour the test ran at
        engagement = Activity.objects.filter(
            type__in=("messaging.email.opened", "messaging.email.clicked"),
            data__sendId__isnull=False,
            raw_event__isnull=False,
        )
        assert engagement.filter(raw_event__source="messaging").count() >= campaign["opened"]

        # Two published journeys, customers waiting at more than one step.
        journeys = marketing["journeys"]
        assert journeys["running"] == 2 and journeys["activeEnrolments"] > 0
        live = Enrolment.objects.filter(status__in=("ACTIVE", "WAITING"))
        assert live.values("step").distinct().count() >= 2
        assert Journey.objects.filter(status="ACTIVE", published_version__isnull=False).count() == 2

        # A competition open for entries, with its promotion plan.
        (competition,) = marketing["competitions"]["items"]
        assert competition["promotion"] == "Running" and competition["planned"] > 0
        assert PromotionItem.objects.filter(promotion_id=competition["id"]).exists()

        counts = (
            Customer.objects.count(), Segment.objects.count(), ChurnModel.objects.count(),
            Campaign.objects.count(), Journey.objects.count(), Enrolment.objects.count(),
            CompetitionPromotion.objects.count(), RawEvent.objects.count(),
        )  # fmt: skip

    second = _load("bravo-golf")
    assert "0 accepted" in second and "segments created: none (all there)" in second
    assert "Showcase: nothing new (all there)" in second
    with schema_context(clubs.bravo.schema_name):
        assert counts == (
            Customer.objects.count(), Segment.objects.count(), ChurnModel.objects.count(),
            Campaign.objects.count(), Journey.objects.count(), Enrolment.objects.count(),
            CompetitionPromotion.objects.count(), RawEvent.objects.count(),
        )  # fmt: skip
