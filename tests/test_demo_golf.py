"""`load_demo_data` fills the dashboard's tee sheet and players section through the real paths
(profiles/demo_golf.py): TeeTime availability events, gaps the filler offered and golfers
booked, guest rounds with partners named through the guest form, survey answers. A second run
adds nothing."""

from __future__ import annotations

import io

from django.core.management import call_command
from django_tenants.utils import schema_context

from crm.dashboard import dashboard_build


def _load(slug: str) -> None:
    call_command(
        "load_demo_data", slug, "--members", "40", stdout=io.StringIO(), stderr=io.StringIO()
    )


def _counts() -> tuple[int, ...]:
    from campaigns.models import Send, TeeSheetGap, TeeSheetOffer
    from journeys.models import RoundSurveyAnswer, StaffTask
    from profiles.models import Activity, RawEvent, SourceRecord, TeeSlot

    models = (TeeSlot, TeeSheetGap, TeeSheetOffer, Send, RoundSurveyAnswer, StaffTask,
              Activity, RawEvent, SourceRecord)  # fmt: skip
    return tuple(model.objects.count() for model in models)


def test_the_demo_club_has_a_tee_sheet_guests_and_answers(clubs):
    from profiles.models import SourceRecord

    _load("bravo-golf")
    with schema_context(clubs.bravo.schema_name):
        tee = dashboard_build()["teeSheet"]
        for part in ("health", "filler", "captureRate", "nps"):
            assert tee[part]["missing"] is None, (part, tee[part])
        assert tee["health"]["capacity"] > 0 and tee["health"]["utilisation"] is not None
        assert tee["filler"]["offers"] > 0 and tee["filler"]["bookings"] > 0
        assert tee["filler"]["revenueRecoveredCents"] > 0
        assert 0 < tee["captureRate"]["captureRate"] < 100
        assert tee["captureRate"]["unnamedGuests"] > 0
        assert tee["nps"]["answers"] > 10 and tee["nps"]["detractors"] > 0
        assert SourceRecord.objects.filter(kind="guest_form").exists()
        before = _counts()

    _load("bravo-golf")
    with schema_context(clubs.bravo.schema_name):
        assert _counts() == before
