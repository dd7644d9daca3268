"""Reads of the tee-sheet gap filler: the club's figures a dashboard tile shows ("tee-sheet
health"), each gap's waves and outcome, and the slots. Each figure is one query; weeks and day
parts are the club's (its time zone), money in its currency."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from campaigns.models import TeeSheetGap, TeeSheetOffer
from campaigns.tee_sheet import DAY_PART_LABELS
from crm.tenants.selectors import tenant_current
from profiles.models import TeeSlot


def _club() -> tuple[ZoneInfo, str]:
    tenant = tenant_current()
    return ZoneInfo(tenant.timezone or "UTC"), tenant.currency or ""


def money(cents: int | None, currency: str) -> str:
    return f"{(cents or 0) / 100:,.2f} {currency}".strip()


def tee_slot_list(*, upcoming_only: bool = True) -> QuerySet[TeeSlot]:
    slots = TeeSlot.objects.select_related("gap")
    if upcoming_only:
        slots = slots.filter(tee_time__gt=timezone.now())
    return slots.order_by("tee_time", "course_name")


def tee_gap_list(*, status: str | None = None) -> QuerySet[TeeSheetGap]:
    gaps = TeeSheetGap.objects.select_related("slot").prefetch_related("waves")
    if status:
        gaps = gaps.filter(status=status)
    return gaps.annotate(
        n_offers=Count("offers", filter=Q(offers__holdout=False)),
        n_held_out=Count("offers", filter=Q(offers__holdout=True)),
        n_bookings=Count(
            "offers", filter=Q(offers__holdout=False, offers__booked_at__isnull=False)
        ),
        n_holdout_bookings=Count(
            "offers", filter=Q(offers__holdout=True, offers__booked_at__isnull=False)
        ),
        recovered_cents=Sum("offers__amount_cents", filter=Q(offers__holdout=False)),
    ).order_by("-opened_at")


def tee_gap_get(*, gap_id: Any) -> TeeSheetGap | None:
    try:
        key = int(str(gap_id))
    except ValueError:
        return None
    return tee_gap_list().filter(pk=key).first()


def tee_gap_outcome(gap: TeeSheetGap) -> dict[str, Any]:
    """What the filler did for one gap and what it brought (annotated by tee_gap_list)."""
    _tz, currency = _club()
    if not hasattr(gap, "n_offers"):  # not read through tee_gap_list: count here
        gap = tee_gap_list().get(pk=gap.pk)
    recovered = gap.recovered_cents or 0
    return {
        "offers": gap.n_offers,
        "heldOut": gap.n_held_out,
        "bookings": gap.n_bookings,
        "holdoutBookings": gap.n_holdout_bookings,
        "revenueRecoveredCents": recovered,
        "revenueRecovered": money(recovered, gap.slot.currency or currency),
    }


def tee_sheet_weekly(*, weeks: int = 8, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Per week (Monday, club time), oldest first: offers sent (held-out golfers not counted),
    bookings they brought, recovered green fees; held-out golfers and their bookings (the lift's
    baseline). For the dashboard's "what the filler recovered" tile."""
    tz, currency = _club()
    now = now or timezone.now()
    local_today = now.astimezone(tz).date()
    first_monday = local_today - dt.timedelta(days=local_today.weekday() + 7 * (weeks - 1))
    start = dt.datetime.combine(first_monday, dt.time(), tzinfo=tz)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT date_trunc('week', o.created_at AT TIME ZONE %(tz)s)::date AS week,
                   count(*) FILTER (WHERE NOT o.holdout),
                   count(*) FILTER (WHERE NOT o.holdout AND o.booked_at IS NOT NULL),
                   coalesce(sum(o.amount_cents) FILTER (WHERE NOT o.holdout), 0),
                   count(*) FILTER (WHERE o.holdout),
                   count(*) FILTER (WHERE o.holdout AND o.booked_at IS NOT NULL)
            FROM campaigns_teesheetoffer AS o
            WHERE o.created_at >= %(start)s
            GROUP BY 1
            """,
            {"tz": str(tz), "start": start},
        )
        # sum() of a bigint is numeric: whole cents as int, or GraphQL's JSON cannot say it.
        found = {row[0]: tuple(int(n) for n in row[1:]) for row in cursor.fetchall()}
    out = []
    for n in range(weeks):
        monday = first_monday + dt.timedelta(days=7 * n)
        offers, bookings, cents, held, held_bookings = found.get(monday, (0, 0, 0, 0, 0))
        out.append(
            {
                "weekStarting": monday.isoformat(),
                "offers": offers,
                "bookings": bookings,
                "conversionRate": round(100 * bookings / offers, 1) if offers else None,
                "revenueRecoveredCents": cents,
                "revenueRecovered": money(cents, currency),
                "currency": currency,
                "heldOut": held,
                "holdoutBookings": held_bookings,
                "holdoutConversionRate": round(100 * held_bookings / held, 1) if held else None,
            }
        )
    return out


_UTILISATION = """
SELECT CASE WHEN extract(isodow FROM t.local) >= 6 THEN 'weekend'
            WHEN extract(hour FROM t.local) < 12 THEN 'weekday_morning'
            WHEN extract(hour FROM t.local) < 17 THEN 'weekday_afternoon'
            ELSE 'weekday_evening' END,
       sum(t.capacity), sum(t.booked), count(*) FILTER (WHERE t.booked < t.capacity)
FROM (SELECT s.tee_time AT TIME ZONE %(tz)s AS local, s.capacity, s.booked
      FROM profiles_teeslot AS s
      WHERE s.tee_time > %(now)s AND s.tee_time <= %(until)s) AS t
GROUP BY 1
"""


def tee_sheet_utilisation(*, days: int = 7, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Places on the sheet for the next `days`, booked and free, by day part (club time, the
    day parts of campaigns.tee_sheet.day_part_of): the "tee-sheet health" tile. Slots come from
    TeeTime's availability events. One aggregate over the tee_time index."""
    tz, _currency = _club()
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _UTILISATION, {"tz": str(tz), "now": now, "until": now + dt.timedelta(days=days)}
        )
        totals = {part: (int(cap), int(booked), gaps) for part, cap, booked, gaps in cursor}
    out = []
    for part, label in DAY_PART_LABELS.items():
        capacity, booked, gaps = totals.get(part, (0, 0, 0))
        out.append(
            {
                "dayPart": part,
                "label": label,
                "capacity": capacity,
                "booked": booked,
                "freePlaces": capacity - booked,
                "slotsWithGaps": gaps,
                "utilisation": round(100 * booked / capacity, 1) if capacity else None,
            }
        )
    return out


def tee_sheet_state() -> dict[str, Any]:
    """Whether TeeTime ever described a slot, and the gaps the filler is working on now (one
    query): the dashboard tells "no availability events yet" from an empty week."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT EXISTS (SELECT 1 FROM profiles_teeslot),
                   count(g.id), coalesce(sum(greatest(s.capacity - s.booked, 0)), 0)
            FROM campaigns_teesheetgap AS g JOIN profiles_teeslot AS s ON s.id = g.slot_id
            WHERE g.status = 'OPEN'
            """
        )
        seen, gaps, places = cursor.fetchone()
    return {"slotsSeen": bool(seen), "openGaps": int(gaps), "openGapPlaces": int(places)}


def tee_offer_count_for(*, customer_id: Any) -> int:
    return TeeSheetOffer.objects.filter(customer_id=customer_id, holdout=False).count()
