"""When the campaigns tasks that beat runs every minute could find something to do in a club
(crm/periodic.py asks every club at once and queues the task only where this holds)."""

from __future__ import annotations

from campaigns.models import CampaignStatus, GapStatus, RunStatus
from crm.periodic import WorkProbe, work_probe_register

# `campaigns_tick` looks only at SCHEDULED campaigns (one-time due, triggered, recurring) and at
# runs PLANNING (a lost plan) or SENDING (stalled, idle, winners, finishing).
TICK = WorkProbe(
    task="campaigns.tick",
    condition=(
        "EXISTS (SELECT 1 FROM {campaigns_campaign} WHERE status = {scheduled}) "
        "OR EXISTS (SELECT 1 FROM {campaigns_campaignrun} WHERE status IN ({planning}, {sending}))"
    ),
    tables=("campaigns_campaign", "campaigns_campaignrun"),
    values={
        "scheduled": CampaignStatus.SCHEDULED.value,
        "planning": RunStatus.PLANNING.value,
        "sending": RunStatus.SENDING.value,
    },
)

# The filler opens gaps on slots still to tee off (enabled or not), closes and waves OPEN gaps,
# and records bookings against offers within their window (at most 14 days).
TEE_SHEET_FILL = WorkProbe(
    task="campaigns.tee_sheet_fill",
    condition=(
        "EXISTS (SELECT 1 FROM {campaigns_teesheetgap} WHERE status = {open}) "
        "OR EXISTS (SELECT 1 FROM {profiles_teeslot} WHERE tee_time > now()) "
        "OR EXISTS (SELECT 1 FROM {campaigns_teesheetoffer} WHERE booked_at IS NULL "
        "AND created_at > now() - interval '14 days')"
    ),
    tables=("campaigns_teesheetgap", "profiles_teeslot", "campaigns_teesheetoffer"),
    values={"open": GapStatus.OPEN.value},
)


def register() -> None:
    work_probe_register(TICK)
    work_probe_register(TEE_SHEET_FILL)
