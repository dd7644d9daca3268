"""Reads of segments: lists, members, previews and the pickers the rule builder offers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from crm.tenants.selectors import tenant_current
from profiles.models import Customer
from segments.compiler import Compiler, base_customers
from segments.models import Segment, SegmentMembership, SegmentMembershipChange
from segments.rules import rules_parse

PREVIEW_SAMPLE = 10


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.all()


def segment_get(*, segment_id: Any) -> Segment | None:
    try:
        key = uuid.UUID(str(segment_id))
    except ValueError:
        return None
    return Segment.objects.filter(pk=key).first()


def segment_members(*, segment: Segment) -> QuerySet[Customer]:
    """The materialised members (as of the last refresh), by name."""
    return base_customers().filter(segment_memberships__segment=segment)


def segment_changes(*, segment: Segment) -> QuerySet[SegmentMembershipChange]:
    return SegmentMembershipChange.objects.filter(segment=segment).select_related("customer")


def segment_audience(*, rules: Any) -> QuerySet[Customer]:
    """Who a rule matches right now (one query; raises RuleError for a bad rule)."""
    return Compiler(tz=tenant_current().timezone).queryset(rules_parse(rules))


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[Customer]


def segment_preview(*, rules: Any) -> Preview:
    audience = segment_audience(rules=rules)
    sample = list(audience.order_by("last_name", "first_name", "id")[:PREVIEW_SAMPLE])
    count = len(sample) if len(sample) < PREVIEW_SAMPLE else audience.count()
    return Preview(count=count, sample=sample)


def segment_ids_of_customer(*, customer: Customer) -> list[uuid.UUID]:
    return list(
        SegmentMembership.objects.filter(customer=customer).values_list("segment_id", flat=True)
    )


def picker_values() -> dict[str, list[Any]]:
    """What the builder offers in its pickers: the club's own tiers, genders, home clubs and
    tags as they occur in its data, and its segments."""
    customers = base_customers()

    def distinct(column: str) -> list[str]:
        return sorted(
            value
            for value in customers.exclude(**{column: ""})
            .values_list(column, flat=True)
            .order_by(column)  # the model's ordering would make DISTINCT repeat values
            .distinct()[:200]
            if value
        )

    tags = sorted(
        {
            tag
            for row in customers.exclude(tags=[]).values_list("tags", flat=True)[:5000]
            for tag in row
        }
    )
    return {
        "tiers": distinct("membership_tier"),
        "genders": distinct("gender"),
        "homeClubs": distinct("home_club_id"),
        "tags": tags[:200],
        "segments": [
            {"id": str(segment_id), "name": name}
            for segment_id, name in Segment.objects.values_list("id", "name")
        ],
    }
