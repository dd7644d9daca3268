"""Writes on customers by staff and integrators. Each action is one transaction with an audit
row (crm.accounts.AuditEntry)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import JSONObject
from django.utils import timezone

from crm.accounts.models import AuditEntry
from crm.accounts.services import audit_record
from crm.db import tenant_connection
from crm.outbox.models import OutboundEvent
from crm.outbox.selectors import outbox_events_about
from crm.outbox.services import outbound_record, outbox_republish, outbox_scrub
from profiles.erasure import erasure_hooks_run, export_hooks_run
from profiles.models import (
    Activity,
    ActivityCategory,
    Customer,
    CustomerNote,
    CustomerScore,
    CustomerStatus,
    DuplicateCandidate,
    DuplicateStatus,
    EventStatus,
    LinkReason,
    RawEvent,
    RecordKind,
    RecordLink,
    SourceRecord,
)
from profiles.outbound import PAYLOAD_CUSTOMER_KEYS, PAYLOAD_PERSONAL_KEYS
from profiles.projection import customers_project
from profiles.resolution import identity_recompute
from profiles.suppression import erased_identifiers_add

RecordRef = tuple[str, str]

MAX_TAGS = 50

logger = logging.getLogger(__name__)


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
    # events.md: crm.profile.merged carries the loser's linked ids (as the apply path's does).
    loser_linked = [
        f"{kind}:{key}"
        for kind, key in SourceRecord.objects.filter(customer=loser)
        .order_by("kind", "key")
        .values_list("kind", "key")
    ]
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
        payload={
            "winnerId": str(winner.id),
            "loserId": str(loser.id),
            "loserLinkedIds": loser_linked,
        },
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


def _everyone(customer: Customer) -> list[Any]:
    """The customer and every customer merged into it (their ids keep answering for it)."""
    merged = Customer.objects.filter(merged_into=customer).values_list("id", flat=True)
    return [customer.id, *merged]


def identifiers_held(records: list[SourceRecord], customers: list[Customer]) -> set[RecordRef]:
    """Every identifier these records and customers carry, as (kind, value)."""
    held: set[RecordRef] = {(r.kind, r.key) for r in records}
    held |= {(str(RecordKind.EMAIL), r.email) for r in records if r.email}
    held |= {(str(RecordKind.PHONE), r.phone) for r in records if r.phone}
    for c in customers:
        for kind, value in (
            (RecordKind.EMAIL, c.email), (RecordKind.PHONE, c.phone_number),
            (RecordKind.SCL_MEMBER, c.scl_member_id), (RecordKind.AUTH_USER, c.auth_user_id),
            (RecordKind.TEETIME_PLAYER, c.teetime_player_id),
            (RecordKind.MESSAGING_CONTACT, c.messaging_contact_id),
        ):  # fmt: skip
            if value:
                held.add((str(kind), str(value)))
    return held


@transaction.atomic
def customer_erase(
    *, customer: Customer, actor_label: str, erasure: uuid.UUID | None = None, reason: str = ""
) -> Customer:
    """GDPR erasure: remove this person's personal data everywhere in the club, the raw event
    log and the outbox included, and in every other app (profiles.erasure). What stays is
    anonymous: the customer row with no personal fields (status DELETED) and the bare facts of
    the timeline (type, time, amount) for the club's counts. Their identifiers are kept only as
    one-way hashes, grouped under `erasure`, so late events cannot re-create them
    (profiles.suppression)."""
    erasure = erasure or uuid.uuid4()
    everyone = _everyone(customer)
    customers = list(Customer.objects.filter(id__in=everyone))
    records = list(SourceRecord.objects.filter(customer_id__in=everyone))
    held = identifiers_held(records, customers)
    erased_identifiers_add(erasure=erasure, identifiers=held)

    identifiers: dict[str, set[str]] = {}
    for kind, value in held:
        identifiers.setdefault(kind, set()).add(value)
    for each in customers:
        erasure_hooks_run(customer=each, identifiers=identifiers)

    record_ids = [record.id for record in records]
    raw_events_scrub(queryset=RawEvent.objects.filter(record_id__in=record_ids))
    Activity.objects.filter(customer_id__in=everyone).update(
        title="(erased)", data={}, record=None, channel=""
    )
    RecordLink.objects.filter(a_id__in=record_ids).delete()
    RecordLink.objects.filter(b_id__in=record_ids).delete()
    SourceRecord.objects.filter(id__in=record_ids).delete()
    CustomerNote.objects.filter(customer_id__in=everyone).delete()
    CustomerScore.objects.filter(customer_id__in=everyone).delete()
    DuplicateCandidate.objects.filter(customer_a_id__in=everyone).delete()
    DuplicateCandidate.objects.filter(customer_b_id__in=everyone).delete()
    # The outbox's envelopes name a customer in `identity` (with their email, phone and ids)
    # and a merge in `payload` (with the loser's linked ids): keep only the customer ids, which
    # after the erasure point at an anonymous row.
    relayed = outbox_scrub(
        customer_ids=[str(i) for i in everyone],
        payload_id_keys=PAYLOAD_CUSTOMER_KEYS,
        payload_drop_keys=PAYLOAD_PERSONAL_KEYS,
    )
    if relayed:
        schema = tenant_connection().schema_name
        transaction.on_commit(lambda: _withdraw_relayed(schema, relayed))
    # What staff did to them stays (who merged, exported, erased), not what it said about them.
    about_them = [str(i) for i in everyone]
    AuditEntry.objects.filter(object_type="customer", object_id__in=about_them).update(details={})

    personal_text = ("first_name", "last_name", "email", "phone_number", "gender",
                     "membership_tier", "membership_status", "home_club_id")  # fmt: skip
    blank = dict.fromkeys(personal_text, "")
    Customer.objects.filter(id__in=everyone).update(
        **blank, date_of_birth=None, member_since=None, renewal_due_on=None, handicap=None,
        address={}, tags=[], auth_user_id=None, scl_member_id=None, teetime_player_id=None,
        messaging_contact_id=None, email_opt_in=False, sms_opt_in=False, push_opt_in=False,
        whatsapp_opt_in=False, status=CustomerStatus.DELETED,
    )  # fmt: skip
    audit_record(
        action="customer.erased",
        actor_label=actor_label,
        object_type="customer",
        object_id=str(customer.id),
        details={"reason": reason} if reason else {},
    )
    outbound_record(
        event_type="crm.profile.deleted",
        payload={"customerId": str(customer.id)},
        identity={"customerId": str(customer.id)},
    )
    _forget_cached(everyone)
    customer.refresh_from_db()
    return customer


def _withdraw_relayed(schema: str, event_ids: list[str]) -> None:
    """After an erasure commits: the person's events already relayed to `crm-outbound` leave
    Redis, and those no consumer had taken go out again as the outbox now holds them."""
    from django_tenants.utils import schema_context

    from crm.transport.outbound import outbound_jobs_withdraw, outbound_relay_soon

    try:
        unsent = outbound_jobs_withdraw(event_ids=event_ids)
    except Exception:  # Redis away: the erasure stands; the jobs expire with their queue's age
        logger.warning("Could not withdraw %d relayed events of an erased person", len(event_ids),
                       exc_info=True)  # fmt: skip
        return
    if unsent:
        with schema_context(schema), transaction.atomic():
            outbox_republish(event_ids=unsent)
            outbound_relay_soon()


def _forget_cached(customer_ids: list[Any]) -> None:
    """Nothing about a customer is cached today (the cache holds rate-limit counters and
    per-club settings); this is where an erasure would drop such entries."""


def customer_export(*, customer: Customer, actor_label: str) -> dict[str, Any]:
    """Everything the club holds about a customer (GDPR access request), as one JSON document
    (its structure: README, "Privacy"): the profile and, in one section per app, whatever each
    app holds about them (profiles.erasure). Audited, since it discloses personal data."""
    from profiles.scoring_selectors import reason_texts
    from profiles.selectors import customer_identities, customer_notes

    everyone = _everyone(customer)
    customers = list(Customer.objects.filter(id__in=everyone))
    records = list(SourceRecord.objects.filter(customer_id__in=everyone).order_by("kind", "key"))
    held = identifiers_held(records, customers)
    identifiers: dict[str, set[str]] = {}
    for kind, value in held:
        identifiers.setdefault(kind, set()).add(value)
    activities = (
        Activity.objects.filter(customer_id__in=everyone)
        .select_related("raw_event")
        .order_by("occurred_at", "id")
    )
    score = CustomerScore.objects.filter(customer=customer).first()
    ids = [str(i) for i in everyone]
    outbox = outbox_events_about(customer_ids=ids, payload_id_keys=PAYLOAD_CUSTOMER_KEYS)
    profiles_section = {
        "mergedFrom": [str(c.id) for c in customers if c.id != customer.id],
        "identities": customer_identities(customers=[customer])[customer.id],
        "sourceRecords": [
            {
                "kind": r.kind,
                "key": r.key,
                "email": r.email,
                "phone": r.phone,
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
        "consent": {
            "current": {
                "email": customer.email_opt_in,
                "sms": customer.sms_opt_in,
                "push": customer.push_opt_in,
                "whatsapp": customer.whatsapp_opt_in,
                "emailHardBounced": customer.email_hard_bounced,
                "complained": customer.complained,
                "doNotContact": customer.do_not_contact,
            },
            "history": [
                {"occurredAt": a.occurred_at.isoformat(), "channel": a.channel, "what": a.title}
                for a in activities
                if a.category == "consent"
            ],
        },
        "scores": None
        if score is None
        else {
            "engagementScore": score.engagement_score,
            "engagementBand": score.engagement_band,
            "engagementComponents": score.engagement_components,
            "churnRiskScore": score.churn_risk_score,
            "churnRiskReasons": reason_texts(score),
            "churnMethod": score.churn_method,
            "payingNotPlaying": score.paying_not_playing,
            "payingNotPlayingDetails": score.pnp_details,
            "computedAt": _plain(score.computed_at),
        },
        "notes": [
            {"body": n.body, "author": n.author_label, "createdAt": n.created_at.isoformat()}
            for n in customer_notes(customer=customer)
        ],
        "duplicateReviews": [
            {
                "customers": [str(d.customer_a_id), str(d.customer_b_id)],
                "reason": d.reason,
                "detail": d.detail,
                "status": d.status,
                "createdAt": d.created_at.isoformat(),
            }
            for d in DuplicateCandidate.objects.filter(
                Q(customer_a_id__in=everyone) | Q(customer_b_id__in=everyone)
            )
        ],
        "publishedEvents": [
            {
                "type": o.type,
                "envelope": o.envelope,
                "createdAt": o.created_at.isoformat(),
                "publishedAt": _plain(o.published_at),
            }
            for o in outbox
        ],
        "auditLog": [
            {
                "action": e.action,
                "actor": e.actor_label,
                "details": e.details,
                "at": e.created_at.isoformat(),
            }
            for e in AuditEntry.objects.filter(object_type="customer", object_id__in=ids).order_by(
                "created_at", "id"
            )
        ],
    }
    sections, tables = export_hooks_run(customer=customer, identifiers=identifiers)
    own_tables = [
        model._meta.db_table
        for model in (Customer, SourceRecord, RecordLink, RawEvent, Activity, CustomerNote,
                      CustomerScore, DuplicateCandidate, OutboundEvent, AuditEntry)
    ]  # fmt: skip
    document = {
        "format": EXPORT_FORMAT,
        "exportedAt": timezone.now().isoformat(),
        "customer": {
            field.name: _plain(getattr(customer, field.attname))
            for field in Customer._meta.concrete_fields
        },
        "profiles": profiles_section,
        **sections,
        "tables": sorted(set(own_tables) | set(tables)),
    }
    audit_record(
        action="customer.exported", actor_label=actor_label, object_type="customer",
        object_id=str(customer.id),
    )  # fmt: skip
    return json.loads(json.dumps(document, default=_plain))


EXPORT_FORMAT = "crm.customer-export/1"


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class TimelineEntry:
    """One timeline entry the platform records for a customer (`customer_activities_add`)."""

    customer_id: Any
    type: str
    category: str
    title: str
    occurred_at: dt.datetime
    channel: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    counts_as_activity: bool = True


def customer_activities_add(*, entries: list[TimelineEntry]) -> int:
    """Many timeline entries in one statement (e.g. the messages the email fallback sent):
    other apps add to the timeline through this, not by writing the table."""
    created = Activity.objects.bulk_create(
        [
            Activity(
                customer_id=e.customer_id, type=e.type, category=e.category, channel=e.channel,
                title=e.title[:300], source="crm", occurred_at=e.occurred_at,
                counts_as_activity=e.counts_as_activity, data=e.data,
            )
            for e in entries
        ]
    )  # fmt: skip
    return len(created)


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


@transaction.atomic
def customer_channel_opt_out(
    *, customer_id: Any, channel: str, send_id: str, source: str, title: str
) -> bool:
    """Opt a customer out of one channel at once, for a message they answered (an unsubscribe
    link): an observation on their source records, newest of all, so a later recompute of the
    profile keeps it; the profile's flag; a timeline entry carrying the sendId. Returns False
    when this message's opt-out was recorded already and they are still opted out."""
    from profiles.projection import PROFILE_FIELDS

    flag = {"EMAIL": "email_opt_in", "SMS": "sms_opt_in", "PUSH": "push_opt_in"}[channel]
    assert flag in PROFILE_FIELDS
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    already = Activity.objects.filter(
        customer=customer, type="messaging.contactPreference.updated", data__sendId=send_id
    ).exists()
    if already and not getattr(customer, flag):
        return False
    now = timezone.now()
    stamp = [now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), f"crm:unsubscribe:{send_id}"]
    records = list(SourceRecord.objects.select_for_update().filter(customer=customer))
    for record in records:
        record.attributes[flag] = [False, *stamp]
    SourceRecord.objects.bulk_update(records, ["attributes"])
    if records:
        customers_project(customer_ids=[customer.id])
    Customer.objects.filter(pk=customer.pk).update(**{flag: False})
    Activity.objects.create(
        customer=customer,
        type="messaging.contactPreference.updated",
        category=ActivityCategory.CONSENT,
        channel=channel,
        title=title,
        source="crm",
        occurred_at=now,
        counts_as_activity=True,
        data={"sendId": send_id, "source": source, "optedIn": False},
    )
    return True


_TAGS_SQL = """
UPDATE profiles_customer AS c SET tags = n.tags, updated_at = %s
FROM (
    SELECT x.id, ARRAY(
        SELECT DISTINCT t FROM unnest(x.tags || %s::varchar[]) AS t
        WHERE NOT (t = ANY(%s::varchar[])) ORDER BY t
    ) AS tags
    FROM profiles_customer AS x
    WHERE x.id = ANY(%s::uuid[]) AND x.status NOT IN ('MERGED', 'DELETED')
    ORDER BY x.id
    FOR UPDATE
) AS n
WHERE c.id = n.id AND c.tags IS DISTINCT FROM n.tags AND cardinality(n.tags) <= %s
"""


def customers_bulk_update(
    *,
    customer_ids: list[Any],
    add_tags: list[str],
    remove_tags: list[str],
    lifecycle_stage: str,
    note: str,
    author_label: str,
    now: dt.datetime,
) -> None:
    """Change many customers at once (a journey's update step), in a few statements: tags
    added and removed (a customer who would pass MAX_TAGS keeps theirs), the lifecycle stage
    set, a note added to each. Merged and deleted customers keep their tags and stage."""
    add = sorted({t.strip().lower() for t in add_tags if t.strip()})
    remove = sorted({t.strip().lower() for t in remove_tags if t.strip()})
    if add or remove:
        with connection.cursor() as cursor:
            cursor.execute(_TAGS_SQL, [now, add, remove, customer_ids, MAX_TAGS])
    if lifecycle_stage:
        # `pk = ANY(array)`: one parameter for thousands of ids.
        any_of = RawSQL("SELECT unnest(%s::uuid[])", (list(customer_ids),))
        Customer.objects.filter(pk__in=any_of).exclude(lifecycle_stage=lifecycle_stage).exclude(
            status__in=(CustomerStatus.MERGED, CustomerStatus.DELETED)
        ).update(lifecycle_stage=lifecycle_stage, updated_at=now)
    note = note.strip()
    if note:
        CustomerNote.objects.bulk_create(
            CustomerNote(customer_id=cid, body=note, author_label=author_label[:254])
            for cid in customer_ids
        )
