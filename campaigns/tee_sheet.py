"""The tee-sheet gap filler: free places on slots teeing off soon, offered to the golfers most
likely to take them, in waves, through the campaign ledger.

Why here and not in an app of its own: the app list is fixed, and what the filler does is send
offers (consent, suppression, frequency cap and quiet hours of campaigns.sending apply to every
offer, checked again at the moment of sending). The tee sheet itself (profiles.TeeSlot) is what
TeeTime's `teetime.slot.availability` events say, kept by ingestion like any other fact.

Each tick (`tee_sheet_fill`, after every applied batch of slot events and once a minute):

1. Gaps follow the sheet, set-based: a slot within the horizon with free places opens a gap; a
   gap whose slot is full is FILLED (and its waves' unsent offers are cancelled: the slot went
   to someone, nobody else is told about it), one whose tee time has passed is EXPIRED; a
   filled slot that frees again reopens its gap.
2. Conversions: bookings applied since the last tick (timeline rows after a cursor) of a slot
   a golfer was chosen for, within the offer window, are recorded on the offer with the green
   fee. Chosen golfers held out (no offer sent) are matched the same way: the lift is the
   offered golfers' booking rate over the held-out ones'.
3. Waves (only when the club turned the filler on, outside quiet hours): for each open gap due
   a wave (none yet, or the last one `minutes_between_waves` ago, fewer than `max_waves`, tee
   time at least LEAD_MINUTES away), one statement picks `free places * golfers_per_place`
   golfers (`wave_candidates`, over each golfer's habits: campaigns.GolferHabit, recomputed
   nightly from a year of bookings), then one run of the filler's hidden TEE_SHEET campaign is
   planned for exactly them. The campaign's holdout share gets HOLDOUT rows (no offer); every
   other send carries the slot and a personal booking link (the slot's link with the send's id).

One filler per club at a time (a transaction advisory lock); everything of a tick commits
together.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    CampaignType,
    Channel,
    GapStatus,
    GolferHabit,
    Priority,
    TeeSheetGap,
    TeeSheetOffer,
    TeeSheetSettings,
    TeeSheetWave,
)
from campaigns.sending import _REASON_SQL, campaign_settings, quiet_until, run_plan
from crm.tenants.selectors import tenant_current
from profiles.models import DayPart, TeeSlot

logger = logging.getLogger(__name__)

FILL_LOCK_NS = 0x54454553  # "TEES"
# No wave for a slot teeing off sooner than this: nobody gets to the first tee in less.
LEAD_MINUTES = 60
HISTORY_DAYS = 365

DAY_PART_LABELS = {
    "weekday_morning": "Weekday mornings",
    "weekday_afternoon": "Weekday afternoons",
    "weekday_evening": "Weekday evenings",
    "weekend": "Weekends",
}


def day_part_of(local: dt.datetime) -> str:
    """The day part of a local tee time, as the segment fields define them (segments.fields)."""
    if local.isoweekday() >= 6:
        return "weekend"
    if local.hour < 12:
        return "weekday_morning"
    return "weekday_afternoon" if local.hour < 17 else "weekday_evening"


def tee_sheet_settings() -> TeeSheetSettings:
    row, _ = TeeSheetSettings.objects.get_or_create(id=1)
    return row


# --- settings ---------------------------------------------------------------------------------

_INTEGER_SETTINGS = {
    # API name: (model field, lowest, highest)
    "horizonHours": ("horizon_hours", 1, 24 * 14),
    "golfersPerPlace": ("golfers_per_place", 1, 50),
    "maxWaves": ("max_waves", 1, 10),
    "minutesBetweenWaves": ("minutes_between_waves", 1, 24 * 60),
    "weeklyLimit": ("weekly_limit", 1, 21),
    "minDayPartShare": ("min_day_part_share", 0, 100),
    "offerWindowHours": ("offer_window_hours", 1, 24 * 14),
}
SETTING_NAMES = (
    "enabled", *_INTEGER_SETTINGS, "holdoutPercent", "channels", "templates", "content",
)  # fmt: skip


@transaction.atomic
def tee_sheet_settings_update(*, data: dict[str, Any], actor_label: str) -> TeeSheetSettings:
    """Change the filler's settings (camelCase names of the API). Every field at fault is named;
    unknown fields are refused; nothing is saved unless everything is valid."""
    row = TeeSheetSettings.objects.select_for_update().get(pk=tee_sheet_settings().pk)
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        raise ValidationError({"nonFieldErrors": ["Give an object."]})
    for name in data:
        if name not in SETTING_NAMES:
            errors.setdefault(name, []).append("Unknown field.")
    if "enabled" in data:
        if isinstance(data["enabled"], bool):
            row.enabled = data["enabled"]
        else:
            errors.setdefault("enabled", []).append("Must be true or false.")
    for name, (field, low, high) in _INTEGER_SETTINGS.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.setdefault(name, []).append(f"Must be a whole number from {low} to {high}.")
        else:
            setattr(row, field, value)
    if "holdoutPercent" in data:
        value = data["holdoutPercent"]
        try:
            number = Decimal(str(value)) if not isinstance(value, bool) else None
        except ArithmeticError:
            number = None
        if number is None or not number.is_finite() or not 0 <= number <= 50:
            errors.setdefault("holdoutPercent", []).append("Must be a number from 0 to 50.")
        else:
            row.holdout_percent = number.quantize(Decimal("0.01"))
    if "channels" in data:
        channels = data["channels"]
        if (
            not isinstance(channels, list)
            or not channels
            or any(c not in Channel.values for c in channels)
        ):
            errors.setdefault("channels", []).append(
                f"Give one or more of {', '.join(Channel.values)}."
            )
        else:
            row.channels = list(dict.fromkeys(channels))
    if "templates" in data:
        templates = data["templates"]
        if not isinstance(templates, dict) or any(
            k not in Channel.values or not isinstance(v, str) or not v.strip()
            for k, v in templates.items()
        ):
            errors.setdefault("templates", []).append(
                'A template id per channel, e.g. {"EMAIL": "tee_time_offer"}.'
            )
        else:
            row.templates = {k: v.strip() for k, v in templates.items()}
    if "content" in data:
        if isinstance(data["content"], dict):
            row.content = data["content"]
        else:
            errors.setdefault("content", []).append("Must be an object.")
    missing = [c for c in row.channels if not row.templates.get(c)]
    if missing and not errors:
        errors["templates"] = [f"No template for {', '.join(missing)}."]
    if errors:
        raise ValidationError(errors)
    row.updated_by = actor_label[:254]
    row.save()
    _audit(row, actor_label)
    return row


def _audit(row: TeeSheetSettings, actor_label: str) -> None:
    from crm.accounts.services import audit_record

    audit_record(
        action="tee_sheet.settings.updated",
        actor_label=actor_label,
        object_type="tee_sheet_settings",
        object_id=str(row.pk),
        details={"enabled": row.enabled},
    )


# --- the filler's hidden campaign ---------------------------------------------------------------


def filler_campaign(rules: TeeSheetSettings) -> Campaign:
    """The club's one TEE_SHEET campaign, in step with the settings (channels, templates,
    holdout): each wave is a run of it, so its analytics are the filler's."""
    campaign = Campaign.objects.filter(type=CampaignType.TEE_SHEET).first()
    values = {
        "channels": list(rules.channels),
        "templates": dict(rules.templates),
        "content": dict(rules.content or {}),
        "holdout_percent": rules.holdout_percent,
    }
    if campaign is None:
        return Campaign.objects.create(
            name="Tee-sheet gap filler",
            description="Offers of free tee times (campaigns.tee_sheet).",
            type=CampaignType.TEE_SHEET,
            status=CampaignStatus.SENDING,
            priority=Priority.HIGH,
            created_by="tee-sheet filler",
            **values,
        )
    if any(getattr(campaign, k) != v for k, v in values.items()):
        for key, value in values.items():
            setattr(campaign, key, value)
        campaign.save(update_fields=[*values, "updated_at"])
    return campaign


# --- 1. gaps follow the sheet ------------------------------------------------------------------

_CLOSE_FILLED = """
UPDATE campaigns_teesheetgap AS g SET status = 'FILLED', closed_at = %(now)s
FROM profiles_teeslot AS s
WHERE g.slot_id = s.id AND g.status = 'OPEN' AND s.booked >= s.capacity
RETURNING g.id
"""
_CLOSE_EXPIRED = """
UPDATE campaigns_teesheetgap AS g SET status = 'EXPIRED', closed_at = %(now)s
FROM profiles_teeslot AS s
WHERE g.slot_id = s.id AND g.status = 'OPEN' AND s.tee_time <= %(now)s
RETURNING g.id
"""
_REOPEN = """
UPDATE campaigns_teesheetgap AS g SET status = 'OPEN', closed_at = NULL
FROM profiles_teeslot AS s
WHERE g.slot_id = s.id AND g.status = 'FILLED' AND s.booked < s.capacity
  AND s.tee_time > %(now)s AND s.tee_time <= %(horizon)s
"""
_OPEN = """
INSERT INTO campaigns_teesheetgap
    (slot_id, status, free_places_at_open, opened_at, closed_at, last_wave_at, waves_sent)
SELECT s.id, 'OPEN', s.capacity - s.booked, %(now)s, NULL, NULL, 0
FROM profiles_teeslot AS s
WHERE s.booked < s.capacity AND s.tee_time > %(now)s AND s.tee_time <= %(horizon)s
ON CONFLICT (slot_id) DO NOTHING
"""
# A filled slot's offers not yet handed over are not sent at all.
_CANCEL_UNSENT = """
UPDATE campaigns_send AS x SET status = 'SUPPRESSED', reason = 'CANCELLED', not_before = NULL
FROM campaigns_teesheetwave AS w
WHERE w.gap_id = ANY(%(gaps)s::bigint[]) AND x.run_id = w.run_id
  AND x.status IN ('PENDING', 'DEFERRED')
"""


def _gaps_sync(*, now: dt.datetime, horizon: dt.datetime) -> dict[str, int]:
    params = {"now": now, "horizon": horizon}
    with connection.cursor() as cursor:
        cursor.execute(_CLOSE_FILLED, params)
        filled = [row[0] for row in cursor.fetchall()]
        cursor.execute(_CLOSE_EXPIRED, params)
        expired = [row[0] for row in cursor.fetchall()]
        closed = filled + expired
        if closed:
            cursor.execute(_CANCEL_UNSENT, {"gaps": closed})
        cursor.execute(_REOPEN, params)
        reopened = cursor.rowcount
        cursor.execute(_OPEN, params)
        opened = cursor.rowcount
    return {"filled": len(filled), "expired": len(expired), "opened": opened + reopened}


# --- 2. conversions -----------------------------------------------------------------------------

_CONVERSIONS = """
UPDATE campaigns_teesheetoffer AS o
SET booked_at = a.occurred_at, booking_id = coalesce(a.data->>'bookingId', ''),
    amount_cents = a.amount_cents, currency = a.currency
FROM profiles_activity AS a, campaigns_teesheetgap AS g, profiles_teeslot AS s
WHERE a.id > %(after)s AND a.id <= %(upto)s AND a.type = 'teetime.booking.created'
  AND o.customer_id = a.customer_id AND o.booked_at IS NULL
  AND g.id = o.gap_id AND s.id = g.slot_id
  AND (a.data->>'teeTime')::timestamptz = s.tee_time
  AND (s.course_id = '' OR a.data->>'courseId' IS NULL OR a.data->>'courseId' = s.course_id)
  AND a.occurred_at >= o.created_at
  AND a.occurred_at <= o.created_at + make_interval(hours => %(window)s)
"""


def _conversions_record(rules: TeeSheetSettings) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM profiles_activity")
        (upto,) = cursor.fetchone()
        if upto <= rules.booking_cursor:
            return 0
        cursor.execute(
            _CONVERSIONS,
            {"after": rules.booking_cursor, "upto": upto, "window": rules.offer_window_hours},
        )
        converted = cursor.rowcount
    TeeSheetSettings.objects.filter(pk=rules.pk).update(booking_cursor=upto)
    rules.booking_cursor = upto
    return converted


# --- 3. waves -----------------------------------------------------------------------------------

# When and where each golfer plays (campaigns.GolferHabit), recomputed in one statement: each
# booking's local tee time computed once, then counted per day part and per course.
# Refreshed nightly (beat: campaigns.golfer_habits_refresh); a wave finding them older than this
# (a new club, a missed night) refreshes them first.
HABITS_MAX_AGE = dt.timedelta(hours=26)
_HABITS = """
WITH b AS (
    SELECT a.customer_id, coalesce(a.data->>'courseId', '') AS course, a.day_part
    FROM profiles_activity AS a
    WHERE a.type = 'teetime.booking.created' AND a.occurred_at >= %(since)s
      AND a.customer_id IS NOT NULL
),
per_course AS (
    SELECT customer_id, jsonb_object_agg(course, n) AS courses
    FROM (SELECT customer_id, course, count(*) AS n FROM b WHERE course <> ''
          GROUP BY 1, 2) AS x
    GROUP BY 1
),
counts AS (
    SELECT customer_id, count(*) AS n,
           count(*) FILTER (WHERE day_part = {morning}) AS morning,
           count(*) FILTER (WHERE day_part = {afternoon}) AS afternoon,
           count(*) FILTER (WHERE day_part = {evening}) AS evening,
           count(*) FILTER (WHERE day_part = {weekend}) AS weekend
    FROM b GROUP BY 1
),
fresh AS (
    INSERT INTO campaigns_golferhabit AS h
        (customer_id, bookings, weekday_morning, weekday_afternoon, weekday_evening, weekend,
         courses, computed_at)
    SELECT c.customer_id, c.n, c.morning, c.afternoon, c.evening, c.weekend,
           coalesce(p.courses, '{{}}'::jsonb), %(now)s
    FROM counts AS c LEFT JOIN per_course AS p ON p.customer_id = c.customer_id
    ON CONFLICT (customer_id) DO UPDATE SET
        bookings = excluded.bookings, weekday_morning = excluded.weekday_morning,
        weekday_afternoon = excluded.weekday_afternoon,
        weekday_evening = excluded.weekday_evening, weekend = excluded.weekend,
        courses = excluded.courses, computed_at = excluded.computed_at
    RETURNING 1
)
SELECT count(*) FROM fresh
"""


def golfer_habits_refresh(*, now: dt.datetime, tz: str) -> int:
    """Recompute every golfer's habits from their bookings of the last HISTORY_DAYS (one
    statement; golfers with no booking left in the window are removed)."""
    # Each booking's day part in the club's zone is set when it is applied (Activity.day_part,
    # the one definition segments count by too); `tz` is kept for the callers' sake.
    del tz
    sql = _HABITS.format(
        morning=DayPart.WEEKDAY_MORNING.value,
        afternoon=DayPart.WEEKDAY_AFTERNOON.value,
        evening=DayPart.WEEKDAY_EVENING.value,
        weekend=DayPart.WEEKEND.value,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": now - dt.timedelta(days=HISTORY_DAYS), "now": now})
        (count,) = cursor.fetchone()
        cursor.execute("DELETE FROM campaigns_golferhabit WHERE computed_at < %s", [now])
        cursor.execute("ANALYZE campaigns_golferhabit")
    return count


def _habits_fresh(*, now: dt.datetime, tz: str) -> None:
    newest = GolferHabit.objects.order_by("-computed_at").values_list("computed_at", flat=True)
    last = newest.first()
    if last is None or last < now - HABITS_MAX_AGE:
        golfer_habits_refresh(now=now, tz=tz)


# The golfers most likely to take a slot. Ranked first on the habits alone (one row a golfer,
# read in order: the share of their bookings in the slot's day part, then bookings at its
# course, then how much they play; ties broken by a hash, so waves differ between gaps), and
# only the best `pool` of them are checked against the rest, which costs a lookup each: the
# slot's rules (handicap limit, members only), someone to reach on a filler channel now (the
# ledger's own suppression expression), not already playing that day (their bookings, through
# the timeline's customer index), not chosen for this gap yet, fewer than the weekly limit of
# gaps in 7 days. wave_candidates widens the pool when too few of it pass.
_CANDIDATES = """
WITH pool AS MATERIALIZED (
    SELECT h.customer_id, h.{part}::float / h.bookings AS share,
           coalesce((h.courses->>%(course)s)::int, 0) AS at_course, h.bookings,
           md5(h.customer_id::text || %(gap_text)s) AS tiebreak
    FROM campaigns_golferhabit AS h
    WHERE 100.0 * h.{part} / h.bookings >= %(min_share)s
      AND (%(course)s = '' OR h.courses ? %(course)s)
    ORDER BY share DESC, at_course DESC, h.bookings DESC, tiebreak
    LIMIT %(pool)s
)
SELECT c.id, (SELECT count(*) FROM pool) FROM pool AS p
JOIN profiles_customer AS c ON c.id = p.customer_id
WHERE c.status IN ('ACTIVE', 'INACTIVE')
  AND (%(max_handicap)s::numeric IS NULL OR c.handicap <= %(max_handicap)s::numeric)
  AND (NOT %(member_only)s OR c.membership_status = 'ACTIVE')
  AND EXISTS (
      SELECT 1 FROM unnest(%(channels)s::text[]) AS ch(channel)
      WHERE {reason} IS NULL)
  AND NOT EXISTS (
      SELECT 1 FROM profiles_activity AS a
      WHERE a.customer_id = c.id AND a.type = 'teetime.booking.created'
        AND a.occurred_at >= %(since)s
        AND (COALESCE((a.data->>'teeTime')::timestamptz, a.occurred_at)
             AT TIME ZONE %(tz)s)::date = %(day)s)
  AND NOT EXISTS (
      SELECT 1 FROM campaigns_teesheetoffer AS o WHERE o.gap_id = %(gap)s AND o.customer_id = c.id)
  AND (SELECT count(*) FROM campaigns_teesheetoffer AS o
       WHERE o.customer_id = c.id AND o.created_at >= %(week_ago)s) < %(weekly_limit)s
ORDER BY p.share DESC, p.at_course DESC, p.bookings DESC, p.tiebreak
LIMIT %(size)s
"""
POOL_PER_GOLFER = 20


@dataclass
class SlotView:
    """A slot as the filler and its messages describe it, in the club's time and currency."""

    slot: TeeSlot
    local: dt.datetime
    day_part: str

    @classmethod
    def of(cls, slot: TeeSlot, tz: ZoneInfo) -> SlotView:
        local = slot.tee_time.astimezone(tz)
        return cls(slot=slot, local=local, day_part=day_part_of(local))

    def variables(self) -> dict[str, Any]:
        s = self.slot
        price = f"{s.price_cents / 100:.2f} {s.currency}".strip() if s.price_cents else ""
        return {
            "teeTime": self.local.strftime("%a %d %b %H:%M"),
            "course": s.course_name,
            "holes": s.holes,
            "freePlaces": s.free_places,
            "price": price,
        }


def wave_candidates(
    *, gap: TeeSheetGap, rules: TeeSheetSettings, now: dt.datetime, tz: ZoneInfo, size: int
) -> list[uuid.UUID]:
    """Who the next wave of this gap offers the slot to (best first, at most `size`)."""
    view = SlotView.of(gap.slot, tz)
    slot = gap.slot
    sql = _CANDIDATES.format(
        part=view.day_part,
        reason=_REASON_SQL.format(ch="ch.channel"),
    )
    params = {
        "tz": str(tz),
        "course": slot.course_id,
        "day": view.local.date(),
        "since": now - dt.timedelta(days=HISTORY_DAYS),
        "min_share": rules.min_day_part_share,
        "max_handicap": slot.max_handicap,
        "member_only": slot.member_only,
        "channels": list(rules.channels),
        "gap": gap.id,
        "gap_text": str(gap.id),
        "week_ago": now - dt.timedelta(days=7),
        "weekly_limit": rules.weekly_limit,
        "size": size,
        "pool": max(size, 1) * POOL_PER_GOLFER,
    }
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            pooled = rows[0][1] if rows else None
            if len(rows) >= size or (pooled is not None and pooled < params["pool"]):
                return [row[0] for row in rows]
            if pooled is None:  # nobody of the pool passed: was the pool the whole club?
                cursor.execute("SELECT count(*) FROM campaigns_golferhabit WHERE bookings > 0")
                if cursor.fetchone()[0] <= params["pool"]:
                    return []
            params["pool"] *= 8


_SEND_VARIABLES = """
UPDATE campaigns_send AS s
SET variables = jsonb_build_object('slot', %(slot)s::jsonb || jsonb_build_object(
    'bookingUrl', CASE WHEN %(url)s = '' THEN '' ELSE %(url)s || s.id::text END))
WHERE s.run_id = %(run)s
"""
_MARK_HOLDOUT = """
UPDATE campaigns_teesheetoffer AS o SET holdout = true
WHERE o.wave_id = %(wave)s AND EXISTS (
    SELECT 1 FROM campaigns_send AS s
    WHERE s.run_id = %(run)s AND s.customer_id = o.customer_id AND s.status = 'HOLDOUT')
"""


def _personal_link_base(url: str) -> str:
    if not url:
        return ""
    return f"{url}{'&' if '?' in url else '?'}crmOffer="


def gap_wave_send(
    *, gap: TeeSheetGap, rules: TeeSheetSettings, campaign: Campaign, now: dt.datetime, tz: ZoneInfo
) -> TeeSheetWave | None:
    """Choose and plan the next wave of a gap (the caller holds the filler lock). None: no
    golfer left to offer it to."""
    from campaigns.services import queue_deliver

    slot = gap.slot
    free = slot.free_places
    chosen = wave_candidates(
        gap=gap, rules=rules, now=now, tz=tz, size=free * rules.golfers_per_place
    )
    number = gap.waves_sent + 1
    gap.waves_sent = number
    gap.last_wave_at = now
    gap.save(update_fields=["waves_sent", "last_wave_at"])
    if not chosen:
        return None
    run = CampaignRun.objects.create(
        campaign=campaign, key=f"gap:{gap.id}:{number}", trigger_customers=chosen
    )
    wave = TeeSheetWave.objects.create(
        gap=gap, number=number, run=run, free_places=free, chosen=len(chosen), created_at=now
    )
    TeeSheetOffer.objects.bulk_create(
        TeeSheetOffer(gap=gap, wave=wave, customer_id=c, created_at=now) for c in chosen
    )
    run_plan(run_id=run.id)
    view = SlotView.of(slot, tz)
    with connection.cursor() as cursor:
        cursor.execute(
            _SEND_VARIABLES,
            {
                "slot": json.dumps(view.variables()),
                "url": _personal_link_base(slot.booking_url),
                "run": run.id,
            },
        )
        cursor.execute(_MARK_HOLDOUT, {"wave": wave.id, "run": run.id})
        wave.held_out = cursor.rowcount
    wave.save(update_fields=["held_out"])
    queue_deliver(run.id)
    return wave


@dataclass
class FillResult:
    filled: int = 0
    expired: int = 0
    opened: int = 0
    converted: int = 0
    waves: int = 0
    offered: int = 0
    locked_out: bool = False


def tee_sheet_fill(*, now: dt.datetime | None = None) -> FillResult:
    """One tick of the current club's filler (see the module docstring). Safe to run any number
    of times at once: one runs, the others return at once."""
    now = now or timezone.now()
    result = FillResult()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, 0)", [FILL_LOCK_NS])
            if not cursor.fetchone()[0]:
                result.locked_out = True
                return result
        rules = tee_sheet_settings()
        synced = _gaps_sync(now=now, horizon=now + dt.timedelta(hours=rules.horizon_hours))
        result.filled, result.expired, result.opened = (
            synced["filled"], synced["expired"], synced["opened"]
        )  # fmt: skip
        result.converted = _conversions_record(rules)
        if not rules.enabled:
            return result
        tz = ZoneInfo(tenant_current().timezone or "UTC")
        if quiet_until(now=now, rules=campaign_settings(), tz=str(tz)) is not None:
            return result  # an offer must be readable now; the tick after quiet hours sends
        due = (
            TeeSheetGap.objects.select_related("slot")
            .filter(
                status=GapStatus.OPEN,
                waves_sent__lt=rules.max_waves,
                slot__tee_time__gt=now + dt.timedelta(minutes=LEAD_MINUTES),
            )
            .exclude(last_wave_at__gt=now - dt.timedelta(minutes=rules.minutes_between_waves))
            .order_by("slot__tee_time")
        )
        gaps = list(due)
        if not gaps:
            return result
        _habits_fresh(now=now, tz=str(tz))
        campaign = filler_campaign(rules)
        for gap in gaps:
            wave = gap_wave_send(gap=gap, rules=rules, campaign=campaign, now=now, tz=tz)
            if wave is not None:
                result.waves += 1
                result.offered += wave.chosen - wave.held_out
    return result
