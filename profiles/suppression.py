"""The erasure suppression list: an erased person never comes back.

When a person is erased (profiles.services.customer_erase) every identifier they were known by
(SCL member id, TeeTime player id, Messaging contact id, auth user id, email, phone) is kept as
a one-way hash in `ErasedIdentifier`, grouped by erasure. Events keep arriving afterwards (at
least once, out of order, on any transport, from services the erasure never reached), so
every event is checked against that list before it is applied, on every identifier it carries:
the ids and contact points of its identity hints and of its payload.

The rule (README, "Privacy"), per event and erasure:

- an event naming one of the erased person's ids (member, player, contact, auth user) is about
  them: suppressed;
- an event naming only an erased email or phone is about them too, unless it also names an id
  of a kind the erased person had, which they did not have: another SCL member number, another
  TeeTime player, another Messaging contact, another login. By the upstream system's own
  account that is someone else (a new member who took over the address, a spouse sharing a
  household email), and it is taken in as a new person who inherits nothing.

A suppressed event is kept only as an anonymous fact: its raw envelope is replaced by its type
and source (status ERASED), and it changes no customer. Whatever new identifiers it carried
join its erasure's list, and customers already holding them are erased in turn (under the same
rule), which is what makes the outcome independent of the order the events arrive in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from profiles.catalogue import IDENTITY_HINTS, Interpretation, RecordRef
from profiles.envelope import Envelope
from profiles.models import STRONG_KINDS, ErasedIdentifier, RecordKind
from profiles.normalise import erased_digest

_STRONG = frozenset(str(kind) for kind in STRONG_KINDS)


def event_identifiers(env: Envelope, interp: Interpretation) -> set[RecordRef]:
    """Every identifier an event carries, as (kind, value): the records it is about, observes
    or links, the emails and phones it reports for them, and its identity hints."""
    refs: set[RecordRef] = set(interp.observations)
    if interp.primary:
        refs.add(interp.primary)
    for a, b, _reason in interp.links:
        refs |= {a, b}
    for fields in interp.observations.values():
        if fields.get("email"):
            refs.add((str(RecordKind.EMAIL), str(fields["email"])))
        if fields.get("phone_number"):
            refs.add((str(RecordKind.PHONE), str(fields["phone_number"])))
    for name, kind in IDENTITY_HINTS:
        if env.identity.get(name):
            refs.add((str(kind), str(env.identity[name])))
    for name, kind in (("email", RecordKind.EMAIL), ("phoneNumber", RecordKind.PHONE)):
        if env.known and env.payload.get(name):
            refs.add((str(kind), str(env.payload[name])))
    return {(str(kind), str(value)) for kind, value in refs}


@dataclass
class _Erasure:
    """One erased person's identifiers: digest -> kind."""

    strong: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    digests: set[str] = field(default_factory=set)


def _key(row_erasure: UUID | None, digest: str) -> str:
    # Rows from before erasures were grouped stand alone (and suppress whatever names them).
    return str(row_erasure) if row_erasure else f"digest:{digest}"


def _erasures_of(digests: Iterable[str]) -> tuple[dict[str, str], dict[str, _Erasure]]:
    """(digest -> erasure key) for the known digests among these, and those erasures."""
    digests = list(set(digests))
    found: dict[str, str] = {}
    group_ids: set[UUID] = set()
    for start in range(0, len(digests), 5000):
        rows = ErasedIdentifier.objects.filter(digest__in=digests[start : start + 5000])
        for digest, erasure in rows.values_list("digest", "erasure"):
            found[digest] = _key(erasure, digest)
            if erasure:
                group_ids.add(erasure)
    erasures: dict[str, _Erasure] = defaultdict(_Erasure)
    for digest, key in found.items():
        if key.startswith("digest:"):
            erasures[key].digests.add(digest)
            erasures[key].strong["?"].add(digest)  # no kind known: treated as an id
    if group_ids:
        rows = ErasedIdentifier.objects.filter(erasure__in=group_ids)
        for digest, erasure, kind in rows.values_list("digest", "erasure", "kind"):
            erasure_ = erasures[str(erasure)]
            erasure_.digests.add(digest)
            if kind in _STRONG:
                erasure_.strong[kind].add(digest)
    return found, dict(erasures)


def _suppressing(
    refs: set[RecordRef], found: dict[str, str], erasures: dict[str, _Erasure]
) -> str | None:
    """The erasure (key) that suppresses an event carrying these identifiers, or None."""
    digests = {erased_digest(kind, value): (kind, value) for kind, value in refs}
    keys = sorted({found[d] for d in digests if d in found})
    for key in keys:
        erasure = erasures[key]
        matched = [digests[d] for d in digests if d in erasure.digests]
        if any(kind in _STRONG or "?" in erasure.strong for kind, _v in matched):
            return key  # one of their own ids
        someone_else = any(
            kind in erasure.strong and erased_digest(kind, value) not in erasure.strong[kind]
            for kind, value in refs
            if kind in _STRONG
        )
        if not someone_else:
            return key
    return None


def suppressed_among(items: dict[Any, set[RecordRef]]) -> dict[Any, str]:
    """Which of these events (id -> identifiers) are about an erased person: id -> erasure key.
    Two queries, whatever the number of events (the caller skips it when nobody was ever
    erased)."""
    if not items:
        return {}
    all_digests = {erased_digest(kind, value) for refs in items.values() for kind, value in refs}
    found, erasures = _erasures_of(all_digests)
    if not found:
        return {}
    out = {}
    for item_id, refs in items.items():
        key = _suppressing(refs, found, erasures)
        if key is not None:
            out[item_id] = key
    return out


def customer_is_erased_person(*, erasure_key: str, identifiers: Iterable[RecordRef]) -> bool:
    """Whether a customer holding these identifiers is, by the rule above, the person of this
    erasure (used to erase customers made from events that arrived before the erasure knew
    all of the person's identifiers)."""
    refs = set(identifiers)
    found, erasures = _erasures_of(erased_digest(kind, value) for kind, value in refs)
    if erasure_key not in erasures:
        return False
    return _suppressing(refs, {d: k for d, k in found.items() if k == erasure_key}, erasures) == (
        erasure_key
    )


def erased_identifiers_add(*, erasure: UUID | None, identifiers: Iterable[RecordRef]) -> None:
    """Remember identifiers of an erased person (already known ones keep their erasure)."""
    rows = {
        erased_digest(kind, value): ErasedIdentifier(
            digest=erased_digest(kind, value), erasure=erasure, kind=kind
        )
        for kind, value in identifiers
        if value
    }
    ErasedIdentifier.objects.bulk_create(list(rows.values()), ignore_conflicts=True)


def erasure_uuid(key: str) -> UUID | None:
    return None if key.startswith("digest:") else UUID(key)
