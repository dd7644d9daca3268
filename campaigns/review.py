"""The review before sending: what "Send now" (or the schedule) will really do, from the send's
own code. The audience is built by the plan's function (`audience_table`), split into holdout,
A/B pool and variants by the plan's hashes (`SPLIT_SQL`), and each (customer, channel) decided
by the moment of sending's expressions (`held_back_sql`: consent, suppression, expiry, topic;
`prior_sql`/`CAP_OVER_SQL`: the frequency cap), in one statement over the audience. Quiet
hours move a start time as delivery does (`quiet_until`).

Nothing is written: the temporary tables go at the end of the transaction. The figures are as
of now; consent and the cap are checked again when each message goes.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignType, SendReason
from campaigns.sending import (
    CAP_FREE_AT_SQL,
    CAP_OVER_SQL,
    SPLIT_SQL,
    audience_table,
    campaign_settings,
    campaign_topic,
    held_back_sql,
    prior_sql,
    quiet_until,
    send_origin,
    variant_arrays,
)
from crm.tenants.selectors import tenant_current
from segments.rules import RuleError

CHANNEL_LABELS = {"EMAIL": "Email", "SMS": "SMS", "PUSH": "App notification"}
# Held-back reasons in the order a person reads them (the ledger's labels).
HELD_BACK = (
    SendReason.NO_CONSENT, SendReason.NO_ADDRESS, SendReason.HARD_BOUNCED,
    SendReason.COMPLAINED, SendReason.DECEASED, SendReason.ERASED, SendReason.MERGED,
    SendReason.DUPLICATE_TOPIC, SendReason.EXPIRED, SendReason.HOLDOUT,
)  # fmt: skip

_REVIEW_SQL = f"""
CREATE TEMP TABLE campaign_review ON COMMIT DROP AS
WITH base AS (
    SELECT c.id AS customer_id, ch.channel, %(priority)s::int AS priority,
           coalesce(v.key, '') AS variant, v.send_at,
           b.pooled AND NOT b.in_pool AND NOT b.holdout AS awaiting,
           CASE WHEN b.holdout THEN 'HOLDOUT' ELSE {
    held_back_sql(
        channel="ch.channel",
        customer="c.id",
        topic="%(topic)s",
        expires="%(expires)s::timestamptz",
    )
} END AS reason
    FROM campaign_audience AS a
    JOIN profiles_customer AS c ON c.id = a.id
    CROSS JOIN unnest(%(channels)s::text[]) AS ch(channel)
    {SPLIT_SQL}
),
checked AS (SELECT * FROM base),
{prior_sql("checked")}
SELECT customer_id, channel, variant, send_at, awaiting, reason, NULL::timestamptz AS free_at
FROM base WHERE reason IS NOT NULL
UNION ALL
SELECT ch.customer_id, ch.channel, ch.variant, ch.send_at, ch.awaiting,
       CASE WHEN %(capped)s AND {CAP_OVER_SQL.format(src="ch")} THEN 'CAPPED' END,
       CASE WHEN %(capped)s AND {CAP_OVER_SQL.format(src="ch")} THEN {CAP_FREE_AT_SQL} END
FROM base AS ch LEFT JOIN prior AS p ON p.customer_id = ch.customer_id
WHERE ch.reason IS NULL
"""  # noqa: S608 - built from constants only

_GROUPS_SQL = """
SELECT channel, variant, reason, awaiting, send_at, date_trunc('hour', free_at) AS free_hour,
       count(*) AS messages, count(DISTINCT customer_id) AS customers
FROM campaign_review GROUP BY 1, 2, 3, 4, 5, 6
"""
_TOTALS_SQL = """
SELECT (SELECT count(*) FROM campaign_audience),
       count(DISTINCT customer_id) FILTER (WHERE reason IS NULL OR reason = 'CAPPED'),
       count(*) FILTER (WHERE reason IS NULL OR reason = 'CAPPED')
FROM campaign_review
"""


@dataclass
class _When:
    at: dt.datetime
    messages: int
    why: str  # "", "quiet hours", "A/B winner", "frequency cap", "variant time"


def _rate_per_second() -> float:
    return float(getattr(settings, "CAMPAIGNS_SEND_RATE_PER_SECOND", 3000) or 3000)


def _next_firing(campaign: Campaign, now: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    from campaigns.services import cron_fields

    try:
        schedule = crontab(**cron_fields(campaign.recurrence), nowfun=lambda: now.astimezone(zone))
    except ValueError:
        return None
    local = now.astimezone(zone)
    return local + schedule.remaining_estimate(local)


def _start(campaign: Campaign, now: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime | None, str]:
    """When the send would start, and how it is described."""
    if campaign.type == CampaignType.TRIGGERED:
        return None, "as each event arrives"
    if campaign.type == CampaignType.RECURRING:
        at = _next_firing(campaign, now, zone) if campaign.recurrence else None
        return at, "at its next firing"
    if campaign.scheduled_at and campaign.scheduled_at > now:
        return campaign.scheduled_at, "at its scheduled time"
    return now, "now"


def local_label(at: dt.datetime, *, now: dt.datetime, zone: ZoneInfo) -> str:
    """ "08:00 tomorrow", "14:30 today", "09:00 Mon 14 Dec": the club's time, for people."""
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"{clock} today"
    if local.date() == today + dt.timedelta(days=1):
        return f"{clock} tomorrow"
    return f"{clock} {local.strftime('%a %d %b')}"


def campaign_review(
    *, campaign: Campaign, now: dt.datetime | None = None, start_now: bool = False
) -> dict[str, Any]:
    """The review's figures (see the module docstring). `start_now`: as if sent now (the
    "Send now" button), whatever the campaign's schedule."""
    now = now or timezone.now()
    tenant = tenant_current()
    zone = ZoneInfo(tenant.timezone or "UTC")
    rules = campaign_settings()
    window = dt.timedelta(days=rules.frequency_window_days)
    keys, uppers, send_at = variant_arrays(campaign)
    pool = campaign.test_pool_percent if keys else Decimal(0)
    # Mixed values, a timedelta among them (psycopg adapts it to an interval; django-stubs'
    # parameter types leave it out).
    params: dict[str, Any] = {
        "origin": send_origin(campaign),
        "campaign_text": str(campaign.id),
        "priority": campaign.priority,
        "channels": list(campaign.channels),
        "holdout": int(campaign.holdout_percent * 100),
        "pool": int(pool * 100),
        "vkeys": keys,
        "vupper": uppers,
        "vsend": send_at,
        "now": now,
        "since": now - window,
        "window": window,
        "cap": rules.frequency_cap,
        "capped": rules.frequency_cap > 0,
        "expires": campaign.expires_at,
        "topic": campaign_topic(campaign),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            audience_table(cursor, campaign=campaign)
        except RuleError as exc:  # a segment deleted or looping since it was chosen
            raise ValidationError(exc.errors) from None
        cursor.execute("DROP TABLE IF EXISTS campaign_review")
        cursor.execute(_REVIEW_SQL, params)
        cursor.execute(_GROUPS_SQL)
        names = [c.name for c in cursor.description]
        groups = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        cursor.execute(_TOTALS_SQL)
        audience, recipients, messages = cursor.fetchone()
        cursor.execute("DROP TABLE campaign_review")
        cursor.execute("DROP TABLE campaign_audience")
    start: dt.datetime | None  # None: no fixed start (triggered, or no next firing)
    if start_now:
        start, start_label = now, "now"
    else:
        start, start_label = _start(campaign, now, zone)
    return _figures(
        campaign=campaign, groups=groups, audience=audience, recipients=recipients,
        messages=messages, start=start, start_label=start_label, now=now, zone=zone,
        rules=rules,
    )  # fmt: skip


def _figures(
    *,
    campaign: Campaign,
    groups: list[dict[str, Any]],
    audience: int,
    recipients: int,
    messages: int,
    start: dt.datetime | None,
    start_label: str,
    now: dt.datetime,
    zone: ZoneInfo,
    rules: Any,
) -> dict[str, Any]:
    held: dict[str, int] = {}
    per_channel: dict[str, dict[str, Any]] = {
        ch: {"channel": ch, "label": CHANNEL_LABELS.get(ch, ch), "messages": 0, "heldBack": {}}
        for ch in campaign.channels
    }
    per_variant: dict[str, int] = {}
    whens: list[_When] = []
    for g in groups:
        channel = per_channel[g["channel"]]
        reason = g["reason"]
        if reason and reason != SendReason.CAPPED:
            held[reason] = held.get(reason, 0) + g["messages"]
            channel["heldBack"][reason] = channel["heldBack"].get(reason, 0) + g["messages"]
            continue
        channel["messages"] += g["messages"]
        if g["variant"]:
            per_variant[g["variant"]] = per_variant.get(g["variant"], 0) + g["messages"]
        if start is None:
            continue
        if reason == SendReason.CAPPED:
            at, why = max(g["free_hour"] + dt.timedelta(hours=1), start), "frequency cap"
        elif g["awaiting"]:
            at, why = start + dt.timedelta(hours=campaign.winner_after_hours), "A/B winner"
        elif g["send_at"] and g["send_at"] > start:
            at, why = g["send_at"], "variant time"
        else:
            at, why = start, ""
        until = quiet_until(now=at, rules=rules, tz=str(zone))
        if until is not None:
            at, why = until, why or "quiet hours"
        whens.append(_When(at=at, messages=g["messages"], why=why))
    merged: dict[tuple[dt.datetime, str], int] = {}
    for w in whens:
        merged[(w.at, w.why)] = merged.get((w.at, w.why), 0) + w.messages
    schedule = [
        {
            "at": at.isoformat(),
            "messages": count,
            "reason": why,
            "label": (
                f"{count:,} now"
                if at <= now
                else f"{count:,} at {local_label(at, now=now, zone=zone)}, club time"
            )
            + (f" ({why})" if why else ""),
        }
        for (at, why), count in sorted(merged.items())
    ]
    capped = sum(g["messages"] for g in groups if g["reason"] == SendReason.CAPPED)
    finish = None
    if schedule:
        rate = _rate_per_second()
        last = max(merged)
        finish = last[0] + dt.timedelta(seconds=math.ceil(merged[last] / rate) + 5)
        # Said to the minute, rounded up: "by 09:01", never a time before it is done.
        finish = finish.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    held_back = [
        {"reason": reason.value, "label": reason.label, "messages": held[reason.value]}
        for reason in HELD_BACK
        if held.get(reason.value)
    ]
    return {
        "audience": audience,
        "recipients": recipients,
        "messages": messages,
        "heldBack": held_back,
        "heldBackTotal": sum(held.values()),
        "deferredByCap": capped,
        "channels": [
            {
                **ch,
                "heldBack": [
                    {"reason": r, "label": SendReason(r).label, "messages": n}
                    for r, n in sorted(ch["heldBack"].items())
                ],
            }
            for ch in per_channel.values()
        ],
        "variants": [{"key": k, "messages": n} for k, n in sorted(per_variant.items())],
        "start": start.isoformat() if start else None,
        "startLabel": start_label,
        "schedule": schedule,
        "estimatedFinish": finish.isoformat() if finish else None,
        "estimatedFinishLabel": (
            f"{local_label(finish, now=now, zone=zone)}, club time" if finish else None
        ),
        "timezone": str(zone),
        "rules": {
            "frequencyCap": rules.frequency_cap,
            "frequencyWindowDays": rules.frequency_window_days,
            "quietHours": (
                f"{rules.quiet_hours_start:%H:%M} to {rules.quiet_hours_end:%H:%M}"
                if rules.quiet_hours_enabled
                else None
            ),
        },
        "asOf": now.isoformat(),
    }
