"""Per-request batching for the customer fields that live in other tables (identities, notes,
the timeline): the first customer to ask loads the answer for every customer the request has
seen so far, in one query, so a page of customers costs the same whatever its size.

Execution is synchronous (graphene 3 with Django), so a cache on the request is all a
DataLoader would give us. Resolvers that return customers call `customers_seen`; mutations call
`forget` after a write so the payload reads fresh data.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from profiles.models import Activity, Customer, CustomerNote
from profiles.selectors import customer_identities

_STORE = "_profiles_graphql_batches"


def _store(info) -> dict[str, dict]:
    store = getattr(info.context, _STORE, None)
    if store is None:
        store = {"seen": {}, "loaded": {}}
        setattr(info.context, _STORE, store)
    return store


def customers_seen(info, customers: Iterable[Customer]) -> None:
    """Remember customers about to be answered, so their fields load in one go."""
    seen = _store(info)["seen"]
    for customer in customers:
        seen.setdefault(customer.pk, customer)


def forget(info) -> None:
    """Drop everything loaded so far (after a write, which may have changed it)."""
    if hasattr(info.context, _STORE):
        delattr(info.context, _STORE)


def batched(
    info,
    key: Hashable,
    customer: Customer,
    load: Callable[[list[Customer]], dict[UUID, Any]],
) -> Any:
    """`load(customers)` -> {customer id: value}, run once for every customer seen and not
    yet loaded under `key`; then this customer's value from the cache."""
    store = _store(info)
    results = store["loaded"].setdefault(key, {})
    if customer.pk not in results:
        store["seen"].setdefault(customer.pk, customer)
        pending = [c for pk, c in store["seen"].items() if pk not in results]
        results.update(load(pending))
    return results[customer.pk]


# --- the loads ---------------------------------------------------------------------------------


def load_identities(customers: list[Customer]) -> dict[UUID, list[dict]]:
    return customer_identities(customers=customers)


def load_notes(customers: list[Customer]) -> dict[UUID, list[CustomerNote]]:
    """Each customer's notes, newest first, with those of customers merged into it (as
    `profiles.selectors.customer_notes`), for all of them in one query."""
    out: dict[UUID, list[CustomerNote]] = {c.pk: [] for c in customers}
    notes = (
        CustomerNote.objects.filter(
            Q(customer_id__in=out.keys()) | Q(customer__merged_into_id__in=out.keys())
        )
        .annotate(_merged_into_id=F("customer__merged_into_id"))
        .order_by("-created_at", "-id")
    )
    for note in notes:
        if note.customer_id in out:
            out[note.customer_id].append(note)
        if note._merged_into_id in out and note._merged_into_id != note.customer_id:
            out[note._merged_into_id].append(note)
    return out


def _activities(ids: Iterable[UUID], category: str | None) -> QuerySet[Activity]:
    queryset = Activity.objects.filter(customer_id__in=list(ids))
    if category:
        queryset = queryset.filter(category=category)
    return queryset


def load_timeline_page(
    customers: list[Customer],
    *,
    first: int,
    after: tuple[datetime, int] | None,
    category: str | None,
) -> dict[UUID, list[Activity]]:
    """Up to `first + 1` activities of each customer, newest first, older than `after`: the
    extra one says whether there is a next page. One query for all of them (a window ranks
    each customer's activities, and only the top `first + 1` of each leave the database)."""
    out: dict[UUID, list[Activity]] = {c.pk: [] for c in customers}
    queryset = _activities(out.keys(), category)
    if after is not None:
        occurred_at, activity_id = after
        queryset = queryset.filter(
            Q(occurred_at__lt=occurred_at) | Q(occurred_at=occurred_at, id__lt=activity_id)
        )
    ranked = (
        queryset.annotate(
            _rank=Window(
                RowNumber(),
                partition_by=[F("customer_id")],
                order_by=[F("occurred_at").desc(), F("id").desc()],
            )
        )
        .filter(_rank__lte=first + 1)
        .order_by("customer_id", "_rank")
    )
    for activity in ranked:
        assert activity.customer_id is not None  # each is one of `customers`' (_activities)
        out[activity.customer_id].append(activity)
    return out


def load_timeline_total(customers: list[Customer], *, category: str | None) -> dict[UUID, int]:
    """How many activities each customer has (in `category`), in one grouped query."""
    out = dict.fromkeys((c.pk for c in customers), 0)
    rows = (
        _activities(out.keys(), category)
        .order_by()
        .values("customer_id")
        .annotate(n=Count("id"))
        .values_list("customer_id", "n")
    )
    out.update(rows)
    return out


# --- cursors -----------------------------------------------------------------------------------

_CURSOR_PREFIX = "activity:"


def activity_cursor(activity: Activity) -> str:
    """Opaque to clients: the activity's place in the timeline (time, then id)."""
    raw = f"{_CURSOR_PREFIX}{activity.occurred_at.isoformat()}|{activity.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def parse_activity_cursor(cursor: str) -> tuple[datetime, int] | None:
    """The (time, id) of a cursor, or None if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if not raw.startswith(_CURSOR_PREFIX):
        return None
    moment, _, activity_id = raw.removeprefix(_CURSOR_PREFIX).rpartition("|")
    try:
        occurred_at = datetime.fromisoformat(moment)
        number = int(activity_id)
    except ValueError:
        return None
    if occurred_at.tzinfo is None:
        return None
    return occurred_at, number
