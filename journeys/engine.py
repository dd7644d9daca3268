"""The journeys engine: due enrolments, taken in batches and walked through their steps.

`run_due` takes up to `BATCH_SIZE` due enrolments of ACTIVE journeys (`FOR UPDATE SKIP LOCKED`,
oldest due first, so parallel tasks take different rows and a PAUSED journey's enrolments
simply wait), groups them by (version, step, status) and runs each group's step for the whole
group at once: a handful of statements per group, whatever its size. Everything a batch does,
the enrolments' moves and the steps' database work (a campaign run and its ledger rows, staff
tasks, tags and notes, webhook delivery rows, the enrolment event log), is ONE transaction: a
worker killed half way leaves the enrolments where they were, still due, and the next task
takes them again and repeats nothing. What leaves the database (messages, webhooks) is queued
on commit and made idempotent by rows written in that transaction (the ledger's keys, the
delivery's id). A group whose step raises is rolled back alone (a savepoint) and retried with
backoff; after `MAX_ATTEMPTS` its enrolments are FAILED with the error.

Before every step the group is checked, in one query each, for customers who must leave
(erased, merged away, deceased: "never marketed to again"; or matching the journey's exit rule:
EXITED) and for the journey's goal (an event since the customer entered: CONVERTED).

How a step runs (moving on means: the step is COMPLETED with the branch taken, the next step
ENTERED, the enrolment ACTIVE and due now; no next step: the enrolment is COMPLETED):

- `send`: one `CampaignRun` of the step's hidden JOURNEY campaign for the group, keyed by a new
  batch id, its audience exactly the group's customers, planned (the ledger written) in this
  transaction and delivered after the commit. Consent, suppression (opt-out, hard bounce,
  complaint, deceased, erased), the frequency cap and quiet hours are therefore decided by the
  ledger at the moment of sending, and a crash can never hand a message over twice. Moves on
  at once (the message's fate is the ledger's; `waitForEvent` with `ofStep` follows it).
- `wait`: on arrival its end is computed in the club's time zone and the enrolment WAITS
  (status WAITING, due at the end); due again, it moves on. `duration` days are calendar days
  (09:00 stays 09:00 across a daylight-saving change); hours and minutes are elapsed time.
  `until` is the next such clock time (on the given weekdays) after arrival; `untilDate` the
  customer's date (the next birthday or joining anniversary for those yearly dates) plus
  `offsetDays` at `time`; a date passed or missing goes straight on.
- `waitForEvent`: on arrival, and whenever due again (the timeout, or woken by the trigger
  scan when a candidate event arrives), the timeline is asked whether a matching event has
  happened: of `eventType`, whose envelope contains `filters`, whose payload agrees with the
  trigger event's on the `matchTrigger` keys, and either about the message the `ofStep` send
  step sent this enrolment (the ledger's Send id is the `sendId` the Messaging Service echoes;
  an open before the wait began counts) or, without `ofStep`, since arriving at this step.
  Matched: `onEvent`; the timeout (from arrival, club-time calendar arithmetic) passed:
  `onTimeout`; else it waits on.
- `condition`: the rule compiled to one query over the group's customers: `yes` / `no`.
- `split`: a stable hash of (enrolment id, step key) in 0..9999 against the cumulative
  percentages: the same enrolment always takes the same branch; a branch with no `next` is a
  holdout (the enrolment is COMPLETED there, the branch recorded).
- `update`: tags added and removed (lower-cased, as staff tagging does; a customer who would
  pass 50 tags keeps theirs), the lifecycle stage set, a note added by "Journey: <name>", in
  set-based statements. The lifecycle stage is the projection's to recompute from membership
  and activity (profiles.projection): the journey's value holds until the customer's next
  recompute.
- `notify`: a `StaffTask` per enrolment (unique per enrolment and step).
- `webhook`: a `WebhookDelivery` per enrolment (unique per enrolment and step), POSTed after
  the commit, always signed (journeys.webhooks). While the club has no active webhook secret
  the step does not run: its enrolments are retried with the backoff below and FAILED with
  the reason after `MAX_ATTEMPTS`.
- `end`: COMPLETED.

An enrolment whose next step is due at once runs on in the same batch, up to `MAX_CHAIN` steps
(the definitions have no loops); what is left is due now and taken by the next batch. The
batch's decisions are written when it ends: ONE UPDATE of its enrolments (each row once, in its
final state, however many steps it ran) and ONE COPY of the event log; the steps' own reads of
an enrolment (its clock, for a wait) come from the batch's rows, never from the table.

Choices where the issue was silent: waits count from when the step runs (a backlog late by
minutes does not shorten the wait after it); a customer who is DECEASED leaves every journey
(notify steps would otherwise ask staff to call them); a webhook or send step's failure to
deliver does not hold the enrolment (the ledger and the delivery row keep the outcome).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from campaigns.models import Campaign
from crm.db import columns_of, copy_rows, update_rows
from crm.tenants.selectors import tenant_current
from journeys.definition import (
    DATE_FIELDS,
    YEARLY_DATE_FIELDS,
    Definition,
    Step,
    canonical_event_type,
    definition_parse,
)
from journeys.models import (
    Enrolment,
    EnrolmentEvent,
    EnrolmentEventKind,
    EnrolmentStatus,
    Journey,
    JourneyVersion,
    StaffTask,
    WebhookDelivery,
)
from profiles.models import Customer, CustomerStatus
from segments.compiler import Compiler
from segments.rules import rules_parse

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
MAX_CHAIN = 10
MAX_ATTEMPTS = 5

# Plain strings (not the choices' enum members) for the rows written by COPY.
ACTIVE, WAITING, COMPLETED, EXITED, CONVERTED, FAILED = (
    "ACTIVE", "WAITING", "COMPLETED", "EXITED", "CONVERTED", "FAILED",
)  # fmt: skip
EV_ENTERED, EV_COMPLETED, EV_EXITED, EV_CONVERTED, EV_FAILED = (
    "ENTERED", "COMPLETED", "EXITED", "CONVERTED", "FAILED",
)  # fmt: skip
assert {ACTIVE, WAITING, COMPLETED, EXITED, CONVERTED, FAILED} == set(EnrolmentStatus.values)
assert {EV_ENTERED, EV_COMPLETED, EV_EXITED, EV_CONVERTED, EV_FAILED} == set(
    EnrolmentEventKind.values
)


def any_of(ids: list[Any]) -> Q:
    """`pk = ANY(array)`: one parameter for a thousand ids (an IN list quotes each of them)."""
    return Q(pk__in=RawSQL("SELECT unnest(%s::uuid[])", (list(ids),)))


# --- club time -----------------------------------------------------------------------------


def club_zone() -> ZoneInfo:
    return ZoneInfo(tenant_current().timezone or "UTC")


def _hhmm(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def duration_end(start: dt.datetime, duration: dict[str, int], tz: ZoneInfo) -> dt.datetime:
    """`start` plus a duration: days on the club's calendar (the clock time kept across a
    daylight-saving change), then hours and minutes of elapsed time."""
    local = start.astimezone(tz)
    # Aware arithmetic with one tzinfo is wall-clock arithmetic; the offset is the new day's.
    moved = (local + dt.timedelta(days=duration.get("days", 0))).astimezone(dt.UTC)
    return moved + dt.timedelta(hours=duration.get("hours", 0), minutes=duration.get("minutes", 0))


def next_time_of_day(
    now: dt.datetime, at: str, tz: ZoneInfo, weekdays: list[int] | None = None
) -> dt.datetime:
    """The first moment at or after `now` that is `at` o'clock in club time (on one of
    `weekdays`, 0 = Monday, when given)."""
    local = now.astimezone(tz)
    clock = _hhmm(at)
    for days in range(0, 8):
        day = local.date() + dt.timedelta(days=days)
        if weekdays and day.weekday() not in weekdays:
            continue
        moment = dt.datetime.combine(day, clock, tzinfo=tz)
        if moment >= local:
            return moment.astimezone(dt.UTC)
    raise AssertionError("a week always holds the next such time")  # pragma: no cover


def yearly_on_or_after(value: dt.date, day: dt.date) -> dt.date:
    """The anniversary of `value` falling on or after `day` (29 February: the 28th in a year
    without one)."""
    for year in (day.year, day.year + 1):
        try:
            candidate = value.replace(year=year)
        except ValueError:
            candidate = dt.date(year, 2, 28)
        if candidate >= day:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def until_date_moment(
    *, now: dt.datetime, spec: dict[str, Any], value: dt.date | None, tz: ZoneInfo
) -> dt.datetime | None:
    """When an `untilDate` wait ends for a customer whose date is `value`: the date plus
    `offsetDays` at `time` in club time; the next one for a yearly date. None: no date."""
    if value is None:
        return None
    offset = dt.timedelta(days=spec.get("offsetDays", 0))
    clock = _hhmm(spec.get("time", "09:00"))
    if spec["field"] in YEARLY_DATE_FIELDS:
        today = now.astimezone(tz).date()
        target = yearly_on_or_after(value, today - offset) + offset
        if dt.datetime.combine(target, clock, tzinfo=tz) < now:
            target = yearly_on_or_after(value, today - offset + dt.timedelta(days=1)) + offset
    else:
        target = value + offset
    return dt.datetime.combine(target, clock, tzinfo=tz).astimezone(dt.UTC)


# --- versions -------------------------------------------------------------------------------

# Parsed definitions by (schema, version id): versions never change once published.
_DEFINITIONS: dict[tuple[str, int], Definition] = {}


def version_definition(version: JourneyVersion) -> Definition:
    key = (connection.schema_name, version.id)
    found = _DEFINITIONS.get(key)
    if found is None:
        if len(_DEFINITIONS) > 512:
            _DEFINITIONS.clear()
        found = _DEFINITIONS[key] = definition_parse(version.definition)
    return found


# --- matching events on the timeline --------------------------------------------------------


def event_match_sql(spec: dict[str, Any], *, since: str, of_step: str | None = None):
    """An `EXISTS (…)` over the timeline for the enrolment aliased `e`: an event of
    `spec["eventType"]` whose envelope contains `spec["filters"]` and whose payload agrees
    with the trigger event's (`e.context.payload`) on `spec["matchTrigger"]`; about the
    message the `of_step` send step sent this enrolment, or else since `e.<since>`.
    Returns (sql, params)."""
    filters = spec.get("filters") or {}
    match_trigger = spec.get("matchTrigger") or []
    params: list[Any] = []
    raw_join = (
        "JOIN profiles_rawevent AS r ON r.id = a.raw_event_id" if filters or match_trigger else ""
    )
    if of_step:
        sql = f"""EXISTS (
            SELECT 1 FROM campaigns_campaign AS cc
            JOIN campaigns_send AS s ON s.campaign_id = cc.id
            JOIN profiles_activity AS a ON (a.data->>'sendId') = s.id::text AND a.data ? 'sendId'
            {raw_join}
            WHERE cc.journey_id = e.journey_id AND cc.journey_step = %s
              AND s.customer_id = e.customer_id AND s.created_at >= e.entered_at
              AND a.type = %s"""  # noqa: S608 - built from constants
        params += [of_step, spec["eventType"]]
    else:
        sql = f"""EXISTS (
            SELECT 1 FROM profiles_activity AS a {raw_join}
            WHERE a.customer_id = e.customer_id AND a.type = %s AND a.occurred_at >= e.{since}"""  # noqa: S608
        params.append(spec["eventType"])
    if filters:
        sql += " AND r.envelope @> %s::jsonb"
        params.append(json.dumps(filters))
    for key in match_trigger:
        sql += " AND (r.envelope->'payload'->%s) = (e.context->'payload'->%s)"
        params += [key, key]
    return sql + ")", params


def wait_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """What a `waitForEvent` step waits for, its event type as the catalogue names it."""
    return {
        "eventType": canonical_event_type(raw["eventType"]),
        "filters": raw.get("filters"),
        "matchTrigger": raw.get("matchTrigger"),
    }


def enrolments_matching(
    rows: list[Taken], spec: dict[str, Any], *, since: str, of_step: str | None = None
) -> set[uuid.UUID]:
    """The enrolments of `rows` (as this batch has them, moves not yet written) for which the
    timeline holds a matching event (`event_match_sql`)."""
    if not rows:
        return set()
    exists, params = event_match_sql(spec, since=since, of_step=of_step)
    # The trigger's context never changes: read from the table when the match needs it.
    context = (
        "(SELECT x.context FROM journeys_enrolment AS x WHERE x.id = u.id)"
        if spec.get("matchTrigger")
        else "NULL::jsonb"
    )
    sql = f"""
        SELECT e.id FROM (
            SELECT u.*, {context} AS context
            FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::timestamptz[],
                        %s::timestamptz[]) AS u(id, journey_id, customer_id, entered_at,
                                                step_entered_at)
        ) AS e
        WHERE {exists}
    """  # noqa: S608 - built from constants
    columns = [
        [r.id for r in rows], [r.journey_id for r in rows], [r.customer_id for r in rows],
        [r.entered_at for r in rows], [r.step_entered_at for r in rows],
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, [*columns, *params])
        return {row[0] for row in cursor.fetchall()}


# --- one batch ------------------------------------------------------------------------------


@dataclass(slots=True)
class Taken:
    """An enrolment taken (locked) by this batch, as it stands now."""

    id: uuid.UUID
    journey_id: uuid.UUID
    version_id: int
    customer_id: uuid.UUID
    step: str
    status: str
    entered_at: dt.datetime
    step_entered_at: dt.datetime
    attempts: int


@dataclass
class Outcome:
    """What a group's step decided for each of its enrolments."""

    advance: list[tuple[Taken, str, str | None, dict]] = field(default_factory=list)
    park: list[tuple[Taken, dt.datetime]] = field(default_factory=list)
    exit: list[tuple[Taken, str]] = field(default_factory=list)
    convert: list[Taken] = field(default_factory=list)
    retry: list[tuple[Taken, str]] = field(default_factory=list)

    def move(self, row: Taken, branch: str, to: str | None, detail: dict | None = None) -> None:
        self.advance.append((row, branch, to, detail or {}))


@dataclass
class Group:
    journey: Journey
    version: JourneyVersion
    definition: Definition
    step: Step
    rows: list[Taken]
    now: dt.datetime
    tz: ZoneInfo
    # Customers this batch found neither erased, merged nor deceased: nothing the steps do
    # changes that, so without an exit rule they are not asked again before the next step.
    clean: set[uuid.UUID] = field(default_factory=set)

    @property
    def ids(self) -> list[uuid.UUID]:
        return [r.id for r in self.rows]

    @property
    def customer_ids(self) -> list[uuid.UUID]:
        return [r.customer_id for r in self.rows]

    def compiler(self) -> Compiler:
        return Compiler(tz=self.tz.key, now=self.now)


@dataclass
class DueResult:
    taken: int = 0
    steps: int = 0
    completed: int = 0
    exited: int = 0
    converted: int = 0
    failed: int = 0
    retried: int = 0
    batches: int = 0
    more: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_TAKE_SQL = """
SELECT e.id, e.journey_id, e.version_id, e.customer_id, e.step, e.status, e.entered_at,
       e.step_entered_at, e.attempts
FROM journeys_enrolment AS e
WHERE e.status IN ('ACTIVE', 'WAITING') AND e.due_at <= %s
  AND e.journey_id IN (SELECT id FROM journeys_journey WHERE status = 'ACTIVE')
ORDER BY e.due_at
LIMIT %s
FOR UPDATE OF e SKIP LOCKED
"""


def due_exists(*, now: dt.datetime | None = None) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM journeys_enrolment AS e "
            "WHERE e.status IN ('ACTIVE', 'WAITING') AND e.due_at <= %s "
            "AND e.journey_id IN (SELECT id FROM journeys_journey WHERE status = 'ACTIVE'))",
            [now or timezone.now()],
        )
        return bool(cursor.fetchone()[0])


def due_backlog(*, now: dt.datetime | None = None, limit: int = 10_000) -> int:
    """How many enrolments are due, counted up to `limit`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM journeys_enrolment AS e "
            "WHERE e.status IN ('ACTIVE', 'WAITING') AND e.due_at <= %s "
            "AND e.journey_id IN (SELECT id FROM journeys_journey WHERE status = 'ACTIVE') "
            "LIMIT %s) AS d",
            [now or timezone.now(), limit],
        )
        return int(cursor.fetchone()[0])


def run_due(
    *,
    now: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    budget_seconds: float | None = None,
) -> DueResult:
    """Run due steps, batch after batch (one transaction each), until nothing is due, or
    `max_batches` or `budget_seconds` is used up (`more` then says whether work is left).
    Safe to run in parallel and to repeat. `now` is for tests: the clock the steps see."""
    result = DueResult()
    started = time.monotonic()
    while True:
        with transaction.atomic():
            taken = _run_batch(now=now or timezone.now(), size=batch_size, result=result)
        if not taken:
            return result
        result.batches += 1
        out_of_batches = max_batches is not None and result.batches >= max_batches
        out_of_time = budget_seconds is not None and time.monotonic() - started >= budget_seconds
        if out_of_batches or out_of_time:
            result.more = due_exists(now=now)
            return result


def _take(now: dt.datetime, size: int) -> list[Taken]:
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SQL, [now, size])
        return [Taken(*row) for row in cursor.fetchall()]


def _run_batch(*, now: dt.datetime, size: int, result: DueResult) -> int:
    rows = _take(now, size)
    if not rows:
        return 0
    result.taken += len(rows)
    tz = club_zone()
    journeys = {j.id: j for j in Journey.objects.filter(id__in={r.journey_id for r in rows})}
    versions: dict[int, JourneyVersion] = {}
    writes = Writes()
    for _round in range(MAX_CHAIN):
        missing = {r.version_id for r in rows} - set(versions)
        versions.update({v.id: v for v in JourneyVersion.objects.filter(id__in=missing)})
        groups: dict[tuple[int, str, str], list[Taken]] = defaultdict(list)
        for row in rows:
            groups[(row.version_id, row.step, row.status)].append(row)
        outcomes = []
        for (version_id, step_key, _status), members in groups.items():
            version = versions[version_id]
            definition = version_definition(version)
            step = definition.steps.get(step_key)
            if step is None:
                outcome = Outcome(
                    retry=[(r, f"Step {step_key!r} is not in version {version.number}.")
                           for r in members]
                )  # fmt: skip
            else:
                group = Group(
                    journey=journeys[members[0].journey_id], version=version,
                    definition=definition, step=step, rows=members, now=now, tz=tz,
                    clean=writes.clean,
                )  # fmt: skip
                outcome = _run_group(group)
            outcomes.append(outcome)
        rows = writes.collect(outcomes, now=now, result=result)
        if not rows:
            break
    writes.flush()
    return result.taken


def _run_group(group: Group) -> Outcome:
    """The exit and goal checks, then the step, for one group; a failure undoes this group's
    work alone (its savepoint) and schedules a retry."""
    outcome = Outcome()
    members = group.rows
    try:
        with transaction.atomic():
            rows = _check_exit(group, outcome)
            rows = _check_goal(group, rows, outcome)
            if rows:
                group.rows = rows
                EXECUTORS[group.step.type](group, outcome)
    except Exception as exc:
        logger.exception(
            "Journey %s step %s failed for %d enrolments",
            group.journey.id, group.step.key, len(members),
        )  # fmt: skip
        # The savepoint undid the exits and conversions too: the whole group tries again.
        outcome = Outcome(retry=[(r, f"{type(exc).__name__}: {exc}"[:500]) for r in members])
    return outcome


def _check_exit(group: Group, outcome: Outcome) -> list[Taken]:
    gone = Q(status__in=(CustomerStatus.DELETED, CustomerStatus.MERGED)) | Q(
        membership_status="DECEASED"
    )
    rule = group.definition.exit_rule
    if rule:
        condition = gone | group.compiler().q(rules_parse(rule))
        asked = group.customer_ids
    else:
        condition = gone
        asked = [cid for cid in group.customer_ids if cid not in group.clean]
    hits = {
        cid: (status, membership)
        for cid, status, membership in Customer.objects.filter(any_of(asked))
        .filter(condition)
        .values_list("id", "status", "membership_status")
    } if asked else {}  # fmt: skip
    stay = []
    for row in group.rows:
        hit = hits.get(row.customer_id)
        if hit is None:
            stay.append(row)
            continue
        status, membership = hit
        if status == CustomerStatus.DELETED:
            reason = "customer erased"
        elif status == CustomerStatus.MERGED:
            reason = "customer merged into another"
        elif membership == "DECEASED":
            reason = "customer deceased"
        else:
            reason = "exit rule"
        outcome.exit.append((row, reason))
    if not rule:
        group.clean.update(r.customer_id for r in stay)
    return stay


def _check_goal(group: Group, rows: list[Taken], outcome: Outcome) -> list[Taken]:
    goal = group.definition.goal
    if not goal or not rows:
        return rows
    reached = enrolments_matching(rows, goal, since="entered_at")
    outcome.convert += [r for r in rows if r.id in reached]
    return [r for r in rows if r.id not in reached]


# --- step executors ---------------------------------------------------------------------------


def step_campaign(
    *, journey: Journey, version: JourneyVersion, step: Step, create: bool = True
) -> Campaign | None:
    """The hidden JOURNEY campaign of a send step of a version (made when it is published)."""
    found = Campaign.objects.filter(
        journey_id=journey.id, journey_version=version.number, journey_step=step.key
    ).first()
    if found is not None or not create:
        return found
    from campaigns.services import journey_step_campaign_ensure

    raw = step.raw
    return journey_step_campaign_ensure(
        journey_id=journey.id,
        journey_name=journey.name,
        version=version.number,
        step_key=step.key,
        channel=raw["channel"],
        template=raw["template"],
        content=raw.get("content") or {},
        variables=raw.get("variables") or {},
        priority=raw.get("priority", 2),
    )


def _send(group: Group, outcome: Outcome) -> None:
    from campaigns.services import journey_step_run_start

    campaign = step_campaign(journey=group.journey, version=group.version, step=group.step)
    assert campaign is not None  # made when missing (create=True)
    with connection.cursor() as cursor:
        # The trigger event's payload goes to the template as `event` (a competition invite
        # needs the competition's name and booking link), recipient by recipient.
        cursor.execute(
            """
            SELECT e.customer_id, e.context->'payload' FROM journeys_enrolment AS e
            WHERE e.id = ANY(%s::uuid[]) AND jsonb_typeof(e.context->'payload') = 'object'
              AND e.context->'payload' <> '{}'::jsonb
            """,
            [[str(i) for i in group.ids]],
        )
        payloads = {
            customer_id: json.loads(payload) if isinstance(payload, str) else payload
            for customer_id, payload in cursor.fetchall()
        }
    run = journey_step_run_start(
        campaign=campaign, customer_ids=group.customer_ids, event_payloads=payloads, now=group.now
    )
    for row in group.rows:
        outcome.move(row, "next", group.step.branches["next"], {"runId": str(run.id)})


def _wait(group: Group, outcome: Outcome) -> None:
    raw, now, tz = group.step.raw, group.now, group.tz
    to = group.step.branches["next"]
    arriving = [r for r in group.rows if r.status == ACTIVE]
    for row in group.rows:
        if row.status != ACTIVE:
            outcome.move(row, "next", to)  # its wait is over
    if not arriving:
        return
    ends: dict[uuid.UUID, dt.datetime | None]
    if "duration" in raw:
        end = duration_end(now, raw["duration"], tz)
        ends = {r.id: end for r in arriving}
    elif "until" in raw:
        end = next_time_of_day(now, raw["until"]["time"], tz, raw["until"].get("weekdays"))
        ends = {r.id: end for r in arriving}
    else:
        spec = raw["untilDate"]
        column = DATE_FIELDS[spec["field"]]
        dates = dict(
            Customer.objects.filter(any_of([r.customer_id for r in arriving])).values_list(
                "id", column
            )
        )
        ends = {
            r.id: until_date_moment(now=now, spec=spec, value=dates.get(r.customer_id), tz=tz)
            for r in arriving
        }
    for row in arriving:
        end = ends[row.id]
        if end is None or end <= now:
            outcome.move(row, "next", to)
        else:
            outcome.park.append((row, end))


def _wait_for_event(group: Group, outcome: Outcome) -> None:
    raw = group.step.raw
    spec = wait_spec(raw)
    matched = enrolments_matching(
        group.rows, spec, since="step_entered_at", of_step=raw.get("ofStep")
    )
    for row in group.rows:
        if row.id in matched:
            outcome.move(row, "onEvent", group.step.branches["onEvent"])
            continue
        timeout_at = duration_end(row.step_entered_at, raw["timeout"], group.tz)
        if timeout_at <= group.now:
            outcome.move(row, "onTimeout", group.step.branches["onTimeout"])
        else:
            outcome.park.append((row, timeout_at))


def _condition(group: Group, outcome: Outcome) -> None:
    rule = group.compiler().q(rules_parse(group.step.raw["rule"]))
    yes = set(
        Customer.objects.filter(any_of(group.customer_ids))
        .filter(rule)
        .values_list("id", flat=True)
    )
    for row in group.rows:
        branch = "yes" if row.customer_id in yes else "no"
        outcome.move(row, branch, group.step.branches[branch])


def split_bucket(enrolment_id: uuid.UUID, step_key: str) -> int:
    """0..9999, the same for an enrolment at a step every time it is asked."""
    digest = hashlib.sha256(f"{enrolment_id}:{step_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000


def _split(group: Group, outcome: Outcome) -> None:
    bounds = []
    running = 0.0
    for branch in group.step.raw["branches"]:
        running += branch["percent"]
        bounds.append((round(running * 100), branch["key"]))
    for row in group.rows:
        bucket = split_bucket(row.id, group.step.key)
        key = next((k for upper, k in bounds if bucket < upper), bounds[-1][1])
        outcome.move(row, key, group.step.branches[key])


def _update(group: Group, outcome: Outcome) -> None:
    """Profiles' own service changes the customers (tags, lifecycle stage, a note), set-based."""
    from profiles.services import customers_bulk_update

    raw = group.step.raw
    customers_bulk_update(
        customer_ids=group.customer_ids,
        add_tags=raw.get("addTags") or [],
        remove_tags=raw.get("removeTags") or [],
        lifecycle_stage=raw.get("lifecycleStage") or "",
        note=raw.get("note") or "",
        author_label=f"Journey: {group.journey.name}",
        now=group.now,
    )
    for row in group.rows:
        outcome.move(row, "next", group.step.branches["next"])


def _notify(group: Group, outcome: Outcome) -> None:
    raw = group.step.raw
    StaffTask.objects.bulk_create(
        (
            StaffTask(
                customer_id=row.customer_id,
                journey=group.journey,
                enrolment_id=row.id,
                step=group.step.key,
                title=raw["title"].strip()[:200],
                body=raw.get("body") or "",
                assigned_to=raw.get("assignTo") or "STAFF",
                created_at=group.now,
            )
            for row in group.rows
        ),
        ignore_conflicts=True,
    )
    for row in group.rows:
        outcome.move(row, "next", group.step.branches["next"])


def _webhook(group: Group, outcome: Outcome) -> None:
    from journeys.webhooks import NOT_SENT_UNSIGNED, club_can_sign, queue_deliveries, webhook_body

    if not club_can_sign():
        # Published with a secret, revoked since: never sent unsigned. The step waits with the
        # engine's retries (backoff, then FAILED with this reason on the enrolment).
        logger.warning(
            "Journey %s step %s: no active webhook secret, %d enrolments held",
            group.journey.id, group.step.key, len(group.rows),
        )  # fmt: skip
        outcome.retry.extend((row, NOT_SENT_UNSIGNED) for row in group.rows)
        return

    customers = {
        c["id"]: c
        for c in Customer.objects.filter(any_of(group.customer_ids)).values(
            "id", "scl_member_id", "teetime_player_id", "messaging_contact_id", "auth_user_id"
        )
    }
    contexts = dict(Enrolment.objects.filter(any_of(group.ids)).values_list("id", "context"))
    deliveries = []
    for row in group.rows:
        delivery_id = uuid.uuid4()
        deliveries.append(
            WebhookDelivery(
                id=delivery_id,
                journey=group.journey,
                enrolment_id=row.id,
                step=group.step.key,
                url=group.step.raw["url"],
                body=webhook_body(
                    delivery_id=delivery_id,
                    journey=group.journey,
                    version=group.version,
                    step=group.step.key,
                    enrolment_id=row.id,
                    customer=customers.get(row.customer_id) or {"id": row.customer_id},
                    context=contexts.get(row.id) or {},
                    now=group.now,
                ),
                next_attempt_at=group.now,
                created_at=group.now,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    queue_deliveries([d.id for d in deliveries])
    for row in group.rows:
        outcome.move(row, "next", group.step.branches["next"])


def _end(group: Group, outcome: Outcome) -> None:
    for row in group.rows:
        outcome.move(row, "", None)


EXECUTORS = {
    "send": _send,
    "wait": _wait,
    "waitForEvent": _wait_for_event,
    "condition": _condition,
    "split": _split,
    "update": _update,
    "notify": _notify,
    "webhook": _webhook,
    "end": _end,
}


# --- writing the outcomes -------------------------------------------------------------------

_UPDATE_FIELDS = (
    "status", "step", "due_at", "step_entered_at", "finished_at", "exit_reason", "attempts",
    "last_error",
)  # fmt: skip
_EVENT_COLUMNS = (
    "enrolment_id", "journey_id", "version_id", "step", "kind", "branch", "detail", "at",
)  # fmt: skip


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** (attempts - 1), 60))


class Writes:
    """A batch's decisions, kept until the batch ends: then ONE UPDATE of the enrolments (each
    row written once, in its final state, however many steps it ran) and ONE COPY of the
    event log."""

    def __init__(self) -> None:
        self.updates: dict[uuid.UUID, tuple] = {}
        self.events: list[tuple] = []
        self.clean: set[uuid.UUID] = set()

    def _event(self, row: Taken, step: str, kind: str, branch: str, detail: dict | None,
               now: dt.datetime) -> None:  # fmt: skip
        self.events.append(
            (row.id, row.journey_id, row.version_id, step, kind, branch,
             json.dumps(detail) if detail else "{}", now)
        )  # fmt: skip

    def _update(self, row: Taken, *values: Any) -> None:
        self.updates[row.id] = (row.id, *values)

    def collect(
        self, outcomes: list[Outcome], *, now: dt.datetime, result: DueResult
    ) -> list[Taken]:
        """Record one round's outcomes; return the enrolments that moved on to a step due
        now (they run on in this batch)."""
        chain: list[Taken] = []
        for outcome in outcomes:
            for row, branch, to, detail in outcome.advance:
                result.steps += 1
                self._event(row, row.step, EV_COMPLETED, branch, detail, now)
                if to is None:
                    result.completed += 1
                    self._update(row, COMPLETED, row.step, None, row.step_entered_at, now, "", 0,
                                 "")  # fmt: skip
                    continue
                self._event(row, to, EV_ENTERED, "", None, now)
                self._update(row, ACTIVE, to, now, now, None, "", 0, "")
                chain.append(
                    Taken(
                        id=row.id, journey_id=row.journey_id, version_id=row.version_id,
                        customer_id=row.customer_id, step=to, status=ACTIVE,
                        entered_at=row.entered_at, step_entered_at=now, attempts=0,
                    )
                )  # fmt: skip
            for row, due in outcome.park:
                result.steps += 1
                self._update(row, WAITING, row.step, due, row.step_entered_at, None, "", 0, "")
            for row, reason in outcome.exit:
                result.exited += 1
                self._event(row, row.step, EV_EXITED, "", {"reason": reason}, now)
                self._update(row, EXITED, row.step, None, row.step_entered_at, now, reason[:200],
                             row.attempts, "")  # fmt: skip
            for row in outcome.convert:
                result.converted += 1
                self._event(row, row.step, EV_CONVERTED, "", None, now)
                self._update(row, CONVERTED, row.step, None, row.step_entered_at, now, "",
                             row.attempts, "")  # fmt: skip
            for row, error in outcome.retry:
                attempts = row.attempts + 1
                if attempts >= MAX_ATTEMPTS:
                    result.failed += 1
                    self._event(row, row.step, EV_FAILED, "", {"error": error}, now)
                    self._update(row, FAILED, row.step, None, row.step_entered_at, now, "",
                                 attempts, error)  # fmt: skip
                else:
                    result.retried += 1
                    self._update(row, row.status, row.step, now + _backoff(attempts),
                                 row.step_entered_at, None, "", attempts, error)  # fmt: skip
        return chain

    def flush(self) -> None:
        if self.updates:
            update_rows(
                Enrolment._meta.db_table,
                key=("id", "uuid"),
                columns=columns_of(Enrolment, _UPDATE_FIELDS),
                rows=list(self.updates.values()),
            )
        if self.events:
            copy_rows(EnrolmentEvent._meta.db_table, _EVENT_COLUMNS, self.events)
