"""A customer's profile, derived from its source records and its timeline.

Two parts, so an event that only adds to the timeline (most of them) costs one SQL statement:

- `customers_project`: the fields the records observed. For each field, the newest observation
  (event timestamp, then event id) across the customer's records; strong ids from the records
  themselves. Then the counters, as below.
- `customers_refresh_counters`: one UPDATE over an aggregate of the timeline: last activity,
  30-day activity and booking counts, lifetime value, 365-day competition entries, and the
  lifecycle stage, from the first rule that holds:

    MEMBER     membership status ACTIVE or SUSPENDED; ADVOCATE instead when also a member for
               5+ years with 3+ competition entries in the last 365 days
    CHURNED    membership status LAPSED, RESIGNED or DECEASED
    CUSTOMER   has paid for something or played a round
    PROSPECT   has a golf profile or made a booking
    LEAD       has opened or clicked a message
    SUBSCRIBER anything else (a contact the club can write to)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from crm.db import bulk_update_rows
from profiles.models import Customer, CustomerStatus, RecordKind, SourceRecord

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

_COUNTERS_SQL = """
WITH agg AS (
    SELECT ids.id,
           max(a.occurred_at) FILTER (WHERE a.counts_as_activity) AS last_activity,
           count(a.id) FILTER (WHERE a.counts_as_activity AND a.occurred_at >= %(d30)s) AS a30,
           count(a.id) FILTER (
               WHERE a.type = 'teetime.booking.created' AND a.occurred_at >= %(d30)s) AS b30,
           coalesce(sum(a.amount_cents) FILTER (
               WHERE a.type IN ('scl.payment.received', 'scl.payment.refunded')), 0) AS ltv,
           count(a.id) FILTER (
               WHERE a.type = 'teetime.competition.entry.created'
                 AND a.occurred_at >= %(d365)s) AS e365,
           coalesce(bool_or(a.type IN ('scl.payment.received', 'teetime.booking.completed')),
                    false) AS purchased,
           coalesce(bool_or(a.type = 'teetime.booking.created'), false) AS booked,
           coalesce(bool_or(a.type IN ('messaging.email.opened', 'messaging.email.clicked')),
                    false) AS engaged
    FROM unnest(%(ids)s::uuid[]) AS ids(id)
    LEFT JOIN profiles_activity AS a ON a.customer_id = ids.id
    GROUP BY ids.id
)
UPDATE profiles_customer AS c SET
    last_activity_at = agg.last_activity,
    activity_count_30d = agg.a30,
    booking_count_30d = agg.b30,
    lifetime_value = agg.ltv,
    competition_entry_count_365d = agg.e365,
    lifecycle_stage = CASE
        WHEN c.membership_status IN ('ACTIVE', 'SUSPENDED') THEN
            CASE WHEN c.member_since <= %(five_years_ago)s AND agg.e365 >= 3
                 THEN 'ADVOCATE' ELSE 'MEMBER' END
        WHEN c.membership_status IN ('LAPSED', 'RESIGNED', 'DECEASED') THEN 'CHURNED'
        WHEN agg.purchased THEN 'CUSTOMER'
        WHEN agg.booked OR EXISTS (
            SELECT 1 FROM profiles_sourcerecord AS r
            WHERE r.customer_id = c.id AND r.kind = 'teetime') THEN 'PROSPECT'
        WHEN agg.engaged THEN 'LEAD'
        ELSE 'SUBSCRIBER'
    END
FROM agg
WHERE c.id = agg.id AND c.status NOT IN ('MERGED', 'DELETED')
"""


def _column_value(name: str, value: Any) -> Any:
    if value is None:
        return _DEFAULTS.get(name, "")
    if name in _DATE_FIELDS:
        return date.fromisoformat(value)
    if name == "handicap":
        return Decimal(str(value)).quantize(Decimal("0.1"))
    return value


def customers_refresh_counters(*, customer_ids: Iterable[UUID]) -> None:
    ids = [cid for cid in set(customer_ids) if cid]
    if not ids:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNTERS_SQL,
            {
                "ids": ids,
                "d30": now - timedelta(days=30),
                "d365": now - timedelta(days=365),
                "five_years_ago": timezone.localdate() - timedelta(days=round(5 * 365.25)),
            },
        )


def customers_project(*, customer_ids: Iterable[UUID]) -> list[Customer]:
    """Recompute these customers' profiles from their records, then their counters. Returns
    the customers whose record-derived fields changed (what `crm.profile.updated` is about)."""
    ids = [cid for cid in set(customer_ids) if cid]
    if not ids:
        return []
    customers = {
        c.id: c
        for c in Customer.objects.filter(id__in=ids).exclude(
            status__in=[CustomerStatus.MERGED, CustomerStatus.DELETED]
        )
    }
    records_of: dict[UUID, list[SourceRecord]] = {cid: [] for cid in customers}
    for record in SourceRecord.objects.filter(customer_id__in=customers.keys()):
        records_of[record.customer_id].append(record)

    changed: list[Customer] = []
    for cid, customer in customers.items():
        before = {name: getattr(customer, name) for name in _RECORD_FIELDS}
        newest: dict[str, tuple[str, str, Any]] = {}
        for record in records_of[cid]:
            for name, (value, stamp, tiebreak) in record.attributes.items():
                if name in newest and (stamp, tiebreak) <= newest[name][:2]:
                    continue
                newest[name] = (stamp, tiebreak, value)
        for name in PROFILE_FIELDS:
            setattr(
                customer, name, _column_value(name, newest[name][2] if name in newest else None)
            )
        for kind, name in _ID_FIELDS.items():
            keys = sorted(r.key for r in records_of[cid] if r.kind == kind)
            value = keys[0] if keys else None
            setattr(
                customer, name, int(value) if value and kind == RecordKind.SCL_MEMBER else value
            )
        if not records_of[cid] and customer.status == CustomerStatus.ACTIVE:
            customer.status = CustomerStatus.INACTIVE
        if any(getattr(customer, name) != value for name, value in before.items()):
            changed.append(customer)
    bulk_update_rows(changed, list(_RECORD_FIELDS))
    customers_refresh_counters(customer_ids=customers.keys())
    return changed


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
