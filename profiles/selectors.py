"""Reads of customer profiles."""

from __future__ import annotations

import uuid
from typing import TypedDict

from django.db.models import Q, QuerySet

from profiles.models import Customer


class CustomerFilters(TypedDict, total=False):
    email: str
    phone_number: str
    scl_member_id: int
    teetime_player_id: str
    messaging_contact_id: str
    q: str


def customer_list(*, filters: CustomerFilters | None = None) -> QuerySet[Customer]:
    """Customers matching every given filter. `q` searches names, email, phone and source ids.

    Values arrive normalised (lower-case email, E.164 phone) from the API's input layer.
    """
    filters = filters or {}
    queryset = Customer.objects.all()
    for name in (
        "email",
        "phone_number",
        "scl_member_id",
        "teetime_player_id",
        "messaging_contact_id",
    ):
        if filters.get(name) not in (None, ""):
            queryset = queryset.filter(**{name: filters[name]})
    term = (filters.get("q") or "").strip()
    if term:
        match = (
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email__icontains=term)
            | Q(phone_number__contains=term)
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
