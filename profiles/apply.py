"""Applying stored events to customers, in batches.

A batch is one transaction: its records, links, customers, timeline entries and the events'
APPLIED marks commit together or not at all. A worker killed mid-batch therefore loses nothing
and applies nothing twice: the events are still PENDING and the next run (the trigger queued
on commit, or the sweeper every minute) takes them again. One club is applied by one worker at a
time (a transaction-scoped advisory lock), which keeps identity resolution free of races.

If a batch fails, its events are retried one by one so that one bad event does not hold up the
others; an event that fails MAX_ATTEMPTS times is PARKED with its error, for staff to see and
replay in the admin.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.db import bulk_update_rows
from crm.tenants.models import Tenant, TenantSlug
from profiles.catalogue import ENGAGEMENT_TYPES, Interpretation, RecordRef, interpret
from profiles.envelope import Envelope, validate_envelope
from profiles.models import (
    Activity,
    Customer,
    ErasedIdentifier,
    EventStatus,
    RawEvent,
    RecordKind,
    RecordLink,
    SourceRecord,
)
from profiles.normalise import erased_digest
from profiles.outbound import customer_identity, outbound_record_many
from profiles.projection import customers_project, customers_refresh_counters
from profiles.resolution import identity_recompute
from profiles.services import customer_erase, raw_events_scrub

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def _lock_tenant(*, wait: bool) -> bool:
    with connection.cursor() as cursor:
        function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        cursor.execute(f"SELECT {function}(hashtext('crm.apply.' || current_schema()))")
        row = cursor.fetchone()
    return wait or bool(row[0])


def pending_exists() -> bool:
    return RawEvent.objects.filter(status=EventStatus.PENDING).exists()


def events_apply_pending(*, limit: int = 1000) -> int:
    """Apply up to `limit` PENDING events of the current club, oldest first. Returns how many
    it processed (0: nothing pending, or another worker holds this club right now)."""
    with transaction.atomic():
        if not _lock_tenant(wait=False):
            return 0
        events = list(
            RawEvent.objects.select_for_update(skip_locked=True)
            .filter(status=EventStatus.PENDING)
            .order_by("id")[:limit]
        )
        if not events:
            return 0
        try:
            with transaction.atomic():
                _apply(events)
            return len(events)
        except Exception:
            logger.warning(
                "Batch of %d events failed; applying one by one", len(events), exc_info=True
            )
        ids = [event.id for event in events]
    for event_id in ids:
        _apply_one(event_id)
    return len(ids)


def _apply_one(event_id: int) -> None:
    try:
        with transaction.atomic():
            _lock_tenant(wait=True)
            event = (
                RawEvent.objects.select_for_update()
                .filter(id=event_id, status=EventStatus.PENDING)
                .first()
            )
            if event is not None:
                _apply([event])
    except Exception as exc:
        logger.exception("Event %s failed to apply", event_id)
        with transaction.atomic():
            RawEvent.objects.filter(id=event_id).update(
                attempts=F("attempts") + 1, last_error=repr(exc)[:2000]
            )
            RawEvent.objects.filter(id=event_id, attempts__gte=MAX_ATTEMPTS).update(
                status=EventStatus.PARKED
            )


def _stamp(env: Envelope) -> tuple[str, str]:
    moment = env.occurred_at.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), f"{env.source}:{env.event_id}"


def _records_for(refs: set[RecordRef]) -> dict[RecordRef, SourceRecord]:
    """Get or create the records for these refs: two queries per kind, whatever the count."""
    by_kind: dict[str, set[str]] = {}
    for kind, key in refs:
        by_kind.setdefault(kind, set()).add(key)
    SourceRecord.objects.bulk_create(
        [
            SourceRecord(
                kind=kind, key=key,
                email=key if kind == RecordKind.EMAIL else "",
                phone=key if kind == RecordKind.PHONE else "",
            )
            for kind, key in sorted(refs)
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    found: dict[RecordRef, SourceRecord] = {}
    for kind, keys in by_kind.items():
        for record in SourceRecord.objects.filter(kind=kind, key__in=keys):
            found[(record.kind, record.key)] = record
    return found


def _observe(record: SourceRecord, fields: dict[str, Any], stamp: tuple[str, str]) -> bool:
    changed = False
    for name, value in fields.items():
        current = record.attributes.get(name)
        if current is not None and tuple(current[1:]) >= stamp:
            continue  # a newer observation of this field is already there
        record.attributes[name] = [value, *stamp]
        changed = True
    if record.kind not in (RecordKind.EMAIL, RecordKind.PHONE):
        email = (record.attributes.get("email") or [""])[0] or ""
        phone = (record.attributes.get("phone_number") or [""])[0] or ""
        if (record.email, record.phone) != (email, phone):
            record.email, record.phone = email, phone
            changed = True
    return changed


def _apply(events: list[RawEvent]) -> None:
    tenant = Tenant.objects.get(schema_name=connection.schema_name)
    slugs = frozenset(TenantSlug.objects.filter(tenant=tenant).values_list("slug", flat=True))
    parsed: list[tuple[RawEvent, Envelope, Interpretation]] = []
    for event in events:
        env, errors = validate_envelope(event.envelope, tenant=tenant, tenant_slugs=slugs)
        if env is None:  # stored events were valid when they came in; a changed rule parks them
            raise ValueError(f"Event {event.id} no longer validates: {errors}")
        parsed.append((event, env, interpret(env)))

    erased = _erased_among(parsed)
    live = [(event, env, interp) for event, env, interp in parsed if event.id not in erased]

    refs: set[RecordRef] = set()
    for _event, _env, interp in live:
        if interp.primary:
            refs.add(interp.primary)
        refs |= set(interp.observations)
        for a, b, _reason in interp.links:
            refs |= {a, b}
    records = _records_for(refs)

    # Only records that are new, or whose email, phone or links changed, can change who is who;
    # most events (bookings, opens, payments) only add to a timeline and skip identity work.
    contact_before = {r.id: (r.email, r.phone) for r in records.values()}
    dirty: set[int] = set()
    for _event, env, interp in live:
        stamp = _stamp(env)
        for ref, fields in interp.observations.items():
            if _observe(records[ref], fields, stamp):
                dirty.add(records[ref].id)
    bulk_update_rows(
        [r for r in records.values() if r.id in dirty], ["attributes", "email", "phone"]
    )
    touched = {
        r.id
        for r in records.values()
        if r.customer_id is None or contact_before[r.id] != (r.email, r.phone)
    }

    new_links = []
    for _event, _env, interp in live:
        for a, b, reason in interp.links:
            first, second = sorted((a, b))
            new_links.append(RecordLink(a=records[first], b=records[second], reason=reason))
            touched |= {records[a].id, records[b].id}
    RecordLink.objects.bulk_create(new_links, ignore_conflicts=True)

    outcome, _conflicts = identity_recompute(seed_record_ids=touched)
    owner = dict(
        SourceRecord.objects.filter(id__in=[r.id for r in records.values()]).values_list(
            "id", "customer_id"
        )
    )

    activities = []
    for event, env, interp in live:
        record = records[interp.primary] if interp.primary else None
        event.record = record
        if interp.activity is None or record is None:
            continue
        spec = interp.activity
        activities.append(
            Activity(
                customer_id=owner.get(record.id), record=record, raw_event=event, type=spec.type,
                category=spec.category, channel=spec.channel, title=spec.title[:300],
                source=env.source, occurred_at=env.occurred_at, amount_cents=spec.amount_cents,
                currency=spec.currency, counts_as_activity=spec.type in ENGAGEMENT_TYPES,
                data=_jsonable(spec.data),
            )
        )  # fmt: skip
    Activity.objects.bulk_create(activities)

    # Customers whose records changed get their fields recomputed; those that only gained
    # timeline entries need just their counters (one SQL statement).
    reprojected = set(outcome.touched) | {owner.get(record_id) for record_id in dirty}
    reprojected.discard(None)
    changed = customers_project(customer_ids=reprojected)
    customers_refresh_counters(
        customer_ids={a.customer_id for a in activities if a.customer_id} - reprojected
    )
    _publish_profile_events(outcome, changed)

    now = timezone.now()
    for event, env, _interp in parsed:
        if event.id in erased:
            continue
        event.status = EventStatus.APPLIED if env.known else EventStatus.UNKNOWN
        event.applied_at = now
    bulk_update_rows(
        [e for e, _env, _i in parsed if e.id not in erased], ["status", "applied_at", "record"]
    )

    for _event, env, interp in live:
        if interp.erase and interp.primary:
            customer_id = (
                SourceRecord.objects.filter(kind=interp.primary[0], key=interp.primary[1])
                .values_list("customer_id", flat=True)
                .first()
            )
            if customer_id:
                customer_erase(
                    customer=Customer.objects.get(id=customer_id),
                    actor_label=f"event {env.source}:{env.event_id}",
                )


def _erased_among(parsed: list[tuple[RawEvent, Envelope, Interpretation]]) -> set[int]:
    """Events about people who were erased: scrubbed and dropped, never re-creating them."""
    digests: dict[int, set[str]] = {}
    for event, _env, interp in parsed:
        refs = set(interp.observations) | ({interp.primary} if interp.primary else set())
        digests[event.id] = {erased_digest(kind, key) for kind, key in refs}
    all_digests = set().union(*digests.values()) if digests else set()
    if not all_digests:
        return set()
    known = set(
        ErasedIdentifier.objects.filter(digest__in=all_digests).values_list("digest", flat=True)
    )
    if not known:
        return set()
    erased = {event_id for event_id, values in digests.items() if values & known}
    raw_events_scrub(queryset=RawEvent.objects.filter(id__in=erased), applied_at=timezone.now())
    return erased


def _publish_profile_events(outcome, changed: list[Customer]) -> None:
    items: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    by_id = {customer.id: customer for customer in changed}
    by_id |= Customer.objects.in_bulk(set(outcome.created) - by_id.keys())
    for customer_id in sorted(outcome.created, key=str):
        customer = by_id[customer_id]
        items.append(
            ("crm.profile.created", {"customerId": str(customer_id)}, customer_identity(customer))
        )
    for customer in changed:
        if customer.id not in outcome.created:
            items.append(
                (
                    "crm.profile.updated",
                    {"customerId": str(customer.id)},
                    customer_identity(customer),
                )
            )
    linked_by_loser: dict = {loser: [] for loser in outcome.merged}
    for loser, kind, key in SourceRecord.objects.filter(
        first_customer_id__in=outcome.merged.keys()
    ).values_list("first_customer_id", "kind", "key"):
        linked_by_loser[loser].append((kind, key))
    for loser, winner in outcome.merged.items():
        linked = linked_by_loser[loser]
        items.append(
            (
                "crm.profile.merged",
                {
                    "winnerId": str(winner),
                    "loserId": str(loser),
                    "loserLinkedIds": [f"{k}:{v}" for k, v in linked],
                },
                {"customerId": str(winner)},
            )
        )
    if items:
        outbound_record_many(items=items)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in data.items()
    }
