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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

from django.db import connection

from crm.db import array_literal, insert_default_rows
from profiles.identity import Cluster, Conflict, Node, cluster
from profiles.models import (
    Customer,
    CustomerStatus,
    DuplicateCandidate,
    LinkReason,
)

# A component bigger than this is a data problem (one email on thousands of records): such
# groups never merge anyway, and loading them all would only slow every event down.
MAX_COMPONENT = 20_000


@dataclass
class RecomputeResult:
    created: set[UUID] = field(default_factory=set)
    touched: set[UUID] = field(default_factory=set)  # every customer whose records changed
    merged: dict[UUID, UUID] = field(default_factory=dict)  # loser -> winner
    owners: dict[int, UUID] = field(default_factory=dict)  # record id -> customer, as now
    # Customers a record moved from or to: their timelines changed by more than new entries
    # (the record's activities followed it).
    regrouped: set[UUID] = field(default_factory=set)


@dataclass(slots=True)
class _Record:
    """What resolution needs of a SourceRecord (never its attributes)."""

    id: int
    kind: str
    key: str
    email: str
    phone: str
    customer_id: UUID | None
    first_customer_id: UUID | None
    matched_by: str
    confidence: int


_COLUMNS = "id, kind, key, email, phone, customer_id, first_customer_id, matched_by, confidence"
_BY_ID = f"SELECT {_COLUMNS} FROM profiles_sourcerecord WHERE id = ANY(%s::bigint[])"  # noqa: S608
_NEIGHBOURS = (
    f"SELECT {_COLUMNS} FROM profiles_sourcerecord "  # noqa: S608 - constant column list
    "WHERE email = ANY(%s::text[]) OR phone = ANY(%s::text[]) OR customer_id = ANY(%s::uuid[])"
)
_LINKS = (
    "SELECT id, a_id, b_id, reason, winner_id FROM profiles_recordlink "
    "WHERE active AND (a_id = ANY(%s::bigint[]) OR b_id = ANY(%s::bigint[]))"
)
_MERGE_LOSERS = """
UPDATE profiles_customer AS c SET status = %s, merged_into_id = m.winner, auth_user_id = NULL,
    scl_member_id = NULL, teetime_player_id = NULL, messaging_contact_id = NULL
FROM unnest(%s::uuid[], %s::uuid[]) AS m(loser, winner)
WHERE c.id = m.loser AND c.status <> %s
"""
# Earlier losers of a loser now answer with its winner (a winner is never a loser here).
_FORWARD_EARLIER = """
UPDATE profiles_customer AS c SET merged_into_id = m.winner
FROM unnest(%s::uuid[], %s::uuid[]) AS m(loser, winner)
WHERE c.merged_into_id = m.loser
"""
_REVIVE = """
UPDATE profiles_customer SET status = %s, merged_into_id = NULL
WHERE id = ANY(%s::uuid[]) AND status = %s
"""
# `a.record_id = ANY(…)` keeps it on the record_id index whatever the statistics say (a join
# to the moved records alone was planned, on a new club, as a scan of every activity).
_ACTIVITIES_FOLLOW = """
UPDATE profiles_activity AS a SET customer_id = m.customer_id
FROM unnest(%(records)s::bigint[], %(customers)s::uuid[]) AS m(record_id, customer_id)
WHERE a.record_id = ANY(%(records)s::bigint[]) AND a.record_id = m.record_id
  AND a.customer_id IS DISTINCT FROM m.customer_id
"""


def _component(
    seed_ids: set[int], unsaved: Mapping[int, UnsavedRecord]
) -> tuple[dict[int, _Record], list[tuple[int, int, str, UUID | None]]]:
    """Every record connected to the seeds by a shared email, phone, customer or active link:
    about three queries per hop, whatever the number of records. Unsaved records count with
    their new email and phone: each one whose contact changed is a seed, so a stale value in
    the table can only find a record that is in the component anyway."""

    def loaded(row: tuple) -> _Record:
        record = _Record(*row)
        if record.id in unsaved:
            record.email, record.phone = unsaved[record.id].email, unsaved[record.id].phone
        return record

    records: dict[int, _Record] = {}
    links: dict[int, tuple[int, int, str, UUID | None]] = {}
    seen_emails: set[str] = set()
    seen_phones: set[str] = set()
    seen_customers: set[UUID] = set()
    with connection.cursor() as cursor:
        cursor.execute(_BY_ID, [array_literal(sorted(seed_ids))])
        arrived = [loaded(row) for row in cursor.fetchall()]
        while arrived and len(records) < MAX_COMPONENT:
            batch = []
            for record in arrived:
                if record.id not in records:
                    records[record.id] = record
                    batch.append(record)
            if not batch:
                break
            emails = {r.email for r in batch if r.email} - seen_emails
            phones = {r.phone for r in batch if r.phone} - seen_phones
            customers = {r.customer_id for r in batch if r.customer_id} - seen_customers
            seen_emails |= emails
            seen_phones |= phones
            seen_customers |= customers
            arrived = []
            if emails or phones or customers:
                cursor.execute(
                    _NEIGHBOURS,
                    [array_literal(sorted(emails)), array_literal(sorted(phones)),
                     array_literal(customers)],
                )  # fmt: skip
                arrived = [loaded(row) for row in cursor.fetchall() if row[0] not in records]
            batch_ids = [r.id for r in batch]
            batch_array = array_literal(batch_ids)
            cursor.execute(_LINKS, [batch_array, batch_array])
            ends: set[int] = set()
            for link_id, a, b, reason, winner in cursor.fetchall():
                links[link_id] = (a, b, reason, winner)
                ends |= {a, b}
            ends -= records.keys()
            ends -= {r.id for r in arrived}
            if ends:
                cursor.execute(_BY_ID, [array_literal(sorted(ends))])
                arrived += [loaded(row) for row in cursor.fetchall()]
    return records, list(links.values())


def _assign(
    clusters: list[Cluster],
    records: dict[int, _Record],
    designated: dict[int, UUID],
) -> tuple[dict[int, UUID | None], set[UUID]]:
    """Cluster index -> customer id (None: needs a new customer), and which of the candidate
    customers are MERGED now (an assigned one must be revived)."""
    candidate_ids = (
        {r.customer_id for r in records.values() if r.customer_id}
        | {r.first_customer_id for r in records.values() if r.first_customer_id}
        | set(designated.values())
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, created_at, status FROM profiles_customer WHERE id = ANY(%s::uuid[])",
            [array_literal(candidate_ids)],
        )
        created_at: dict[UUID, Any] = {}
        merged: set[UUID] = set()
        for customer_id, created, status in cursor.fetchall():
            created_at[customer_id] = created
            if status == CustomerStatus.MERGED:
                merged.add(customer_id)
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
    return assignment, merged


class UnsavedRecord(NamedTuple):
    """New observations of a record the caller has made but not saved (attributes as JSON)."""

    attributes: str
    email: str
    phone: str


def identity_recompute(
    *, seed_record_ids: set[int], unsaved: Mapping[int, UnsavedRecord] | None = None
) -> tuple[RecomputeResult, list[Conflict]]:
    """Recompute the customers around these records. `unsaved` records are clustered with
    their new email and phone and saved with the recompute's own changes to records, in one
    UPDATE (a record gains an observation and a customer in the same batch)."""
    result = RecomputeResult()
    unsaved = unsaved or {}
    if not seed_record_ids:
        _save_records(unsaved, [])
        return result, []
    records, link_rows = _component(seed_record_ids, unsaved)
    nodes = [Node(r.id, r.kind, r.key, r.email, r.phone) for r in records.values()]
    clusters, conflicts = cluster(nodes, [(a, b, reason) for a, b, reason, _w in link_rows])

    # A staff merge names its winner: it applies to the records of that merge's link.
    designated: dict[int, UUID] = {}
    for a, b, reason, winner in link_rows:
        if reason == LinkReason.MANUAL_MERGE and winner:
            designated[a] = designated[b] = winner
    assignment, merged_now = _assign(clusters, records, designated)

    new_indexes = [index for index, cid in assignment.items() if cid is None]
    for index, customer_id in zip(
        new_indexes, insert_default_rows(Customer, len(new_indexes)), strict=True
    ):
        assignment[index] = customer_id
        result.created.add(customer_id)

    previous_owner = {r.id: r.customer_id for r in records.values()}
    changed: list[_Record] = []
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
    _save_records(unsaved, changed)

    # Customers that lost every record were merged into whoever took most of them.
    owners_now = set(assignment.values())
    went_to: dict[UUID, Counter] = defaultdict(Counter)
    for record in records.values():
        now_owner = record.customer_id
        # Every record is a node of some cluster, and every cluster has its customer by now.
        assert now_owner is not None
        before = previous_owner[record.id]
        if before and before != now_owner:
            went_to[before][now_owner] += 1
            result.regrouped |= {before, now_owner}
        result.touched.add(now_owner)
        result.owners[record.id] = now_owner
        if before:
            result.touched.add(before)
    for loser, destinations in went_to.items():
        if loser in owners_now:
            continue
        winner = max(destinations.items(), key=lambda item: (item[1], str(item[0])))[0]
        result.merged[loser] = winner
    with connection.cursor() as cursor:
        if result.merged:
            losers = array_literal(result.merged)
            winners = array_literal(result.merged.values())
            cursor.execute(
                _MERGE_LOSERS,
                [str(CustomerStatus.MERGED), losers, winners, str(CustomerStatus.DELETED)],
            )
            cursor.execute(_FORWARD_EARLIER, [losers, winners])
        # A customer that got records back (an unmerge) answers for itself again. Which of
        # them were MERGED, _assign read with their creation times (one statement fewer).
        revived = owners_now & merged_now
        if revived:
            cursor.execute(
                _REVIVE,
                [str(CustomerStatus.ACTIVE), array_literal(revived), str(CustomerStatus.MERGED)],
            )
        # Records that had no customer are new (customers are never deleted): no activities.
        moved = [r for r in changed if previous_owner[r.id] not in (None, r.customer_id)]
        if moved:
            cursor.execute(
                _ACTIVITIES_FOLLOW,
                {
                    "records": array_literal(r.id for r in moved),
                    "customers": array_literal(r.customer_id for r in moved),
                },
            )
    _record_conflicts(conflicts, records)
    return result, conflicts


# One UPDATE for the caller's new observations and this recompute's new owners, from arrays
# (array_literal: one parameter per column); a NULL keeps the column as it is.
_SAVE_RECORDS = """
UPDATE profiles_sourcerecord AS t SET
    attributes = coalesce(v.attributes, t.attributes),
    email = coalesce(v.email, t.email),
    phone = coalesce(v.phone, t.phone),
    customer_id = coalesce(v.customer_id, t.customer_id),
    first_customer_id = coalesce(v.first_customer_id, t.first_customer_id),
    matched_by = coalesce(v.matched_by, t.matched_by),
    confidence = coalesce(v.confidence, t.confidence)
FROM unnest(%s::bigint[], %s::jsonb[], %s::text[], %s::text[], %s::uuid[], %s::uuid[],
            %s::text[], %s::integer[])
    AS v(id, attributes, email, phone, customer_id, first_customer_id, matched_by, confidence)
WHERE t.id = v.id
"""


def _save_records(unsaved: Mapping[int, UnsavedRecord], changed: list[_Record]) -> None:
    """One UPDATE for the caller's new observations and this recompute's new owners (None:
    keep; neither side ever writes a NULL)."""
    rows: dict[int, list] = {
        record_id: [record_id, new.attributes, new.email, new.phone, None, None, None, None]
        for record_id, new in unsaved.items()
    }
    for r in changed:
        row = rows.setdefault(r.id, [r.id, None, None, None, None, None, None, None])
        row[4:] = [r.customer_id, r.first_customer_id, r.matched_by, r.confidence]
    if not rows:
        return
    ordered = [rows[record_id] for record_id in sorted(rows)]  # one lock order for all writers
    with connection.cursor() as cursor:
        cursor.execute(_SAVE_RECORDS, [array_literal(row[i] for row in ordered) for i in range(8)])


def _record_conflicts(conflicts: list[Conflict], records: dict[int, _Record]) -> None:
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
