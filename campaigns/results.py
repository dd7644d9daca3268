"""A campaign's results as a person reads them: one row per variant and channel, with labels
("Subject B: Last places left", "Email"), the funnel (sent, delivered, opened, clicked), what
was not sent, and the conversions it brought as bookings, competition entries and payments,
with the money they brought in the club's currency. Exported as CSV for the club's own
spreadsheets.

One statement over the ledger and the timeline (set-based): a conversion is a booking, entry
or payment by the customer within the conversion window after their first open or click of
the message (as `campaigns.selectors.campaign_stats` counts it), each timeline row counted once
per row of the results, its money only when in the club's currency.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

from django.db import connection

from campaigns.models import Campaign
from campaigns.selectors import CONVERSION_TYPES, ENGAGEMENT_TYPES
from crm.tenants.selectors import tenant_current

CHANNEL_LABELS = {"EMAIL": "Email", "SMS": "SMS", "PUSH": "App notification"}
KINDS = {
    "teetime.booking.created": "bookings",
    "teetime.competition.entry.created": "entries",
    "scl.payment.received": "payments",
}
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}

_RESULTS_SQL = """
WITH s AS MATERIALIZED (
    SELECT s.id, s.id::text AS key, s.customer_id, s.variant, s.channel, s.status
    FROM campaigns_send AS s
    WHERE s.run_id IN (SELECT id FROM campaigns_campaignrun WHERE campaign_id = %(campaign)s)
),
ev AS (
    SELECT s.id,
           bool_or(a.type = 'messaging.message.delivered') AS delivered,
           bool_or(a.type = 'messaging.email.opened') AS opened,
           bool_or(a.type = 'messaging.email.clicked') AS clicked,
           min(a.occurred_at) FILTER (
               WHERE a.type IN ('messaging.email.opened', 'messaging.email.clicked')) AS engaged
    FROM s JOIN profiles_activity AS a ON (a.data->>'sendId') = s.key
    WHERE a.type = ANY(%(engagement)s) AND a.data ? 'sendId'
    GROUP BY s.id
),
funnel AS (
    SELECT s.variant, s.channel,
           count(*) FILTER (WHERE s.status = 'ACCEPTED') AS sent,
           count(*) FILTER (WHERE ev.delivered) AS delivered,
           count(*) FILTER (WHERE ev.opened) AS opened,
           count(*) FILTER (WHERE ev.clicked) AS clicked,
           count(*) FILTER (WHERE s.status IN ('SUPPRESSED', 'FAILED')) AS not_sent,
           count(*) FILTER (WHERE s.status IN ('PENDING', 'DEFERRED', 'AWAITING_WINNER',
                                               'HANDING')) AS waiting,
           count(*) FILTER (WHERE s.status = 'HOLDOUT') AS holdout
    FROM s LEFT JOIN ev ON ev.id = s.id
    GROUP BY s.variant, s.channel
),
conv AS (
    SELECT DISTINCT s.variant, s.channel, a.id AS activity_id, a.type,
           CASE WHEN a.currency = %(currency)s THEN a.amount_cents END AS cents
    FROM s JOIN ev ON ev.id = s.id AND ev.engaged IS NOT NULL
    JOIN profiles_activity AS a ON a.customer_id = s.customer_id
         AND a.type = ANY(%(conversions)s)
         AND a.occurred_at >= ev.engaged AND a.occurred_at < ev.engaged + %(window)s
),
money AS (
    SELECT variant, channel,
           count(*) FILTER (WHERE type = 'teetime.booking.created') AS bookings,
           count(*) FILTER (WHERE type = 'teetime.competition.entry.created') AS entries,
           count(*) FILTER (WHERE type = 'scl.payment.received') AS payments,
           coalesce(sum(cents), 0)::bigint AS revenue_cents
    FROM conv GROUP BY variant, channel
)
SELECT f.*, coalesce(m.bookings, 0) AS bookings, coalesce(m.entries, 0) AS entries,
       coalesce(m.payments, 0) AS payments, coalesce(m.revenue_cents, 0) AS revenue_cents
FROM funnel AS f LEFT JOIN money AS m ON m.variant = f.variant AND m.channel = f.channel
ORDER BY f.variant, f.channel
"""

NUMBERS = ("sent", "delivered", "opened", "clicked", "not_sent", "waiting", "holdout",
           "bookings", "entries", "payments", "revenue_cents")  # fmt: skip


def money(cents: int, currency: str) -> str:
    amount = f"{Decimal(cents) / 100:,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"


def _variant_label(campaign: Campaign, key: str) -> str:
    if not key:
        return "Everyone" if not campaign.variants.exists() else "Holdout and others"
    variant = next((v for v in campaign.variants.all() if v.key == key), None)
    subject = (variant.content or {}).get("subject") if variant else None
    return f"Variant {key}: {subject}" if subject else f"Variant {key}"


def campaign_results(*, campaign: Campaign) -> dict[str, Any]:
    """Rows per variant and channel plus a total row, labelled, with rates and money."""
    from campaigns.sending import campaign_settings

    currency = tenant_current().currency or "EUR"
    days = campaign.conversion_window_days or campaign_settings().conversion_window_days
    # psycopg adapts a timedelta to an interval; django-stubs' parameter types leave it out.
    params: dict[str, Any] = {
        "campaign": campaign.id,
        "engagement": list(ENGAGEMENT_TYPES),
        "conversions": list(CONVERSION_TYPES),
        "window": dt.timedelta(days=days),
        "currency": currency,
    }
    with connection.cursor() as cursor:
        cursor.execute(_RESULTS_SQL, params)
        names = [c.name for c in cursor.description]
        raw = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    rows = []
    total = dict.fromkeys(NUMBERS, 0)
    for r in raw:
        if r["holdout"] and not any(r[n] for n in NUMBERS if n != "holdout"):
            total["holdout"] += r["holdout"]
            continue  # the holdout receives nothing: shown in the total only
        for name in NUMBERS:
            total[name] += r[name]
        channel: str = r["channel"]  # the send's channel code (NOT NULL)
        rows.append(
            _row(
                r, currency=currency, variant=_variant_label(campaign, r["variant"]),
                channel=CHANNEL_LABELS.get(channel, channel),
            )
        )  # fmt: skip
    return {
        "currency": currency,
        "conversionWindowDays": days,
        "waiting": campaign_waiting(campaign=campaign),
        "rows": rows,
        "total": _row(total, currency=currency, variant="All", channel="All channels"),
    }


def campaign_waiting(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Messages held for later, by why (quiet hours, the frequency cap), with when the next of
    them is due in club time: "12 deferred by the frequency cap, next Tue 08 Dec 09:12"."""
    from zoneinfo import ZoneInfo

    from django.db.models import Count, Min

    from campaigns.models import Send, SendReason, SendStatus

    zone = ZoneInfo(tenant_current().timezone or "UTC")
    rows = (
        Send.objects.filter(campaign=campaign, status=SendStatus.DEFERRED)
        .values("reason")
        .annotate(n=Count("id"), due=Min("not_before"))
        .order_by("reason")
    )
    out = []
    for row in rows:
        try:
            label = SendReason(row["reason"]).label
        except ValueError:
            label = "Deferred"
        due = row["due"].astimezone(zone) if row["due"] else None
        out.append(
            {
                "reason": row["reason"],
                "label": label,
                "messages": row["n"],
                "nextAt": due.isoformat() if due else None,
                "nextLabel": f"{due:%a %d %b %H:%M} club time" if due else "",
            }
        )
    return out


def _row(r: dict[str, Any], *, currency: str, variant: str, channel: str) -> dict[str, Any]:
    return {
        "variant": variant,
        "channel": channel,
        "sent": r["sent"],
        "delivered": r["delivered"],
        "opened": r["opened"],
        "clicked": r["clicked"],
        "openRate": _rate(r["opened"], r["sent"]),
        "clickRate": _rate(r["clicked"], r["sent"]),
        "notSent": r["not_sent"],
        "waiting": r["waiting"],
        "holdout": r["holdout"],
        "bookings": r["bookings"],
        "entries": r["entries"],
        "payments": r["payments"],
        "revenueCents": r["revenue_cents"],
        "revenue": money(r["revenue_cents"], currency),
    }


CSV_COLUMNS = (
    ("variant", "Variant"), ("channel", "Channel"), ("sent", "Sent"),
    ("delivered", "Delivered"), ("opened", "Opened"), ("openRate", "Open rate"),
    ("clicked", "Clicked"), ("clickRate", "Click rate"), ("notSent", "Not sent"),
    ("waiting", "Still to go"), ("bookings", "Bookings"), ("entries", "Competition entries"),
    ("payments", "Payments"), ("revenue", "Money brought in"),
)  # fmt: skip


def campaign_results_csv(*, campaign: Campaign) -> str:
    """The results as CSV: the rows, then the total, with the headings a person reads."""
    results = campaign_results(campaign=campaign)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in CSV_COLUMNS])
    for row in [*results["rows"], results["total"]]:
        writer.writerow([_safe(row[key]) for key, _ in CSV_COLUMNS])
    return out.getvalue()


def _safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: a subject line must not be.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
