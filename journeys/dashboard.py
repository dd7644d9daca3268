"""Marketing Automation's figures on the club's home dashboard (crm/dashboard.py): the running
(ACTIVE) journeys and how many customers are in each now (running or waiting); and the club's
NPS from the after-round survey (journeys.surveys) by week and by day part, in the teeSheet
section."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.urls import reverse

from campaigns.tee_sheet import DAY_PART_LABELS
from crm.dashboard import DashboardContext, dashboard_part_register
from journeys.models import EnrolmentStatus, Journey, JourneyStatus, NpsBand
from journeys.surveys import club_nps

IN_JOURNEY = (EnrolmentStatus.ACTIVE, EnrolmentStatus.WAITING)
NPS_WEEKS = 8


def running_journeys(ctx: DashboardContext) -> dict[str, Any]:
    journeys = (
        Journey.objects.filter(status=JourneyStatus.ACTIVE)
        .annotate(active=Count("enrolments", filter=Q(enrolments__status__in=IN_JOURNEY)))
        .order_by("-active", "name")
        .values("id", "name", "active")
    )
    items = [
        {"id": str(j["id"]), "name": j["name"], "activeEnrolments": j["active"]} for j in journeys
    ]
    return {
        "missing": None if items else "No journey is running",
        "running": len(items),
        "activeEnrolments": sum(item["activeEnrolments"] for item in items),
        "items": items,
    }


def _links(data: dict[str, Any]) -> dict[str, str]:
    links = {"all": reverse("club_admin:journeys_journey_changelist") + "?status__exact=ACTIVE"}
    for item in data["items"]:
        links[item["id"]] = reverse("club_admin:journeys_journey_change", args=[item["id"]])
    return links


def nps_figures(ctx: DashboardContext) -> dict[str, Any]:
    """NPS (% promoters minus % detractors) of the last 8 weeks' answers: overall, per week (club
    time, every week listed, null where nobody answered) and per day part of the round."""
    weeks = ctx.week_starts(NPS_WEEKS)
    found = club_nps(now=ctx.now, tz=str(ctx.tz), since=ctx.local_midnight(weeks[0]))
    if not found["weeks"]:
        return {"missing": "No survey answers in the last 8 weeks"}
    empty = {"answers": 0, "promoters": 0, "detractors": 0, "nps": None}
    by_week = {row["weekStarting"]: row for row in found["weeks"]}
    by_part = {row["dayPart"]: row for row in found["dayParts"]}
    answers = sum(row["answers"] for row in found["weeks"])
    promoters = sum(row["promoters"] for row in found["weeks"])
    detractors = sum(row["detractors"] for row in found["weeks"])
    return {
        "missing": None,
        "answers": answers,
        "promoters": promoters,
        "passives": answers - promoters - detractors,
        "detractors": detractors,
        "nps": round(100 * (promoters - detractors) / answers),
        "weeks": [
            by_week.get(m.isoformat(), {"weekStarting": m.isoformat(), **empty}) for m in weeks
        ],
        "dayParts": [
            {**by_part.get(part, {**empty, "dayPart": part}), "label": label}
            for part, label in DAY_PART_LABELS.items()
        ],
    }


def _nps_links(data: dict[str, Any]) -> dict[str, str]:
    answers = reverse("club_admin:journeys_roundsurveyanswer_changelist")
    return {
        "answers": answers,
        "promoters": f"{answers}?band__exact={NpsBand.PROMOTER}",
        "detractors": f"{answers}?band__exact={NpsBand.DETRACTOR}",
    }


def register() -> None:
    dashboard_part_register(
        section="marketing", key="journeys", selector=running_journeys, links=_links
    )
    dashboard_part_register(section="teeSheet", key="nps", selector=nps_figures, links=_nps_links)
