"""What segments hold about a person, for erasure and export (profiles.erasure)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F

from profiles.models import Customer
from segments.models import Segment, SegmentMembership, SegmentMembershipChange


def segments_customer_erase(customer: Customer, identifiers: dict[str, set[str]]) -> None:
    """An erased person leaves every segment, and the change log forgets they were ever in
    one (it is a history of who was in which audience)."""
    left = (
        SegmentMembership.objects.filter(customer=customer)
        .values("segment_id")
        .annotate(n=Count("id"))
    )
    for row in left:
        Segment.objects.filter(id=row["segment_id"], member_count__gte=row["n"]).update(
            member_count=F("member_count") - row["n"]
        )
    SegmentMembership.objects.filter(customer=customer).delete()
    SegmentMembershipChange.objects.filter(customer=customer).delete()


def segments_customer_export(
    customer: Customer, identifiers: dict[str, set[str]]
) -> dict[str, Any]:
    return {
        "memberships": [
            {"segmentId": str(m.segment_id), "segment": m.segment.name, "source": m.source,
             "enteredAt": m.entered_at.isoformat()}
            for m in SegmentMembership.objects.filter(customer=customer).select_related("segment")
        ],
        "changes": [
            {"segmentId": str(c.segment_id), "segment": c.segment.name, "kind": c.kind,
             "at": c.at.isoformat()}
            for c in SegmentMembershipChange.objects.filter(customer=customer)
            .select_related("segment").order_by("at", "id")
        ],
    }  # fmt: skip


EXPORT_MODELS = (SegmentMembership, SegmentMembershipChange)
