"""Social Publisher's figures on the club's home dashboard (crm/dashboard.py): upcoming
competitions with how far their promotion plan has gone out, and the posts due in the next
seven days (club time; scheduled, waiting for approval, or drafts given a time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse

from crm.dashboard import DashboardContext, dashboard_part_register
from social.models import (
    CompetitionPromotion,
    ItemStatus,
    PostVariant,
    PromotionStatus,
    VariantStatus,
)

UPCOMING = 5
DUE = (VariantStatus.DRAFT, VariantStatus.PENDING_APPROVAL, VariantStatus.SCHEDULED)


def upcoming_competitions(ctx: DashboardContext) -> dict[str, Any]:
    promotions = (
        CompetitionPromotion.objects.filter(status=PromotionStatus.ACTIVE)
        .annotate(
            gone_out=Count("items", filter=Q(items__status=ItemStatus.DONE)),
            planned=Count(
                "items", filter=Q(items__status__in=(ItemStatus.PLANNED, ItemStatus.SCHEDULED))
            ),
            failed=Count("items", filter=Q(items__status=ItemStatus.FAILED)),
        )
        .order_by("created_at")
    )
    items = []
    for promotion in promotions:
        starts = promotion.payload.get("startsAt")
        try:
            starts_at = dt.datetime.fromisoformat(str(starts)) if starts else None
        except ValueError:
            starts_at = None
        if starts_at is not None and starts_at.tzinfo is None:
            starts_at = starts_at.replace(tzinfo=ctx.tz)
        if starts_at is not None and starts_at < ctx.now:
            continue
        items.append(
            {
                "id": str(promotion.id),
                "name": promotion.name,
                "startsAt": starts_at.isoformat() if starts_at else None,
                "promotion": promotion.get_status_display(),
                "goneOut": promotion.gone_out,
                "planned": promotion.planned,
                "failed": promotion.failed,
            }
        )
    items.sort(key=lambda item: item["startsAt"] or "9999")
    return {
        "missing": None if items else "No upcoming competition from TeeTime",
        "items": items[:UPCOMING],
    }


def _competition_links(data: dict[str, Any]) -> dict[str, str]:
    links = {"all": reverse("club_admin:social_competitionpromotion_changelist")}
    for item in data["items"]:
        links[item["id"]] = reverse(
            "club_admin:social_competitionpromotion_change", args=[item["id"]]
        )
    return links


def scheduled_posts(ctx: DashboardContext) -> dict[str, Any]:
    due = PostVariant.objects.filter(
        status__in=DUE, scheduled_at__gte=ctx.now, scheduled_at__lt=ctx.now + dt.timedelta(days=7)
    )
    counts = due.aggregate(
        posts=Count("post", distinct=True),
        approved=Count("post", distinct=True, filter=Q(status=VariantStatus.SCHEDULED)),
    )
    return {"next7Days": counts["posts"], "scheduled": counts["approved"]}


def _post_links(data: dict[str, Any]) -> dict[str, str]:
    return {"next7Days": reverse("club_admin:social_post_changelist")}


def register() -> None:
    dashboard_part_register(
        section="marketing",
        key="competitions",
        selector=upcoming_competitions,
        links=_competition_links,
    )
    dashboard_part_register(
        section="marketing", key="posts", selector=scheduled_posts, links=_post_links
    )
