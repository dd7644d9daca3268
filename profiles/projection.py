"""A customer's profile, derived from its source records and its timeline.

- `customers_project`: the fields the records observed. For each field, the newest observation
  (event timestamp, then event id) across the customer's records; strong ids from the records
  themselves. Computed in Python, written together with the counters below: one UPDATE for
  all the customers of an apply batch, customers that only gained timeline entries included.
- `customers_refresh_counters`: the counters alone: last activity, 30-day activity and booking
  counts, lifetime value, 365-day competition entries, and the lifecycle stage, from the first
  rule that holds:

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
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from crm.db import columns_of, temp_rows
from profiles.models import Customer, CustomerStatus, RecordKind

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

# One UPDATE for the customers in %(ids)s: their timeline aggregate, the lifecycle stage it gives
# with their (possibly just projected) membership, and the projected record-derived fields where
# `pg_temp._crm_projection` has a row. Per-customer LATERAL lookups keep it on the indexes
# (customer_id leads both activity indexes) whatever the planner's statistics say about tables
# that grow by a thousand rows a second; rows whose values do not change are not written.
_REFRESH_SQL = """
WITH agg AS MATERIALIZED (
    SELECT ids.id, s.*
    FROM unnest(%(ids)s::uuid[]) AS ids(id)
    CROSS JOIN LATERAL (
        SELECT max(a.occurred_at) FILTER (WHERE a.counts_as_activity) AS last_activity,
               count(*) FILTER (WHERE a.counts_as_activity AND a.occurred_at >= %(d30)s) AS a30,
               count(*) FILTER (
                   WHERE a.type = 'teetime.booking.created' AND a.occurred_at >= %(d30)s) AS b30,
               coalesce(sum(a.amount_cents) FILTER (
                   WHERE a.type IN ('scl.payment.received', 'scl.payment.refunded')), 0) AS ltv,
               count(*) FILTER (
                   WHERE a.type = 'teetime.competition.entry.created'
                     AND a.occurred_at >= %(d365)s) AS e365,
               coalesce(bool_or(a.type IN ('scl.payment.received', 'teetime.booking.completed')),
                        false) AS purchased,
               coalesce(bool_or(a.type = 'teetime.booking.created'), false) AS booked,
               coalesce(bool_or(a.type IN ('messaging.email.opened', 'messaging.email.clicked')),
                        false) AS engaged
        FROM profiles_activity AS a
        WHERE a.customer_id = ids.id
    ) AS s
)
UPDATE profiles_customer AS c SET {assignments}
    last_activity_at = agg.last_activity,
    activity_count_30d = agg.a30,
    booking_count_30d = agg.b30,
    lifetime_value = agg.ltv,
    competition_entry_count_365d = agg.e365,
    lifecycle_stage = {stage}
FROM agg {join}
WHERE c.id = agg.id AND c.id = ANY(%(ids)s::uuid[]) AND c.status NOT IN ('MERGED', 'DELETED')
  AND ({old_values} c.last_activity_at, c.activity_count_30d, c.booking_count_30d,
       c.lifetime_value, c.competition_entry_count_365d, c.lifecycle_stage)
      IS DISTINCT FROM
      ({new_values} agg.last_activity, agg.a30, agg.b30, agg.ltv, agg.e365, {stage})
"""
_STAGE_SQL = """CASE
        WHEN {status} IN ('ACTIVE', 'SUSPENDED') THEN
            CASE WHEN {since} <= %(five_years_ago)s AND agg.e365 >= 3
                 THEN 'ADVOCATE' ELSE 'MEMBER' END
        WHEN {status} IN ('LAPSED', 'RESIGNED', 'DECEASED') THEN 'CHURNED'
        WHEN agg.purchased THEN 'CUSTOMER'
        WHEN agg.booked OR (SELECT bool_or(r.kind = 'teetime') FROM profiles_sourcerecord AS r
                            WHERE r.customer_id = agg.id) THEN 'PROSPECT'
        WHEN agg.engaged THEN 'LEAD'
        ELSE 'SUBSCRIBER'
    END"""
_PROJECTION_TABLE = "_crm_projection"


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
        join = f"LEFT JOIN pg_temp.{_PROJECTION_TABLE} AS p ON p.id = agg.id"
        assignments = "".join(f"{name} = {value[name]}, " for name in _RECORD_FIELDS)
        old_values = "".join(f"c.{name}, " for name in _RECORD_FIELDS)
        new_values = "".join(f"{value[name]}, " for name in _RECORD_FIELDS)
    else:
        value = {"membership_status": "c.membership_status", "member_since": "c.member_since"}
        join = assignments = old_values = new_values = ""
    stage = _STAGE_SQL.format(status=value["membership_status"], since=value["member_since"])
    return _REFRESH_SQL.format(
        assignments=assignments, stage=stage, join=join, old_values=old_values,
        new_values=new_values,
    )  # fmt: skip


def _refresh_params(ids: list[UUID]) -> dict[str, Any]:
    now = timezone.now()
    return {
        "ids": ids,
        "d30": now - timedelta(days=30),
        "d365": now - timedelta(days=365),
        "five_years_ago": timezone.localdate() - timedelta(days=round(5 * 365.25)),
    }


def _refresh(ids: list[UUID], *, projected: bool) -> int:
    """One UPDATE: counters and lifecycle stage of `ids`, and their record-derived fields from
    the projection table when `projected`. Writes only rows whose values change."""
    sql = _refresh_sql(projected=projected)
    with connection.cursor() as cursor:
        # Its cost estimate can pass jit_above_cost; compiling would take longer than running.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, _refresh_params(ids))
        return cursor.rowcount


def customers_refresh_counters(*, customer_ids: Iterable[UUID]) -> None:
    ids = [cid for cid in set(customer_ids) if cid]
    if ids:
        _refresh(ids, projected=False)


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
    *, customer_ids: Iterable[UUID], counters_for: Iterable[UUID] = ()
) -> list[ProjectedCustomer]:
    """Recompute these customers' profiles from their records, and the counters of these and
    of `counters_for` (customers that only gained timeline entries), in one UPDATE. Returns
    the customers whose record-derived fields changed (what `crm.profile.updated` is about)."""
    ids = {cid for cid in customer_ids if cid}
    counter_ids = ids | {cid for cid in counters_for if cid}
    if not counter_ids:
        return []
    customers: dict[UUID, tuple] = {}
    records_of: dict[UUID, list[tuple[str, str, dict]]] = {}
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {', '.join(_RECORD_FIELDS)} FROM profiles_customer "  # noqa: S608 - constant names
                "WHERE id = ANY(%s::uuid[]) AND status NOT IN (%s, %s)",
                [list(ids), str(CustomerStatus.MERGED), str(CustomerStatus.DELETED)],
            )
            for row in cursor.fetchall():
                customers[row[0]] = row[1:]
                records_of[row[0]] = []
            cursor.execute(
                "SELECT customer_id, kind, key, attributes FROM profiles_sourcerecord "
                "WHERE customer_id = ANY(%s::uuid[])",
                [list(customers)],
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

    with transaction.atomic(savepoint=False):  # the projection table lives in a transaction
        _write(changed, counter_ids)
    return [ProjectedCustomer(*row) for row in changed]


def _as_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _converters() -> list[Any]:
    """How each record-derived value goes into COPY: what get_db_prep_save would make of it,
    without its cost per value."""
    converters = []
    for name in _RECORD_FIELDS:
        kind = Customer._meta.get_field(name).get_internal_type()
        if kind == "JSONField":
            converters.append(json.dumps)
        elif kind in ("CharField", "EmailField", "TextField"):
            converters.append(_as_text)
        else:
            converters.append(None)
    return converters


def _write(changed: list[tuple], counter_ids: set[UUID]) -> None:
    if changed:
        converters = _converters()
        temp_rows(
            _PROJECTION_TABLE,
            columns_of(Customer, ["id", *_RECORD_FIELDS]),
            (
                (
                    row[0],
                    *(
                        convert(value) if convert else value
                        for convert, value in zip(converters, row[1:], strict=True)
                    ),
                )
                for row in changed
            ),
        )
    _refresh(list(counter_ids), projected=bool(changed))
    if changed:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE pg_temp.{_PROJECTION_TABLE}")


def counters_refresh_all(*, batch_size: int = 5000) -> int:
    """Nightly: the 30-day and 365-day windows move even when no event arrives."""
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
