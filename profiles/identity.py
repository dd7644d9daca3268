"""Identity resolution: which source records are one customer.

Customers are a pure function of the records (with their current email and phone) and the hard
links between them, computed in a canonical order that never looks at arrival order or database
ids. That is what makes the result independent of the order events arrive in, and what makes an
unmerge exact: remove the staff member's link and compute again.

The rules, in order:
1. Hard links (a TeeTime player's `sclMemberId`, strong ids named in one envelope, a staff
   merge) join records, unless the join would give one customer two different ids of one
   strong kind (two SCL member ids, say); such a pair becomes a duplicate candidate instead.
2. Each email address, then each phone number, is a group: all customers carrying it are joined
   if together they hold no conflicting strong ids. Otherwise none of them is joined through it
   (a household email shared by husband and wife joins nobody, not even the player who has only
   that email) and they become duplicate candidates ("shared email").
3. Each record's `matchedBy`/`confidence` says how it joined: the first record of a customer is
   `source` (100), a hard link `authUserId`/`sclMemberId`/… (100), an email and phone both
   shared with the rest `email+phone` (99), `email` (95), `phone` (85).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from profiles.models import STRONG_KINDS, LinkReason, RecordKind

# Which record of a customer is its anchor: the most authoritative source first.
_KIND_ORDER: dict[str, int] = {
    RecordKind.SCL_MEMBER: 0,
    RecordKind.TEETIME_PLAYER: 1,
    RecordKind.MESSAGING_CONTACT: 2,
    RecordKind.AUTH_USER: 3,
    RecordKind.EMAIL: 4,
    RecordKind.PHONE: 5,
    RecordKind.GUEST_FORM: 6,
}
_LINK_ORDER: dict[str, int] = {
    LinkReason.MANUAL_MERGE: 0,
    LinkReason.PLAYER_IS_MEMBER: 1,
    LinkReason.SAME_EVENT: 2,
    LinkReason.GUEST_FORM: 3,
}
_STRONG = frozenset(str(kind) for kind in STRONG_KINDS)


@dataclass(frozen=True)
class Node:
    id: int
    kind: str
    key: str
    email: str = ""
    phone: str = ""

    # Sorted by again and again while clustering: computed once (a plain attribute is cheaper
    # than a property or functools.cached_property, which takes a lock on every first read).
    sort_key: tuple[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sort_key", (_KIND_ORDER.get(self.kind, 9), self.key))


@dataclass
class Cluster:
    nodes: list[Node]
    matched_by: dict[int, tuple[str, int]] = field(default_factory=dict)  # node id -> (how, conf)

    @property
    def anchor(self) -> Node:
        return self.nodes[0]


@dataclass(frozen=True)
class Conflict:
    """Two groups of records that may be one person but were not joined automatically."""

    a: Node
    b: Node
    reason: str  # "conflicting ids", "shared email", "shared phone"
    detail: str


class _UnionFind:
    def __init__(self, nodes: list[Node]) -> None:
        self.parent = {node.id: node.id for node in nodes}
        self.strong: dict[int, dict[str, str]] = {
            node.id: ({node.kind: node.key} if node.kind in _STRONG else {}) for node in nodes
        }

    def find(self, node_id: int) -> int:
        root = node_id
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node_id] != root:
            self.parent[node_id], node_id = root, self.parent[node_id]
        return root

    def compatible(self, roots: set[int]) -> bool:
        merged: dict[str, str] = {}
        for root in roots:
            for kind, key in self.strong[root].items():
                if merged.setdefault(kind, key) != key:
                    return False
        return True

    def union(self, roots: set[int], winner: int) -> None:
        for root in roots:
            if root != winner:
                self.parent[root] = winner
                self.strong[winner].update(self.strong.pop(root))


def cluster(
    nodes: list[Node], links: list[tuple[int, int, str]]
) -> tuple[list[Cluster], list[Conflict]]:
    """Partition `nodes` into customers. `links` are hard links `(node id, node id, reason)`."""
    by_id = {node.id: node for node in nodes}
    uf = _UnionFind(nodes)
    conflicts: list[Conflict] = []
    joined_by: dict[int, tuple[str, int]] = {}

    def canonical_root(roots: set[int]) -> int:
        return min(roots, key=lambda root: by_id[root].sort_key)

    ordered_links = sorted(
        (link for link in links if link[0] in by_id and link[1] in by_id),
        key=lambda link: (
            _LINK_ORDER.get(link[2], 9),
            *sorted((by_id[link[0]].sort_key, by_id[link[1]].sort_key)),
        ),
    )
    for a, b, reason in ordered_links:
        roots = {uf.find(a), uf.find(b)}
        if len(roots) == 1:
            continue
        if uf.compatible(roots):
            uf.union(roots, canonical_root(roots))
            joined_as = (
                "manual" if reason == LinkReason.MANUAL_MERGE else _link_label(by_id[a], by_id[b])
            )
            for node_id in (a, b):
                joined_by.setdefault(node_id, (joined_as, 100))
        else:
            conflicts.append(
                Conflict(
                    by_id[a], by_id[b], "conflicting ids", _describe_conflict(uf, roots, by_id)
                )
            )

    for attribute, label, confidence in (("email", "email", 95), ("phone", "phone", 85)):
        groups: dict[str, list[Node]] = defaultdict(list)
        for node in nodes:
            value = getattr(node, attribute)
            if value:
                groups[value].append(node)
        for value in sorted(groups):
            members = groups[value]
            roots = {uf.find(node.id) for node in members}
            if len(roots) < 2:
                continue
            if uf.compatible(roots):
                uf.union(roots, canonical_root(roots))
                for node in members:
                    joined_by.setdefault(node.id, (label, confidence))
            else:
                anchors = sorted((by_id[root] for root in roots), key=lambda n: n.sort_key)
                for i, first in enumerate(anchors):
                    for second in anchors[i + 1 :]:
                        conflicts.append(Conflict(first, second, f"shared {label}", value))

    members_of: dict[int, list[Node]] = defaultdict(list)
    for node in nodes:
        members_of[uf.find(node.id)].append(node)
    clusters = []
    for members in members_of.values():
        members.sort(key=lambda node: node.sort_key)
        result = Cluster(nodes=members)
        emails: defaultdict[str, int] = defaultdict(int)
        phones: defaultdict[str, int] = defaultdict(int)
        for node in members:
            emails[node.email] += bool(node.email)
            phones[node.phone] += bool(node.phone)
        for index, node in enumerate(members):
            how = joined_by.get(node.id)
            if index == 0:
                how = ("source", 100)
            elif (
                (how is None or how[1] < 99)
                and node.email
                and node.phone
                and emails[node.email] > 1
                and phones[node.phone] > 1
            ):
                how = ("email+phone", 99)
            result.matched_by[node.id] = how or ("email", 95)
        clusters.append(result)
    clusters.sort(key=lambda c: c.anchor.sort_key)
    return clusters, conflicts


def _link_label(a: Node, b: Node) -> str:
    kinds = {a.kind, b.kind}
    for kind, label in (
        (RecordKind.AUTH_USER, "authUserId"),
        (RecordKind.SCL_MEMBER, "sclMemberId"),
        (RecordKind.TEETIME_PLAYER, "teetimePlayerId"),
        (RecordKind.MESSAGING_CONTACT, "messagingContactId"),
    ):
        if kind in kinds:
            return label
    return "link"


def _describe_conflict(uf: _UnionFind, roots: set[int], by_id: dict[int, Node]) -> str:
    seen: dict[str, set[str]] = defaultdict(set)
    for root in roots:
        for kind, key in uf.strong[root].items():
            seen[kind].add(key)
    clashes = [
        f"{kind} {' vs '.join(sorted(keys))}"
        for kind, keys in sorted(seen.items())
        if len(keys) > 1
    ]
    return "; ".join(clashes)
