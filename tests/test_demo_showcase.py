"""`load_demo_data` leaves a club that shows the product working: everyone scored (with the
churn model, or its rule-based fallback said as such), five template segments materialised,
and a dashboard with no empty tile for members, at risk and golf. A second run adds nothing."""

from __future__ import annotations

import io

from django.core.management import call_command
from django_tenants.utils import schema_context

from crm.dashboard import dashboard_build


def _load(slug: str) -> str:
    out = io.StringIO()
    call_command("load_demo_data", slug, "--members", "40", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_demo_club_is_scored_segmented_and_its_dashboard_full(clubs):
    from profiles.models import ChurnModel, Customer, CustomerScore
    from segments.models import Segment

    first = _load("bravo-golf")
    assert "Scores:" in first and "churn model" in first
    with schema_context(clubs.bravo.schema_name):
        live = Customer.objects.exclude(status__in=("MERGED", "DELETED")).count()
        assert CustomerScore.objects.count() == live > 40
        model = ChurnModel.objects.get()
        if model.status != "READY":
            assert "(the rule-based score is used)" in first
        segments = {s.template_key: s for s in Segment.objects.all()}
        assert len(segments) == 5
        assert all(s.last_refreshed_at is not None for s in segments.values())
        assert segments["weekday_morning_players"].member_count > 0
        data = dashboard_build()
        for section in ("members", "atRisk", "golf"):
            assert data[section]["figures"]["missing"] is None, section
        assert data["members"]["figures"]["activeMembers"] > 30
        assert data["atRisk"]["figures"]["scoredBy"] in ("Churn model", "Rule-based score")
        assert len(data["atRisk"]["figures"]["trend"]) == 12
        counts = (Customer.objects.count(), Segment.objects.count(), ChurnModel.objects.count())

    second = _load("bravo-golf")
    assert "0 accepted" in second and "segments created: none (all there)" in second
    with schema_context(clubs.bravo.schema_name):
        assert counts == (
            Customer.objects.count(),
            Segment.objects.count(),
            ChurnModel.objects.count(),
        )
