"""Customer Intelligence's figures on the club's home dashboard (crm/dashboard.py registry):
members, at risk, golf, and the event feed's health. Registered in ProfilesConfig.ready().

Every customer figure is a `Q` on Customer (FIGURES), counted here and applied by the admin's
customer list filter "Dashboard figure" (profiles/admin.py), so a tile's number and the list
behind it are the same query. The counts run as one aggregate per section; the golf figures
use `activity_type_time_idx` ((type, occurred_at) with customer, amount and day part included:
index-only), the feeds' last event `raw_event_source_id_idx`.

Choices where the issue is silent:
- "Active" members: membership status ACTIVE. "New this month": member since the first of
  this month (club time). "Renewals due in 30 days": ACTIVE with a renewal date from today to
  today + 30. "Lapsed this season": LAPSED or RESIGNED now, the change made since 1 January
  (the season is the calendar year, club time).
- At risk: churn risk High (60-79) or Critical (80-100), members only (profiles.scoring).
- Golf compares the last 7 / 30 days with the same days a year earlier; no-shows over 30
  days; day parts of the last 30 days' bookings by tee time: the `Activity.day_part` apply
  stores with each booking (segments' definition, in the club's zone), read from the index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import reverse

from crm.dashboard import DashboardContext, dashboard_part_register
from profiles.apply import GUEST_ROUND
from profiles.models import (
    Activity,
    Customer,
    CustomerScore,
    CustomerStatus,
    DayPart,
    EventStatus,
    RawEvent,
    ScoreWeek,
)
from profiles.rounds import capture_rate_weekly
from profiles.scoring import CHURN_HIGH_FROM, CHURN_RISK_BANDS

SOURCES = (("scl", "SCL"), ("teetime", "TeeTime"), ("messaging", "Messaging"))
LAPSED = ("LAPSED", "RESIGNED")
DAY_PARTS = (
    ("weekday_morning", "Weekday mornings", DayPart.WEEKDAY_MORNING),
    ("weekday_afternoon", "Weekday afternoons", DayPart.WEEKDAY_AFTERNOON),
    ("weekday_evening", "Weekday evenings", DayPart.WEEKDAY_EVENING),
    ("weekend", "Weekends", DayPart.WEEKEND),
)
TOP_AT_RISK = 5


class _DayPartBookings(TypedDict):
    part: str
    label: str
    bookings: int


def customers_base() -> QuerySet[Customer]:
    return Customer.objects.exclude(status__in=(CustomerStatus.MERGED, CustomerStatus.DELETED))


def _lapsed_since(start: dt.datetime) -> Q:
    changed = Activity.objects.filter(
        customer_id=OuterRef("pk"),
        type="scl.member.status.changed",
        occurred_at__gte=start,
    )
    return Q(membership_status__in=LAPSED) & Q(Exists(changed))


def figure_q(ctx: DashboardContext, figure: str) -> Q:
    """The customers behind one figure of the dashboard (KeyError: no such figure)."""
    today = ctx.today
    return {
        "activeMembers": lambda: Q(membership_status="ACTIVE"),
        "newThisMonth": lambda: Q(member_since__gte=today.replace(day=1), member_since__lte=today),
        "renewalsDue30d": lambda: Q(
            membership_status="ACTIVE",
            renewal_due_on__gte=today,
            renewal_due_on__lte=today + dt.timedelta(days=30),
        ),
        "lapsedThisSeason": lambda: _lapsed_since(
            ctx.local_midnight(today.replace(month=1, day=1))
        ),
        "highOrCriticalRisk": lambda: Q(score__churn_risk_score__gte=CHURN_HIGH_FROM),
        "criticalRisk": lambda: Q(score__churn_risk_score__gte=CHURN_RISK_BANDS[0][0]),
        "payingNotPlaying": lambda: Q(score__paying_not_playing=True),
        "unnamedGuests": lambda: _unnamed_guests(ctx),
    }[figure]()


FIGURE_LABELS = {
    "activeMembers": "Active members",
    "newThisMonth": "New members this month",
    "renewalsDue30d": "Renewals due in the next 30 days",
    "lapsedThisSeason": "Lapsed or resigned this season",
    "highOrCriticalRisk": "Churn risk High or Critical",
    "criticalRisk": "Churn risk Critical",
    "payingNotPlaying": "Paying but not playing",
    "unnamedGuests": "Guests not named yet (last 8 weeks)",
}


def figure_customers(ctx: DashboardContext, figure: str) -> QuerySet[Customer]:
    return customers_base().filter(figure_q(ctx, figure))


def _source_seen(source: str) -> bool:
    return RawEvent.objects.filter(source=source).exists()


def _count(ctx: DashboardContext, figures: tuple[str, ...]) -> dict[str, int]:
    """One pass over customer_membership_idx for all the membership figures (counting a
    column the index holds, never-null, so no row is read from the table)."""
    return customers_base().aggregate(
        **{name: Count("membership_status", filter=figure_q(ctx, name)) for name in figures}
    )


def _count_each(ctx: DashboardContext, figures: tuple[str, ...]) -> dict[str, int]:
    """A query per figure, for the scores' few flagged customers found by their own indexes
    (churn_risk_score, score_pnp_idx) and joined to the customer, not a pass over everyone."""
    return {name: figure_customers(ctx, name).count() for name in figures}


# --- members ---------------------------------------------------------------------------------


def members_figures(ctx: DashboardContext) -> dict[str, Any]:
    if not _source_seen("scl"):
        return {"missing": "No SCL membership events yet"}
    counts = _count(ctx, ("activeMembers", "newThisMonth", "renewalsDue30d", "lapsedThisSeason"))
    return {"missing": None, **counts}


# --- at risk ---------------------------------------------------------------------------------


def at_risk_figures(ctx: DashboardContext) -> dict[str, Any]:
    # Any member's score says which score is in use (a run scores everyone the same way); the
    # highest is found on the churn_risk_score index.
    method = (
        CustomerScore.objects.filter(churn_risk_score__isnull=False)
        .order_by("-churn_risk_score")
        .values("churn_method", "churn_model_version", "computed_at")
        .first()
    )
    if method is None and not CustomerScore.objects.exists():
        return {"missing": "Not scored yet: scores come within a minute of the first events"}
    method = method or {"churn_method": "", "churn_model_version": None, "computed_at": None}
    latest = ScoreWeek.objects.order_by("-computed_at").values("computed_at").first() or method
    counts = _count_each(ctx, ("highOrCriticalRisk", "criticalRisk", "payingNotPlaying"))
    top = (
        figure_customers(ctx, "highOrCriticalRisk")
        .order_by("-score__churn_risk_score", "last_name", "id")
        .values(
            "id", "first_name", "last_name", "email", "score__churn_risk_score",
            "score__churn_risk_reasons",
        )[:TOP_AT_RISK]
    )  # fmt: skip
    weeks = list(ScoreWeek.objects.order_by("-week_start")[:12])
    weeks.reverse()
    return {
        "missing": None,
        **counts,
        "scoredBy": {"MODEL": "Churn model", "RULES": "Rule-based score"}.get(
            method["churn_method"], ""
        ),
        "modelVersion": method["churn_model_version"],
        "scoredAt": latest["computed_at"].isoformat() if latest["computed_at"] else None,
        "topAtRisk": [
            {
                "customerId": str(row["id"]),
                "name": " ".join(p for p in (row["first_name"], row["last_name"]) if p)
                or row["email"],
                "churnRiskScore": row["score__churn_risk_score"],
                "topReason": _first_reason(row["score__churn_risk_reasons"]),
            }
            for row in top
        ],
        "trend": [
            {
                "weekStart": week.week_start.isoformat(),
                "highOrCriticalRisk": week.high_risk,
                "payingNotPlaying": week.paying_not_playing,
            }
            for week in weeks
        ],
    }


def _first_reason(reasons: list[Any] | None) -> str:
    """The most important churn reason in words (reasons are `{"text": ...}`, or plain text)."""
    if not reasons:
        return ""
    first = reasons[0]
    return str(first.get("text", "")) if isinstance(first, dict) else str(first)


def _customer_links(data: dict[str, Any]) -> dict[str, str]:
    base = reverse("club_admin:profiles_customer_changelist")
    links = {name: f"{base}?figure={name}" for name in FIGURE_LABELS if name in data}
    for row in data.get("topAtRisk", []):
        links[row["customerId"]] = reverse(
            "admin:profiles_customer_change", args=[row["customerId"]]
        )
    return links


# --- golf ------------------------------------------------------------------------------------

# Each count is its own index-only range scan of activity_type_time_idx (one bitmap scan over
# both windows would read every heap page of two months of the timeline instead).
_GOLF_TYPES = (
    "type IN ('teetime.booking.created', 'teetime.booking.completed', "
    "'teetime.booking.no_show', 'scl.payment.received')"
)
_GOLF_COUNTS = {
    # name: (type, start, end)
    "r7": ("teetime.booking.completed", "d7", "now"),
    "r30": ("teetime.booking.completed", "d30", "now"),
    "ry7": ("teetime.booking.completed", "y7", "y0"),
    "ry30": ("teetime.booking.completed", "y30", "y0"),
    "b7": ("teetime.booking.created", "d7", "now"),
    "b30": ("teetime.booking.created", "d30", "now"),
    "by7": ("teetime.booking.created", "y7", "y0"),
    "by30": ("teetime.booking.created", "y30", "y0"),
    "ns30": ("teetime.booking.no_show", "d30", "now"),
}
# Assembled from this module's constants only; every value is a bound parameter.
_GOLF_SQL = (
    "SELECT "  # noqa: S608
    + ", ".join(
        f"(SELECT count(*) FROM profiles_activity WHERE {_GOLF_TYPES} AND type = '{kind}' "  # noqa: S608
        f"AND occurred_at >= %({start})s AND occurred_at < %({end})s) AS {name}"
        for name, (kind, start, end) in _GOLF_COUNTS.items()
    )
    + f", (SELECT coalesce(sum(amount_cents), 0) FROM profiles_activity WHERE {_GOLF_TYPES} "  # noqa: S608
    "AND type = 'scl.payment.received' AND occurred_at >= %(d30)s AND occurred_at < %(now)s) "
    "AS paid30"
)

# The day part apply stored with each booking (profiles.projection.day_part_of; the nightly
# refresh follows a change of the club's zone): one index-only range scan, no JSON read.
_DAY_PART_SQL = """
SELECT {parts}
FROM profiles_activity
WHERE type = 'teetime.booking.created' AND occurred_at >= %(d30)s AND occurred_at <= %(now)s
"""


def golf_figures(ctx: DashboardContext) -> dict[str, Any]:
    if not _source_seen("teetime"):
        return {"missing": "No TeeTime events yet"}
    now = ctx.now
    year_ago = now - dt.timedelta(days=365)
    params: dict[str, dt.datetime | str] = {
        "now": now,
        "d7": now - dt.timedelta(days=7),
        "d30": now - dt.timedelta(days=30),
        "y0": year_ago,
        "y7": year_ago - dt.timedelta(days=7),
        "y30": year_ago - dt.timedelta(days=30),
        "tz": str(ctx.tz),
    }
    parts = ", ".join(
        f"count(*) FILTER (WHERE day_part = {part.value}) AS {key}" for key, _l, part in DAY_PARTS
    )
    with connection.cursor() as cursor:
        cursor.execute(_GOLF_SQL, params)
        g = dict(zip([c.name for c in cursor.description], cursor.fetchone(), strict=True))
        cursor.execute(_DAY_PART_SQL.format(parts=parts), params)
        by_part = cursor.fetchone()
    day_parts: list[_DayPartBookings] = [
        {"part": key, "label": label, "bookings": int(n)}
        for (key, label, _sql), n in zip(DAY_PARTS, by_part, strict=True)
    ]
    busiest = max(day_parts, key=lambda p: p["bookings"]) if any(by_part) else None
    return {
        "missing": None,
        "roundsPlayed": {
            "last7Days": g["r7"], "last7DaysYearBefore": g["ry7"],
            "last30Days": g["r30"], "last30DaysYearBefore": g["ry30"],
        },
        "bookings": {
            "last7Days": g["b7"], "last7DaysYearBefore": g["by7"],
            "last30Days": g["b30"], "last30DaysYearBefore": g["by30"],
        },
        "noShows30Days": g["ns30"],
        "paymentsReceived30DaysCents": int(g["paid30"]),
        "dayParts": day_parts,
        "busiestDayPart": busiest["label"] if busiest else None,
    }  # fmt: skip


def _golf_links(data: dict[str, Any]) -> dict[str, str]:
    events = reverse("club_admin:profiles_rawevent_changelist")
    return {"events": f"{events}?source=teetime"}


# --- tee sheet: capture rate ----------------------------------------------------------------

CAPTURE_WEEKS = 8


def _capture_since(ctx: DashboardContext) -> dt.datetime:
    return ctx.local_midnight(ctx.week_starts(CAPTURE_WEEKS)[0])


def _unnamed_guests(ctx: DashboardContext) -> Q:
    """Guests on the sheet in the capture tile's weeks whom the club cannot name yet: the
    players missing from the capture rate, whose booker the guest form asks."""
    played = Activity.objects.filter(
        customer_id=OuterRef("pk"), type=GUEST_ROUND, occurred_at__gte=_capture_since(ctx)
    )
    return Q(first_name="", last_name="") & Q(Exists(played))


def capture_rate_figures(ctx: DashboardContext) -> dict[str, Any]:
    """Named players ÷ players on the sheet, per week the bookings were made (8 weeks)."""
    found = {
        row["weekStarting"]: row
        for row in capture_rate_weekly(now=ctx.now, since=_capture_since(ctx))
    }
    if not found:
        return {"missing": "No TeeTime bookings in the last 8 weeks"}
    weeks = [
        found.get(
            monday.isoformat(),
            {"weekStarting": monday.isoformat(), "players": 0, "named": 0, "captureRate": None},
        )
        for monday in ctx.week_starts(CAPTURE_WEEKS)
    ]
    players = sum(w["players"] for w in weeks)
    named = sum(w["named"] for w in weeks)
    return {
        "missing": None,
        "weeks": weeks,
        "players": players,
        "named": named,
        "captureRate": round(100 * named / players, 1) if players else None,
        "unnamedGuests": figure_customers(ctx, "unnamedGuests").count(),
    }


def _capture_links(data: dict[str, Any]) -> dict[str, str]:
    base = reverse("club_admin:profiles_customer_changelist")
    return {"unnamedGuests": f"{base}?figure=unnamedGuests"}


# --- data health -----------------------------------------------------------------------------


def event_feed_figures(ctx: DashboardContext) -> dict[str, Any]:
    counts = RawEvent.objects.filter(
        status__in=(EventStatus.PENDING, EventStatus.PARKED)
    ).aggregate(
        pending=Count("pk", filter=Q(status=EventStatus.PENDING)),
        parked=Count("pk", filter=Q(status=EventStatus.PARKED)),
    )
    sources = []
    for source, label in SOURCES:
        last = RawEvent.objects.filter(source=source).order_by("-id").values("received_at").first()
        sources.append(
            {
                "source": source,
                "label": label,
                "lastReceivedAt": last["received_at"].isoformat() if last else None,
                "missing": None if last else f"No {label} events yet",
            }
        )
    return {
        "pendingEvents": counts["pending"],
        "parkedEvents": counts["parked"],
        "sources": sources,
    }


def _event_links(data: dict[str, Any]) -> dict[str, str]:
    events = reverse("club_admin:profiles_rawevent_changelist")
    links = {
        "pendingEvents": f"{events}?status__exact=PENDING",
        "parkedEvents": f"{events}?status__exact=PARKED",
    }
    for row in data["sources"]:
        links[row["source"]] = f"{events}?source={row['source']}"
    return links


def register() -> None:
    dashboard_part_register(
        section="members", key="figures", selector=members_figures, links=_customer_links
    )
    dashboard_part_register(
        section="atRisk", key="figures", selector=at_risk_figures, links=_customer_links
    )
    dashboard_part_register(section="golf", key="figures", selector=golf_figures, links=_golf_links)
    dashboard_part_register(
        section="dataHealth", key="events", selector=event_feed_figures, links=_event_links
    )
    dashboard_part_register(
        section="teeSheet", key="captureRate", selector=capture_rate_figures, links=_capture_links
    )
