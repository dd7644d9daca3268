"""`GET /t/<tenant>/api/v1/dashboard`: the figures of the club's home dashboard, the same
registry the admin's home page reads (crm/dashboard.py), so both always agree."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.views import TenantAPIView
from crm.dashboard import dashboard_build

_SECTION_HELP = {
    "members": "figures: activeMembers, newThisMonth, renewalsDue30d, lapsedThisSeason.",
    "atRisk": "figures: highOrCriticalRisk (churn risk 60+), criticalRisk (80+), "
    "payingNotPlaying, scoredBy (Churn model / Rule-based score), modelVersion, scoredAt, "
    "topAtRisk [{customerId, name, churnRiskScore, topReason}], trend (12 weeks: weekStart, "
    "highOrCriticalRisk, payingNotPlaying).",
    "golf": "figures: roundsPlayed and bookings {last7Days, last7DaysYearBefore, last30Days, "
    "last30DaysYearBefore}, noShows30Days, paymentsReceived30DaysCents (club currency), "
    "dayParts [{part, label, bookings}] of the last 30 days' bookings, busiestDayPart.",
    "teeSheet": "health {utilisation [{dayPart, label, capacity, booked, freePlaces, "
    "slotsWithGaps, utilisation %}] of the next 7 days, capacity, booked, freePlaces, "
    "utilisation, openGaps, openGapPlaces}; filler {enabled, weeks [8, oldest first: "
    "weekStarting, offers, bookings, conversionRate, revenueRecoveredCents, revenueRecovered, "
    "heldOut, holdoutBookings, holdoutConversionRate], totals of the 8 weeks, liftPoints "
    "(conversion of offered minus held-out golfers, null until measurable), liftNote}; "
    "captureRate {weeks [weekStarting, players, named, captureRate %], players, named, "
    "captureRate, unnamedGuests}; nps {weeks [weekStarting, answers, promoters, detractors, "
    "nps], dayParts [dayPart, label, ...], answers, promoters, detractors, nps}.",
    "marketing": "campaigns {items: last 5 sent, with sent/opened/clicked/converted and waiting "
    "(not handed over yet: quiet hours, caps, retries)}, journeys "
    "{running, activeEnrolments, items}, competitions {items: upcoming, with promotion status "
    "and items goneOut/planned/failed}, posts {next7Days, scheduled}.",
    "dataHealth": "events {pendingEvents, parkedEvents, sources [{source, label, "
    "lastReceivedAt, missing}]}, deadLetters {waiting}.",
}

DashboardSerializer = inline_serializer(
    "Dashboard",
    {
        "club": inline_serializer(
            "DashboardClub",
            {
                "name": serializers.CharField(),
                "timezone": serializers.CharField(),
                "currency": serializers.CharField(),
            },
        ),
        "generatedAt": serializers.DateTimeField(),
        **{
            name: serializers.JSONField(
                help_text=f"{help_text} Every part has `missing`: null, or a sentence saying "
                "which data has not arrived yet (its figures are then absent, never 0)."
            )
            for name, help_text in _SECTION_HELP.items()
        },
    },
)


class DashboardView(TenantAPIView):
    """The club's home dashboard in figures (scope crm:read)."""

    @extend_schema(
        operation_id="dashboard_retrieve",
        summary="The club's home dashboard",
        description="Members, at risk, golf, tee sheet and players, marketing and data "
        "health, by section and part, in the club's time zone (windows such as 'this month' "
        "are the club's calendar). "
        "Sections hold parts (`members.figures`, `marketing.campaigns`, …); a part whose data "
        "has not arrived says so in `missing` instead of showing zeros.",
        responses=inline_serializer("DashboardResponse", {"data": DashboardSerializer}),
        examples=[
            OpenApiExample(
                "A club with no TeeTime feed yet",
                value={
                    "data": {
                        "club": {"name": "Kildare Golf Club", "timezone": "Europe/Dublin",
                                 "currency": "EUR"},
                        "generatedAt": "2026-06-01T09:00:00+00:00",
                        "members": {"figures": {"missing": None, "activeMembers": 402,
                                                "newThisMonth": 6, "renewalsDue30d": 31,
                                                "lapsedThisSeason": 9}},
                        "golf": {"figures": {"missing": "No TeeTime events yet"}},
                    }
                },
                response_only=True,
            )
        ],
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return Response({"data": dashboard_build()})
