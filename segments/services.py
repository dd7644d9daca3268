"""Writes of segments: each in one transaction, with an audit row where staff or a key asked.

Materialising membership is one SQL statement per refresh: the compiled rule's ids, diffed
against the current members with data-modifying CTEs that add the entries, delete the exits,
record both in the change log and write one `crm.segment.membership.changed` event per change
to the outbox, all from one snapshot. Concurrent refreshes of one segment queue on its row lock.

Choices:
- A new or edited DYNAMIC segment is materialised right after the commit (a Celery task).
- HOURLY and DAILY segments are also refreshed, for the customers concerned only, within a
  minute of an event that can change one of the fields they read; MANUAL segments change only
  when asked (`POST segments/<id>/refresh`), so staff can hold an audience still.
- Changes are published for every refresh, the first included: a journey triggered by
  entering a segment decides itself whether customers already inside count.
- A segment another segment's rule names (`inSegment`) cannot be deleted.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from crm.accounts.services import audit_record
from crm.outbox.services import outbox_insert_sql, outbox_sql_params
from crm.tenants.selectors import tenant_current
from crm.transport.outbound import outbound_relay_soon
from profiles.models import Activity, Customer, CustomerStatus
from profiles.normalise import normalise_phone
from profiles.outbound import customer_identity_sql
from segments.compiler import Compiler, base_customers
from segments.fields import FIELDS, Source, activity_types_of
from segments.models import (
    MembershipSource,
    RefreshSchedule,
    Segment,
    SegmentEventCursor,
    SegmentMembership,
    SegmentType,
)
from segments.rules import RuleError, rules_fields, rules_parse, rules_segment_ids

# An event-driven refresh reads at most this many new timeline rows per run; the rest waits
# for the next run a minute later, so one run stays short whatever the backlog.
TOUCHED_BATCH = 20_000
MAX_IMPORT_ROWS = 100_000
ALL_EVENT_TYPES = "*"


def _rules_validated(rules: Any, *, segment_id: uuid.UUID | None = None) -> Any:
    """Parse against this club's segments; refuse a rule that includes its own segment."""
    known = set(Segment.objects.values_list("id", flat=True))
    parsed = rules_parse(rules, known_segment_ids=known)
    if segment_id is not None and segment_id in rules_segment_ids(parsed):
        raise RuleError({"": ["A segment cannot include itself."]})
    # Compiling resolves nested segments, so cycles through others surface now, not at refresh.
    compiler = Compiler(tz=tenant_current().timezone)
    if segment_id is not None:
        compiler._stack.append(segment_id)
    compiler.q(parsed)
    return parsed


def _watched_event_types(parsed: Any) -> list[str]:
    names = rules_fields(parsed)
    # A field on the customer row can change with any event; timeline fields with their own.
    if any(FIELDS[name].source not in _TIMELINE_SOURCES for name in names):
        return [ALL_EVENT_TYPES]
    return sorted(activity_types_of(names))


_TIMELINE_SOURCES = (
    Source.ACTIVITY_COUNT,
    Source.ACTIVITY_SUM,
    Source.ACTIVITY_LATEST,
    Source.DAY_PART_SHARE,
)


def _schedule_refresh(segment: Segment) -> None:
    from segments.tasks import refresh_segment

    segment_id = str(segment.id)
    transaction.on_commit(lambda: refresh_segment.delay(segment_id))


@transaction.atomic
def segment_create(
    *,
    name: str,
    type: str = SegmentType.DYNAMIC,
    rules: Any = None,
    refresh: str = RefreshSchedule.DAILY,
    description: str = "",
    template_key: str = "",
    actor_label: str = "",
) -> Segment:
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the segment a name."]
    elif Segment.objects.filter(name__iexact=name).exists():
        errors["name"] = [f"A segment named {name!r} already exists."]
    watched: list[str] = []
    if type == SegmentType.DYNAMIC:
        if rules is None:
            errors["rules"] = ["A DYNAMIC segment needs rules."]
        else:
            try:
                watched = _watched_event_types(_rules_validated(rules))
            except RuleError as exc:
                errors.update(exc.errors)
    elif rules is not None:
        errors["rules"] = ["A STATIC segment has no rules; add members instead."]
    if errors:
        raise ValidationError(errors)
    segment = Segment.objects.create(
        name=name,
        type=type,
        rules=rules if type == SegmentType.DYNAMIC else None,
        refresh=refresh,
        description=description,
        template_key=template_key,
        watched_event_types=watched,
        created_by=actor_label,
    )
    audit_record(
        action="segment.create",
        actor_label=actor_label,
        object_type="segment",
        object_id=str(segment.id),
        details={"name": name, "type": type},
    )
    if segment.type == SegmentType.DYNAMIC:
        _schedule_refresh(segment)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, data: dict[str, Any], actor_label: str = "") -> Segment:
    """Change name, description, rules or refresh. New rules are materialised after commit."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    errors: dict[str, list[str]] = {}
    if "name" in data:
        name = (data["name"] or "").strip()
        if not name:
            errors["name"] = ["Give the segment a name."]
        elif Segment.objects.filter(name__iexact=name).exclude(pk=segment.pk).exists():
            errors["name"] = [f"A segment named {name!r} already exists."]
        segment.name = name
    if "rules" in data:
        if segment.type == SegmentType.STATIC:
            errors["rules"] = ["A STATIC segment has no rules; add members instead."]
        else:
            try:
                parsed = _rules_validated(data["rules"], segment_id=segment.id)
                segment.watched_event_types = _watched_event_types(parsed)
                segment.rules = data["rules"]
            except RuleError as exc:
                errors.update(exc.errors)
    for key in ("description", "refresh"):
        if key in data:
            setattr(segment, key, data[key])
    if errors:
        raise ValidationError(errors)
    segment.save()
    audit_record(
        action="segment.update",
        actor_label=actor_label,
        object_type="segment",
        object_id=str(segment.id),
        details={"changed": sorted(data)},
    )
    if "rules" in data:
        _schedule_refresh(segment)
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor_label: str = "") -> None:
    users = [
        other.name
        for other in Segment.objects.filter(type=SegmentType.DYNAMIC).exclude(pk=segment.pk)
        if other.rules and str(segment.id) in _segment_refs(other.rules)
    ]
    if users:
        raise ValidationError(
            {"segment": [f"Used by the rules of: {', '.join(sorted(users))}. Change those first."]}
        )
    audit_record(
        action="segment.delete",
        actor_label=actor_label,
        object_type="segment",
        object_id=str(segment.id),
        details={"name": segment.name},
    )
    segment.delete()


def _segment_refs(rules: Any) -> set[str]:
    """Segment ids a stored rule names, read leniently (stored rules were valid when saved)."""
    found: set[str] = set()
    if isinstance(rules, dict):
        if rules.get("field") == "inSegment":
            value = rules.get("value")
            found |= {str(v) for v in value} if isinstance(value, list) else {str(value)}
        for child in rules.get("rules") or []:
            found |= _segment_refs(child)
    return found


# --- materialisation ---------------------------------------------------------------------------

MEMBERSHIP_CHANGED = "crm.segment.membership.changed"

_MEMBERSHIP_SQL = """
WITH target AS (SELECT id FROM segment_target),
entered AS (
    INSERT INTO segments_segmentmembership (segment_id, customer_id, source, entered_at)
    SELECT %(segment)s, t.id, %(source)s, %(now)s FROM target AS t
    WHERE NOT EXISTS (
        SELECT 1 FROM segments_segmentmembership AS m
        WHERE m.segment_id = %(segment)s AND m.customer_id = t.id)
    ON CONFLICT (segment_id, customer_id) DO NOTHING
    RETURNING customer_id
),
exited AS (
    DELETE FROM segments_segmentmembership AS m
    WHERE %(diff_exits)s AND m.segment_id = %(segment)s
      AND (%(scope)s::uuid[] IS NULL OR m.customer_id = ANY(%(scope)s::uuid[]))
      AND NOT EXISTS (SELECT 1 FROM target AS t WHERE t.id = m.customer_id)
    RETURNING m.customer_id
),
changes AS (
    INSERT INTO segments_segmentmembershipchange (segment_id, customer_id, kind, at)
    SELECT %(segment)s, customer_id, 'ENTERED', %(now)s FROM entered
    UNION ALL
    SELECT %(segment)s, customer_id, 'EXITED', %(now)s FROM exited
    RETURNING customer_id, kind
),
published AS (
    {published}
    RETURNING 1
)
SELECT (SELECT count(*) FROM entered), (SELECT count(*) FROM exited),
       (SELECT count(*) FROM published)
"""


@functools.cache
def _membership_sql() -> str:
    """`_MEMBERSHIP_SQL` with one `crm.segment.membership.changed` event per change, written by
    the outbox's SQL form (the same envelope as every other event)."""
    published = outbox_insert_sql(
        rows=(
            "(SELECT gen_random_uuid() AS event_id, customer_id, kind FROM changes) AS e "
            "JOIN profiles_customer AS c ON c.id = e.customer_id"
        ),
        event_id="e.event_id",
        identity=customer_identity_sql("c"),
        payload=(
            "jsonb_build_object('segmentId', %(segment_text)s, 'segmentName', "
            "%(segment_name)s, 'customerId', c.id::text, 'change', e.kind)"
        ),
    )
    return _MEMBERSHIP_SQL.replace("{published}", published)


@dataclass
class RefreshResult:
    entered: int = 0
    exited: int = 0
    member_count: int = 0
    published: int = 0
    skipped: bool = False


def _membership_apply(
    *,
    segment: Segment,
    target_sql: str,
    target_params: tuple | list,
    source: str,
    diff_exits: bool,
    scope: list[uuid.UUID] | None = None,
) -> tuple[int, int]:
    """Make `segment`'s members match the target ids (within `scope`, if given)."""
    tenant = tenant_current()
    now = timezone.now()
    params = {
        "segment": segment.id,
        "segment_text": str(segment.id),
        "segment_name": segment.name,
        "source": source,
        "now": now,
        **outbox_sql_params(event_type=MEMBERSHIP_CHANGED, now=now, tenant=tenant),
        "diff_exits": diff_exits,
        "scope": [str(customer_id) for customer_id in scope] if scope is not None else None,
    }
    with connection.cursor() as cursor:
        # The target ids go to a temporary table first: the compiled query keeps its own
        # positional parameters, and PostgreSQL gets exact row counts to plan the diff with.
        cursor.execute("DROP TABLE IF EXISTS segment_target")
        cursor.execute("CREATE TEMP TABLE segment_target (id uuid PRIMARY KEY) ON COMMIT DROP")
        cursor.execute(f"INSERT INTO segment_target {target_sql}", target_params)
        cursor.execute("ANALYZE segment_target")
        cursor.execute(_membership_sql(), params)
        entered, exited, published = cursor.fetchone()
        cursor.execute("DROP TABLE segment_target")
    if published:
        outbound_relay_soon()
    return entered, exited


def _recount(segment: Segment, *, refreshed: bool) -> None:
    segment.member_count = SegmentMembership.objects.filter(segment=segment).count()
    fields = ["member_count", "updated_at"]
    if refreshed:
        segment.last_refreshed_at = timezone.now()
        fields.append("last_refreshed_at")
    segment.save(update_fields=fields)


@transaction.atomic
def segment_refresh(
    *, segment_id: uuid.UUID | str, customer_ids: list[uuid.UUID] | None = None
) -> RefreshResult:
    """Materialise a segment's members now: all of them, or only `customer_ids`' places.

    Safe to repeat and to run concurrently (the segment's row lock orders them).
    """
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        return RefreshResult(skipped=True)
    if segment.type == SegmentType.STATIC:
        entered, exited = _static_follow_merges(segment)
    else:
        compiler = Compiler(tz=tenant_current().timezone)
        try:
            queryset = compiler.queryset(rules_parse(segment.rules))
        except RuleError:
            # A rule can only break through a segment it names being changed since; keep the
            # members as they are rather than empty the audience.
            return RefreshResult(skipped=True, member_count=segment.member_count)
        if customer_ids is not None:
            queryset = queryset.filter(pk__in=customer_ids)
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        entered, exited = _membership_apply(
            segment=segment,
            target_sql=sql,
            target_params=params,
            source=MembershipSource.RULE,
            diff_exits=True,
            scope=customer_ids,
        )
    _recount(segment, refreshed=customer_ids is None)
    return RefreshResult(
        entered=entered,
        exited=exited,
        member_count=segment.member_count,
        published=entered + exited,
    )


def _static_follow_merges(segment: Segment) -> tuple[int, int]:
    """A static list keeps people, not rows: a merged-away member is replaced by the customer
    they became; an erased one leaves."""
    gone = SegmentMembership.objects.filter(segment=segment).exclude(
        customer__status__in=(CustomerStatus.ACTIVE, CustomerStatus.INACTIVE)
    )
    winners = [
        winner
        for winner in gone.filter(
            customer__status=CustomerStatus.MERGED, customer__merged_into__isnull=False
        )
        .values_list("customer__merged_into_id", flat=True)
        .distinct()
        if winner is not None  # none is, by the filter; the type cannot tell
    ]
    kept = list(
        SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True)
    )
    gone_ids = list(gone.values_list("customer_id", flat=True))
    if not gone_ids:
        return 0, 0
    target_ids = sorted({*kept, *winners} - set(gone_ids))
    sql, params = (
        base_customers().filter(pk__in=target_ids).order_by().values("pk").query.sql_with_params()
    )
    return _membership_apply(
        segment=segment,
        target_sql=sql,
        target_params=params,
        source=MembershipSource.MANUAL,
        diff_exits=True,
    )


@dataclass
class MembersAdded:
    added: int
    already: int
    not_found: list[str] = field(default_factory=list)


@transaction.atomic
def segment_members_add(
    *,
    segment: Segment,
    customer_ids: list[uuid.UUID],
    source: str = MembershipSource.MANUAL,
    actor_label: str = "",
) -> MembersAdded:
    """Add customers to a STATIC segment; ids that are no current customer are reported."""
    if segment.type != SegmentType.STATIC:
        raise ValidationError({"segment": ["Only STATIC segments take members by hand."]})
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    wanted = list(dict.fromkeys(customer_ids))
    found = set(base_customers().filter(pk__in=wanted).values_list("pk", flat=True))
    already = set(
        SegmentMembership.objects.filter(segment=segment, customer_id__in=found).values_list(
            "customer_id", flat=True
        )
    )
    entered = 0
    if found:  # an empty `IN ()` has no SQL (EmptyResultSet): nothing to add anyway
        sql, params = (
            base_customers()
            .filter(pk__in=list(found))
            .order_by()
            .values("pk")
            .query.sql_with_params()
        )
        entered, _ = _membership_apply(
            segment=segment, target_sql=sql, target_params=params, source=source, diff_exits=False
        )
    _recount(segment, refreshed=False)
    audit_record(
        action="segment.members.add",
        actor_label=actor_label,
        object_type="segment",
        object_id=str(segment.id),
        details={"added": entered, "source": source},
    )
    return MembersAdded(
        added=entered,
        already=len(already),
        not_found=[str(customer_id) for customer_id in wanted if customer_id not in found],
    )


@transaction.atomic
def segment_members_remove(
    *, segment: Segment, customer_ids: list[uuid.UUID], actor_label: str = ""
) -> int:
    if segment.type != SegmentType.STATIC:
        raise ValidationError({"segment": ["Only STATIC segments lose members by hand."]})
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    _, exited = _membership_apply(
        segment=segment,
        target_sql="SELECT customer_id FROM segments_segmentmembership "
        "WHERE segment_id = %s AND NOT (customer_id = ANY(%s::uuid[]))",
        target_params=[segment.id, [str(customer_id) for customer_id in customer_ids]],
        source=MembershipSource.MANUAL,
        diff_exits=True,
    )
    _recount(segment, refreshed=False)
    audit_record(
        action="segment.members.remove",
        actor_label=actor_label,
        object_type="segment",
        object_id=str(segment.id),
        details={"removed": exited},
    )
    return exited


@dataclass
class ImportReport:
    rows: int = 0
    matched: int = 0
    added: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)


IMPORT_COLUMNS = {
    "customerid": "pk",
    "email": "email",
    "phone": "phone_number",
    "phonenumber": "phone_number",
    "sclmemberid": "scl_member_id",
    "teetimeplayerid": "teetime_player_id",
    "messagingcontactid": "messaging_contact_id",
}


def segment_import_csv(*, segment: Segment, content: str, actor_label: str = "") -> ImportReport:
    """Add the customers a CSV names to a STATIC segment, matched by the first identifier
    column that has a value on each row (customerId, email, phone/phoneNumber, sclMemberId,
    teetimePlayerId, messagingContactId; header names are case-insensitive). Rows that match
    nobody, or more than one customer (a shared household email), are reported, not added."""
    if segment.type != SegmentType.STATIC:
        raise ValidationError({"segment": ["Only STATIC segments take a CSV import."]})
    reader = csv.DictReader(io.StringIO(content))
    headers = {
        (name or "").strip().replace("_", "").lower(): name for name in (reader.fieldnames or [])
    }
    columns = [(headers[key], column) for key, column in IMPORT_COLUMNS.items() if key in headers]
    if not columns:
        raise ValidationError(
            {"file": ["No identifier column. Use one of: customerId, email, phone, "
                      "sclMemberId, teetimePlayerId, messagingContactId."]}
        )  # fmt: skip
    country = tenant_current().country
    report = ImportReport()
    wanted: list[tuple[int, str, str, Any]] = []  # (line, column, raw, normalised)
    for line, row in enumerate(reader, start=2):
        report.rows += 1
        if report.rows > MAX_IMPORT_ROWS:
            raise ValidationError({"file": [f"At most {MAX_IMPORT_ROWS:,} rows per import."]})
        for header, column in columns:
            raw = (row.get(header) or "").strip()
            if not raw:
                continue
            value = _import_value(column, raw, country)
            if value is None:
                report.unmatched.append(
                    {"line": line, "value": raw, "reason": f"not a valid {header}"}
                )
            else:
                wanted.append((line, column, raw, value))
            break
        else:
            report.unmatched.append(
                {"line": line, "value": "", "reason": "no identifier on this row"}
            )
    matches: dict[tuple[str, Any], list[uuid.UUID]] = {}
    for column in {column for _, column, _, _ in wanted}:
        values = {value for _, col, _, value in wanted if col == column}
        for pk, value in (
            base_customers().filter(**{f"{column}__in": values}).values_list("pk", column)
        ):
            matches.setdefault((column, value), []).append(pk)
    ids: list[uuid.UUID] = []
    for line, column, raw, value in wanted:
        found = matches.get((column, value), [])
        if len(found) == 1:
            ids.append(found[0])
        else:
            reason = "matches no customer" if not found else f"matches {len(found)} customers"
            report.unmatched.append({"line": line, "value": raw, "reason": reason})
    report.unmatched.sort(key=lambda item: item["line"])
    report.matched = len(ids)
    added = segment_members_add(
        segment=segment, customer_ids=ids, source=MembershipSource.IMPORT, actor_label=actor_label
    )
    report.added = added.added
    return report


def _import_value(column: str, raw: str, country: str) -> Any:
    if column == "pk":
        try:
            return uuid.UUID(raw)
        except ValueError:
            return None
    if column == "email":
        return raw.lower() if "@" in raw else None
    if column == "phone_number":
        return normalise_phone(raw, default_country=country)
    if column == "scl_member_id":
        return int(raw) if raw.isdigit() and len(raw) <= 18 else None
    return raw


@transaction.atomic
def segment_snapshot(*, segment: Segment, name: str, actor_label: str = "") -> Segment:
    """A STATIC copy of who a dynamic segment matches right now."""
    if segment.type != SegmentType.DYNAMIC:
        raise ValidationError({"segment": ["Only a DYNAMIC segment can be snapshotted."]})
    snapshot = segment_create(
        name=name,
        type=SegmentType.STATIC,
        description=f"Snapshot of {segment.name} at {timezone.now():%Y-%m-%d %H:%M} UTC",
        actor_label=actor_label,
    )
    queryset = Compiler(tz=tenant_current().timezone).queryset(rules_parse(segment.rules))
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    _membership_apply(
        segment=snapshot,
        target_sql=sql,
        target_params=params,
        source=MembershipSource.SNAPSHOT,
        diff_exits=False,
    )
    _recount(snapshot, refreshed=True)
    return snapshot


# --- scheduled and event-driven refreshes -------------------------------------------------------


# How often HOURLY and DAILY segments are refreshed, less a little slack so a refresh that ran
# a few seconds late is not skipped next time. segments/periodic.py's probe reads the same.
REFRESH_PERIODS: dict[str, dt.timedelta] = {
    RefreshSchedule.HOURLY: dt.timedelta(hours=1),
    RefreshSchedule.DAILY: dt.timedelta(days=1),
}
REFRESH_SLACK = dt.timedelta(minutes=2)


def segments_due(*, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """DYNAMIC segments whose schedule says they should be refreshed now."""
    now = now or timezone.now()
    due = []
    for segment in Segment.objects.filter(
        type=SegmentType.DYNAMIC, refresh__in=list(REFRESH_PERIODS)
    ).only("id", "refresh", "last_refreshed_at"):
        last = segment.last_refreshed_at
        if last is None or now - last >= REFRESH_PERIODS[segment.refresh] - REFRESH_SLACK:
            due.append(segment.id)
    return due


@transaction.atomic
def segments_refresh_touched() -> dict[str, int]:
    """Refresh HOURLY and DAILY segments for the customers whose timeline grew since the last
    run, where the new events can change a field the segment reads. Bounded per run."""
    # A club's first run starts at the newest activity: segments that exist by then were
    # materialised in full when saved, so the history needs no replay.
    newest = Activity.objects.aggregate(top=Max("id"))["top"] or 0
    SegmentEventCursor.objects.bulk_create(
        [SegmentEventCursor(id=1, last_activity_id=newest)], ignore_conflicts=True
    )
    cursor = SegmentEventCursor.objects.select_for_update().get(id=1)
    batch = Activity.objects.filter(id__gt=cursor.last_activity_id).order_by("id")[:TOUCHED_BATCH]
    upper = batch.aggregate(top=Max("id"))["top"]
    if upper is None:
        return {"customers": 0, "segments": 0}
    touched = (
        Activity.objects.filter(
            id__gt=cursor.last_activity_id, id__lte=upper, customer__isnull=False
        )
        .values("type")
        .annotate(n=Count("id"))
    )
    types_seen = {row["type"] for row in touched}
    segments = [
        segment
        for segment in Segment.objects.filter(
            type=SegmentType.DYNAMIC, refresh__in=(RefreshSchedule.HOURLY, RefreshSchedule.DAILY)
        ).only("id", "watched_event_types")
        if ALL_EVENT_TYPES in segment.watched_event_types
        or types_seen & set(segment.watched_event_types)
    ]
    customers = 0
    for segment in segments:
        watched = set(segment.watched_event_types)
        scope = Activity.objects.filter(
            id__gt=cursor.last_activity_id, id__lte=upper, customer__isnull=False
        )
        if ALL_EVENT_TYPES not in watched:
            scope = scope.filter(type__in=watched)
        ids = list(scope.values_list("customer_id", flat=True).distinct())
        customers += len(ids)
        segment_refresh(segment_id=segment.id, customer_ids=ids)
    cursor.last_activity_id = upper
    cursor.save(update_fields=["last_activity_id", "updated_at"])
    return {"customers": customers, "segments": len(segments)}


def customers_exist(ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(Customer.objects.filter(pk__in=ids).values_list("pk", flat=True))
