"""Reads of campaigns: lists, the suppression a customer would meet, and the analytics.

Analytics are one SQL statement over the ledger joined to the timeline by `sendId` (the
engagement events the Messaging Service sends back, events.md; the fallback records its own):

- targeted: audience members (distinct customers, holdout excluded); sent: messages handed over
  and accepted; delivered, opened, clicked, bounced, complained: messages with such an event;
  unsubscribed: an opt-out through the message's own link, or an opt-out on its channel within
  the conversion window after it was sent; converted: the customer booked, entered a
  competition or paid within the window (`conversionWindowDays`, else the club's setting) after
  their first open or click of the message.
- Rates are per message sent. Lift compares the treated customers' conversion (any booking,
  entry or payment within the window after the send, opened or not) with the holdout's (the
  same window after the run was planned): `(treated - holdout) / holdout`.
- suppressed: messages not sent, by reason; `deferred` counts those quiet hours held back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from campaigns.models import HIDDEN_TYPES, Campaign, Send, SendStatus
from profiles.models import Customer, CustomerStatus

CONVERSION_TYPES = (
    "teetime.booking.created",
    "teetime.competition.entry.created",
    "scl.payment.received",
)
ENGAGEMENT_TYPES = (
    "messaging.message.delivered",
    "messaging.email.opened",
    "messaging.email.clicked",
    "messaging.message.bounced",
    "messaging.message.complained",
    "messaging.contactPreference.updated",
)
COUNTS = (
    "targeted", "sent", "delivered", "opened", "clicked", "bounced", "complained",
    "unsubscribed", "converted",
)  # fmt: skip


def campaign_list() -> QuerySet[Campaign]:
    """The club's campaigns; a journey's hidden step campaigns (JOURNEY) are not among them."""
    return Campaign.objects.exclude(type__in=HIDDEN_TYPES).prefetch_related(
        "include_segments", "exclude_segments", "variants"
    )


def campaign_get(*, campaign_id: Any) -> Campaign | None:
    try:
        key = uuid.UUID(str(campaign_id))
    except ValueError:
        return None
    return campaign_list().filter(pk=key).first()


def suppression_reason(*, customer: Customer, channel: str) -> str | None:
    """Why this customer would not get a message on this channel now (the ledger's reasons,
    in the order the SQL check gives them), or None."""
    if customer.status == CustomerStatus.DELETED:
        return "ERASED"
    if customer.status == CustomerStatus.MERGED:
        return "MERGED"
    if customer.membership_status == "DECEASED":
        return "DECEASED"
    if channel == "EMAIL" and customer.email_hard_bounced:
        return "HARD_BOUNCED"
    if channel == "EMAIL" and customer.complained:
        return "COMPLAINED"
    opted = {"EMAIL": customer.email_opt_in, "SMS": customer.sms_opt_in,
             "PUSH": customer.push_opt_in}  # fmt: skip
    if not opted.get(channel, False):
        return "NO_CONSENT"
    address = {
        "EMAIL": customer.email,
        "SMS": customer.phone_number,
        "PUSH": customer.messaging_contact_id or customer.auth_user_id,
    }
    if not address.get(channel):
        return "NO_ADDRESS"
    return None


_STATS_SQL = """
WITH s AS MATERIALIZED (
    SELECT s.id, s.id::text AS key, s.customer_id, s.variant, s.status, s.reason, s.channel,
           s.deferred, s.test_pool, coalesce(s.handed_at, s.created_at) AS at
    FROM campaigns_send AS s
    WHERE s.run_id IN (SELECT id FROM campaigns_campaignrun WHERE campaign_id = %(campaign)s)
      AND (%(run)s::uuid IS NULL OR s.run_id = %(run)s::uuid)
      AND (NOT %(pool_only)s OR s.test_pool)
),
ev AS (
    SELECT s.id,
           bool_or(a.type = 'messaging.message.delivered') AS delivered,
           bool_or(a.type = 'messaging.email.opened') AS opened,
           bool_or(a.type = 'messaging.email.clicked') AS clicked,
           bool_or(a.type = 'messaging.message.bounced') AS bounced,
           bool_or(a.type = 'messaging.message.complained') AS complained,
           bool_or(a.type = 'messaging.contactPreference.updated') AS unsubscribed,
           min(a.occurred_at) FILTER (
               WHERE a.type IN ('messaging.email.opened', 'messaging.email.clicked')) AS engaged
    FROM s JOIN profiles_activity AS a ON (a.data->>'sendId') = s.key
    WHERE a.type = ANY(%(engagement)s) AND a.data ? 'sendId'
    GROUP BY s.id
),
flags AS (
    SELECT s.*, coalesce(ev.delivered, false) AS delivered, coalesce(ev.opened, false) AS opened,
           coalesce(ev.clicked, false) AS clicked, coalesce(ev.bounced, false) AS bounced,
           coalesce(ev.complained, false) AS complained,
           coalesce(ev.unsubscribed, false) OR (s.status = 'ACCEPTED' AND EXISTS (
               SELECT 1 FROM profiles_activity AS u
               WHERE u.customer_id = s.customer_id
                 AND u.type = 'messaging.contactPreference.updated'
                 AND u.channel = s.channel AND u.title LIKE 'Opted out%%'
                 AND u.occurred_at >= s.at AND u.occurred_at < s.at + %(window)s)) AS unsubscribed,
           ev.engaged IS NOT NULL AND EXISTS (
               SELECT 1 FROM profiles_activity AS v
               WHERE v.customer_id = s.customer_id AND v.type = ANY(%(conversions)s)
                 AND v.occurred_at >= ev.engaged AND v.occurred_at < ev.engaged + %(window)s
           ) AS converted,
           (s.status IN ('ACCEPTED', 'HOLDOUT') AND EXISTS (
               SELECT 1 FROM profiles_activity AS w
               WHERE w.customer_id = s.customer_id AND w.type = ANY(%(conversions)s)
                 AND w.occurred_at >= s.at AND w.occurred_at < s.at + %(window)s
           )) AS converted_any
    FROM s LEFT JOIN ev ON ev.id = s.id
)
SELECT variant, status, reason, deferred,
       count(DISTINCT customer_id) AS customers,
       count(*) AS messages,
       count(*) FILTER (WHERE delivered) AS delivered,
       count(*) FILTER (WHERE opened) AS opened,
       count(*) FILTER (WHERE clicked) AS clicked,
       count(*) FILTER (WHERE bounced) AS bounced,
       count(*) FILTER (WHERE complained) AS complained,
       count(*) FILTER (WHERE unsubscribed) AS unsubscribed,
       count(*) FILTER (WHERE converted) AS converted,
       array_agg(DISTINCT customer_id) FILTER (WHERE converted_any) AS converted_any,
       array_agg(DISTINCT customer_id) AS customer_ids
FROM flags
GROUP BY variant, status, reason, deferred
"""


def _empty() -> dict[str, Any]:
    return {
        **dict.fromkeys(COUNTS, 0), "suppressed": {}, "failed": 0, "deferred": 0, "pending": 0,
    }  # fmt: skip


def _rates(counts: dict[str, Any]) -> dict[str, float | None]:
    sent = counts["sent"]

    def rate(n: int) -> float | None:
        return round(n / sent, 4) if sent else None

    return {
        "delivery": rate(counts["delivered"]),
        "open": rate(counts["opened"]),
        "click": rate(counts["clicked"]),
        "bounce": rate(counts["bounced"]),
        "complaint": rate(counts["complained"]),
        "unsubscribe": rate(counts["unsubscribed"]),
        "conversion": rate(counts["converted"]),
    }


def campaign_stats(
    *,
    campaign: Campaign,
    run_id: uuid.UUID | None = None,
    pool_only: bool = False,
    window_days: int | None = None,
) -> dict[str, Any]:
    """Counts and rates per variant and in total, the holdout and the lift (see module)."""
    from campaigns.sending import campaign_settings

    days = (
        window_days or campaign.conversion_window_days or campaign_settings().conversion_window_days
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _STATS_SQL,
            {
                "campaign": campaign.id,
                "run": str(run_id) if run_id else None,
                "pool_only": pool_only,
                "window": dt.timedelta(days=days),
                "engagement": list(ENGAGEMENT_TYPES),
                "conversions": list(CONVERSION_TYPES),
            },
        )
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    variants: dict[str, dict[str, Any]] = {}
    total = _empty()
    treated: dict[str, set] = {}
    holdout_customers: set = set()
    holdout_converted: set = set()
    targeted_by_variant: dict[str, set] = {}
    all_targeted: set = set()
    for row in rows:
        if row["status"] == SendStatus.HOLDOUT:
            holdout_customers |= set(row["customer_ids"] or [])
            holdout_converted |= set(row["converted_any"] or [])
            continue
        key = row["variant"] or ""
        bucket = variants.setdefault(key, _empty())
        ids = set(row["customer_ids"] or [])
        targeted_by_variant.setdefault(key, set()).update(ids)
        all_targeted |= ids
        for target in (bucket, total):
            if row["status"] == SendStatus.ACCEPTED:
                target["sent"] += row["messages"]
                for name in ("delivered", "opened", "clicked", "bounced", "complained",
                             "unsubscribed", "converted"):  # fmt: skip
                    target[name] += row[name]
            elif row["status"] == SendStatus.SUPPRESSED:
                target["suppressed"][row["reason"]] = (
                    target["suppressed"].get(row["reason"], 0) + row["messages"]
                )
            elif row["status"] == SendStatus.FAILED:
                target["failed"] += row["messages"]
            else:
                target["pending"] += row["messages"]
            if row["deferred"]:
                target["deferred"] += row["messages"]
        if row["status"] == SendStatus.ACCEPTED:
            treated.setdefault("all", set()).update(ids)
            treated.setdefault("converted", set()).update(row["converted_any"] or [])
    for key, bucket in variants.items():
        bucket["targeted"] = len(targeted_by_variant[key])
        bucket["rates"] = _rates(bucket)
    total["targeted"] = len(all_targeted)
    total["rates"] = _rates(total)

    treated_n = len(treated.get("all", set()))
    treated_rate = len(treated.get("converted", set())) / treated_n if treated_n else None
    holdout_rate = len(holdout_converted) / len(holdout_customers) if holdout_customers else None
    lift = None
    if treated_rate is not None and holdout_rate is not None:
        lift = {
            "treatedConversionRate": round(treated_rate, 4),
            "holdoutConversionRate": round(holdout_rate, 4),
            "absolute": round(treated_rate - holdout_rate, 4),
            "relative": round((treated_rate - holdout_rate) / holdout_rate, 4)
            if holdout_rate
            else None,
        }
    return {
        "campaignId": str(campaign.id),
        "conversionWindowDays": days,
        "total": total,
        "variants": [{"variant": key or None, **value} for key, value in sorted(variants.items())],
        "holdout": {
            "customers": len(holdout_customers),
            "converted": len(holdout_converted),
            "conversionRate": round(holdout_rate, 4) if holdout_rate is not None else None,
        },
        "lift": lift,
        "abTest": campaign.winner_decision or None,
    }


def campaign_send_series(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Messages handed over per hour (UTC), for the admin's chart."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('hour', handed_at) AS hour, count(*) FROM campaigns_send "
            "WHERE run_id IN (SELECT id FROM campaigns_campaignrun WHERE campaign_id = %s) "
            "AND status = 'ACCEPTED' GROUP BY 1 ORDER BY 1",
            [campaign.id],
        )
        return [{"hour": hour.isoformat(), "sent": n} for hour, n in cursor.fetchall()]


def campaign_sends(*, campaign: Campaign) -> QuerySet[Send]:
    return Send.objects.filter(campaign=campaign).select_related("customer")


def campaign_sends_between(*, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Campaign runs due (scheduled) or started in [start, end), for the social content
    calendar: one row per campaign, at its start if it started, else its scheduled time."""
    from django.db.models import F, Q
    from django.db.models.functions import Coalesce

    from campaigns.models import CampaignStatus

    rows = (
        Campaign.objects.exclude(type__in=HIDDEN_TYPES)
        .exclude(status__in=[CampaignStatus.CANCELLED, CampaignStatus.DRAFT])
        .annotate(at=Coalesce(F("started_at"), F("scheduled_at")))
        .filter(Q(at__gte=start) & Q(at__lt=end))
        .order_by("at", "id")
        .values("id", "name", "status", "channels", "at")
    )
    return [{**row, "status_label": CampaignStatus(row["status"]).label} for row in rows]


def audience_count(*, include: list[Any], exclude: list[Any]) -> int:
    """How many customers segments in minus segments out hold right now (the composer's live
    count): the send's own audience rule (`campaigns.sending.audience_queryset`), unsaved."""
    from django.db.models import Q

    from crm.tenants.selectors import tenant_current
    from segments.compiler import Compiler

    if not include:
        return 0
    compiler = Compiler(tz=tenant_current().timezone)
    included = Q(pk__in=[])
    for segment_id in include:
        included |= compiler.segment_q(segment_id, "audience.include")
    queryset = Customer.objects.exclude(status=CustomerStatus.MERGED).filter(included)
    for segment_id in exclude:
        queryset = queryset.exclude(compiler.segment_q(segment_id, "audience.exclude"))
    return queryset.count()
