"""A customer's profile, derived from its source records and its timeline.

Fields: for each field, the newest observation (event timestamp, then event id) across the
customer's records. Strong ids come from the records themselves. Counters are one aggregate
query over the timeline. Lifecycle stage, from the first rule that holds:

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
from profiles.models import Customer, CustomerStatus, LifecycleStage, RecordKind, SourceRecord

# Customer fields that records observe, with how a stored JSON value becomes the column value.
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
COUNTER_FIELDS = (
    "last_activity_at", "activity_count_30d", "booking_count_30d", "lifetime_value",
    "competition_entry_count_365d",
)  # fmt: skip

_AGGREGATES_SQL = """
SELECT ids.id,
       max(a.occurred_at) FILTER (WHERE a.counts_as_activity),
       count(a.id) FILTER (WHERE a.counts_as_activity AND a.occurred_at >= %(d30)s),
       count(a.id) FILTER (WHERE a.type = 'teetime.booking.created' AND a.occurred_at >= %(d30)s),
       coalesce(sum(a.amount_cents) FILTER (
           WHERE a.type IN ('scl.payment.received', 'scl.payment.refunded')), 0),
       count(a.id) FILTER (
           WHERE a.type = 'teetime.competition.entry.created' AND a.occurred_at >= %(d365)s),
       bool_or(a.type IN ('scl.payment.received', 'teetime.booking.completed')),
       bool_or(a.type = 'teetime.booking.created'),
       bool_or(a.type IN ('messaging.email.opened', 'messaging.email.clicked'))
FROM unnest(%(ids)s::uuid[]) AS ids(id)
LEFT JOIN profiles_activity AS a ON a.customer_id = ids.id
GROUP BY ids.id
"""


def _column_value(name: str, value: Any) -> Any:
    if value is None:
        return _DEFAULTS.get(name, "")
    if name in _DATE_FIELDS:
        return date.fromisoformat(value)
    if name == "handicap":
        return Decimal(str(value)).quantize(Decimal("0.1"))
    return value


def lifecycle_stage(
    customer: Customer, *, purchased: bool, booked: bool, engaged: bool, golfer: bool
) -> str:
    status = customer.membership_status
    if status in ("ACTIVE", "SUSPENDED"):
        tenure_years = (
            (timezone.localdate() - customer.member_since).days / 365.25
            if customer.member_since
            else 0
        )
        if tenure_years >= 5 and customer.competition_entry_count_365d >= 3:
            return LifecycleStage.ADVOCATE
        return LifecycleStage.MEMBER
    if status in ("LAPSED", "RESIGNED", "DECEASED"):
        return LifecycleStage.CHURNED
    if purchased:
        return LifecycleStage.CUSTOMER
    if golfer or booked:
        return LifecycleStage.PROSPECT
    if engaged:
        return LifecycleStage.LEAD
    return LifecycleStage.SUBSCRIBER


def customers_project(*, customer_ids: Iterable[UUID]) -> list[Customer]:
    """Recompute the profile of these customers from records and timeline; returns those whose
    stored profile changed."""
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

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _AGGREGATES_SQL,
            {
                "ids": list(customers),
                "d30": now - timedelta(days=30),
                "d365": now - timedelta(days=365),
            },
        )
        aggregates = {row[0]: row[1:] for row in cursor.fetchall()}

    changed: list[Customer] = []
    for cid, customer in customers.items():
        before = {name: getattr(customer, name) for name in _ALL_FIELDS}
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
        (last, a30, b30, ltv, e365, purchased, booked, engaged) = aggregates.get(
            cid, (None, 0, 0, 0, 0, False, False, False)
        )
        customer.last_activity_at, customer.activity_count_30d, customer.booking_count_30d = (
            last,
            a30,
            b30,
        )
        customer.lifetime_value, customer.competition_entry_count_365d = ltv, e365
        golfer = any(r.kind == RecordKind.TEETIME_PLAYER for r in records_of[cid])
        customer.lifecycle_stage = lifecycle_stage(
            customer,
            purchased=bool(purchased),
            booked=bool(booked),
            engaged=bool(engaged),
            golfer=golfer,
        )
        if not records_of[cid] and customer.status == CustomerStatus.ACTIVE:
            customer.status = CustomerStatus.INACTIVE
        if any(getattr(customer, name) != value for name, value in before.items()):
            changed.append(customer)
    bulk_update_rows(changed, list(_ALL_FIELDS))
    return changed


_ALL_FIELDS = (
    *PROFILE_FIELDS, *_ID_FIELDS.values(), *COUNTER_FIELDS, "lifecycle_stage", "status",
)  # fmt: skip


def counters_refresh_all(*, batch_size: int = 5000) -> int:
    """Nightly: the 30-day and 365-day windows move even when no event arrives."""
    ids = list(
        Customer.objects.exclude(status__in=[CustomerStatus.MERGED, CustomerStatus.DELETED])
        .order_by("id")
        .values_list("id", flat=True)
    )
    for start in range(0, len(ids), batch_size):
        customers_project(customer_ids=ids[start : start + batch_size])
    return len(ids)
