"""Sending: from "this run starts" to every audience member with a handed-over message or a
recorded reason. Set-based throughout; nothing loops over customers in Python but the building
of the requests themselves.

Planning (`run_plan`). The audience (include minus exclude segments, dynamic ones evaluated now
by the segment compiler) goes to a temporary table; ONE `INSERT … SELECT … ON CONFLICT DO
NOTHING` then writes the ledger: one `Send` per (run, customer, channel), with the holdout,
the variant and the A/B test pool decided by hashes of (campaign id, customer id), and the
suppressions known already (no consent, deceased, erased, bounced, complained, no address) as
reasons. Repeating it adds nothing.

Delivery (`run_deliver`), a batch (hundreds) at a time:

1. A short transaction takes due rows (`FOR UPDATE SKIP LOCKED`, so parallel tasks take
   different rows) and decides them in ONE statement: consent and suppression are checked
   again (the moment of sending), then the frequency cap (messages of this priority or higher
   handed over to the customer in the window, counting the batch itself), and the survivors
   become HANDING under a lease. The club's cap is decided under a transaction advisory lock,
   so two campaigns cannot both take a customer's last slot.
2. The requests are handed to the adapter outside any transaction, while this process holds a
   session advisory lock on the lease.
3. A second short transaction records each answer: ACCEPTED, FAILED with its reason, or back
   to PENDING with a `not_before` (429/5xx), the same key kept.

A worker killed between 1 and 3 leaves HANDING rows whose lease nobody holds (PostgreSQL drops
a dead connection's locks): the next delivery adopts them and hands them over again under the
same keys, without re-checking (the peer may already have them; it answers 409). Quiet hours
(club time) defer due rows to the end of the quiet period instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from campaigns.delivery import DeliveryAdapter, adapter_for_settings
from campaigns.delivery.base import ACCEPTED, FAILED, DeliveryResult
from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignSettings,
    CampaignStatus,
    CampaignType,
    RunStatus,
    Send,
    SendReason,
    SendStatus,
)
from crm.tenants.selectors import tenant_current
from profiles.models import ActivityCategory, Customer, CustomerStatus
from segments.compiler import Compiler

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCHES_PER_TASK = 20
MAX_ATTEMPTS = 8
PARALLEL_DELIVERIES = 4
# Advisory lock namespaces (two-int form): leases of handing batches, and the club's cap.
LEASE_LOCK_NS = 0x43414D50  # "CAMP"
CAP_LOCK_NS = 0x43415050  # "CAPP"
UNSUBSCRIBE_SALT = "campaigns.unsubscribe"

VARIABLES = (
    "firstName", "lastName", "displayName", "email", "membershipTier", "handicap",
    "renewalDueOn", "nextTeeTime", "clubName",
)  # fmt: skip
DEFAULT_FALLBACKS = {
    "firstName": "Golfer",
    "lastName": "",
    "displayName": "Golfer",
    "membershipTier": "",
    "handicap": "",
    "renewalDueOn": "",
    "nextTeeTime": "",
}


def campaign_settings() -> CampaignSettings:
    row, _ = CampaignSettings.objects.get_or_create(id=1)
    return row


# --- suppression: one SQL expression, used when planning and again when sending -----------

# `c` is the customer, `s_channel` the send's channel. The order gives the reason recorded when
# several hold (erased before deceased before bounced …).
_REASON_SQL = """
CASE
  WHEN c.status = 'DELETED' THEN 'ERASED'
  WHEN c.status = 'MERGED' THEN 'MERGED'
  WHEN c.membership_status = 'DECEASED' THEN 'DECEASED'
  WHEN {ch} = 'EMAIL' AND c.email_hard_bounced THEN 'HARD_BOUNCED'
  WHEN {ch} = 'EMAIL' AND c.complained THEN 'COMPLAINED'
  WHEN ({ch} = 'EMAIL' AND NOT c.email_opt_in) OR ({ch} = 'SMS' AND NOT c.sms_opt_in)
       OR ({ch} = 'PUSH' AND NOT c.push_opt_in) THEN 'NO_CONSENT'
  WHEN ({ch} = 'EMAIL' AND c.email = '') OR ({ch} = 'SMS' AND c.phone_number = '')
       OR ({ch} = 'PUSH' AND c.messaging_contact_id IS NULL AND c.auth_user_id IS NULL)
       THEN 'NO_ADDRESS'
END
"""


# The rest of what the moment of sending decides, shared with the review (campaigns.review)
# so that what it announces is what the send does.

# A send's topic: its own (planned from the campaign), else a journey's trigger event's
# competition. `{send}` is a campaigns_send row.
TOPIC_SQL = """coalesce(nullif({send}.topic, ''),
    CASE WHEN {send}.variables->'event' ? 'competitionId'
         THEN 'competition:' || ({send}.variables->'event'->>'competitionId') ELSE '' END)"""


def held_back_sql(*, channel: str, customer: str, topic: str, expires: str) -> str:
    """Why a message would not go out now, before the cap (NULL: it goes): a suppression
    reason, its expiry, or a message on the same topic from another origin handed over in the
    cap's window (the first sent wins). An origin is a journey, or campaigns as a whole: a
    journey's own invite and reminder, or competition promotion's announcement and last call,
    are one series and all go; a journey and promotion (or two journeys) about the same
    competition are not, and the later one's messages stop. `c` is the customer;
    `%(origin)s` the sending campaign's (`send_origin`)."""
    return f"""coalesce({_REASON_SQL.format(ch=channel)},
    CASE WHEN {expires} <= %(now)s THEN 'EXPIRED'
         WHEN {topic} <> '' AND EXISTS (
             SELECT 1 FROM campaigns_send AS t
             JOIN campaigns_campaign AS tc ON tc.id = t.campaign_id
             WHERE t.customer_id = {customer} AND t.topic = {topic}
               AND coalesce(tc.journey_id::text, 'campaigns') <> %(origin)s
               AND t.status IN ('HANDING', 'ACCEPTED')
               AND t.handed_at >= %(since)s) THEN 'DUPLICATE_TOPIC' END)"""  # noqa: S608


def send_origin(campaign: Campaign) -> str:
    """Whose series a campaign's messages belong to, for topics: its journey, or campaigns."""
    return str(campaign.journey_id) if campaign.journey_id else "campaigns"


def prior_sql(source: str) -> str:
    """The `prior` CTE: per customer of `source` (customer_id, priority, reason) still to
    send, the messages of their priority or higher handed over in the cap's window, and the
    earliest of them (when room frees up)."""
    return f"""prior AS (
    SELECT k.customer_id, count(x.id) AS n, min(x.handed_at) AS first_at
    FROM (SELECT DISTINCT customer_id, priority FROM {source} WHERE reason IS NULL) AS k
    JOIN campaigns_send AS x ON x.customer_id = k.customer_id AND x.priority >= k.priority
         AND x.status IN ('HANDING', 'ACCEPTED') AND x.handed_at >= %(since)s
    GROUP BY k.customer_id
)"""  # noqa: S608 - built from constants only


# Over the cap: earlier messages in the window plus this one's place among the customer's
# messages being decided together (two channels count as two). `p` is `prior`.
CAP_OVER_SQL = (
    "coalesce(p.n, 0) + row_number() OVER (PARTITION BY {src}.customer_id ORDER BY {src}.channel)"
    " > %(cap)s"
)
# When a message over the cap may go: the earliest counted message leaves the window (it is
# checked again then, and deferred again if still over).
CAP_FREE_AT_SQL = "coalesce(p.first_at, %(now)s) + %(window)s"


def campaign_topic(campaign: Campaign) -> str:
    """The campaign's own topic, or its competition's (competition auto-promotion puts the
    competition id in the content)."""
    if campaign.topic:
        return campaign.topic
    competition = (campaign.content or {}).get("competitionId")
    return f"competition:{competition}" if competition not in (None, "") else ""


def _bucket(campaign_param: str, salt: str) -> str:
    """0..9999 from a hash of (campaign, customer, salt): deterministic, uniform."""
    return (
        f"(('x' || substr(md5({campaign_param} || ':' || c.id::text || ':{salt}'), 1, 8))"
        "::bit(32)::bigint %% 10000)"
    )


# Holdout, A/B test pool and variant of customer `c`: hashes of (campaign, customer), so the
# plan and the review split the audience the same way.
SPLIT_SQL = f"""CROSS JOIN LATERAL (
        SELECT {_bucket("%(campaign_text)s", "holdout")} < %(holdout)s AS holdout,
               {_bucket("%(campaign_text)s", "pool")} < %(pool)s AS in_pool,
               %(pool)s > 0 AS pooled,
               {_bucket("%(campaign_text)s", "variant")} AS vb
    ) AS b
    LEFT JOIN LATERAL (
        SELECT k.key, k.send_at
        FROM unnest(%(vkeys)s::text[], %(vupper)s::int[], %(vsend)s::timestamptz[])
             AS k(key, upper, send_at)
        WHERE k.upper > b.vb ORDER BY k.upper LIMIT 1
    ) AS v ON true"""  # noqa: S608 - built from constants only

_PLAN_SQL = f"""
WITH planned AS (
    INSERT INTO campaigns_send (id, run_id, campaign_id, customer_id, channel, variant, test_pool,
                                priority, status, reason, detail, not_before, deferred,
                                attempts, message_id, created_at, expires_at, topic)
    SELECT gen_random_uuid(), %(run)s, %(campaign)s, c.id, ch.channel,
           CASE WHEN b.holdout OR (b.pooled AND NOT b.in_pool) THEN '' ELSE coalesce(v.key, '')
           END,
           b.pooled AND b.in_pool AND NOT b.holdout,
           %(priority)s,
           CASE WHEN b.holdout THEN 'HOLDOUT'
                WHEN r.reason IS NOT NULL THEN 'SUPPRESSED'
                WHEN b.pooled AND NOT b.in_pool THEN 'AWAITING_WINNER'
                ELSE 'PENDING' END,
           CASE WHEN b.holdout THEN 'HOLDOUT' ELSE coalesce(r.reason, '') END,
           '', CASE WHEN b.pooled AND NOT b.in_pool THEN NULL ELSE v.send_at END, false, 0,
           '', %(now)s, %(expires)s, %(topic)s
    FROM campaign_audience AS a
    JOIN profiles_customer AS c ON c.id = a.id
    CROSS JOIN unnest(%(channels)s::text[]) AS ch(channel)
    {SPLIT_SQL}
    CROSS JOIN LATERAL (SELECT {_REASON_SQL.format(ch="ch.channel")} AS reason) AS r
    ON CONFLICT (run_id, customer_id, channel) DO NOTHING
    RETURNING customer_id
)
SELECT count(*), count(DISTINCT customer_id) FROM planned
"""  # noqa: S608 - built from constants only


def audience_queryset(
    *, campaign: Campaign, customer_ids: list[uuid.UUID] | None = None
) -> QuerySet[Customer]:
    """Who the campaign's audience holds right now: anyone in an included segment (a dynamic
    one evaluated now, a static one by its list) and in no excluded one. Erased customers of
    a static list stay in, to be recorded as ERASED; merged-away ones never. A JOURNEY
    campaign's run is a batch of enrolments: its audience is exactly the run's customers."""
    if campaign.type in (CampaignType.JOURNEY, CampaignType.TEE_SHEET):
        # One array parameter, not an IN list of a thousand quoted ids.
        ids = RawSQL("SELECT unnest(%s::uuid[])", ([str(i) for i in customer_ids or []],))
        return Customer.objects.exclude(status=CustomerStatus.MERGED).filter(pk__in=ids)
    compiler = Compiler(tz=tenant_current().timezone)
    included = Q(pk__in=[])
    for segment_id in campaign.include_segments.values_list("id", flat=True):
        included |= compiler.segment_q(segment_id, "audience.include")
    queryset = Customer.objects.exclude(status=CustomerStatus.MERGED).filter(included)
    for segment_id in campaign.exclude_segments.values_list("id", flat=True):
        queryset = queryset.exclude(compiler.segment_q(segment_id, "audience.exclude"))
    if customer_ids is not None:
        queryset = queryset.filter(pk__in=customer_ids)
    return queryset


def audience_table(
    cursor: Any, *, campaign: Campaign, customer_ids: list[uuid.UUID] | None = None
) -> None:
    """The audience, now, in the temporary table `campaign_audience` (dropped at commit): the
    plan and the review both start from it. Must run inside a transaction."""
    queryset = audience_queryset(campaign=campaign, customer_ids=customer_ids)
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # no segment included (a draft): nobody
        sql, params = None, None
    cursor.execute("DROP TABLE IF EXISTS campaign_audience")
    cursor.execute("CREATE TEMP TABLE campaign_audience (id uuid PRIMARY KEY) ON COMMIT DROP")
    if sql is not None:
        cursor.execute(f"INSERT INTO campaign_audience {sql} ON CONFLICT DO NOTHING", params)
    cursor.execute("ANALYZE campaign_audience")


def variant_arrays(campaign: Campaign) -> tuple[list[str], list[int], list[Any]]:
    variants = list(campaign.variants.all())
    total = sum(v.weight for v in variants)
    if not variants or total <= 0:
        return [], [], []
    keys, uppers, send_at = [], [], []
    running = 0
    for variant in variants:
        running += variant.weight
        keys.append(variant.key)
        uppers.append(round(running * 10000 / total))
        send_at.append(variant.send_at)
    uppers[-1] = 10000
    return keys, uppers, send_at


@dataclass
class PlanResult:
    rows: int
    customers: int


@transaction.atomic
def run_plan(*, run_id: uuid.UUID | str, now: dt.datetime | None = None) -> PlanResult:
    """Write the run's ledger from its audience (safe to repeat: a planned run adds nothing).
    `now`: the clock (the demo club's history is sent through here, earlier in its day)."""
    now = now or timezone.now()
    run = (
        CampaignRun.objects.select_for_update(of=("self",))
        .select_related("campaign")
        .get(pk=run_id)
    )
    if run.status != RunStatus.PLANNING:
        return PlanResult(rows=0, customers=run.targeted)
    campaign = run.campaign
    if campaign.type not in (CampaignType.JOURNEY, CampaignType.TEE_SHEET):
        # An edit waits for the plan. A journey's campaign is never edited, and its engine
        # plans runs of it in parallel batches, which a lock here would serialise.
        Campaign.objects.select_for_update().get(pk=campaign.pk)
    keys, uppers, send_at = variant_arrays(campaign)
    pool = campaign.test_pool_percent if keys else Decimal(0)
    with connection.cursor() as cursor:
        audience_table(cursor, campaign=campaign, customer_ids=run.trigger_customers)
        cursor.execute(
            _PLAN_SQL,
            {
                "run": run.id,
                "campaign": campaign.id,
                "campaign_text": str(campaign.id),
                "priority": campaign.priority,
                "channels": list(campaign.channels),
                "holdout": int(campaign.holdout_percent * 100),
                "pool": int(pool * 100),
                "vkeys": keys,
                "vupper": uppers,
                "vsend": send_at,
                "now": now,
                "expires": campaign.expires_at,
                "topic": campaign_topic(campaign),
            },
        )
        rows, customers = cursor.fetchone()
        cursor.execute("DROP TABLE campaign_audience")
    run.status = RunStatus.SENDING
    run.targeted = customers
    run.planned_at = now
    run.save(update_fields=["status", "targeted", "planned_at"])
    logger.info("Planned run %s of campaign %s: %d sends", run.key, campaign.id, rows)
    return PlanResult(rows=rows, customers=customers)


# --- quiet hours ------------------------------------------------------------------------------


def quiet_until(*, now: dt.datetime, rules: CampaignSettings, tz: str) -> dt.datetime | None:
    """The end of the quiet period `now` falls in (club time), or None outside quiet hours."""
    if not rules.quiet_hours_enabled or rules.quiet_hours_start == rules.quiet_hours_end:
        return None
    zone = ZoneInfo(tz or "UTC")
    local = now.astimezone(zone)
    start, end, t = rules.quiet_hours_start, rules.quiet_hours_end, local.time()
    overnight = start > end
    inside = (t >= start or t < end) if overnight else (start <= t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    naive = dt.datetime.combine(day, end)
    return naive.replace(tzinfo=zone)


# --- requests -----------------------------------------------------------------------------

# The customer's columns a request needs, and their next tee time (a booking not cancelled),
# for the sends in `{rows}` (which has id, channel, variant, customer_id).
_REQUEST_COLUMNS = """
SELECT r.id, r.channel, r.variant, c.id, c.email, c.phone_number, c.first_name, c.last_name,
       c.membership_tier, c.handicap, c.renewal_due_on, c.messaging_contact_id, c.auth_user_id,
       nt.tee_time, r.status, r.variables
FROM {rows} AS r
JOIN profiles_customer AS c ON c.id = r.customer_id
LEFT JOIN LATERAL (
    SELECT min((a.data->>'teeTime')::timestamptz) AS tee_time
    FROM profiles_activity AS a
    WHERE a.customer_id = c.id AND a.type = 'teetime.booking.created'
      AND a.occurred_at >= %(history_since)s AND (a.data->>'teeTime')::timestamptz > %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM profiles_activity AS x
          WHERE x.customer_id = c.id AND x.type = 'teetime.booking.cancelled'
            AND x.data->>'bookingId' = a.data->>'bookingId')
) AS nt ON true
"""
_REQUEST_ROWS_SQL = (
    _REQUEST_COLUMNS.format(rows="campaigns_send")
    + "WHERE r.id = ANY(%(ids)s::uuid[]) ORDER BY r.id"
)


@dataclass
class RequestContext:
    """What every request of one campaign shares."""

    campaign: Campaign
    tenant_id: str
    club_name: str
    tz: ZoneInfo
    variants: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""

    @classmethod
    def of(cls, campaign: Campaign) -> RequestContext:
        tenant = tenant_current()
        return cls(
            campaign=campaign,
            tenant_id=str(tenant.id),
            club_name=tenant.name,
            tz=ZoneInfo(tenant.timezone or "UTC"),
            variants={v.key: v for v in campaign.variants.all()},
            base_url=settings.CAMPAIGNS_PUBLIC_BASE_URL.rstrip("/"),
        )


def customer_variables(
    row: dict[str, Any], *, club_name: str, tz: ZoneInfo, fallbacks: dict[str, Any]
) -> dict[str, Any]:
    """The template variables of one customer, each missing value replaced by the campaign's
    fallback (or the default one)."""
    handicap = row.get("handicap")
    renewal = row.get("renewal_due_on")
    tee_time = row.get("tee_time")
    first, last = row.get("first_name") or "", row.get("last_name") or ""
    values = {
        "firstName": first,
        "lastName": last,
        "displayName": " ".join(part for part in (first, last) if part),
        "email": row.get("email") or "",
        "membershipTier": row.get("membership_tier") or "",
        "handicap": f"{Decimal(str(handicap)):.1f}" if handicap is not None else "",
        "renewalDueOn": renewal.isoformat() if renewal else "",
        "nextTeeTime": tee_time.astimezone(tz).strftime("%a %d %b %H:%M") if tee_time else "",
        "clubName": club_name,
    }
    merged = {**DEFAULT_FALLBACKS, **(fallbacks or {})}
    return {
        name: (value if value not in ("", None) else merged.get(name, ""))
        for name, value in values.items()
    }


@functools.lru_cache(maxsize=4)
def _unsubscribe_key(secret: str) -> bytes:
    return hashlib.sha256(f"{UNSUBSCRIBE_SALT}:{secret}".encode()).digest()


def _unsubscribe_mac(send_id: str) -> str:
    digest = hmac.new(_unsubscribe_key(settings.SECRET_KEY), send_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:18]).decode()


def unsubscribe_url(*, base_url: str, tenant_id: str, send_id: str) -> str:
    """The send's own unsubscribe link: its id and an HMAC of it under the project's key (one
    key derivation per process, so a batch of hundreds costs microseconds each)."""
    return f"{base_url}/t/{tenant_id}/unsubscribe/{send_id}.{_unsubscribe_mac(send_id)}"


def unsubscribe_token_send_id(token: str) -> str | None:
    send_id, _, mac = token.rpartition(".")
    if not send_id or not hmac.compare_digest(mac, _unsubscribe_mac(send_id)):
        return None
    try:
        return str(uuid.UUID(send_id))
    except ValueError:
        return None


def _recipient_variables(value: Any) -> dict[str, Any]:
    # Raw cursors hand jsonb over as text (Django leaves decoding to the JSONField).
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def build_request(
    ctx: RequestContext, row: dict[str, Any], *, key: str, channel: str, variant: str
) -> dict[str, Any]:
    """One send request of messaging.md."""
    campaign = ctx.campaign
    chosen = ctx.variants.get(variant)
    templates = {**campaign.templates, **(chosen.templates if chosen else {})}
    content = {**campaign.content, **(chosen.content if chosen else {})}
    first, last = row.get("first_name") or "", row.get("last_name") or ""
    to: dict[str, Any] = {"name": " ".join(p for p in (first, last) if p)}
    if row.get("messaging_contact_id"):
        to["contactId"] = row["messaging_contact_id"]
    if channel == "EMAIL":
        to["email"] = row.get("email") or ""
    elif channel == "SMS":
        to["phoneNumber"] = row.get("phone_number") or ""
    elif row.get("auth_user_id"):
        to["userId"] = row["auth_user_id"]
    metadata: dict[str, Any] = {
        "campaignId": str(campaign.id),
        "journeyId": str(campaign.journey_id) if campaign.journey_id else None,
        "variant": variant or None,
        "customerId": str(row["customer_id"]),
    }
    if channel == "EMAIL":
        metadata["listUnsubscribe"] = unsubscribe_url(
            base_url=ctx.base_url, tenant_id=ctx.tenant_id, send_id=key
        )
    return {
        "idempotencyKey": key,
        "tenantId": ctx.tenant_id,
        "channel": channel.lower(),
        "templateId": templates.get(channel, ""),
        "to": to,
        # A journey step's fixed values go beside the profile's (and win on a clash: staff
        # set them on purpose); then this recipient's own (a journey's trigger event).
        "variables": {
            **customer_variables(
                row, club_name=ctx.club_name, tz=ctx.tz, fallbacks=campaign.fallbacks
            ),
            **(campaign.variables or {}),
            **_recipient_variables(row.get("variables")),
        },
        "content": content,
        "metadata": metadata,
    }


_ROW_NAMES = (
    "id", "channel", "variant", "customer_id", "email", "phone_number", "first_name",
    "last_name", "membership_tier", "handicap", "renewal_due_on", "messaging_contact_id",
    "auth_user_id", "tee_time", "status", "variables",
)  # fmt: skip


def request_rows(send_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _REQUEST_ROWS_SQL,
            {
                "ids": [str(i) for i in send_ids],
                "now": now,
                "history_since": now - dt.timedelta(days=400),
            },
        )
        return [dict(zip(_ROW_NAMES, row, strict=True)) for row in cursor.fetchall()]


def _requests_from_rows(ctx: RequestContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        build_request(ctx, row, key=str(row["id"]), channel=row["channel"], variant=row["variant"])
        for row in rows
    ]


def requests_for(ctx: RequestContext, send_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    return _requests_from_rows(ctx, request_rows(send_ids))


# --- delivery -------------------------------------------------------------------------------


def _take_sql(*, capped: bool) -> str:
    """Take due rows (skipping rows another task holds), decide them, return what to hand over
    with the customer columns the requests need: one statement, one round trip. Without a cap
    the count of earlier messages is not computed at all. A row over the cap is DEFERRED to
    when the window allows (or EXPIRED, if that is past its expiry), never dropped."""
    if capped:
        prior = f"""
{prior_sql("checked")},
decided AS (
    SELECT id, reason, NULL::timestamptz AS free_at FROM checked WHERE reason IS NOT NULL
    UNION ALL
    SELECT ch.id, CASE WHEN {CAP_OVER_SQL.format(src="ch")} THEN 'CAPPED' END,
           {CAP_FREE_AT_SQL}
    FROM checked AS ch LEFT JOIN prior AS p ON p.customer_id = ch.customer_id
    WHERE ch.reason IS NULL
),"""  # noqa: S608 - built from constants only
    else:
        prior = """
decided AS (SELECT id, reason, NULL::timestamptz AS free_at FROM checked),"""
    expired_later = (
        "(d.reason = 'CAPPED' AND b2.expires_at IS NOT NULL AND d.free_at >= b2.expires_at)"
    )
    return f"""
WITH batch AS (
    SELECT s.id, s.customer_id, s.channel, s.priority,
           least(s.expires_at, campaigns_event_ends(s.variables)) AS expires_at,
           {TOPIC_SQL.format(send="s")} AS topic
    FROM campaigns_send AS s
    WHERE {_DUE} ORDER BY s.id LIMIT %(size)s FOR UPDATE SKIP LOCKED
),
checked AS (
    SELECT b.*, {
        held_back_sql(
            channel="b.channel", customer="b.customer_id", topic="b.topic", expires="b.expires_at"
        )
    } AS reason
    FROM batch AS b JOIN profiles_customer AS c ON c.id = b.customer_id
),{prior}
taken AS (
    UPDATE campaigns_send AS s
    SET status = CASE WHEN d.reason IS NULL THEN 'HANDING'
                      WHEN d.reason = 'CAPPED' AND NOT {expired_later} THEN 'DEFERRED'
                      ELSE 'SUPPRESSED' END,
        reason = CASE WHEN {expired_later} THEN 'EXPIRED' ELSE coalesce(d.reason, '') END,
        not_before = CASE WHEN d.reason = 'CAPPED' THEN d.free_at ELSE s.not_before END,
        detail = CASE WHEN d.reason = 'CAPPED' THEN left(
                          'Over the frequency cap (' || %(cap)s || ' in ' || %(window_days)s
                          || ' days): goes out ' || to_char(d.free_at AT TIME ZONE %(tz)s,
                          'Dy DD Mon HH24:MI') || ' club time'
                          || CASE WHEN {expired_later} THEN ', after its expiry' ELSE '' END,
                          500)
                      WHEN d.reason = 'DUPLICATE_TOPIC' THEN 'Already sent on ' || b2.topic
                      ELSE s.detail END,
        topic = b2.topic,
        lease = CASE WHEN d.reason IS NULL THEN %(lease)s END,
        handed_at = CASE WHEN d.reason IS NULL THEN %(now)s END,
        attempts = s.attempts + CASE WHEN d.reason IS NULL THEN 1 ELSE 0 END
    FROM decided AS d JOIN batch AS b2 ON b2.id = d.id
    WHERE s.id = d.id
    RETURNING s.id, s.channel, s.variant, s.customer_id, s.status, s.variables
)
{_REQUEST_COLUMNS.format(rows="taken")}
ORDER BY r.id
"""  # noqa: S608 - built from constants only


_DUE = "s.run_id = %(run)s AND s.status IN ('PENDING', 'DEFERRED') " + (
    "AND (s.not_before IS NULL OR s.not_before <= %(now)s)"
)


@dataclass
class DeliverResult:
    handed: int = 0
    accepted: int = 0
    failed: int = 0
    suppressed: int = 0
    deferred: int = 0
    retry_after: float | None = None
    more: bool = False
    repeats: int = 0


def _lease_lock(lease: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LEASE_LOCK_NS, lease])


def _lease_try(lease: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LEASE_LOCK_NS, lease])
        return bool(cursor.fetchone()[0])


def _lease_unlock(lease: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LEASE_LOCK_NS, lease])


def _new_lease() -> int:
    return random.randint(1, 2**31 - 1)  # noqa: S311 - a lock id, not a secret


def _backoff(attempts: int) -> float:
    return float(min(2 ** max(attempts, 1), 300))


def _record_results(
    results: list[DeliveryResult],
    *,
    adapter: DeliveryAdapter,
    lease: int,
    now: dt.datetime | None = None,
) -> DeliverResult:
    """Write every answer in one UPDATE (and, for the fallback, its timeline entries)."""
    out = DeliverResult()
    now = now or timezone.now()
    ids, statuses, reasons, message_ids, delays, details = [], [], [], [], [], []
    for result in results:
        ids.append(result.key)
        details.append(result.detail)
        if result.outcome == ACCEPTED:
            out.accepted += 1
            if result.detail.startswith("409"):
                out.repeats += 1
            statuses.append("ACCEPTED")
            reasons.append("")
            message_ids.append(result.message_id[:200])
            delays.append(None)
        elif result.outcome == FAILED:
            out.failed += 1
            statuses.append("FAILED")
            reasons.append(result.reason or "REFUSED")
            message_ids.append("")
            delays.append(None)
        else:
            out.retry_after = max(out.retry_after or 0.0, result.retry_after or 0.0) or None
            statuses.append("RETRY")
            reasons.append("")
            message_ids.append("")
            delays.append(result.retry_after)
    if not ids:
        return out
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RELAXED_COMMIT)
        cursor.execute(
            """
            UPDATE campaigns_send AS s SET
              status = CASE WHEN r.status = 'RETRY' AND s.attempts >= %(max)s THEN 'FAILED'
                            WHEN r.status = 'RETRY' THEN 'PENDING' ELSE r.status END,
              reason = CASE WHEN r.status = 'RETRY' AND s.attempts >= %(max)s
                            THEN 'REFUSED' ELSE r.reason END,
              message_id = r.message_id,
              detail = CASE WHEN r.status = 'RETRY' AND s.attempts >= %(max)s
                            THEN left('gave up after ' || s.attempts || ' tries: ' || r.detail, 500)
                            ELSE r.detail END,
              not_before = CASE WHEN r.status = 'RETRY' THEN %(now)s + make_interval(
                  secs => coalesce(r.delay, least(power(2, s.attempts), 300))) ELSE s.not_before
                  END,
              handed_at = CASE WHEN r.status = 'ACCEPTED' THEN s.handed_at END,
              lease = NULL
            FROM unnest(%(ids)s::uuid[], %(statuses)s::text[], %(reasons)s::text[],
                        %(message_ids)s::text[], %(delays)s::float8[], %(details)s::text[])
                 AS r(id, status, reason, message_id, delay, detail)
            WHERE s.id = r.id AND s.status = 'HANDING' AND s.lease = %(lease)s
            """,
            {
                "max": MAX_ATTEMPTS, "now": now, "lease": lease, "ids": ids,
                "statuses": statuses, "reasons": reasons, "message_ids": message_ids,
                "delays": delays, "details": details,
            },
        )  # fmt: skip
        if adapter.records_events:
            _record_sent_activities([r.key for r in results if r.outcome == ACCEPTED], now)
    return out


def _record_sent_activities(keys: list[str], now: dt.datetime) -> None:
    """The fallback is the sender: the timeline gets the `messaging.message.sent` entry (with
    the sendId) that the Messaging Service would otherwise report."""
    if not keys:
        return
    from profiles.services import TimelineEntry, customer_activities_add

    sends = Send.objects.filter(id__in=keys).values_list("id", "customer_id", "channel")
    customer_activities_add(
        entries=[
            TimelineEntry(
                customer_id=customer_id,
                type="messaging.message.sent",
                category=ActivityCategory.MESSAGING,
                channel=channel,
                title="Sent an email" if channel == "EMAIL" else "Sent a message",
                occurred_at=now,
                counts_as_activity=False,
                data={"sendId": str(send_id), "transport": "email-fallback"},
            )
            for send_id, customer_id, channel in sends
        ]
    )


def _hand_over(
    *,
    ctx: RequestContext,
    rows: list[dict[str, Any]],
    adapter: DeliveryAdapter,
    lease: int,
    now: dt.datetime | None = None,
) -> DeliverResult:
    requests = _requests_from_rows(ctx, rows)
    try:
        results = adapter.deliver(requests)
    except Exception as exc:
        logger.exception("Delivery adapter %s failed", adapter.name)
        results = [DeliveryResult.retry(r["idempotencyKey"], f"adapter: {exc!r}") for r in requests]
    out = _record_results(results, adapter=adapter, lease=lease, now=now)
    out.handed = len(requests)
    return out


def _adopt_orphans(*, run: CampaignRun, ctx: RequestContext, adapter: DeliveryAdapter) -> int:
    """Hand over again the HANDING rows of a process that died (its lease lock is free)."""
    leases = list(
        Send.objects.filter(run=run, status=SendStatus.HANDING)
        .values_list("lease", flat=True)
        .distinct()
    )
    adopted = 0
    for lease in leases:
        if lease is None or not _lease_try(lease):
            continue  # its owner is alive and handing it over right now
        try:
            ids = list(
                Send.objects.filter(run=run, status=SendStatus.HANDING, lease=lease).values_list(
                    "id", flat=True
                )
            )
            for start in range(0, len(ids), adapter.batch_size):
                rows = request_rows(ids[start : start + adapter.batch_size])
                _hand_over(ctx=ctx, rows=rows, adapter=adapter, lease=lease)
            adopted += len(ids)
        finally:
            _lease_unlock(lease)
    if adopted:
        logger.warning("Run %s: handed over %d orphaned sends again", run.id, adopted)
    return adopted


def _defer_for_quiet_hours(run: CampaignRun, until: dt.datetime, now: dt.datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE campaigns_send AS s SET status = 'DEFERRED', reason = 'QUIET_HOURS', "  # noqa: S608
            f"deferred = true, not_before = %(until)s WHERE {_DUE}",
            {"run": run.id, "now": now, "until": until},
        )
        return cursor.rowcount


# The ledger's own bookkeeping commits without waiting for the WAL flush: a PostgreSQL crash
# may lose its last fraction of a second, which only means rows go back to an earlier state
# and are handed over again under the same keys (the peer answers 409). The decision to send
# (the plan) keeps full durability.
_RELAXED_COMMIT = "SET LOCAL synchronous_commit TO off"


def _take_batch(
    *,
    run: CampaignRun,
    rules: CampaignSettings,
    lease: int,
    size: int,
    now: dt.datetime | None = None,
) -> tuple[list[dict[str, Any]], int, int]:
    """Step 1: take due rows and decide them in one statement. Returns (rows to hand over,
    how many were suppressed, how many the cap deferred). Under a cap, the club's cap lock
    orders concurrent takers."""
    now = now or timezone.now()
    capped = rules.frequency_cap > 0
    window = dt.timedelta(days=rules.frequency_window_days)
    params = {
        "run": run.id,
        "origin": send_origin(run.campaign),
        "now": now,
        "size": size,
        "since": now - window,
        "window": window,
        "window_days": rules.frequency_window_days,
        "cap": rules.frequency_cap,
        "tz": tenant_current().timezone or "UTC",
        "lease": lease,
        "history_since": now - dt.timedelta(days=400),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RELAXED_COMMIT)
        # The cap and the topic are decided under the club's lock: two campaigns cannot both
        # take a customer's last slot, nor both send on one topic.
        if capped or campaign_topic(run.campaign) or run.campaign.type == CampaignType.JOURNEY:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [CAP_LOCK_NS]
            )
        cursor.execute(_take_sql(capped=capped), params)
        rows = [dict(zip(_ROW_NAMES, row, strict=True)) for row in cursor.fetchall()]
    handing = [row for row in rows if row["status"] == SendStatus.HANDING]
    deferred = sum(1 for row in rows if row["status"] == SendStatus.DEFERRED)
    return handing, len(rows) - len(handing) - deferred, deferred


def run_deliver(
    *,
    run_id: uuid.UUID | str,
    max_batches: int = BATCHES_PER_TASK,
    adapter: DeliveryAdapter | None = None,
    now: dt.datetime | None = None,
) -> DeliverResult:
    """Hand over up to `max_batches` batches of the run's due sends. Safe to run in parallel
    and to repeat. `more` says whether due work is left; `retry_after` that the peer asked us
    to wait. One lease (a session advisory lock) covers this call's batches. `now` fixes the
    clock (quiet hours, caps and the hand-over time are judged at it); by default, the time."""
    clock = now
    total = DeliverResult()
    run = CampaignRun.objects.select_related("campaign").filter(pk=run_id).first()
    if run is None or run.status != RunStatus.SENDING:
        return total
    campaign = run.campaign
    own_adapter = adapter is None
    adapter = adapter or adapter_for_settings()
    lease = _new_lease()
    _lease_lock(lease)
    try:
        ctx = RequestContext.of(campaign)
        _adopt_orphans(run=run, ctx=ctx, adapter=adapter)
        if campaign.status in (CampaignStatus.PAUSED, CampaignStatus.CANCELLED):
            return total
        rules = campaign_settings()
        tz = tenant_current().timezone
        for _ in range(max_batches):
            now = clock or timezone.now()
            until = quiet_until(now=now, rules=rules, tz=tz)
            if until is not None:
                total.deferred += _defer_for_quiet_hours(run, until, now)
                return total
            rows, suppressed, capped = _take_batch(
                run=run, rules=rules, lease=lease, size=adapter.batch_size, now=now
            )
            total.suppressed += suppressed
            total.deferred += capped
            if not rows and not suppressed and not capped:
                return total
            if rows:
                done = _hand_over(ctx=ctx, rows=rows, adapter=adapter, lease=lease, now=now)
                total.handed += done.handed
                total.accepted += done.accepted
                total.failed += done.failed
                total.repeats += done.repeats
                if done.retry_after is not None or (done.accepted + done.failed < done.handed):
                    total.retry_after = done.retry_after or _backoff(1)
                    total.more = True
                    return total
        total.more = run_has_due_work(run=run, now=clock)
        return total
    finally:
        _lease_unlock(lease)
        if own_adapter:
            adapter.close()


def run_has_due_work(*, run: CampaignRun, now: dt.datetime | None = None) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM campaigns_send AS s WHERE {_DUE})",  # noqa: S608
            {"run": run.id, "now": now or timezone.now()},
        )
        return bool(cursor.fetchone()[0])


def run_is_open(*, run: CampaignRun) -> bool:
    """Whether any send of the run still waits for something (delivery, quiet hours, the
    A/B winner)."""
    return Send.objects.filter(
        run=run,
        status__in=(
            SendStatus.PENDING,
            SendStatus.DEFERRED,
            SendStatus.AWAITING_WINNER,
            SendStatus.HANDING,
        ),
    ).exists()


def run_cancel_pending(*, run: CampaignRun) -> int:
    """Cancelling: what was not handed over yet is recorded as CANCELLED, never sent."""
    return Send.objects.filter(
        run=run,
        status__in=(SendStatus.PENDING, SendStatus.DEFERRED, SendStatus.AWAITING_WINNER),
    ).update(status=SendStatus.SUPPRESSED, reason=SendReason.CANCELLED, lease=None)
