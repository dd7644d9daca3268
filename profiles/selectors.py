"""Reads of customer profiles."""

from __future__ import annotations

import uuid
from typing import TypedDict

from django.db.models import Q, QuerySet

from profiles.identity import Node
from profiles.models import (
    Activity,
    Customer,
    CustomerNote,
    CustomerStatus,
    RecordKind,
    SourceRecord,
)
from profiles.normalise import normalise_email


class CustomerFilters(TypedDict, total=False):
    email: str
    phone_number: str
    scl_member_id: int
    teetime_player_id: str
    messaging_contact_id: str
    q: str
    segment_id: uuid.UUID


def customer_list(*, filters: CustomerFilters | None = None) -> QuerySet[Customer]:
    """Customers matching every given filter. `q` searches names, email, phone and source ids.

    Values arrive normalised (lower-case email, E.164 phone) from the API's input layer.
    """
    filters = filters or {}
    queryset = Customer.objects.exclude(status__in=[CustomerStatus.MERGED, CustomerStatus.DELETED])
    for name in (
        "email",
        "phone_number",
        "scl_member_id",
        "teetime_player_id",
        "messaging_contact_id",
    ):
        if filters.get(name) not in (None, ""):
            queryset = queryset.filter(**{name: filters[name]})
    if filters.get("segment_id"):
        # The segment's materialised members (segments.models.SegmentMembership).
        queryset = queryset.filter(segment_memberships__segment_id=filters["segment_id"])
    term = (filters.get("q") or "").strip()
    if term:
        match = (
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email__icontains=term)
            | Q(phone_number__icontains=term)
            | Q(teetime_player_id=term)
            | Q(messaging_contact_id=term)
            | Q(auth_user_id=term)
        )
        if term.isdigit() and len(term) <= 18:  # bigint range
            match |= Q(scl_member_id=int(term))
        queryset = queryset.filter(match)
    return queryset


def customer_get(*, customer_id: str) -> Customer | None:
    try:
        key = uuid.UUID(str(customer_id))
    except ValueError:
        return None
    return Customer.objects.filter(id=key).first()


def customer_get_current(*, customer_id: str) -> tuple[Customer | None, Customer | None]:
    """(asked, current): a merged-away customer answers with the customer it became."""
    asked = customer_get(customer_id=customer_id)
    if asked is None or asked.merged_into_id is None:
        return asked, asked
    return asked, Customer.objects.filter(id=asked.merged_into_id).first()


_IDENTITY_TYPES: dict[str, str] = {
    RecordKind.SCL_MEMBER: "sclMemberId",
    RecordKind.TEETIME_PLAYER: "teetimePlayerId",
    RecordKind.MESSAGING_CONTACT: "messagingContactId",
    RecordKind.AUTH_USER: "authUserId",
    RecordKind.EMAIL: "email",
    RecordKind.PHONE: "phoneNumber",
    # The booker's guest form names a partner by booking and TeeTime player: `<bookingId>:<id>`.
    RecordKind.GUEST_FORM: "guestForm",
}


def customer_identities(*, customers: list[Customer]) -> dict:
    """Every identifier linked to each customer, with where it came from and how it was
    matched: `{customer id: [{"type", "value", "source", "matchedBy", "confidence"}]}`."""
    out: dict = {customer.id: [] for customer in customers}
    records = sorted(
        SourceRecord.objects.filter(customer_id__in=out.keys()),
        key=lambda r: Node(r.id, r.kind, r.key).sort_key,  # the most authoritative source first
    )
    for record in records:
        entries = out[record.customer_id]
        source = record.kind if record.kind in ("scl", "teetime", "messaging") else "crm"
        entries.append(
            {
                "type": _IDENTITY_TYPES[record.kind],
                "value": record.key,
                "source": source,
                "matchedBy": record.matched_by or "source",
                "confidence": record.confidence,
            }
        )
        if record.kind not in (RecordKind.EMAIL, RecordKind.PHONE):
            for kind, value in ((RecordKind.EMAIL, record.email), (RecordKind.PHONE, record.phone)):
                if value and not any(e["value"] == value for e in entries):
                    entries.append(
                        {
                            "type": _IDENTITY_TYPES[kind],
                            "value": value,
                            "source": source,
                            "matchedBy": record.matched_by or "source",
                            "confidence": record.confidence,
                        }
                    )
    return out


def customer_resolve(*, hints: dict) -> list[Customer]:
    """The customers these identity hints point to: strong ids first; email and phone only when
    no strong id was given. More than one means the hints are ambiguous (a shared email)."""
    strong = [
        (RecordKind.SCL_MEMBER, hints.get("sclMemberId")),
        (RecordKind.TEETIME_PLAYER, hints.get("teetimePlayerId")),
        (RecordKind.MESSAGING_CONTACT, hints.get("messagingContactId")),
        (RecordKind.AUTH_USER, hints.get("authUserId")),
    ]
    query = Q()
    for kind, value in strong:
        if value not in (None, ""):
            query |= Q(kind=kind, key=str(value))
    if not query:
        if hints.get("email"):
            query |= Q(email=normalise_email(hints["email"]))
        if hints.get("phoneNumber"):
            query |= Q(phone=hints["phoneNumber"])
    if not query:
        return []
    ids = set(SourceRecord.objects.filter(query).values_list("customer_id", flat=True)) - {None}
    return list(
        Customer.objects.filter(id__in=ids)
        .exclude(status=CustomerStatus.DELETED)
        .order_by("created_at")
    )


def customer_activities(*, customer: Customer, category: str | None = None) -> QuerySet[Activity]:
    queryset = Activity.objects.filter(customer=customer).order_by("-occurred_at", "-id")
    if category:
        queryset = queryset.filter(category=category)
    return queryset


def customer_notes(*, customer: Customer) -> QuerySet[CustomerNote]:
    merged_ids = list(Customer.objects.filter(merged_into=customer).values_list("id", flat=True))
    return CustomerNote.objects.filter(customer_id__in=[customer.id, *merged_ids])
