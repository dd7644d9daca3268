"""Bring customers in line with their records after records or links changed.

`identity_recompute(seed_record_ids)` finds every record that could be affected (linked, sharing
an email or phone, or belonging to a customer that owns one of them), clusters them
(profiles.identity), and assigns each cluster a customer: the one a staff merge named, else the
one its records first belonged to (which is what revives a customer on an unmerge), else the one
that holds most of them, else the oldest, else a new one. Customers left without records are
marked MERGED into the customer that took their records. Activities follow their records.
All in the caller's transaction; set-based apart from the in-memory clustering.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from uuid import UUID

from django.db import connection
from django.db.models import Q

from crm.db import bulk_update_rows
from profiles.identity import Cluster, Conflict, Node, cluster
from profiles.models import (
    Customer,
    CustomerStatus,
    DuplicateCandidate,
    LinkReason,
    RecordLink,
    SourceRecord,
)

_NO_IDS = {
    "auth_user_id": None,
    "scl_member_id": None,
    "teetime_player_id": None,
    "messaging_contact_id": None,
}

# A component bigger than this is a data problem (one email on thousands of records): such
# groups never merge anyway, and loading them all would only slow every event down.
MAX_COMPONENT = 20_000


@dataclass
class RecomputeResult:
    created: set[UUID] = field(default_factory=set)
    touched: set[UUID] = field(default_factory=set)  # every customer whose records changed
    merged: dict[UUID, UUID] = field(default_factory=dict)  # loser -> winner


def _component(
    seed_ids: set[int],
) -> tuple[dict[int, SourceRecord], list[tuple[int, int, str, UUID | None]]]:
    records: dict[int, SourceRecord] = {}
    links: dict[int, tuple[int, int, str, UUID | None]] = {}
    frontier = set(seed_ids)
    seen_emails: set[str] = set()
    seen_phones: set[str] = set()
    seen_customers: set[UUID] = set()
    while frontier and len(records) < MAX_COMPONENT:
        batch = list(SourceRecord.objects.filter(id__in=frontier).exclude(id__in=records.keys()))
        for record in batch:
            records[record.id] = record
        emails = {r.email for r in batch if r.email} - seen_emails
        phones = {r.phone for r in batch if r.phone} - seen_phones
        customers = {r.customer_id for r in batch if r.customer_id} - seen_customers
        seen_emails |= emails
        seen_phones |= phones
        seen_customers |= customers
        new_ids: set[int] = set()
        if emails or phones or customers:
            new_ids |= set(
                SourceRecord.objects.filter(
                    Q(email__in=emails) | Q(phone__in=phones) | Q(customer_id__in=customers)
                ).values_list("id", flat=True)
            )
        batch_ids = [r.id for r in batch]
        for link in RecordLink.objects.filter(
            Q(a_id__in=batch_ids) | Q(b_id__in=batch_ids), active=True
        ):
            links[link.id] = (link.a_id, link.b_id, link.reason, link.winner_id)
            new_ids |= {link.a_id, link.b_id}
        frontier = new_ids - records.keys()
    return records, list(links.values())


def _assign(
    clusters: list[Cluster],
    records: dict[int, SourceRecord],
    designated: dict[int, UUID],
) -> dict[int, UUID | None]:
    """Cluster index -> customer id (None: needs a new customer)."""
    candidate_ids = (
        {r.customer_id for r in records.values() if r.customer_id}
        | {r.first_customer_id for r in records.values() if r.first_customer_id}
        | set(designated.values())
    )
    created_at = dict(Customer.objects.filter(id__in=candidate_ids).values_list("id", "created_at"))
    scored: list[tuple[tuple, int, UUID]] = []
    for index, group in enumerate(clusters):
        node_ids = [node.id for node in group.nodes]
        current = Counter(records[i].customer_id for i in node_ids if records[i].customer_id)
        first = Counter(
            records[i].first_customer_id for i in node_ids if records[i].first_customer_id
        )
        named = {designated[i] for i in node_ids if i in designated}
        for customer_id in set(current) | set(first) | named:
            if customer_id not in created_at:
                continue  # erased or gone
            score = (
                customer_id in named,
                first[customer_id],
                current[customer_id],
                -created_at[customer_id].timestamp(),
                str(customer_id),
            )
            scored.append((score, index, customer_id))
    scored.sort(reverse=True)
    assignment: dict[int, UUID | None] = {}
    taken: set[UUID] = set()
    for _score, index, customer_id in scored:
        if index in assignment or customer_id in taken:
            continue
        assignment[index] = customer_id
        taken.add(customer_id)
    for index in range(len(clusters)):
        assignment.setdefault(index, None)
    return assignment


def identity_recompute(*, seed_record_ids: set[int]) -> tuple[RecomputeResult, list[Conflict]]:
    result = RecomputeResult()
    if not seed_record_ids:
        return result, []
    records, link_rows = _component(seed_record_ids)
    nodes = [Node(r.id, r.kind, r.key, r.email, r.phone) for r in records.values()]
    clusters, conflicts = cluster(nodes, [(a, b, reason) for a, b, reason, _w in link_rows])

    # A staff merge names its winner: it applies to the records of that merge's link.
    designated: dict[int, UUID] = {}
    for a, b, reason, winner in link_rows:
        if reason == LinkReason.MANUAL_MERGE and winner:
            designated[a] = designated[b] = winner
    assignment = _assign(clusters, records, designated)

    new_customers = {index: Customer() for index, cid in assignment.items() if cid is None}
    Customer.objects.bulk_create(new_customers.values())
    for index, customer in new_customers.items():
        assignment[index] = customer.id
        result.created.add(customer.id)

    previous_owner = {r.id: r.customer_id for r in records.values()}
    changed: list[SourceRecord] = []
    for index, group in enumerate(clusters):
        owner = assignment[index]
        for node in group.nodes:
            record = records[node.id]
            how, confidence = group.matched_by[node.id]
            if (record.customer_id, record.matched_by, record.confidence) != (
                owner,
                how,
                confidence,
            ) or record.first_customer_id is None:
                record.customer_id = owner
                record.first_customer_id = record.first_customer_id or owner
                record.matched_by, record.confidence = how, confidence
                changed.append(record)
    bulk_update_rows(changed, ["customer", "first_customer", "matched_by", "confidence"])

    # Customers that lost every record were merged into whoever took most of them.
    owners_now = set(assignment.values())
    went_to: dict[UUID, Counter] = defaultdict(Counter)
    for record in records.values():
        before = previous_owner[record.id]
        if before and before != record.customer_id:
            went_to[before][record.customer_id] += 1
        result.touched.add(record.customer_id)
        if before:
            result.touched.add(before)
    for loser, destinations in went_to.items():
        if loser in owners_now:
            continue
        winner = max(destinations.items(), key=lambda item: (item[1], str(item[0])))[0]
        result.merged[loser] = winner
    for loser, winner in result.merged.items():
        Customer.objects.filter(id=loser).exclude(status=CustomerStatus.DELETED).update(
            status=CustomerStatus.MERGED, merged_into_id=winner, **_NO_IDS
        )
        # Earlier losers of this loser now answer with the new winner.
        Customer.objects.filter(merged_into_id=loser).update(merged_into_id=winner)
    # A customer that got records back (an unmerge) answers for itself again.
    Customer.objects.filter(id__in=owners_now, status=CustomerStatus.MERGED).update(
        status=CustomerStatus.ACTIVE, merged_into=None
    )

    if changed:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE profiles_activity AS a SET customer_id = r.customer_id
                FROM profiles_sourcerecord AS r
                WHERE a.record_id = r.id AND r.id = ANY(%s)
                  AND a.customer_id IS DISTINCT FROM r.customer_id
                """,
                [[record.id for record in changed]],
            )
    _record_conflicts(conflicts, records)
    result.touched.discard(None)
    return result, conflicts


def _record_conflicts(conflicts: list[Conflict], records: dict[int, SourceRecord]) -> None:
    rows = []
    for conflict in conflicts:
        a, b = records[conflict.a.id].customer_id, records[conflict.b.id].customer_id
        if not a or not b or a == b:
            continue
        first, second = sorted((a, b), key=str)
        rows.append(
            DuplicateCandidate(
                customer_a_id=first, customer_b_id=second, reason=conflict.reason,
                detail=conflict.detail[:300],
            )
        )  # fmt: skip
    DuplicateCandidate.objects.bulk_create(rows, ignore_conflicts=True)
