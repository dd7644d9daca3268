"""Campaign Manager's figures on the club's home dashboard (crm/dashboard.py): the last five
campaigns that started sending, with the analytics' own counts (campaigns.selectors)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from campaigns.models import CampaignStatus
from campaigns.selectors import campaign_list, campaign_stats
from crm.dashboard import DashboardContext, dashboard_part_register

LAST_CAMPAIGNS = 5


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


def register() -> None:
    dashboard_part_register(
        section="marketing", key="campaigns", selector=recent_campaigns, links=_links
    )
