"""A customer's profile, derived from its source records and its timeline.

- `customers_project`: the fields the records observed. For each field, the newest observation
  (event timestamp, then event id) across the customer's records; strong ids from the records
  themselves. Computed in Python, written together with the counters below: one UPDATE for
  all the customers of an apply batch, customers that only gained timeline entries included
  (their counters brought up to date from the new entries rather than recounted: see
  _REFRESH_SQL; the nightly `counters_refresh_all` recounts everyone).
- `customers_refresh_counters`: the counters alone: last activity, 30-day activity and booking
  counts, lifetime value, 365-day competition entries, all-time bookings and their day parts
  (each booking's `Activity.day_part`, set by apply: `day_part_of`), and the lifecycle stage,
  from the first rule that holds:

    MEMBER     membership status ACTIVE or SUSPENDED; ADVOCATE instead when also a member for
               5+ years with 3+ competition entries in the last 365 days
    CHURNED    membership status LAPSED, RESIGNED or DECEASED
    CUSTOMER   has paid for something or played a round
    PROSPECT   has a golf profile or made a booking
    LEAD       has opened or clicked a message
    SUBSCRIBER anything else (a contact the club can write to)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import connection, models
from django.utils import timezone

from crm.db import array_literal, columns_of
from profiles.models import Customer, CustomerStatus, DayPart, RecordKind

_DATE_FIELDS = {"date_of_birth", "member_since", "renewal_due_on"}
PROFILE_FIELDS = (
    "first_name", "last_name", "email", "phone_number", "date_of_birth", "gender",
    "membership_tier", "membership_status", "member_since", "renewal_due_on", "handicap",
    "home_club_id", "address", "email_opt_in", "sms_opt_in", "push_opt_in", "whatsapp_opt_in",
    "email_hard_bounced", "complained",
)  # fmt: skip
_DEFAULTS: dict[str, Any] = {
    "address": {},
    "email_opt_in": False,
    "sms_opt_in": False,
    "push_opt_in": False,
    "whatsapp_opt_in": False,
    "email_hard_bounced": False,
    "complained": False,
    "date_of_birth": None,
    "member_since": None,
    "renewal_due_on": None,
    "handicap": None,
}
_ID_FIELDS = {
    RecordKind.SCL_MEMBER: "scl_member_id",
    RecordKind.TEETIME_PLAYER: "teetime_player_id",
    RecordKind.MESSAGING_CONTACT: "messaging_contact_id",
    RecordKind.AUTH_USER: "auth_user_id",
}
_RECORD_FIELDS = (*PROFILE_FIELDS, *_ID_FIELDS.values(), "status")

# One UPDATE for the customers in %(ids)s and %(gained)s: their timeline aggregate, the lifecycle
# stage it gives with their (possibly just projected) membership, and the projected
# record-derived fields where the projection `p` (arrays, one per column, unnested) has a row.
# Rows whose values do not change are not written.
#
# `ids` are recounted from their whole timeline. `gained` are customers whose timeline at most
# gained the entries of the raw events `events` (an apply batch's customers whose records did
# not move between customers; some gained nothing, and only their stage may change with their
# projected membership). For them the all-time figures (last activity, lifetime value, whether
# they ever paid, booked or engaged) only grow by what those entries add, so the entries are
# added to the stored values; the windowed counts are recounted over their window only (an
# index range: the 30 and 365 days are relative to now, so entries leave them without any
# event); and "ever paid/booked/engaged" looks for one matching entry only when the stage rule
# gets that far. At a million events a customer's entries lie on about as many table pages as
# it has entries, mostly outside the server's shared buffers: recounting read ~10 pages per
# customer per batch, about half of this statement's time. The nightly counters_refresh_all
# recounts everyone from scratch all the same.
#
# Per-customer LATERAL lookups keep it on the indexes (customer_id leads both activity indexes)
# whatever the planner's statistics say about tables that grow by a thousand rows a second.
_REFRESH_SQL = """
WITH full_agg AS MATERIALIZED (
    SELECT ids.id, false AS gained, s.*
    FROM unnest(%(ids)s::uuid[]) AS ids(id)
    CROSS JOIN LATERAL (
        SELECT max(a.occurred_at) FILTER (WHERE a.counts_as_activity) AS last_activity,
               count(*) FILTER (WHERE a.counts_as_activity AND a.occurred_at >= %(d30)s) AS a30,
               count(*) FILTER (
                   WHERE a.type = 'teetime.booking.created' AND a.occurred_at >= %(d30)s) AS b30,
               coalesce(sum(a.amount_cents) FILTER (WHERE a.type IN {payment}), 0) AS ltv,
               count(*) FILTER (
                   WHERE a.type = 'teetime.competition.entry.created'
                     AND a.occurred_at >= %(d365)s) AS e365,
               coalesce(bool_or(a.type IN {purchase}), false) AS purchased,
               coalesce(bool_or(a.type = 'teetime.booking.created'), false) AS booked,
               coalesce(bool_or(a.type IN {engagement}), false) AS engaged,
               {day_parts}
        FROM profiles_activity AS a
        WHERE a.customer_id = ids.id
    ) AS s
),
new_entries AS MATERIALIZED (
    SELECT a.customer_id AS id,
           max(a.occurred_at) FILTER (WHERE a.counts_as_activity) AS last_activity,
           coalesce(sum(a.amount_cents) FILTER (WHERE a.type IN {payment}), 0) AS ltv,
           coalesce(bool_or(a.type IN {purchase}), false) AS purchased,
           coalesce(bool_or(a.type = 'teetime.booking.created'), false) AS booked,
           coalesce(bool_or(a.type IN {engagement}), false) AS engaged,
           {day_parts}
    FROM profiles_activity AS a
    WHERE a.raw_event_id = ANY(%(events)s::bigint[])
    GROUP BY a.customer_id
),
gained_agg AS MATERIALIZED (
    SELECT g.id, true AS gained, n.last_activity,
           (SELECT count(*) FROM profiles_activity AS a
            WHERE a.customer_id = g.id AND a.occurred_at >= %(d30)s AND a.counts_as_activity
           ) AS a30,
           (SELECT count(*) FROM profiles_activity AS a
            WHERE a.customer_id = g.id AND a.type = 'teetime.booking.created'
              AND a.occurred_at >= %(d30)s) AS b30,
           coalesce(n.ltv, 0) AS ltv,
           (SELECT count(*) FROM profiles_activity AS a
            WHERE a.customer_id = g.id AND a.type = 'teetime.competition.entry.created'
              AND a.occurred_at >= %(d365)s) AS e365,
           coalesce(n.purchased, false) AS purchased, coalesce(n.booked, false) AS booked,
           coalesce(n.engaged, false) AS engaged,
           coalesce(n.bk, 0) AS bk, coalesce(n.dp1, 0) AS dp1, coalesce(n.dp2, 0) AS dp2,
           coalesce(n.dp3, 0) AS dp3, coalesce(n.dp4, 0) AS dp4
    FROM unnest(%(gained)s::uuid[]) AS g(id)
    LEFT JOIN new_entries AS n ON n.id = g.id
),
agg AS (SELECT * FROM full_agg UNION ALL SELECT * FROM gained_agg)
UPDATE profiles_customer AS c SET {assignments}
    last_activity_at = {last_activity},
    activity_count_30d = agg.a30,
    booking_count_30d = agg.b30,
    lifetime_value = {ltv},
    competition_entry_count_365d = agg.e365,
    {booking_assignments}
    lifecycle_stage = {stage}
FROM agg {join}
WHERE c.id = agg.id AND c.id = ANY(%(all)s::uuid[]) AND c.status NOT IN ('MERGED', 'DELETED')
  AND ({old_values} c.last_activity_at, c.activity_count_30d, c.booking_count_30d,
       c.lifetime_value, c.competition_entry_count_365d, {booking_old} c.lifecycle_stage)
      IS DISTINCT FROM
      ({new_values} {last_activity}, agg.a30, agg.b30, {ltv}, agg.e365, {booking_new} {stage})
"""
# All-time bookings and their day parts: counted (only bookings have a day part), and for
# `gained` customers added to the stored values, like lifetime value.
_DAY_PARTS_SQL = "count(*) FILTER (WHERE a.type = 'teetime.booking.created') AS bk, " + ", ".join(
    f"count(*) FILTER (WHERE a.day_part = {p.value}) AS dp{p.value}" for p in DayPart
)
_BOOKING_COLUMNS = {
    "booking_count": "bk",
    "weekday_morning_bookings": f"dp{DayPart.WEEKDAY_MORNING.value}",
    "weekday_afternoon_bookings": f"dp{DayPart.WEEKDAY_AFTERNOON.value}",
    "weekday_evening_bookings": f"dp{DayPart.WEEKDAY_EVENING.value}",
    "weekend_bookings": f"dp{DayPart.WEEKEND.value}",
}
_BOOKING_VALUES = {
    column: f"CASE WHEN agg.gained THEN c.{column} + agg.{name} ELSE agg.{name} END"
    for column, name in _BOOKING_COLUMNS.items()
}

# The day part of a booking, in SQL, for the nightly refresh and the migration's backfill: what
# `day_part_of` computes in Python when apply writes the booking. `%(tz)s` is the club's zone.
_LOCAL_TEE_TIME_SQL = (
    "((CASE WHEN a.data->>'teeTime' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}' "
    "THEN (a.data->>'teeTime')::timestamptz ELSE a.occurred_at END) AT TIME ZONE %(tz)s)"
)
_T = _LOCAL_TEE_TIME_SQL
DAY_PART_SQL = (
    f"CASE WHEN extract(isodow FROM {_T}) >= 6 THEN 4 WHEN extract(hour FROM {_T}) < 12 THEN 1 "
    f"WHEN extract(hour FROM {_T}) < 17 THEN 2 ELSE 3 END"
)
_DAY_PARTS_REFRESH_SQL = f"""
UPDATE profiles_activity AS a SET day_part = {DAY_PART_SQL}
WHERE a.type = 'teetime.booking.created' AND a.day_part IS DISTINCT FROM {DAY_PART_SQL}
"""  # noqa: S608 - constant fragments


def day_part_of(tee_time: Any, occurred_at: datetime, tz: ZoneInfo) -> int:
    """The DayPart of a booking: its tee time (else when it was booked) in the club's zone."""
    when = tee_time
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            when = None
    if not isinstance(when, datetime):
        when = occurred_at
    if when.tzinfo is None:  # as PostgreSQL reads a time without offset (the session is UTC)
        when = when.replace(tzinfo=UTC)
    local = when.astimezone(tz)
    # Plain ints: psycopg writes an enum member as its name.
    if local.isoweekday() >= 6:
        return DayPart.WEEKEND.value
    if local.hour < 12:
        return DayPart.WEEKDAY_MORNING.value
    if local.hour < 17:
        return DayPart.WEEKDAY_AFTERNOON.value
    return DayPart.WEEKDAY_EVENING.value


def booking_day_parts_refresh(*, tz: str) -> int:
    """Every booking's day part again, in the club's zone `tz`: they were set when applied, and
    the club may have changed its time zone since. Writes only bookings whose part changes."""
    with connection.cursor() as cursor:
        cursor.execute(_DAY_PARTS_REFRESH_SQL, {"tz": tz})
        return cursor.rowcount


_PAYMENT_TYPES = "('scl.payment.received', 'scl.payment.refunded')"
_PURCHASE_TYPES = "('scl.payment.received', 'teetime.booking.completed')"
_ENGAGEMENT_TYPES = "('messaging.email.opened', 'messaging.email.clicked')"
_LAST_ACTIVITY_SQL = (
    "CASE WHEN agg.gained THEN greatest(c.last_activity_at, agg.last_activity) "
    "ELSE agg.last_activity END"
)
_LTV_SQL = "CASE WHEN agg.gained THEN c.lifetime_value + agg.ltv ELSE agg.ltv END"
# For `gained` customers, "ever" also looks at the entries from before this batch (one index
# probe, stopping at the first match), and only when the rules above did not decide. A scalar
# subquery with LIMIT, not EXISTS: the planner may run an EXISTS as one hashed scan of every
# matching activity of the club.
_EVER_SQL = (
    "(agg.{flag} OR (agg.gained AND coalesce((SELECT true FROM profiles_activity AS e "
    "WHERE e.customer_id = agg.id AND e.type IN {types} LIMIT 1), false)))"
)
_STAGE_SQL = """CASE
        WHEN {status} IN ('ACTIVE', 'SUSPENDED') THEN
            CASE WHEN {since} <= %(five_years_ago)s AND agg.e365 >= 3
                 THEN 'ADVOCATE' ELSE 'MEMBER' END
        WHEN {status} IN ('LAPSED', 'RESIGNED', 'DECEASED') THEN 'CHURNED'
        WHEN {purchased} THEN 'CUSTOMER'
        WHEN {booked} OR (SELECT bool_or(r.kind = 'teetime') FROM profiles_sourcerecord AS r
                          WHERE r.customer_id = agg.id) THEN 'PROSPECT'
        WHEN {engaged} THEN 'LEAD'
        ELSE 'SUBSCRIBER'
    END"""


# Sent with the UPDATE, as one round trip. Its cost estimate can pass jit_above_cost, and
# compiling would take longer than running: no JIT (for the rest of the transaction). And the
# customers are found by primary key, never by reading the table: with the server's default
# random_page_cost the planner priced a scan of all 180,000 customer rows (48 ms) below 2,000
# index probes (a few ms) at a million events. enable_seqscan is restored after the UPDATE from
# a transaction-local placeholder, within the same round trip.
_PLAN_SETTINGS = """
SELECT set_config('jit', 'off', true),
       set_config('crm.enable_seqscan', current_setting('enable_seqscan'), true),
       set_config('enable_seqscan', 'off', true);
"""
_PLAN_RESTORE = """;
SELECT set_config('enable_seqscan', current_setting('crm.enable_seqscan'), true)
"""


def _column_value(name: str, value: Any) -> Any:
    if value is None:
        return _DEFAULTS.get(name, "")
    if name in _DATE_FIELDS:
        return date.fromisoformat(value)
    if name == "handicap":
        return Decimal(str(value)).quantize(Decimal("0.1"))
    return value


def _refresh_sql(*, projected: bool) -> str:
    if projected:
        value = {
            name: f"CASE WHEN p.id IS NULL THEN c.{name} ELSE p.{name} END"
            for name in _RECORD_FIELDS
        }
        columns = columns_of(Customer, ["id", *_RECORD_FIELDS])
        arrays = ", ".join(f"%(p{i})s::{sql_type}[]" for i, (_c, sql_type) in enumerate(columns))
        names = ", ".join(column for column, _type in columns)
        join = f"LEFT JOIN unnest({arrays}) AS p({names}) ON p.id = agg.id"
        assignments = "".join(f"{name} = {value[name]}, " for name in _RECORD_FIELDS)
        old_values = "".join(f"c.{name}, " for name in _RECORD_FIELDS)
        new_values = "".join(f"{value[name]}, " for name in _RECORD_FIELDS)
    else:
        value = {"membership_status": "c.membership_status", "member_since": "c.member_since"}
        join = assignments = old_values = new_values = ""
    stage = _STAGE_SQL.format(
        status=value["membership_status"],
        since=value["member_since"],
        purchased=_EVER_SQL.format(flag="purchased", types=_PURCHASE_TYPES),
        booked=_EVER_SQL.format(flag="booked", types="('teetime.booking.created')"),
        engaged=_EVER_SQL.format(flag="engaged", types=_ENGAGEMENT_TYPES),
    )
    return _REFRESH_SQL.format(
        assignments=assignments, stage=stage, join=join, old_values=old_values,
        new_values=new_values, last_activity=_LAST_ACTIVITY_SQL, ltv=_LTV_SQL,
        payment=_PAYMENT_TYPES, purchase=_PURCHASE_TYPES, engagement=_ENGAGEMENT_TYPES,
        day_parts=_DAY_PARTS_SQL,
        booking_assignments="".join(f"{c} = {v}, " for c, v in _BOOKING_VALUES.items()),
        booking_old="".join(f"c.{c}, " for c in _BOOKING_VALUES),
        booking_new="".join(f"{v}, " for v in _BOOKING_VALUES.values()),
    )  # fmt: skip


def _refresh_params(
    ids: list[UUID],
    gained: list[UUID] | None = None,
    events: list[int] | None = None,
    projected: list[tuple] | None = None,
) -> dict[str, Any]:
    now = timezone.now()
    columns: dict[str, Any] = {}
    if projected:
        converters = [None, *_converters()]
        for index, convert in enumerate(converters):
            values = (row[index] for row in projected)
            columns[f"p{index}"] = array_literal(map(convert, values) if convert else values)
    return {
        **columns,
        "ids": array_literal(ids),
        "gained": array_literal(gained or ()),
        "events": array_literal(events or ()),
        "all": array_literal([*ids, *(gained or ())]),
        "d30": now - timedelta(days=30),
        "d365": now - timedelta(days=365),
        "five_years_ago": timezone.localdate() - timedelta(days=round(5 * 365.25)),
    }


def _refresh(
    ids: list[UUID],
    *,
    projected: list[tuple] | None = None,
    gained: list[UUID] | None = None,
    events: list[int] | None = None,
) -> int:
    """One UPDATE: counters and lifecycle stage of `ids` (recounted) and of `gained` (who only
    gained the timeline entries of raw events `events`: see _REFRESH_SQL), and the
    record-derived fields of the `projected` rows (`(id, *_RECORD_FIELDS)`). Writes only rows
    whose values change."""
    sql = _PLAN_SETTINGS + _refresh_sql(projected=bool(projected)) + _PLAN_RESTORE
    with connection.cursor() as cursor:
        cursor.execute(sql, _refresh_params(ids, gained, events, projected))
        cursor.nextset()  # from the settings' result to the UPDATE's
        return cursor.rowcount


def customers_refresh_counters(*, customer_ids: Iterable[UUID]) -> None:
    ids = [cid for cid in set(customer_ids) if cid]
    if ids:
        _refresh(ids)


class ProjectedCustomer(NamedTuple):
    """A customer's record-derived fields as just projected (attribute names as Customer's)."""

    id: UUID
    first_name: str
    last_name: str
    email: str
    phone_number: str
    date_of_birth: date | None
    gender: str
    membership_tier: str
    membership_status: str
    member_since: date | None
    renewal_due_on: date | None
    handicap: Decimal | None
    home_club_id: str
    address: dict
    email_opt_in: bool
    sms_opt_in: bool
    push_opt_in: bool
    whatsapp_opt_in: bool
    email_hard_bounced: bool
    complained: bool
    scl_member_id: int | None
    teetime_player_id: str | None
    messaging_contact_id: str | None
    auth_user_id: str | None
    status: str


def customers_project(
    *,
    customer_ids: Iterable[UUID],
    counters_for: Iterable[UUID] = (),
    gained_from_events: Sequence[int] | None = None,
    recount: Iterable[UUID] = (),
) -> list[ProjectedCustomer]:
    """Recompute these customers' profiles from their records, and the counters of these and
    of `counters_for` (customers that only gained timeline entries), in one UPDATE. Returns
    the customers whose record-derived fields changed (what `crm.profile.updated` is about).

    Without `gained_from_events` every counter is recounted from the whole timeline. With it
    (an apply batch: the raw events whose timeline entries were just added), only the
    customers in `recount` (whose timelines changed otherwise: records and their activities
    moved between customers) are recounted; the others' counters are brought up to date from
    those entries (see _REFRESH_SQL)."""
    ids = {cid for cid in customer_ids if cid}
    counter_ids = ids | {cid for cid in counters_for if cid}
    if not counter_ids:
        return []
    gained = counter_ids - set(recount) if gained_from_events is not None else set()
    customers: dict[UUID, tuple] = {}
    records_of: dict[UUID, list[tuple[str, str, dict]]] = {}
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {', '.join(_RECORD_FIELDS)} FROM profiles_customer "  # noqa: S608 - constant names
                "WHERE id = ANY(%s::uuid[]) AND status NOT IN (%s, %s)",
                [array_literal(ids), str(CustomerStatus.MERGED), str(CustomerStatus.DELETED)],
            )
            for row in cursor.fetchall():
                customers[row[0]] = row[1:]
                records_of[row[0]] = []
            cursor.execute(
                "SELECT customer_id, kind, key, attributes FROM profiles_sourcerecord "
                "WHERE customer_id = ANY(%s::uuid[])",
                [array_literal(customers)],
            )
            for customer_id, kind, key, attributes in cursor.fetchall():
                records_of[customer_id].append((kind, key, json.loads(attributes)))

    address = _RECORD_FIELDS.index("address")
    status = _RECORD_FIELDS.index("status")
    changed: list[tuple] = []
    for cid, before in customers.items():
        records = records_of[cid]
        newest: dict[str, list] = {}
        for _kind, _key, attributes in records:
            for name, observation in attributes.items():
                current = newest.get(name)
                if current is None or observation[1:] > current[1:]:
                    newest[name] = observation
        values: list[Any] = [
            _column_value(name, newest[name][0] if name in newest else None)
            for name in PROFILE_FIELDS
        ]
        for kind, _name in _ID_FIELDS.items():
            keys = sorted(key for record_kind, key, _a in records if record_kind == kind)
            value = keys[0] if keys else None
            values.append(int(value) if value and kind == RecordKind.SCL_MEMBER else value)
        values.append(
            CustomerStatus.INACTIVE
            if not records and before[status] == CustomerStatus.ACTIVE
            else before[status]
        )
        old = list(before)
        old[address] = json.loads(old[address]) if isinstance(old[address], str) else old[address]
        if values != old:
            changed.append((cid, *values))

    _refresh(
        list(counter_ids - gained),
        projected=changed,
        gained=list(gained),
        events=list(gained_from_events) if gained and gained_from_events else None,
    )
    return [ProjectedCustomer(*row) for row in changed]


def _as_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _converters() -> list[Callable[[Any], Any] | None]:
    """How each record-derived value goes into its array: what get_db_prep_save would make of
    it, without its cost per value (array_literal writes the rest as text)."""
    converters: list[Callable[[Any], Any] | None] = []
    for name in _RECORD_FIELDS:
        field = Customer._meta.get_field(name)
        assert isinstance(field, models.Field)  # each of _RECORD_FIELDS is a column of its own
        kind = field.get_internal_type()
        if kind == "JSONField":
            converters.append(json.dumps)
        elif kind in ("CharField", "EmailField", "TextField"):
            converters.append(_as_text)
        else:
            converters.append(None)
    return converters


def counters_refresh_all(*, batch_size: int = 5000) -> int:
    """Nightly: the 30-day and 365-day windows move even when no event arrives; and bookings'
    day parts follow the club's time zone if it changed (everyone is recounted after)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT timezone FROM public.tenants_tenant WHERE schema_name = current_schema()"
        )
        row = cursor.fetchone()
    if row:
        booking_day_parts_refresh(tz=row[0])
    ids = list(
        Customer.objects.exclude(status__in=[CustomerStatus.MERGED, CustomerStatus.DELETED])
        .order_by("id")
        .values_list("id", flat=True)
    )
    for start in range(0, len(ids), batch_size):
        customers_refresh_counters(customer_ids=ids[start : start + batch_size])
    return len(ids)


if ProjectedCustomer._fields != ("id", *_RECORD_FIELDS):  # kept in step by hand
    raise RuntimeError("ProjectedCustomer must list id and _RECORD_FIELDS, in that order.")
