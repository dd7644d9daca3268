"""Marketing Automation's figures on the club's home dashboard (crm/dashboard.py): the running
(ACTIVE) journeys and how many customers are in each now (running or waiting)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.urls import reverse

from crm.dashboard import DashboardContext, dashboard_part_register
from journeys.models import EnrolmentStatus, Journey, JourneyStatus

IN_JOURNEY = (EnrolmentStatus.ACTIVE, EnrolmentStatus.WAITING)


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


def register() -> None:
    dashboard_part_register(
        section="marketing", key="journeys", selector=running_journeys, links=_links
    )
