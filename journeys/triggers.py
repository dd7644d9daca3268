"""What brings customers into journeys, and the events that end their waits and reach goals.

`triggers_run` (beat, every minute, per club) reads three logs forward with a `JourneyCursor`
each, and runs the date triggers:

- `activities` (the timeline): event triggers (an event type whose envelope contains the
  trigger's `filters`; `firstTime`: the customer's first event of that type); goals (a live
  enrolment whose customer had an event matching its version's goal is CONVERTED at once,
  whatever step it is waiting at); and `waitForEvent` steps (a waiting enrolment with a
  matching event is made due now, and the engine moves it to `onEvent`).
- `raw_events`: events about no one in particular (`teetime.competition.published`): each
  enrols every customer the journey's entry rule picks, the event kept as their context.
- `segment_changes` (SegmentMembershipChange): entering or leaving the trigger's segment.
- date triggers: once per club day (a `JourneyDateRun` row, written with the enrolments), at
  the trigger's time in the club's time zone: customers whose date plus `offsetDays` is today
  (birthdays and joining anniversaries every year; 29 February counts on the 28th in other
  years; the day itself is no anniversary). A day the workers were down all day is not
  caught up.

Each window of a log is one transaction with its cursor's move (a crash repeats it, and every
insert is idempotent by the enrolment's unique `entry_key`). A cursor reads only up to its
horizon: ids are taken from a sequence before their transaction commits, so a row with a
smaller id can become visible after a larger one; the horizon is the largest id seen at a
moment, read once no transaction of this database that started before that moment is still
writing (pg_stat_activity; a horizon older than `HORIZON_MAX_WAIT` is read anyway). A journey
reads only what came after it was last switched on (`Journey.listening_from`, set when it is
published or resumed), never older events.

Enrolling (`enrol_sql`, also behind staff and API enrolment): one INSERT … SELECT per journey
and trigger, under the journey's row lock (so the cap and the state hold): customers not
erased or merged away, without a live enrolment in the journey, allowed by the re-entry
policy (ONCE: never enrolled before; AFTER_DAYS: none entered within the days; ALWAYS: any
time, one live enrolment at a time), matching the entry rule, up to the cap. The entry key
(`once` under ONCE, else the trigger's own: the timeline row, raw event, segment change, club
day or the staff request's key) makes a repeated trigger the same enrolment. Each enrolment
starts ACTIVE at the start step, due now.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import UUIDField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from journeys.definition import BROADCAST_EVENT_TYPES, DATE_FIELDS, YEARLY_DATE_FIELDS, Definition
from journeys.engine import club_zone, event_match_sql, version_definition, wait_spec
from journeys.models import (
    LIVE_STATUSES,
    Enrolment,
    Journey,
    JourneyCursor,
    JourneyDateRun,
    JourneyStatus,
    JourneyVersion,
)
from profiles.models import Customer, CustomerStatus, RawEvent
from segments.compiler import Compiler
from segments.rules import rules_parse

logger = logging.getLogger(__name__)

LOGS = {
    "activities": "profiles_activity",
    "raw_events": "profiles_rawevent",
    "segment_changes": "segments_segmentmembershipchange",
}
WINDOW = 10_000
HORIZON_MAX_WAIT = dt.timedelta(minutes=10)

NO_CUSTOMER = "no such customer"
ALREADY_IN = "already in the journey"
NO_REENTRY = "re-entry not allowed yet"
CAP_REACHED = "cap reached"
NO_MATCH = "does not match the entry rule"
NOT_ACTIVE = "journey not active"


@dataclass
class EnrolResult:
    """Customers enrolled (ids, in the order asked) and those skipped, with the reason."""

    enrolled: list[uuid.UUID] = field(default_factory=list)
    skipped: dict[Any, str] = field(default_factory=dict)
    enrolments: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # customer -> enrolment


# --- enrolling ------------------------------------------------------------------------------------


def entry_key(definition: Definition, key: str) -> str:
    return "once" if definition.reentry["policy"] == "ONCE" else key[:80]


def _rule_exists_sql(rule: Any, now: dt.datetime) -> tuple[str, list[Any]]:
    """`EXISTS (…)`: the customer `cand.customer_id` matches the segment rule."""
    q = Compiler(tz=club_zone().key, now=now).q(rules_parse(rule))
    queryset = (
        Customer.objects.filter(q)
        .filter(pk=RawSQL("cand.customer_id", (), output_field=UUIDField()))
        .values("pk")
    )
    sql, params = queryset.query.sql_with_params()
    return f"EXISTS ({sql})", list(params)


def enrol_sql(
    *,
    journey: Journey,
    version: JourneyVersion,
    candidates: tuple[str, list[Any]],
    source: str,
    now: dt.datetime,
    check_rule: bool = True,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Enrol the customers `candidates` yields — a SELECT of (customer_id, entry_key text,
    context jsonb, ord) — who may enter, in `ord` order up to the cap. The caller holds the
    journey's row lock. Returns (enrolment id, customer id) of the new enrolments."""
    definition = version_definition(version)
    cap_left = None
    if definition.max_enrolments:
        cap_left = definition.max_enrolments - Enrolment.objects.filter(journey=journey).count()
        if cap_left <= 0:
            return []
    reentry_sql, reentry_params = "", []
    policy = definition.reentry["policy"]
    if policy == "ONCE":
        reentry_sql = " OR TRUE"
    elif policy == "AFTER_DAYS":
        reentry_sql = " OR x.entered_at > %s"
        reentry_params = [now - dt.timedelta(days=definition.reentry["days"])]
    rule_sql, rule_params = "", []
    if check_rule and definition.entry_rule:
        exists, rule_params = _rule_exists_sql(definition.entry_rule, now)
        rule_sql = f"AND {exists}"
    cand_sql, cand_params = candidates
    sql = f"""
WITH cand AS (
    SELECT DISTINCT ON (c.customer_id) c.customer_id, c.entry_key, c.context, c.ord
    FROM ({cand_sql}) AS c(customer_id, entry_key, context, ord)
    WHERE c.customer_id IS NOT NULL
    ORDER BY c.customer_id, c.ord
),
ok AS (
    SELECT cand.customer_id, cand.entry_key, cand.context
    FROM cand JOIN profiles_customer AS p ON p.id = cand.customer_id
    WHERE p.status IN ('ACTIVE', 'INACTIVE')
      AND NOT EXISTS (
          SELECT 1 FROM journeys_enrolment AS x
          WHERE x.journey_id = %s AND x.customer_id = cand.customer_id
            AND (x.status IN ('ACTIVE', 'WAITING') OR x.entry_key = cand.entry_key{reentry_sql}))
      {rule_sql}
    ORDER BY cand.ord, cand.customer_id
    LIMIT %s
),
ins AS (
    INSERT INTO journeys_enrolment (id, journey_id, version_id, customer_id, status, step,
        due_at, entry_key, source, context, entered_at, step_entered_at, finished_at,
        exit_reason, attempts, last_error)
    SELECT gen_random_uuid(), %s, %s, ok.customer_id, 'ACTIVE', %s, %s, ok.entry_key, %s,
           ok.context, %s, %s, NULL, '', 0, ''
    FROM ok
    ON CONFLICT DO NOTHING
    RETURNING id, customer_id
),
logged AS (
    INSERT INTO journeys_enrolmentevent (enrolment_id, journey_id, version_id, step, kind,
        branch, detail, at)
    SELECT ins.id, %s, %s, %s, 'ENTERED', '', '{{}}'::jsonb, %s FROM ins
)
SELECT id, customer_id FROM ins
"""  # noqa: S608 - built from constants and compiled rules
    start = definition.start
    params = [
        *cand_params, journey.id, *reentry_params, *rule_params, cap_left,
        journey.id, version.id, start, now, source, now, now,
        journey.id, version.id, start, now,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if rows:
        queue_run_due()
    return rows


def queue_run_due() -> None:
    from journeys.tasks import run_due

    transaction.on_commit(lambda: run_due.delay())


def _locked_journey(journey_id: Any) -> Journey | None:
    return (
        Journey.objects.select_for_update(of=("self",))
        .select_related("published_version")
        .filter(pk=journey_id)
        .first()
    )


def enrol_customers(
    *,
    journey: Journey,
    customer_ids: list[Any],
    key: str = "",
    source: str = "MANUAL",
    context: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> EnrolResult:
    """Staff or API enrolment of these customers (the caller is in a transaction and holds
    the journey's lock). Each is enrolled or skipped with the reason."""
    now = now or timezone.now()
    result = EnrolResult()
    ordered: list[uuid.UUID] = []
    for raw in customer_ids:
        try:
            value = uuid.UUID(str(raw))
        except ValueError:
            result.skipped[raw] = NO_CUSTOMER
            continue
        if value not in ordered and value not in result.skipped:
            ordered.append(value)
    version = journey.published_version
    if journey.status != JourneyStatus.ACTIVE or version is None:
        result.skipped.update({cid: NOT_ACTIVE for cid in ordered})
        return result
    definition = version_definition(version)
    existing = set(
        Customer.objects.filter(pk__in=ordered)
        .exclude(status__in=(CustomerStatus.MERGED, CustomerStatus.DELETED))
        .values_list("id", flat=True)
    )
    key = entry_key(definition, f"manual:{key}" if key else f"manual:{uuid.uuid4().hex}")
    enrolments = Enrolment.objects.filter(journey=journey, customer_id__in=ordered)
    live = set(enrolments.filter(status__in=LIVE_STATUSES).values_list("customer_id", flat=True))
    policy = definition.reentry["policy"]
    blocked_q = enrolments.filter(entry_key=key)
    if policy == "ONCE":
        blocked_q = enrolments
    elif policy == "AFTER_DAYS":
        since = now - dt.timedelta(days=definition.reentry["days"])
        blocked_q = enrolments.filter(entered_at__gt=since) | blocked_q
    blocked = set(blocked_q.values_list("customer_id", flat=True))
    rest = []
    for cid in ordered:
        if cid not in existing:
            result.skipped[cid] = NO_CUSTOMER
        elif cid in live:
            result.skipped[cid] = ALREADY_IN
        elif cid in blocked:
            result.skipped[cid] = NO_REENTRY
        else:
            rest.append(cid)
    if rest and definition.entry_rule:
        rule = Compiler(tz=club_zone().key, now=now).q(rules_parse(definition.entry_rule))
        matching = set(
            Customer.objects.filter(pk__in=rest).filter(rule).values_list("id", flat=True)
        )
        for cid in rest:
            if cid not in matching:
                result.skipped[cid] = NO_MATCH
        rest = [cid for cid in rest if cid in matching]
    if not rest:
        return result
    candidates = (
        "SELECT u.customer_id, %s::text, %s::jsonb, u.ord "
        "FROM unnest(%s::uuid[]) WITH ORDINALITY AS u(customer_id, ord)",
        [key, json.dumps(context or {}), rest],
    )
    rows = enrol_sql(
        journey=journey, version=version, candidates=candidates, source=source, now=now,
        check_rule=False,
    )  # fmt: skip
    made = {customer_id: enrolment_id for enrolment_id, customer_id in rows}
    for cid in rest:
        if cid in made:
            result.enrolled.append(cid)
            result.enrolments[cid] = made[cid]
        else:
            result.skipped[cid] = CAP_REACHED if definition.max_enrolments else ALREADY_IN
    return result


# --- the logs' cursors --------------------------------------------------------------------------


def log_positions() -> dict[str, int]:
    """The newest id of each log now: where a journey switched on now starts listening."""
    with connection.cursor() as cursor:
        tops = ", ".join(f"(SELECT coalesce(max(id), 0) FROM {t})" for t in LOGS.values())  # noqa: S608
        cursor.execute(f"SELECT {tops}")
        return dict(zip(LOGS, cursor.fetchone(), strict=True))


def _top(table: str) -> tuple[int, dt.datetime]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0), clock_timestamp() FROM {table}")  # noqa: S608
        return cursor.fetchone()


def _writers_done(since: dt.datetime | None) -> bool:
    """No other transaction of this database that started before `since` is still writing."""
    if since is None:
        return True
    with connection.cursor() as cursor:
        # Backend status is read once per transaction unless the snapshot is cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        # Client backends only: the logs are written by the platform's connections. Autovacuum
        # workers show here too, with an id while ANALYZE writes its statistics (seen on the
        # embedded server, which runs autovacuum), and would hold the horizon for nothing.
        cursor.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND backend_xid IS NOT NULL AND xact_start < %s), clock_timestamp()",
            [since],
        )
        done, db_now = cursor.fetchone()
    if not done and db_now - since > HORIZON_MAX_WAIT:
        logger.warning("A transaction older than %s holds the journeys' cursor; reading on.", since)
        return True
    return bool(done)


def _cursor(name: str) -> JourneyCursor | None:
    """The log's cursor, locked; None when another task holds it. Made at the log's end the
    first time (nothing listened before)."""
    if not JourneyCursor.objects.filter(name=name).exists():
        top, at = _top(LOGS[name])
        JourneyCursor.objects.get_or_create(
            name=name, defaults={"last_id": top, "horizon_id": top, "horizon_at": at}
        )
    return JourneyCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()


def _readable(cursor: JourneyCursor) -> int:
    """How far the cursor may read now; a caught-up cursor takes a new horizon first."""
    for _ in range(2):
        if cursor.horizon_id > cursor.last_id:
            return cursor.horizon_id if _writers_done(cursor.horizon_at) else cursor.last_id
        top, at = _top(LOGS[cursor.name])
        if top <= cursor.last_id:
            return cursor.last_id
        cursor.horizon_id, cursor.horizon_at = top, at
        cursor.save(update_fields=["horizon_id", "horizon_at", "updated_at"])
    return cursor.last_id


def _read_log(name: str, handle, *, now: dt.datetime, deadline: float) -> dict[str, int]:
    """Feed the log's readable rows to `handle(lo, hi, now)` a window at a time, each window in
    one transaction with the cursor's move."""
    totals: dict[str, int] = {}
    while time.monotonic() < deadline:
        with transaction.atomic():
            cursor = _cursor(name)
            if cursor is None:
                break
            upper = _readable(cursor)
            if upper <= cursor.last_id:
                break
            # Nothing before the earliest running journey started listening concerns anyone
            # (a paused journey's waits are checked against the timeline when it resumes).
            floor = min(
                (int((lf or {}).get(name, 0)) for lf in _active().values_list(
                    "listening_from", flat=True)),
                default=upper,
            )  # fmt: skip
            lo = max(cursor.last_id, min(floor, upper))
            hi = min(upper, lo + WINDOW)
            if hi > lo:
                for key, value in handle(lo, hi, now).items():
                    totals[key] = totals.get(key, 0) + value
            cursor.last_id = hi
            cursor.save(update_fields=["last_id", "updated_at"])
    return totals


def _listening(journeys, name: str, lo: int) -> list[tuple[Journey, int]]:
    return [(j, max(lo, int((j.listening_from or {}).get(name, 0)))) for j in journeys]


def _active(**filters: Any):
    """The running journeys (those filters of them), by id."""
    return (
        Journey.objects.filter(status=JourneyStatus.ACTIVE, published_version__isnull=False)
        .filter(**filters)
        .select_related("published_version")
        .order_by("id")
    )


def _enrol_locked(journey: Journey, candidates, source: str, now: dt.datetime, **kw) -> int:
    locked = _locked_journey(journey.id)
    if locked is None or locked.status != JourneyStatus.ACTIVE or locked.published_version is None:
        return 0
    rows = enrol_sql(
        journey=locked, version=locked.published_version, candidates=candidates, source=source,
        now=now, **kw,
    )  # fmt: skip
    return len(rows)


# --- the timeline ---------------------------------------------------------------------------------


def _activities(lo: int, hi: int, now: dt.datetime) -> dict[str, int]:
    counts = {"enrolled": 0, "converted": 0, "woken": 0}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT type FROM profiles_activity WHERE id > %s AND id <= %s "
            "AND customer_id IS NOT NULL",
            [lo, hi],
        )
        types = {row[0] for row in cursor.fetchall()}
    if not types:
        return counts
    journeys = _active(trigger_type="event", trigger_event_type__in=types)
    for journey, low in _listening(journeys, "activities", lo):
        if journey.trigger_event_type in BROADCAST_EVENT_TYPES:
            continue
        definition = version_definition(journey.published_version)
        trigger = definition.trigger
        key = "'once'" if definition.reentry["policy"] == "ONCE" else "'event:' || a.id::text"
        sql = f"""
            SELECT a.customer_id, {key},
                   jsonb_build_object('eventType', a.type, 'activityId', a.id,
                       'rawEventId', a.raw_event_id, 'occurredAt', a.occurred_at,
                       'payload', coalesce(r.envelope->'payload', a.data)),
                   a.id
            FROM profiles_activity AS a
            LEFT JOIN profiles_rawevent AS r ON r.id = a.raw_event_id
            WHERE a.id > %s AND a.id <= %s AND a.type = %s AND a.customer_id IS NOT NULL"""  # noqa: S608
        params: list[Any] = [low, hi, trigger["eventType"]]
        if trigger.get("filters"):
            sql += " AND r.envelope @> %s::jsonb"
            params.append(json.dumps(trigger["filters"]))
        if trigger.get("firstTime"):
            sql += (
                " AND NOT EXISTS (SELECT 1 FROM profiles_activity AS f WHERE "
                "f.customer_id = a.customer_id AND f.type = a.type AND f.id < a.id)"
            )
        counts["enrolled"] += _enrol_locked(journey, (sql, params), "EVENT", now)
    versions = _live_versions()
    for version, definition in versions:
        goal = definition.goal
        if goal and goal["eventType"] in types:
            counts["converted"] += _convert(version, goal, lo, hi, now)
        for step in definition.steps.values():
            if step.type == "waitForEvent":
                spec = wait_spec(step.raw)
                if spec["eventType"] in types:
                    counts["woken"] += _wake(version, step.key, spec, step.raw.get("ofStep"),
                                             lo, hi, now)  # fmt: skip
    if counts["woken"]:
        queue_run_due()
    return counts


def _live_versions() -> list[tuple[JourneyVersion, Definition]]:
    """The versions of running journeys (their goals and waits are live)."""
    versions = JourneyVersion.objects.filter(journey__status=JourneyStatus.ACTIVE).order_by("id")
    return [(v, version_definition(v)) for v in versions]


_IN_WINDOW = (
    "e.customer_id IN (SELECT a2.customer_id FROM profiles_activity AS a2 "
    "WHERE a2.id > %s AND a2.id <= %s AND a2.type = %s AND a2.customer_id IS NOT NULL)"
)


def _convert(version: JourneyVersion, goal: dict, lo: int, hi: int, now: dt.datetime) -> int:
    exists, params = event_match_sql(goal, since="entered_at")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH hit AS (
                SELECT e.id FROM journeys_enrolment AS e
                WHERE e.version_id = %s AND e.status IN ('ACTIVE', 'WAITING')
                  AND {_IN_WINDOW} AND {exists}
                ORDER BY e.id FOR UPDATE OF e
            ),
            done AS (
                UPDATE journeys_enrolment AS e
                SET status = 'CONVERTED', due_at = NULL, finished_at = %s
                FROM hit WHERE e.id = hit.id
                RETURNING e.id, e.journey_id, e.version_id, e.step
            ),
            logged AS (
                INSERT INTO journeys_enrolmentevent (enrolment_id, journey_id, version_id, step,
                    kind, branch, detail, at)
                SELECT id, journey_id, version_id, step, 'CONVERTED', '', '{{}}'::jsonb, %s
                FROM done
            )
            SELECT count(*) FROM done
            """,  # noqa: S608 - built from constants
            [version.id, lo, hi, goal["eventType"], *params, now, now],
        )
        return int(cursor.fetchone()[0])


def _wake(
    version: JourneyVersion, step: str, spec: dict, of_step: str | None, lo: int, hi: int,
    now: dt.datetime,
) -> int:  # fmt: skip
    exists, params = event_match_sql(spec, since="step_entered_at", of_step=of_step)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH hit AS (
                SELECT e.id FROM journeys_enrolment AS e
                WHERE e.version_id = %s AND e.step = %s AND e.status = 'WAITING'
                  AND e.due_at > %s AND {_IN_WINDOW} AND {exists}
                ORDER BY e.id FOR UPDATE OF e
            )
            UPDATE journeys_enrolment AS e SET due_at = %s FROM hit WHERE e.id = hit.id
            """,  # noqa: S608 - built from constants
            [version.id, step, now, lo, hi, spec["eventType"], *params, now],
        )
        return cursor.rowcount


# --- events about no one --------------------------------------------------------------------------


def _raw_events(lo: int, hi: int, now: dt.datetime) -> dict[str, int]:
    counts = {"enrolled": 0}
    journeys = _active(trigger_type="event", trigger_event_type__in=BROADCAST_EVENT_TYPES)
    for journey, low in _listening(journeys, "raw_events", lo):
        definition = version_definition(journey.published_version)
        trigger = definition.trigger
        if not definition.entry_rule:
            continue  # refused when published: nothing says who the event is for
        events = RawEvent.objects.filter(id__gt=low, id__lte=hi, type=trigger["eventType"])
        if trigger.get("filters"):
            events = events.filter(envelope__contains=trigger["filters"])
        events = list(events.order_by("id").only("id", "type", "occurred_at", "envelope"))
        if not events:
            continue
        q = Compiler(tz=club_zone().key, now=now).q(rules_parse(definition.entry_rule))
        rule_sql, rule_params = Customer.objects.filter(q).values("pk").query.sql_with_params()
        for event in events:
            key = entry_key(definition, f"event:r{event.id}")
            context = {
                "eventType": event.type,
                "rawEventId": event.id,
                "occurredAt": event.occurred_at.isoformat(),
                "payload": (event.envelope or {}).get("payload") or {},
            }
            candidates = (
                f"SELECT m.id, %s::text, %s::jsonb, 0 FROM ({rule_sql}) AS m(id)",  # noqa: S608
                [key, json.dumps(context), *rule_params],
            )
            counts["enrolled"] += _enrol_locked(journey, candidates, "EVENT", now, check_rule=False)
    return counts


# --- segment changes ------------------------------------------------------------------------------


def _segment_changes(lo: int, hi: int, now: dt.datetime) -> dict[str, int]:
    counts = {"enrolled": 0}
    for journey, low in _listening(_active(trigger_type="segment"), "segment_changes", lo):
        definition = version_definition(journey.published_version)
        trigger = definition.trigger
        kind = "ENTERED" if trigger.get("on", "enter") == "enter" else "EXITED"
        key = "'once'" if definition.reentry["policy"] == "ONCE" else "'segment:' || ch.id::text"
        sql = f"""
            SELECT ch.customer_id, {key},
                   jsonb_build_object('segmentId', ch.segment_id, 'on', %s::text,
                                      'changeId', ch.id, 'at', ch.at),
                   ch.id
            FROM segments_segmentmembershipchange AS ch
            WHERE ch.id > %s AND ch.id <= %s AND ch.segment_id = %s AND ch.kind = %s"""  # noqa: S608
        params = [trigger.get("on", "enter"), low, hi, trigger["segmentId"], kind]
        counts["enrolled"] += _enrol_locked(journey, (sql, params), "SEGMENT", now)
    return counts


# --- dates ----------------------------------------------------------------------------------------


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def date_triggers_run(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Run each ACTIVE date-triggered journey once for today (club time), at or after its
    time of day."""
    now = now or timezone.now()
    tz = club_zone()
    local = now.astimezone(tz)
    counts = {"journeys": 0, "enrolled": 0}
    for journey in _active(trigger_type="date"):
        definition = version_definition(journey.published_version)
        trigger = definition.trigger
        hours, minutes = (int(p) for p in trigger.get("time", "09:00").split(":"))
        if local.time() < dt.time(hours, minutes):
            continue
        today = local.date()
        with transaction.atomic():
            locked = _locked_journey(journey.id)
            if locked is None or locked.status != JourneyStatus.ACTIVE:
                continue
            run, created = JourneyDateRun.objects.get_or_create(
                journey=locked, day=today, defaults={"ran_at": now}
            )
            if not created:
                continue
            column = DATE_FIELDS[trigger["field"]]
            target = today - dt.timedelta(days=trigger.get("offsetDays", 0))
            if trigger["field"] in YEARLY_DATE_FIELDS:
                days = [target.day]
                if (target.month, target.day) == (2, 28) and not _is_leap(target.year):
                    days.append(29)
                where = (
                    f"extract(month FROM c.{column}) = %s "
                    f"AND extract(day FROM c.{column}) = ANY(%s::int[]) AND c.{column} < %s"
                )
                where_params: list[Any] = [target.month, days, target]
            else:
                where, where_params = f"c.{column} = %s", [target]
            key = entry_key(definition, f"date:{today.isoformat()}")
            context = {"field": trigger["field"], "date": target.isoformat(),
                       "day": today.isoformat()}  # fmt: skip
            candidates = (
                f"SELECT c.id, %s::text, %s::jsonb, 0 FROM profiles_customer AS c WHERE {where}",  # noqa: S608
                [key, json.dumps(context), *where_params],
            )
            enrolled = len(
                enrol_sql(
                    journey=locked,
                    version=locked.published_version,
                    candidates=candidates,
                    source="DATE",
                    now=now,
                )
            )
            run.enrolled = enrolled
            run.save(update_fields=["enrolled"])
        counts["journeys"] += 1
        counts["enrolled"] += enrolled
    return counts


# --- all of it ------------------------------------------------------------------------------------


def triggers_run(
    *, now: dt.datetime | None = None, budget_seconds: float = 45.0
) -> dict[str, dict[str, int]]:
    """One pass over the logs (as far as the time budget allows) and the date triggers."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget_seconds
    return {
        "activities": _read_log("activities", _activities, now=now, deadline=deadline),
        "raw_events": _read_log("raw_events", _raw_events, now=now, deadline=deadline),
        "segment_changes": _read_log(
            "segment_changes", _segment_changes, now=now, deadline=deadline
        ),
        "dates": date_triggers_run(now=now),
    }


def triggers_pending() -> bool:
    """Whether a log has rows its cursor has not read yet."""
    positions = log_positions()
    cursors = dict(JourneyCursor.objects.values_list("name", "last_id"))
    return any(positions[name] > cursors.get(name, positions[name]) for name in LOGS)
