"""Applying stored events to customers, in batches.

A batch is one transaction: its records, links, customers, timeline entries and the events'
APPLIED marks commit together or not at all. A worker killed mid-batch therefore loses nothing
and applies nothing twice: the events are still PENDING and the next run (the trigger queued
on commit, or the sweeper every minute) takes them again. One club is applied by one worker at a
time (a transaction-scoped advisory lock), which keeps identity resolution free of races.

If a batch fails, it is retried in halves, each in its own transaction, down to the events that
fail alone, so that one bad event does not hold up the others (and costs about two batches of
work, not a transaction per event); an event that fails MAX_ATTEMPTS times is PARKED with its
error, for staff to see and replay in the admin.

How a batch stays fast (benchmarks/ingest_apply.py; the method and figures are in
benchmarks/README.md): a fixed number of statements per batch, whatever its size (about 25,
plus django-tenants' search_path per cursor); new rows written by COPY (crm.db), lists passed
as one array literal each (crm.db.array_literal), no temporary tables; a record's new
observations and new customer saved in one UPDATE; one UPDATE for every touched customer's
fields, counters and stage, skipping rows that would not change, adding a batch's new timeline
entries to the counters of customers whose timelines only grew (profiles.projection); plans
that hold whatever the statistics say (the oldest pending events read in index order, customers
and activities found by key), and statistics kept fresh for the rest (statistics_upkeep: the
server may run without autovacuum); the next batch's envelopes validated in a thread while this
one waits on the database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.db import array_literal, copy_rows, tenant_connection
from crm.outbox.services import outbound_record_many
from crm.tenants.models import Tenant
from crm.transport.outbound import outbound_relay_soon
from profiles.catalogue import ENGAGEMENT_TYPES, Interpretation, RecordRef, interpret
from profiles.envelope import SLOT_AVAILABILITY, Envelope, validate_envelope
from profiles.models import (
    Activity,
    ActivityCategory,
    Customer,
    CustomerStatus,
    ErasedIdentifier,
    EventStatus,
    RawEvent,
    RecordKind,
    RecordLink,
    SourceRecord,
)
from profiles.outbound import customer_identity
from profiles.projection import ProjectedCustomer, customers_project, day_part_of
from profiles.resolution import RecomputeResult, UnsavedRecord, identity_recompute
from profiles.services import customer_erase, identifiers_held, raw_events_scrub
from profiles.suppression import (
    customer_is_erased_person,
    erased_identifiers_add,
    erasure_uuid,
    event_identifiers,
    suppressed_among,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Events per batch (one transaction). Bigger batches share more of the fixed cost per statement
# (about 40 round trips and their planning, whatever the size); a failing batch is bisected, so
# one bad event costs about two batches' work, not one transaction per event. Measured
# (benchmarks/ingest_apply.py, 100,000 events): 2,000 took 17% less CPU than 1,000; 4,000 was
# no better than 2,000 (identity work grows with the batch's connected records).
BATCH_SIZE = 2000


@dataclass(slots=True)
class _Event:
    id: int
    text: str  # the stored envelope, as JSON text
    record_id: int | None = None


_Parsed = tuple[Envelope | None, dict[str, list[str]], Interpretation | None]


def _parse(text: str, tenant: Tenant, slugs: frozenset[str]) -> _Parsed:
    env, errors = validate_envelope(json.loads(text), tenant=tenant, tenant_slugs=slugs)
    return env, errors, (interpret(env) if env is not None else None)


class _ParseAhead:
    """The next batch's envelopes, parsed in a thread while this batch waits on the database
    (psycopg lets go of the GIL while it waits): a batch spends about a fifth of its time
    validating and interpreting. Parsing is a pure function of the envelope text and the club,
    so a result is only ever used for the same event with the same text and club; anything
    else (a replayed or scrubbed event, a renamed club) is parsed again."""

    def __init__(self, rows: list[tuple[int, str]], tenant: Tenant, slugs: frozenset[str]):
        self.club = (tenant.id, tenant.country, slugs)
        self.results: dict[int, tuple[str, _Parsed]] = {}
        self.thread = threading.Thread(
            target=self._run, args=(rows, tenant, slugs), name="crm-parse-ahead", daemon=True
        )
        self.thread.start()

    def _run(self, rows: list[tuple[int, str]], tenant: Tenant, slugs: frozenset[str]) -> None:
        for event_id, text in rows:
            try:
                self.results[event_id] = (text, _parse(text, tenant, slugs))
            except Exception:  # noqa: S112 - the batch that needs it parses it again and says why
                continue
            # Hand the GIL back after each event: the applying thread, back from the database,
            # would otherwise wait a whole switch interval (5 ms) for it, statement after statement.
            time.sleep(0)

    def take(self, event: _Event, tenant: Tenant, slugs: frozenset[str]) -> _Parsed | None:
        self.thread.join()
        found = self.results.pop(event.id, None)
        if found is None or found[0] != event.text:
            return None
        return found[1] if self.club == (tenant.id, tenant.country, slugs) else None


# The parse of the batch most likely to come next, for one club (schema) at a time: a process
# applies one club after another, so one slot is enough and keeps memory bounded.
_ahead: dict[str, _ParseAhead] = {}


def _take_ahead() -> _ParseAhead | None:
    found = _ahead.pop(tenant_connection().schema_name, None)
    _ahead.clear()
    return found


@dataclass(slots=True)
class _Record:
    """A SourceRecord as the apply path needs it; attributes parsed only when observed."""

    id: int
    kind: str
    key: str
    customer_id: UUID | None
    email: str
    phone: str
    raw_attributes: str
    _attributes: dict[str, list] | None = None

    @property
    def attributes(self) -> dict[str, list]:
        if self._attributes is None:
            self._attributes = json.loads(self.raw_attributes)
        return self._attributes


_PENDING = """
SELECT id, envelope FROM profiles_rawevent
WHERE status = %s AND id = ANY(%s::bigint[])
ORDER BY id
FOR UPDATE SKIP LOCKED
"""

# A batch starts with two round trips. The first takes the club's lock and, for this
# transaction, turns off sorting and bitmap scans (reporting their settings, to restore them).
# The second locks the oldest PENDING events (the batch) and reads the ones after them (the next
# batch, parsed by a thread meanwhile: read, not locked, only a guess at what the next batch
# takes), then restores the two settings. Without them, a planner that believes few events are
# pending (a table analyzed when everything was applied, then a backfill of 100,000: too few
# changes to analyze it again; or one never analyzed) fetches every pending row and sorts them
# all to take a thousand, for every batch (measured: 55 ms a batch at 50,000 pending, 260 ms at
# 100,000). With them, both read the partial index raw_event_pending_idx in its order: the
# oldest pending events are its first entries, and a batch costs its own rows.
_LOCK = """
SELECT pg_try_advisory_xact_lock(hashtext('crm.apply.' || current_schema())),
       current_setting('enable_sort'), current_setting('enable_bitmapscan'),
       set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)
"""
_TAKE = """
WITH batch AS MATERIALIZED (
    SELECT id, envelope FROM profiles_rawevent WHERE status = %(pending)s
    ORDER BY id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
SELECT false, id, envelope FROM batch
UNION ALL (
    SELECT true, id, envelope FROM profiles_rawevent
    WHERE status = %(pending)s AND id > (SELECT max(id) FROM batch)
    ORDER BY id LIMIT %(limit)s
);
SELECT set_config('enable_sort', %(sort)s, true),
       set_config('enable_bitmapscan', %(bitmapscan)s, true)
"""

# Get or create the records of these refs in one statement: the SELECT does not see the rows
# the INSERT adds (one snapshot), so together they give each ref once.
_RECORDS = """
WITH wanted AS (SELECT * FROM unnest(%(kinds)s::text[], %(keys)s::text[]) AS w(kind, key)),
created AS (
    INSERT INTO profiles_sourcerecord
        (kind, key, customer_id, first_customer_id, email, phone, attributes, matched_by,
         confidence, created_at)
    SELECT kind, key, NULL, NULL,
           CASE WHEN kind = %(email)s THEN key ELSE '' END,
           CASE WHEN kind = %(phone)s THEN key ELSE '' END,
           '{}', '', 100, now()
    FROM wanted ORDER BY kind, key
    ON CONFLICT (kind, key) DO NOTHING
    RETURNING id, kind, key, customer_id, email, phone, attributes
)
SELECT id, kind, key, customer_id, email, phone, attributes FROM created
UNION ALL
SELECT r.id, r.kind, r.key, r.customer_id, r.email, r.phone, r.attributes
FROM wanted AS w
CROSS JOIN LATERAL (  -- one unique-index probe per ref, whatever the statistics say
    SELECT * FROM profiles_sourcerecord AS r WHERE r.kind = w.kind AND r.key = w.key LIMIT 1
) AS r
"""

_LINKS = """
INSERT INTO profiles_recordlink (a_id, b_id, reason, active, created_at, created_by)
SELECT a, b, reason, true, now(), ''
FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS l(a, b, reason)
ON CONFLICT (a_id, b_id, reason) DO NOTHING
"""

_MARK_APPLIED = """
UPDATE profiles_rawevent AS e SET status = v.status, applied_at = %s, record_id = v.record_id
FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS v(id, status, record_id)
WHERE e.id = v.id
"""

# The records each merged-away customer first held (its linked ids, for crm.profile.merged).
_LOSERS_RECORDS = """
SELECT first_customer_id, kind, key FROM profiles_sourcerecord
WHERE first_customer_id = ANY(%s::uuid[])
"""

_ACTIVITY_COLUMNS = (
    "customer_id", "record_id", "raw_event_id", "type", "category", "channel", "title", "source",
    "occurred_at", "amount_cents", "currency", "counts_as_activity", "data", "day_part",
)  # fmt: skip
BOOKING = "teetime.booking.created"


def _lock_tenant() -> None:
    """Wait for the club's lock (the batch path takes it with _LOCK, without waiting)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('crm.apply.' || current_schema()))")


def _take(*, limit: int) -> tuple[list[_Event], list[tuple[int, str]]] | None:
    """Lock the club and its oldest PENDING events (the batch), and read the events after them
    (the next batch): two round trips (see _LOCK). None: another worker holds the club."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK)
        locked, sort, bitmapscan, _off, _off_too = cursor.fetchone()
        if not locked:
            return None
        cursor.execute(
            _TAKE,
            {"pending": EventStatus.PENDING.value, "limit": limit, "sort": sort,
             "bitmapscan": bitmapscan},
        )  # fmt: skip
        rows = sorted(cursor.fetchall())
        cursor.nextset()  # the settings restored
    events = [_Event(event_id, envelope) for ahead, event_id, envelope in rows if not ahead]
    return events, [(event_id, envelope) for ahead, event_id, envelope in rows if ahead]


def _pending(*, among: list[int]) -> list[_Event]:
    """These events, if still PENDING, oldest first, locked for this transaction (others skip
    them)."""
    with connection.cursor() as cursor:
        cursor.execute(_PENDING, [EventStatus.PENDING.value, array_literal(among)])
        return [_Event(event_id, envelope) for event_id, envelope in cursor.fetchall()]


def _club() -> tuple[Tenant, frozenset[str]]:
    tenant = (
        Tenant.objects.filter(schema_name=tenant_connection().schema_name)
        .annotate(all_slugs=ArrayAgg("slugs__slug"))
        .get()
    )
    return tenant, frozenset(slug for slug in tenant.all_slugs if slug)


def pending_exists() -> bool:
    return RawEvent.objects.filter(status=EventStatus.PENDING).exists()


# The tables a batch's statements are planned against. PostgreSQL plans from the statistics
# ANALYZE last gathered, and a table that was never analyzed gets default guesses (for a status,
# one row in two hundred). Autovacuum keeps them current where it runs; on a server without it
# (this project's development and CI server has it off) nothing ever does, and a new club's
# plans are made blind as its tables grow from nothing to millions of rows: measured, a fresh
# club's batch sorted every pending event to take its thousand, and joined activities by
# scanning all of them. So apply keeps them itself: a table is analyzed once it has changed by
# as many rows as it held when last analyzed (at least ANALYZE_AFTER_CHANGES), the rule
# autovacuum follows with a scale factor of 1. ANALYZE reads a bounded sample (300 rows per
# unit of default_statistics_target, ~30,000) whatever the table's size, and growth from
# nothing to n rows triggers it about log2(n) times per table: for a million-event load about
# a dozen times per table, a few seconds in all. Where autovacuum keeps up this finds nothing
# to do; SKIP_LOCKED leaves a table alone while a (auto)vacuum holds it.
_STATISTICS_TABLES = [
    model._meta.db_table for model in (RawEvent, SourceRecord, RecordLink, Customer, Activity)
]
ANALYZE_AFTER_CHANGES = 1000
_STALE_TABLES = """
SELECT c.oid::regclass::text FROM pg_class AS c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%s)
  AND pg_stat_get_mod_since_analyze(c.oid) >= greatest(%s, c.reltuples)
ORDER BY c.relname
"""


# How often one process looks (per club): a look is a catalogue query, a round trip that a
# batch every half second need not make.
STATISTICS_CHECK_SECONDS = 10.0
_statistics_checked: dict[str, float] = {}


def statistics_upkeep(*, force: bool = False) -> list[str]:
    """ANALYZE the current club's apply tables whose statistics are stale (see above), looking
    at most every STATISTICS_CHECK_SECONDS per club unless `force`. Returns the tables
    analyzed. Cheap when there are none: one catalogue query."""
    now = time.monotonic()
    last = _statistics_checked.get(tenant_connection().schema_name)
    if not force and last is not None and now - last < STATISTICS_CHECK_SECONDS:
        return []
    _statistics_checked[tenant_connection().schema_name] = now
    with connection.cursor() as cursor:
        cursor.execute(_STALE_TABLES, [_STATISTICS_TABLES, ANALYZE_AFTER_CHANGES])
        stale = [name for (name,) in cursor.fetchall()]
        if stale:
            try:
                with transaction.atomic():  # its own transaction (a savepoint in the caller's)
                    cursor.execute(f"ANALYZE (SKIP_LOCKED) {', '.join(stale)}")
            except DatabaseError:  # statistics are an optimisation: never fail a batch for them
                logger.warning("ANALYZE of %s failed", stale, exc_info=True)
                return []
    return stale


def events_apply_pending(*, limit: int = BATCH_SIZE) -> int:
    """Apply up to `limit` PENDING events of the current club, oldest first. Returns how many
    it processed (0: nothing pending, or another worker holds this club right now)."""
    statistics_upkeep()
    with transaction.atomic():
        taken = _take(limit=limit)
        if not taken or not taken[0]:
            return 0
        events, next_rows = taken
        tenant, slugs = _club()
        ahead = _take_ahead()
        if next_rows:
            _ahead[tenant_connection().schema_name] = _ParseAhead(next_rows, tenant, slugs)
        try:
            with transaction.atomic():
                _apply(events, tenant=tenant, slugs=slugs, ahead=ahead)
            return len(events)
        except Exception:
            logger.warning(
                "Batch of %d events failed; applying it in halves", len(events), exc_info=True
            )
        ids = [event.id for event in events]
    _apply_bisect(ids)
    return len(ids)


def _apply_bisect(ids: list[int]) -> None:
    """Apply a failed batch in halves, each its own transaction, down to the events that fail
    alone: one bad event among n costs about 2n event-applies, never n transactions."""
    if len(ids) == 1:
        _apply_one(ids[0])
        return
    middle = len(ids) // 2
    for half in (ids[:middle], ids[middle:]):
        try:
            with transaction.atomic():
                _lock_tenant()
                events = _pending(among=half)
                if events:
                    tenant, slugs = _club()
                    _apply(events, tenant=tenant, slugs=slugs)
        except Exception:
            logger.warning("%d events failed together; splitting them", len(half))
            _apply_bisect(half)


def _apply_one(event_id: int) -> None:
    try:
        with transaction.atomic():
            _lock_tenant()
            events = _pending(among=[event_id])
            if events:
                tenant, slugs = _club()
                _apply(events, tenant=tenant, slugs=slugs)
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


def _records_for(refs: set[RecordRef]) -> dict[RecordRef, _Record]:
    """Get or create the records for these refs: one statement, whatever the count."""
    if not refs:
        return {}
    ordered = sorted(refs)
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORDS,
            {
                "kinds": array_literal(kind for kind, _key in ordered),
                "keys": array_literal(key for _kind, key in ordered),
                "email": str(RecordKind.EMAIL),
                "phone": str(RecordKind.PHONE),
            },
        )
        return {(row[1], row[2]): _Record(*row) for row in cursor}


def _observe(record: _Record, fields: dict[str, Any], stamp: tuple[str, str]) -> bool:
    if not fields:
        return False  # email and phone already mirror the attributes (they change together)
    attributes = record.attributes
    changed = False
    for name, value in fields.items():
        current = attributes.get(name)
        if current is not None and tuple(current[1:]) >= stamp:
            continue  # a newer observation of this field is already there
        attributes[name] = [value, *stamp]
        changed = True
    if record.kind not in (RecordKind.EMAIL, RecordKind.PHONE):
        email = (attributes.get("email") or [""])[0] or ""
        phone = (attributes.get("phone_number") or [""])[0] or ""
        if (record.email, record.phone) != (email, phone):
            record.email, record.phone = email, phone
            changed = True
    return changed


def _apply(
    events: list[_Event],
    *,
    tenant: Tenant,
    slugs: frozenset[str],
    ahead: _ParseAhead | None = None,
) -> None:
    parsed: list[tuple[_Event, Envelope, Interpretation]] = []
    for event in events:
        done = ahead.take(event, tenant, slugs) if ahead else None
        env, errors, interp = done or _parse(event.text, tenant, slugs)
        if env is None or interp is None:  # valid when stored; a changed rule parks them
            raise ValueError(f"Event {event.id} no longer validates: {errors}")
        parsed.append((event, env, interp))

    erased, spread = _erased_among(parsed)
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
    dirty: dict[int, _Record] = {}
    for _event, env, interp in live:
        if not any(interp.observations.values()):
            continue
        stamp = _stamp(env)
        for ref, fields in interp.observations.items():
            observed = records[ref]
            if _observe(observed, fields, stamp):
                dirty[observed.id] = observed
    # Saved by identity_recompute, with the records' new customers, in one UPDATE.
    unsaved = {
        r.id: UnsavedRecord(json.dumps(r.attributes), r.email, r.phone) for r in dirty.values()
    }
    touched = {
        r.id
        for r in records.values()
        if r.customer_id is None or contact_before[r.id] != (r.email, r.phone)
    }

    new_links: set[tuple[int, int, str]] = set()
    for _event, _env, interp in live:
        for a, b, reason in interp.links:
            first, second = sorted((a, b))
            new_links.add((records[first].id, records[second].id, str(reason)))
            touched |= {records[a].id, records[b].id}
    if new_links:
        ordered_links = sorted(new_links)
        with connection.cursor() as cursor:
            cursor.execute(
                _LINKS,
                [
                    array_literal(a for a, _b, _r in ordered_links),
                    array_literal(b for _a, b, _r in ordered_links),
                    array_literal(r for _a, _b, r in ordered_links),
                ],
            )

    outcome, _conflicts = identity_recompute(seed_record_ids=touched, unsaved=unsaved)
    owner = {r.id: r.customer_id for r in records.values()} | outcome.owners

    activities = []
    activity_customers: set[UUID] = set()
    club_zone = ZoneInfo(tenant.timezone or "UTC")
    for event, env, interp in live:
        record = records[interp.primary] if interp.primary else None
        event.record_id = record.id if record else None
        if interp.activity is None or record is None:
            continue
        spec = interp.activity
        customer_id = owner.get(record.id)
        if customer_id is not None:
            activity_customers.add(customer_id)
        activities.append(
            (
                customer_id, record.id, event.id, spec.type, spec.category, spec.channel,
                spec.title[:300], env.source, env.occurred_at, spec.amount_cents, spec.currency,
                spec.type in ENGAGEMENT_TYPES, json.dumps(_jsonable(spec.data)),
                day_part_of(spec.data.get("teeTime"), env.occurred_at, club_zone)
                if spec.type == BOOKING else None,
            )
        )  # fmt: skip
    activities.extend(_guest_rounds(live, records, owner, activity_customers))
    copy_rows(Activity._meta.db_table, _ACTIVITY_COLUMNS, activities)

    # Customers whose records changed get their fields recomputed; those that only gained
    # timeline entries need just their counters: one UPDATE for both.
    reprojected = set(outcome.touched) | {
        owner_id for record_id in dirty if (owner_id := owner.get(record_id)) is not None
    }
    changed = customers_project(
        customer_ids=reprojected,
        counters_for=activity_customers - reprojected,
        gained_from_events=[event.id for event, _env, _interp in live],
        recount=outcome.regrouped,
    )
    _publish_profile_events(outcome, changed, tenant)

    _slots_upsert([env for _e, env, _i in live if env.known and env.type == SLOT_AVAILABILITY])

    marked = [(e, env) for e, env, _interp in parsed if e.id not in erased]
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_APPLIED,
            [
                timezone.now(),
                array_literal(e.id for e, _env in marked),
                array_literal(
                    EventStatus.APPLIED.value if env.known else EventStatus.UNKNOWN.value
                    for _e, env in marked
                ),
                array_literal(e.record_id for e, _env in marked),
            ],
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
    _spread_erasures(spread)


# The tee sheet: each slot's newest state, in one statement per batch. A row moves only to a
# later (timestamp, source:id), so an older event arriving late changes nothing; a batch holds
# at most one row per slot (its newest), as one INSERT … ON CONFLICT may touch a row once.
_SLOTS = """
INSERT INTO profiles_teeslot AS t
    (slot_id, course_id, course_name, tee_time, holes, capacity, booked, price_cents, currency,
     member_only, max_handicap, booking_url, state_at, state_key, updated_at)
SELECT v.slot_id, v.course_id, v.course_name, v.tee_time, v.holes, v.capacity, v.booked,
       v.price_cents, v.currency, v.member_only, v.max_handicap, v.booking_url, v.state_at,
       v.state_key, now()
FROM jsonb_to_recordset(%s::jsonb) AS v(
    slot_id text, course_id text, course_name text, tee_time timestamptz, holes smallint,
    capacity smallint, booked smallint, price_cents bigint, currency text, member_only boolean,
    max_handicap numeric, booking_url text, state_at timestamptz, state_key text)
ON CONFLICT (slot_id) DO UPDATE SET
    course_id = excluded.course_id, course_name = excluded.course_name,
    tee_time = excluded.tee_time, holes = excluded.holes, capacity = excluded.capacity,
    booked = excluded.booked, price_cents = excluded.price_cents, currency = excluded.currency,
    member_only = excluded.member_only, max_handicap = excluded.max_handicap,
    booking_url = excluded.booking_url, state_at = excluded.state_at,
    state_key = excluded.state_key, updated_at = now()
WHERE (excluded.state_at, excluded.state_key) > (t.state_at, t.state_key)
"""


def _slots_upsert(envs: list[Envelope]) -> None:
    if not envs:
        return
    newest: dict[str, tuple[tuple, dict[str, Any]]] = {}
    for env in envs:
        p = env.payload
        stamp = (env.occurred_at.astimezone(UTC), f"{env.source}:{env.event_id}")
        if p["slotId"] in newest and newest[p["slotId"]][0] >= stamp:
            continue
        newest[p["slotId"]] = (
            stamp,
            {
                "slot_id": p["slotId"], "course_id": p.get("courseId") or "",
                "course_name": p.get("courseName") or "", "tee_time": p["teeTime"].isoformat(),
                "holes": p.get("holes"), "capacity": p["capacity"], "booked": p["booked"],
                "price_cents": p.get("amountCents"), "currency": p.get("currency") or "",
                "member_only": bool(p.get("memberOnly")), "max_handicap": p.get("maxHandicap"),
                "booking_url": p.get("bookingUrl") or "", "state_at": stamp[0].isoformat(),
                "state_key": stamp[1],
            },
        )  # fmt: skip
    rows = [row for _stamp, row in newest.values()]
    with connection.cursor() as cursor:
        cursor.execute(_SLOTS, [json.dumps(rows)])
    # The gap filler (campaigns.tee_sheet) looks at the sheet as soon as this commits; its
    # minute-by-minute tick catches anything this misses. Named, not imported: ingestion does
    # not depend on what the club does with free places.
    transaction.on_commit(_fill_soon)


def _fill_soon() -> None:
    from crm.celery import app

    app.send_task("campaigns.tee_sheet_fill")


GUEST_ROUND = "teetime.booking.guest"


def _guest_rounds(
    live: list[tuple[_Event, Envelope, Interpretation]],
    records: dict[RecordRef, _Record],
    owner: dict[int, UUID | None],
    activity_customers: set[UUID],
) -> list[tuple]:
    """A timeline entry for every guest of a booking: "Played as a guest of …", with the
    booking and the booker's record, which is what "rounds as a guest", "played as a guest of"
    and "plays with most" read (profiles.rounds). It has no raw event of its own (the booking's
    is the booker's entry)."""
    rows = []
    for _event, env, _interp in live:
        p = env.payload
        if env.type != "teetime.booking.created" or not env.known or not p.get("guestPlayerIds"):
            continue
        booker = records.get((RecordKind.TEETIME_PLAYER, p["playerId"]))
        if booker is None:
            continue
        names = [
            (booker.attributes.get(field) or [""])[0] or "" for field in ("first_name", "last_name")
        ]
        name = " ".join(part for part in names if part) or "another player"
        where = f" at {p['courseName']}" if p.get("courseName") else ""
        for guest in p["guestPlayerIds"]:
            record = records[(RecordKind.TEETIME_PLAYER, guest)]
            customer_id = owner.get(record.id)
            if customer_id is not None:
                activity_customers.add(customer_id)
            data = {
                "bookingId": p["bookingId"], "teeTime": p.get("teeTime"),
                "bookerRecordId": booker.id, "bookerPlayerId": p["playerId"],
                "courseName": p.get("courseName"),
            }  # fmt: skip
            rows.append(
                (
                    customer_id, record.id, None, GUEST_ROUND, ActivityCategory.GOLF,
                    "", f"Played as a guest of {name}{where}"[:300], env.source,
                    env.occurred_at, None, "", False, json.dumps(_jsonable(data)),
                    None,  # day_part: only the booker's own booking counts toward day parts
                )
            )  # fmt: skip
    return rows


def _erased_among(
    parsed: list[tuple[_Event, Envelope, Interpretation]],
) -> tuple[set[int], dict[str, set[RecordRef]]]:
    """Events about people who were erased (profiles.suppression): scrubbed and dropped,
    never re-creating them. Returns their ids, and per erasure the identifiers they carried
    (now on its list), for `_spread_erasures`."""
    if not ErasedIdentifier.objects.exists():
        return set(), {}  # most clubs, most of the time: no identifier to hash
    items = {event.id: event_identifiers(env, interp) for event, env, interp in parsed}
    suppressed = suppressed_among(items)
    if not suppressed:
        return set(), {}
    raw_events_scrub(
        queryset=RawEvent.objects.filter(id__in=list(suppressed)), applied_at=timezone.now()
    )
    spread: dict[str, set[RecordRef]] = {}
    for event_id, key in suppressed.items():
        spread.setdefault(key, set()).update(items[event_id])
    for key, refs in spread.items():
        erased_identifiers_add(erasure=erasure_uuid(key), identifiers=refs)
    return set(suppressed), spread


# An erasure that keeps finding more of the person (each customer erased brings identifiers
# that may name another) stops after this many rounds; the next suppressed event goes on.
MAX_SPREAD_ROUNDS = 10


def _spread_erasures(spread: dict[str, set[RecordRef]]) -> None:
    """Erase the customers made from events that arrived before their person's erasure knew
    these identifiers (the erasure came first, the member's own details later): whoever holds
    one of them and is, by the suppression rule, the erased person."""
    for _round in range(MAX_SPREAD_ROUNDS):
        if not spread:
            return
        found: dict[str, set[RecordRef]] = {}
        for key, refs in spread.items():
            for customer in _holders(refs):
                held = identifiers_held(list(SourceRecord.objects.filter(customer=customer)), [])
                if not customer_is_erased_person(erasure_key=key, identifiers=held):
                    continue
                customer_erase(
                    customer=customer,
                    actor_label="erasure (an identifier of an erased person)",
                    erasure=erasure_uuid(key),
                )
                found.setdefault(key, set()).update(held)
        spread = found


def _holders(refs: set[RecordRef]) -> list[Customer]:
    query = Q()
    emails = [value for kind, value in refs if kind == RecordKind.EMAIL]
    phones = [value for kind, value in refs if kind == RecordKind.PHONE]
    for kind, value in refs:
        query |= Q(kind=kind, key=value)
    if emails:
        query |= Q(email__in=emails)
    if phones:
        query |= Q(phone__in=phones)
    if not query:
        return []
    ids = set(SourceRecord.objects.filter(query).values_list("customer_id", flat=True)) - {None}
    return list(
        Customer.objects.filter(id__in=ids)
        .exclude(status__in=[CustomerStatus.DELETED, CustomerStatus.MERGED])
        .order_by("created_at", "id")
    )


def _publish_profile_events(
    outcome: RecomputeResult, changed: list[ProjectedCustomer], tenant: Tenant
) -> None:
    items: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    by_id: dict[Any, Customer | ProjectedCustomer] = {c.id: c for c in changed}
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
    if outcome.merged:
        with connection.cursor() as cursor:
            cursor.execute(_LOSERS_RECORDS, [array_literal(outcome.merged)])
            for loser, kind, key in cursor.fetchall():
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
        outbound_record_many(items=items, tenant=tenant)
        outbound_relay_soon()  # crm/transport: relay the outbox to crm-outbound on commit


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in data.items()
    }
