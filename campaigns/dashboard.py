"""Campaign Manager's figures on the club's home dashboard (crm/dashboard.py): the last five
campaigns that started sending, with the analytics' own counts (campaigns.selectors); and the
tee sheet's health and what the gap filler recovered (campaigns.tee_sheet_selectors), in the
teeSheet section.

The filler's lift is the offered golfers' booking rate minus the held-out golfers' (percentage
points), shown once both groups hold LIFT_MIN_GOLFERS: below that one booking more or less
swings it by tens of points, so the tile says how many are held out so far instead."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from campaigns.models import CampaignStatus, TeeSheetSettings
from campaigns.selectors import campaign_list, campaign_stats
from campaigns.tee_sheet_selectors import (
    money,
    tee_sheet_state,
    tee_sheet_utilisation,
    tee_sheet_weekly,
)
from crm.dashboard import DashboardContext, dashboard_part_register

LAST_CAMPAIGNS = 5
FILLER_WEEKS = 8
LIFT_MIN_GOLFERS = 20


def recent_campaigns(ctx: DashboardContext) -> dict[str, Any]:
    campaigns = list(
        campaign_list()
        .exclude(started_at__isnull=True)
        .exclude(status=CampaignStatus.DRAFT)
        .order_by("-started_at", "-id")[:LAST_CAMPAIGNS]
    )
    items = []
    for campaign in campaigns:
        total = campaign_stats(campaign=campaign)["total"]
        items.append(
            {
                "id": str(campaign.id),
                "name": campaign.name,
                "status": campaign.get_status_display(),
                "startedAt": campaign.started_at.isoformat(),
                "sent": total["sent"],
                "opened": total["opened"],
                "clicked": total["clicked"],
                "converted": total["converted"],
                # Not handed over yet: quiet hours, the frequency cap's wait, a retry.
                "waiting": total["pending"],
            }
        )
    return {"missing": None if items else "No campaign has been sent yet", "items": items}


def _links(data: dict[str, Any]) -> dict[str, str]:
    links = {"all": reverse("club_admin:campaigns_campaign_changelist")}
    for item in data["items"]:
        links[item["id"]] = reverse("club_admin:campaigns_campaign_change", args=[item["id"]])
    return links


# --- tee sheet --------------------------------------------------------------------------------


def tee_sheet_health(ctx: DashboardContext) -> dict[str, Any]:
    """Places booked and free over the next 7 days by day part, and the gaps being filled."""
    state = tee_sheet_state()
    if not state["slotsSeen"]:
        return {"missing": "No TeeTime availability events yet"}
    parts = tee_sheet_utilisation(days=7, now=ctx.now)
    capacity = sum(p["capacity"] for p in parts)
    booked = sum(p["booked"] for p in parts)
    return {
        "missing": None,
        "capacity": capacity,
        "booked": booked,
        "freePlaces": capacity - booked,
        "utilisation": round(100 * booked / capacity, 1) if capacity else None,
        "utilisation7Days": parts,
        "openGaps": state["openGaps"],
        "openGapPlaces": state["openGapPlaces"],
    }


def _health_links(data: dict[str, Any]) -> dict[str, str]:
    slots = reverse("club_admin:profiles_teeslot_changelist")
    gaps = reverse("club_admin:campaigns_teesheetgap_changelist")
    return {"slots": slots, "openGaps": f"{gaps}?status__exact=OPEN"}


def tee_sheet_filler(ctx: DashboardContext) -> dict[str, Any]:
    """Offers, bookings and green fees recovered per week (8 weeks), and the holdout's lift."""
    rules = TeeSheetSettings.objects.filter(pk=1).values("enabled", "holdout_percent").first()
    enabled = bool(rules and rules["enabled"])
    weeks = tee_sheet_weekly(weeks=FILLER_WEEKS, now=ctx.now)
    offers = sum(w["offers"] for w in weeks)
    held = sum(w["heldOut"] for w in weeks)
    if not offers and not held:
        return {
            "missing": "No gap-filler offers in the last 8 weeks"
            + ("" if enabled else ": the filler is off (turn it on in Tee-sheet filler settings)"),
            "enabled": enabled,
        }
    bookings = sum(w["bookings"] for w in weeks)
    held_bookings = sum(w["holdoutBookings"] for w in weeks)
    cents = sum(w["revenueRecoveredCents"] for w in weeks)
    rate = 100 * bookings / offers if offers else None
    held_rate = 100 * held_bookings / held if held else None
    if rate is not None and held_rate is not None and min(offers, held) >= LIFT_MIN_GOLFERS:
        lift = round(rate - held_rate, 1)
        note = (
            f"{rate:.1f}% of offered golfers booked against {held_rate:.1f}% of the "
            f"{held:,} held out"
        )
    else:
        lift = None
        holdout = rules["holdout_percent"] if rules else 0
        note = (
            "No holdout: set a holdout share to measure the lift"
            if not held and not holdout
            else f"Lift not measurable yet: {held:,} golfers held out so far "
            f"(needs {LIFT_MIN_GOLFERS})"
        )
    return {
        "missing": None,
        "enabled": enabled,
        "weeks": weeks,
        "offers": offers,
        "bookings": bookings,
        "conversionRate": round(rate, 1) if rate is not None else None,
        "revenueRecoveredCents": cents,
        "revenueRecovered": money(cents, ctx.currency),
        "heldOut": held,
        "holdoutBookings": held_bookings,
        "holdoutConversionRate": round(held_rate, 1) if held_rate is not None else None,
        "liftPoints": lift,
        "liftNote": note,
    }


def _filler_links(data: dict[str, Any]) -> dict[str, str]:
    gaps = reverse("club_admin:campaigns_teesheetgap_changelist")
    return {
        "offers": gaps,
        "bookings": f"{gaps}?status__exact=FILLED",
    }


def register() -> None:
    dashboard_part_register(
        section="marketing", key="campaigns", selector=recent_campaigns, links=_links
    )
    dashboard_part_register(
        section="teeSheet", key="health", selector=tee_sheet_health, links=_health_links
    )
    dashboard_part_register(
        section="teeSheet", key="filler", selector=tee_sheet_filler, links=_filler_links
    )
