"""Writes on customers by staff and integrators. Each action is one transaction with an audit
row (crm.accounts.AuditEntry)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import JSONObject
from django.utils import timezone

from crm.accounts.services import audit_record
from profiles.erasure import erasure_hooks_run
from profiles.models import (
    Activity,
    Customer,
    CustomerNote,
    CustomerStatus,
    DuplicateCandidate,
    DuplicateStatus,
    ErasedIdentifier,
    EventStatus,
    LinkReason,
    RawEvent,
    RecordKind,
    RecordLink,
    SourceRecord,
)
from profiles.normalise import erased_digest
from profiles.outbound import outbound_record
from profiles.projection import customers_project
from profiles.resolution import identity_recompute

MAX_TAGS = 50


class MergeRefused(ValidationError):
    """A merge the data forbids (the two hold different ids of one strong kind)."""


def _anchor(customer: Customer) -> SourceRecord:
    record = SourceRecord.objects.filter(customer=customer).order_by("kind", "key").first()
    if record is None:
        raise ValidationError({"customer": "This customer has no source records to merge."})
    return record


def _strong_ids(customer: Customer) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    strong = {
        RecordKind.SCL_MEMBER,
        RecordKind.TEETIME_PLAYER,
        RecordKind.MESSAGING_CONTACT,
        RecordKind.AUTH_USER,
    }
    for kind, key in SourceRecord.objects.filter(customer=customer, kind__in=strong).values_list(
        "kind", "key"
    ):
        ids.setdefault(kind, set()).add(key)
    return ids


@transaction.atomic
def customer_merge(*, winner: Customer, loser: Customer, actor_label: str) -> Customer:
    """Make two customers one, keeping `winner`'s id. `loser`'s id keeps answering with the
    winner's data. Undone by customer_unmerge."""
    if winner.id == loser.id:
        raise ValidationError({"loserId": "A customer cannot be merged with itself."})
    for name, customer in (("customer", winner), ("loserId", loser)):
        if customer.status in (CustomerStatus.MERGED, CustomerStatus.DELETED):
            raise ValidationError({name: f"Customer {customer.id} is {customer.status.lower()}."})
    mine, theirs = _strong_ids(winner), _strong_ids(loser)
    clashes = [kind for kind in mine if kind in theirs and mine[kind] != theirs[kind]]
    if clashes:
        raise MergeRefused(
            {
                "loserId": f"Both customers have a different {', '.join(clashes)} id; "
                "one person has one."
            }
        )
    a, b = sorted((_anchor(winner), _anchor(loser)), key=lambda r: (r.kind, r.key))
    link, _ = RecordLink.objects.update_or_create(
        a=a, b=b, reason=LinkReason.MANUAL_MERGE,
        defaults={"active": True, "winner": winner, "loser": loser, "created_by": actor_label},
    )  # fmt: skip
    outcome, _ = identity_recompute(seed_record_ids={a.id, b.id})
    customers_project(customer_ids=outcome.touched)
    DuplicateCandidate.objects.filter(
        customer_a__in=[winner, loser], customer_b__in=[winner, loser], status=DuplicateStatus.OPEN
    ).update(status=DuplicateStatus.MERGED, decided_at=timezone.now(), decided_by=actor_label)
    audit_record(
        action="customer.merged", actor_label=actor_label, object_type="customer",
        object_id=str(winner.id),
        details={"winnerId": str(winner.id), "loserId": str(loser.id), "linkId": link.id},
    )  # fmt: skip
    outbound_record(
        event_type="crm.profile.merged",
        payload={"winnerId": str(winner.id), "loserId": str(loser.id)},
        identity={"customerId": str(winner.id)},
    )
    winner.refresh_from_db()
    return winner


@transaction.atomic
def customer_unmerge(*, winner: Customer, loser_id: Any, actor_label: str) -> Customer:
    """Undo a staff merge: both customers come back as if it never happened."""
    links = list(
        RecordLink.objects.filter(
            reason=LinkReason.MANUAL_MERGE, active=True, winner=winner, loser_id=loser_id
        )
    )
    if not links:
        raise ValidationError({"loserId": "No staff merge of this customer into that one to undo."})
    seeds: set[int] = set()
    for link in links:
        link.active = False
        seeds |= {link.a_id, link.b_id}
    RecordLink.objects.bulk_update(links, ["active"])
    outcome, _ = identity_recompute(seed_record_ids=seeds)
    customers_project(customer_ids=outcome.touched | {winner.id})
    audit_record(
        action="customer.unmerged", actor_label=actor_label, object_type="customer",
        object_id=str(winner.id), details={"winnerId": str(winner.id), "loserId": str(loser_id)},
    )  # fmt: skip
    return Customer.objects.get(id=loser_id)


@transaction.atomic
def duplicate_dismiss(*, candidate: DuplicateCandidate, actor_label: str) -> DuplicateCandidate:
    candidate.status = DuplicateStatus.DISMISSED
    candidate.decided_at = timezone.now()
    candidate.decided_by = actor_label
    candidate.save(update_fields=["status", "decided_at", "decided_by"])
    audit_record(
        action="duplicate.dismissed", actor_label=actor_label, object_type="duplicate_candidate",
        object_id=str(candidate.id),
    )  # fmt: skip
    return candidate


@transaction.atomic
def customer_note_add(*, customer: Customer, body: str, author_label: str) -> CustomerNote:
    body = body.strip()
    if not body:
        raise ValidationError({"body": "A note needs some text."})
    if len(body) > 10_000:
        raise ValidationError({"body": "At most 10,000 characters."})
    note = CustomerNote.objects.create(customer=customer, body=body, author_label=author_label)
    audit_record(
        action="customer.note_added",
        actor_label=author_label,
        object_type="customer",
        object_id=str(customer.id),
    )
    return note


@transaction.atomic
def customer_tags_set(
    *, customer: Customer, add: list[str], remove: list[str], actor_label: str
) -> Customer:
    tags = set(customer.tags)
    cleaned_add = {tag.strip().lower() for tag in add if tag and tag.strip()}
    if any(len(tag) > 64 for tag in cleaned_add):
        raise ValidationError({"add": "Tags are at most 64 characters."})
    tags |= cleaned_add
    tags -= {tag.strip().lower() for tag in remove}
    if len(tags) > MAX_TAGS:
        raise ValidationError({"add": f"At most {MAX_TAGS} tags per customer."})
    customer.tags = sorted(tags)
    customer.save(update_fields=["tags", "updated_at"])
    audit_record(
        action="customer.tags_changed", actor_label=actor_label, object_type="customer",
        object_id=str(customer.id), details={"tags": customer.tags},
    )  # fmt: skip
    return customer


def raw_events_scrub(*, queryset: QuerySet[RawEvent], **extra: Any) -> int:
    """Replace the envelopes of an erased person's events by their bare type and source, in one
    statement: the log keeps that something happened, not to whom."""
    return queryset.update(
        envelope=JSONObject(erased=Value(True), type=F("type"), source=F("source")),
        status=EventStatus.ERASED,
        **extra,
    )


@transaction.atomic
def customer_erase(*, customer: Customer, actor_label: str) -> Customer:
    """GDPR erasure: remove this person's personal data everywhere in the club, the raw event
    log included. What stays is anonymous: the customer row with no personal fields (status
    DELETED) and the bare facts of the timeline (type, time, amount) for the club's counts.
    Their identifiers are kept only as one-way hashes so late events cannot re-create them."""
    records = list(SourceRecord.objects.filter(customer=customer))
    digests = {erased_digest(r.kind, r.key) for r in records}
    for record in records:
        if record.email:
            digests.add(erased_digest(RecordKind.EMAIL, record.email))
        if record.phone:
            digests.add(erased_digest(RecordKind.PHONE, record.phone))
    ErasedIdentifier.objects.bulk_create(
        [ErasedIdentifier(digest=d) for d in digests], ignore_conflicts=True
    )

    identifiers: dict[str, set[str]] = {}
    for record in records:
        identifiers.setdefault(record.kind, set()).add(record.key)
    erasure_hooks_run(customer=customer, identifiers=identifiers)

    record_ids = [record.id for record in records]
    raw_events_scrub(queryset=RawEvent.objects.filter(record_id__in=record_ids))
    Activity.objects.filter(customer=customer).update(
        title="(erased)", data={}, record=None, channel=""
    )
    SourceRecord.objects.filter(id__in=record_ids).delete()
    CustomerNote.objects.filter(customer=customer).delete()
    DuplicateCandidate.objects.filter(customer_a=customer).delete()
    DuplicateCandidate.objects.filter(customer_b=customer).delete()

    personal_text = ("first_name", "last_name", "email", "phone_number", "gender",
                     "membership_tier", "membership_status", "home_club_id")  # fmt: skip
    blank = dict.fromkeys(personal_text, "")
    Customer.objects.filter(id=customer.id).update(
        **blank, date_of_birth=None, member_since=None, renewal_due_on=None, handicap=None,
        address={}, tags=[], auth_user_id=None, scl_member_id=None, teetime_player_id=None,
        messaging_contact_id=None, email_opt_in=False, sms_opt_in=False, push_opt_in=False,
        whatsapp_opt_in=False, status=CustomerStatus.DELETED,
    )  # fmt: skip
    Customer.objects.filter(merged_into=customer).update(**blank, status=CustomerStatus.DELETED)
    audit_record(
        action="customer.erased",
        actor_label=actor_label,
        object_type="customer",
        object_id=str(customer.id),
    )
    outbound_record(
        event_type="crm.profile.deleted",
        payload={"customerId": str(customer.id)},
        identity={"customerId": str(customer.id)},
    )
    customer.refresh_from_db()
    return customer


def customer_export(*, customer: Customer, actor_label: str) -> dict[str, Any]:
    """Everything the club holds about a customer (GDPR access request), as one JSON document:
    the profile, every source record with its observed fields, the timeline with the raw events
    behind it, notes, and duplicate reviews. Audited, since it discloses personal data."""
    from profiles.selectors import customer_identities, customer_notes

    records = SourceRecord.objects.filter(customer=customer).order_by("kind", "key")
    activities = customer.activities.select_related("raw_event").order_by("occurred_at", "id")
    document = {
        "exportedAt": timezone.now().isoformat(),
        "customer": {
            field.name: _plain(getattr(customer, field.attname))
            for field in Customer._meta.concrete_fields
        },
        "identities": customer_identities(customers=[customer])[customer.id],
        "sourceRecords": [
            {
                "kind": r.kind,
                "key": r.key,
                "matchedBy": r.matched_by,
                "confidence": r.confidence,
                "fields": {
                    name: {"value": v, "observedAt": ts}
                    for name, (v, ts, _tb) in r.attributes.items()
                },
            }
            for r in records
        ],
        "timeline": [
            {
                "type": a.type,
                "category": a.category,
                "channel": a.channel,
                "title": a.title,
                "source": a.source,
                "occurredAt": a.occurred_at.isoformat(),
                "amountCents": a.amount_cents,
                "currency": a.currency,
                "data": a.data,
                "rawEvent": a.raw_event.envelope if a.raw_event else None,
            }
            for a in activities
        ],
        "notes": [
            {"body": n.body, "author": n.author_label, "createdAt": n.created_at.isoformat()}
            for n in customer_notes(customer=customer)
        ],
    }
    audit_record(
        action="customer.exported", actor_label=actor_label, object_type="customer",
        object_id=str(customer.id),
    )  # fmt: skip
    return document


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


def customer_activity_add(
    *,
    customer: Customer,
    type: str,
    category: str,
    title: str,
    occurred_at: Any,
    data: dict[str, Any] | None = None,
    counts_as_activity: bool = True,
) -> Activity:
    """A timeline entry the platform itself records (a survey answer, a guest form): other
    apps add to the timeline through this, not by writing the table."""
    return Activity.objects.create(
        customer=customer,
        type=type,
        category=category,
        title=title[:300],
        source="crm",
        occurred_at=occurred_at,
        counts_as_activity=counts_as_activity,
        data=data or {},
    )
