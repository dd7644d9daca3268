"""A journey's definition: the JSON staff build in the admin's builder, integrators send to the
API and the ready-made templates ship as. `definition_parse` checks all of it at once and
reports every problem keyed by its path (`steps.wait_3_days.duration.days`), as segment rules
do; the engine only ever runs a parsed, valid definition.

```json
{
  "trigger": {"type": "event", "eventType": "scl.member.created",
              "filters": {"payload": {"tier": "FULL"}}, "firstTime": false},
  "entryRule": null,            // a segment rule (segments.md) the customer must match to enter
  "exitRule": null,             // a segment rule: matching it before any step ends the journey
  "goal": {"eventType": "teetime.booking.created", "filters": {}, "matchTrigger": []},  // or null
  "reentry": {"policy": "ONCE"},        // ONCE | AFTER_DAYS (with "days") | ALWAYS
  "maxEnrolments": null,                // a cap on enrolments over the journey's life
  "start": "welcome",
  "steps": {
    "welcome": {"type": "send", "channel": "EMAIL", "template": "welcome_member",
                "variables": {}, "content": {"subject": "Welcome"}, "next": "wait"},
    "wait": {"type": "wait", "duration": {"days": 3}, "next": "opened"},
    "opened": {"type": "waitForEvent", "eventType": "messaging.email.opened", "ofStep": "welcome",
               "timeout": {"days": 2}, "onEvent": "tips", "onTimeout": "sms"},
    ...
  }
}
```

Triggers (`trigger.type`):
- `event`: an event type of events.md (aliases read as the catalogue name) whose envelope
  contains `filters` (JSON containment, as campaign triggers); `firstTime` enrols only on the
  customer's first event of that type. An event about no one (`teetime.competition.published`)
  enrols every customer matching `entryRule` (then required), the event kept as the context.
- `segment`: entering (`"on": "enter"`) or leaving (`"on": "leave"`) the segment `segmentId`.
- `date`: a date on the customer (`renewalDueOn`, `dateOfBirth`, `memberSince`) plus
  `offsetDays` (-30: thirty days before), at `time` ("09:00") in the club's time zone.
  `dateOfBirth` and `memberSince` recur yearly (birthday, anniversary of joining).
- `manual`: only staff or the API enrol.

Steps (`steps.<key>.type`, keys are `[A-Za-z0-9_-]{1,40}`):
- `send`: `channel` (EMAIL, SMS, PUSH), `template` (a Messaging template id), `variables`
  (fixed values for the template, beside the profile's; the trigger event's payload, when the
  journey was entered by an event, is there too as `event`: `event.name`, `event.bookingUrl`),
  `content` (overrides such as the subject), `priority` (1-3, campaigns' frequency-cap
  priority, default 2), `next`.
- `wait`: exactly one of `duration` ({"days", "hours", "minutes"}, calendar arithmetic in club
  time, so "3 days" keeps the clock time across a daylight-saving change), `until`
  ({"time": "09:00", "weekdays": [0..6]?}: the next such moment in club time) or `untilDate`
  ({"field", "offsetDays", "time"}: a date on the customer; passed or missing goes straight on).
  `next`.
- `waitForEvent`: `eventType`, `filters`, optional `matchTrigger` (payload keys whose values
  must equal the trigger event's: `["competitionId"]` waits for an entry to THAT competition),
  optional `ofStep` (a send step: the event must be about the message that step sent, matched
  by its `sendId`), `timeout` (a duration), `onEvent`, `onTimeout`.
- `condition`: `rule` (any segment rule), `yes`, `no`.
- `split`: `branches` [{"key": "A", "percent": 50, "next": …}, …], percents adding up to 100;
  a branch whose `next` is null is a holdout (the customer ends the journey there).
- `update`: `addTags`, `removeTags`, `lifecycleStage`, `note` (at least one), `next`.
- `notify`: a task for staff in the admin: `title`, `body`, `assignTo` (a role: STAFF,
  MARKETING, ADMIN, or a staff email), `next`.
- `webhook`: POST the enrolment (journey, step, customer id and ids) to `url` (https, or http
  to a host the settings allow), signed like api.md's webhooks, `next`.
- `end`.

`next`/branch targets name another step, or are null to end the journey there. The steps form a
graph without cycles, every step reachable from `start`: a journey that should repeat is a
re-entry policy, never a loop, so every enrolment finishes in a bounded number of steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from profiles.models import LifecycleStage
from segments.rules import RuleError, rules_parse

TRIGGER_TYPES = ("event", "segment", "date", "manual")
DATE_FIELDS = {
    "renewalDueOn": "renewal_due_on",
    "dateOfBirth": "date_of_birth",
    "memberSince": "member_since",
}
# Dates that come round every year: a birthday or a joining anniversary matches on month/day.
YEARLY_DATE_FIELDS = ("dateOfBirth", "memberSince")
# Events about no one in particular (events.md): they enrol every customer the entry rule picks.
BROADCAST_EVENT_TYPES = (
    "teetime.competition.published",
    "teetime.competition.updated",
    "teetime.competition.cancelled",
)
REENTRY_POLICIES = ("ONCE", "AFTER_DAYS", "ALWAYS")
CHANNELS = ("EMAIL", "SMS", "PUSH")
STAFF_ROLES = ("STAFF", "MARKETING", "ADMIN")
# The profile's own stages (profiles.models.LifecycleStage): an update step writes one there.
LIFECYCLE_STAGES = tuple(LifecycleStage.values)
STEP_TYPES = (
    "send", "wait", "waitForEvent", "condition", "split", "update", "notify", "webhook", "end",
)  # fmt: skip
# The keys of a step that name the steps after it, by type.
BRANCH_KEYS: dict[str, tuple[str, ...]] = {
    "send": ("next",),
    "wait": ("next",),
    "waitForEvent": ("onEvent", "onTimeout"),
    "condition": ("yes", "no"),
    "update": ("next",),
    "notify": ("next",),
    "webhook": ("next",),
    "end": (),
    "split": (),  # its branches carry their own `next`
}
STEP_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
EVENT_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,127}$")
MAX_STEPS = 100
MAX_WAIT_DAYS = 730
MAX_TAGS = 20


@dataclass(frozen=True)
class Duration:
    days: int = 0
    hours: int = 0
    minutes: int = 0

    def as_json(self) -> dict[str, int]:
        return {k: v for k, v in (("days", self.days), ("hours", self.hours),
                                  ("minutes", self.minutes)) if v}  # fmt: skip


@dataclass(frozen=True)
class Step:
    key: str
    type: str
    raw: dict[str, Any]
    # Branch name (next / yes / no / onEvent / onTimeout / a split key) -> the next step or None.
    branches: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    trigger: dict[str, Any]
    entry_rule: Any
    exit_rule: Any
    goal: dict[str, Any] | None
    reentry: dict[str, Any]
    max_enrolments: int | None
    start: str
    steps: dict[str, Step]
    raw: dict[str, Any]


class DefinitionError(ValidationError):
    """A definition that cannot run; `errors` maps each bad part's path to what is wrong."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(errors)


def empty_definition() -> dict[str, Any]:
    """What a new journey starts from in the builder: a manual trigger and one end step."""
    return {
        "trigger": {"type": "manual"},
        "entryRule": None,
        "exitRule": None,
        "goal": None,
        "reentry": {"policy": "ONCE"},
        "maxEnrolments": None,
        "start": "end",
        "steps": {"end": {"type": "end"}},
    }


def canonical_event_type(raw: str) -> str:
    """An event type as the catalogue names it: the producers' aliases (events.md) and the
    Messaging Service's names without their `messaging.` prefix (`email.opened`) read as the
    catalogue's, as ingestion reads them."""
    from profiles.envelope import ALIASES, PAYLOADS

    value = raw.strip()
    if value in ALIASES:
        return ALIASES[value]
    if f"messaging.{value}" in PAYLOADS:
        return f"messaging.{value}"
    return value


class _Reader:
    def __init__(self, known_segment_ids: set[Any] | None):
        self.errors: dict[str, list[str]] = {}
        self.known_segment_ids = known_segment_ids

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def keys(self, raw: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(raw) - allowed):
            self.fail(f"{path}.{key}" if path else key, "Not a known key here.")

    def rule(self, raw: Any, path: str) -> Any:
        if raw is None:
            return None
        try:
            rules_parse(raw, known_segment_ids=self.known_segment_ids)
        except RuleError as exc:
            for sub, messages in exc.errors.items():
                # The rule's own paths start at its root ("rules", "rules[1].operator").
                target = path if sub == "rules" else f"{path}.{sub}"
                for message in messages:
                    self.fail(target, message)
        return raw

    def event_type(self, raw: Any, path: str) -> str:
        if not isinstance(raw, str) or not EVENT_TYPE_RE.match(raw.strip()):
            self.fail(path, "Give an event type such as teetime.booking.completed.")
            return ""
        return canonical_event_type(raw)

    def filters(self, raw: Any, path: str) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(path, 'Give an object matched against the event, e.g. {"payload": {…}}.')
            return {}
        return raw

    def match_trigger(self, raw: Any, path: str) -> list[str]:
        # [] is what a parsed goal holds when nothing is matched (the docstring's example).
        if raw is None or raw == []:
            return []
        if (
            not isinstance(raw, list)
            or not raw
            or any(
                not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", name)
                for name in raw
            )
        ):
            self.fail(path, 'Give payload keys such as ["competitionId"].')
            return []
        return raw

    def duration(self, raw: Any, path: str) -> Duration | None:
        if not isinstance(raw, dict) or not raw:
            self.fail(path, 'Give a duration such as {"days": 3} or {"hours": 12}.')
            return None
        self.keys(raw, {"days", "hours", "minutes"}, path)
        parts = {}
        for unit in ("days", "hours", "minutes"):
            value = raw.get(unit, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.fail(f"{path}.{unit}", "Give a whole number, 0 or more.")
                return None
            parts[unit] = value
        total_days = parts["days"] + parts["hours"] / 24 + parts["minutes"] / 1440
        if total_days <= 0:
            self.fail(path, "A wait must be longer than nothing.")
            return None
        if total_days > MAX_WAIT_DAYS:
            self.fail(path, f"At most {MAX_WAIT_DAYS} days.")
            return None
        return Duration(**parts)

    def time(self, raw: Any, path: str) -> str:
        if not isinstance(raw, str) or not TIME_RE.match(raw):
            self.fail(path, 'Give a time of day as "HH:MM" (club time), e.g. "09:00".')
            return ""
        return raw

    def date_field(self, raw: dict[str, Any], path: str) -> None:
        if raw.get("field") not in DATE_FIELDS:
            self.fail(f"{path}.field", f"One of {', '.join(DATE_FIELDS)}.")
        offset = raw.get("offsetDays", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 366:
            self.fail(f"{path}.offsetDays", "Give a whole number of days between -366 and 366.")
        self.time(raw.get("time", "09:00"), f"{path}.time")

    def trigger(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict) or raw.get("type") not in TRIGGER_TYPES:
            self.fail("trigger.type", f"One of {', '.join(TRIGGER_TYPES)}.")
            return {"type": "manual"}
        kind = raw["type"]
        trigger = dict(raw)
        if kind == "event":
            self.keys(raw, {"type", "eventType", "filters", "firstTime"}, "trigger")
            trigger["eventType"] = self.event_type(raw.get("eventType"), "trigger.eventType")
            trigger["filters"] = self.filters(raw.get("filters"), "trigger.filters")
            if not isinstance(raw.get("firstTime", False), bool):
                self.fail("trigger.firstTime", "Give true or false.")
        elif kind == "segment":
            self.keys(raw, {"type", "segmentId", "on"}, "trigger")
            if raw.get("on", "enter") not in ("enter", "leave"):
                self.fail("trigger.on", "One of enter, leave.")
            trigger["on"] = raw.get("on", "enter")
            self.segment_id(raw.get("segmentId"), "trigger.segmentId")
        elif kind == "date":
            self.keys(raw, {"type", "field", "offsetDays", "time"}, "trigger")
            self.date_field(raw, "trigger")
            trigger.setdefault("offsetDays", 0)
            trigger.setdefault("time", "09:00")
        else:
            self.keys(raw, {"type"}, "trigger")
        return trigger

    def segment_id(self, raw: Any, path: str) -> None:
        import uuid

        try:
            value = uuid.UUID(str(raw))
        except ValueError:
            self.fail(path, "Give the id of one of the club's segments.")
            return
        if self.known_segment_ids is not None and value not in self.known_segment_ids:
            self.fail(path, "No segment of this club has this id.")

    def target(self, raw: Any, path: str, steps: dict[str, Any]) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str) or raw not in steps:
            self.fail(path, "Name another step of this journey, or null to end here.")
            return None
        return raw

    def step(self, key: str, raw: Any, steps: dict[str, Any]) -> Step | None:
        path = f"steps.{key}"
        if not STEP_KEY_RE.match(key):
            self.fail(path, "A step key is 1 to 40 letters, digits, - or _.")
        if not isinstance(raw, dict) or raw.get("type") not in STEP_TYPES:
            self.fail(f"{path}.type", f"One of {', '.join(STEP_TYPES)}.")
            return None
        kind = raw["type"]
        common = {"type", "label", "position"}  # label and position are the builder's
        branches: dict[str, str | None] = {}
        for name in BRANCH_KEYS[kind]:
            branches[name] = self.target(raw.get(name), f"{path}.{name}", steps)
        if kind == "send":
            self.keys(raw, common | {"channel", "template", "variables", "content", "priority",
                                     "next"}, path)  # fmt: skip
            if raw.get("channel") not in CHANNELS:
                self.fail(f"{path}.channel", f"One of {', '.join(CHANNELS)}.")
            template = raw.get("template")
            if not isinstance(template, str) or not template.strip():
                self.fail(f"{path}.template", "Give the Messaging template id to send.")
            for name in ("variables", "content"):
                if not isinstance(raw.get(name, {}), dict):
                    self.fail(f"{path}.{name}", "Give an object of names and values.")
            priority = raw.get("priority", 2)
            if priority not in (1, 2, 3) or isinstance(priority, bool):
                self.fail(f"{path}.priority", "1 (low), 2 (normal) or 3 (high).")
        elif kind == "wait":
            self.keys(raw, common | {"duration", "until", "untilDate", "next"}, path)
            given = [name for name in ("duration", "until", "untilDate") if name in raw]
            if len(given) != 1:
                self.fail(path, "Give exactly one of duration, until or untilDate.")
            elif given[0] == "duration":
                self.duration(raw["duration"], f"{path}.duration")
            elif given[0] == "until":
                until = raw["until"]
                if not isinstance(until, dict):
                    self.fail(f"{path}.until", 'Give {"time": "09:00", "weekdays": [0, 1]}.')
                else:
                    self.keys(until, {"time", "weekdays"}, f"{path}.until")
                    self.time(until.get("time"), f"{path}.until.time")
                    weekdays = until.get("weekdays")
                    if weekdays is not None and (
                        not isinstance(weekdays, list)
                        or not weekdays
                        or any(d not in range(7) or isinstance(d, bool) for d in weekdays)
                    ):
                        self.fail(f"{path}.until.weekdays", "Days 0 (Monday) to 6 (Sunday).")
            else:
                until_date = raw["untilDate"]
                if not isinstance(until_date, dict):
                    self.fail(f"{path}.untilDate", 'Give {"field": "renewalDueOn", …}.')
                else:
                    self.keys(until_date, {"field", "offsetDays", "time"}, f"{path}.untilDate")
                    self.date_field(until_date, f"{path}.untilDate")
        elif kind == "waitForEvent":
            self.keys(raw, common | {"eventType", "filters", "matchTrigger", "ofStep", "timeout",
                                     "onEvent", "onTimeout"}, path)  # fmt: skip
            self.match_trigger(raw.get("matchTrigger"), f"{path}.matchTrigger")
            self.event_type(raw.get("eventType"), f"{path}.eventType")
            self.filters(raw.get("filters"), f"{path}.filters")
            self.duration(raw.get("timeout"), f"{path}.timeout")
            of_step = raw.get("ofStep")
            if of_step is not None and (
                not isinstance(of_step, str)
                or not isinstance(steps.get(of_step), dict)
                or steps[of_step].get("type") != "send"
            ):
                self.fail(f"{path}.ofStep", "Name a send step of this journey, or leave it out.")
        elif kind == "condition":
            self.keys(raw, common | {"rule", "yes", "no"}, path)
            if raw.get("rule") is None:
                self.fail(f"{path}.rule", "Give a segment rule.")
            else:
                self.rule(raw["rule"], f"{path}.rule")
        elif kind == "split":
            self.keys(raw, common | {"branches"}, path)
            items = raw.get("branches")
            if not isinstance(items, list) or not 2 <= len(items) <= 5:
                self.fail(f"{path}.branches", "Give 2 to 5 branches.")
            else:
                total = 0
                for i, branch in enumerate(items):
                    bpath = f"{path}.branches[{i}]"
                    if not isinstance(branch, dict):
                        self.fail(bpath, 'Give {"key": "A", "percent": 50, "next": …}.')
                        continue
                    self.keys(branch, {"key", "percent", "next", "label"}, bpath)
                    bkey = branch.get("key")
                    if not isinstance(bkey, str) or not STEP_KEY_RE.match(bkey):
                        self.fail(f"{bpath}.key", "Give a short name such as A, B or holdout.")
                    elif bkey in branches:
                        self.fail(f"{bpath}.key", "Each branch needs its own key.")
                    percent = branch.get("percent")
                    if (
                        isinstance(percent, bool)
                        or not isinstance(percent, int | float)
                        or not (0 < percent <= 100)
                    ):
                        self.fail(f"{bpath}.percent", "Give a percentage above 0, at most 100.")
                    else:
                        total += percent
                    if isinstance(bkey, str):
                        branches[bkey] = self.target(branch.get("next"), f"{bpath}.next", steps)
                if abs(total - 100) > 1e-9 and not any(
                    p.startswith(f"{path}.branches[") for p in self.errors
                ):
                    self.fail(f"{path}.branches", f"The percentages add up to {total:g}, not 100.")
        elif kind == "update":
            self.keys(raw, common | {"addTags", "removeTags", "lifecycleStage", "note", "next"},
                      path)  # fmt: skip
            for name in ("addTags", "removeTags"):
                tags = raw.get(name, [])
                if (
                    not isinstance(tags, list)
                    or len(tags) > MAX_TAGS
                    or any(not isinstance(t, str) or not t.strip() or len(t) > 64 for t in tags)
                ):
                    self.fail(f"{path}.{name}", f"Give up to {MAX_TAGS} tags of 1-64 characters.")
            stage = raw.get("lifecycleStage")
            if stage is not None and stage not in LIFECYCLE_STAGES:
                self.fail(f"{path}.lifecycleStage", f"One of {', '.join(LIFECYCLE_STAGES)}.")
            note = raw.get("note")
            if note is not None and (not isinstance(note, str) or len(note) > 2000):
                self.fail(f"{path}.note", "Give a note of at most 2,000 characters.")
            if not (raw.get("addTags") or raw.get("removeTags") or stage or note):
                self.fail(path, "Give tags to add or remove, a lifecycle stage or a note.")
        elif kind == "notify":
            self.keys(raw, common | {"title", "body", "assignTo", "next"}, path)
            title = raw.get("title")
            if not isinstance(title, str) or not title.strip() or len(title) > 200:
                self.fail(f"{path}.title", "Give a title of 1-200 characters.")
            if not isinstance(raw.get("body", ""), str):
                self.fail(f"{path}.body", "Give text.")
            assign = raw.get("assignTo", "STAFF")
            if not isinstance(assign, str) or not (assign in STAFF_ROLES or "@" in assign):
                self.fail(f"{path}.assignTo", "A role (STAFF, MARKETING, ADMIN) or a staff email.")
        elif kind == "webhook":
            self.keys(raw, common | {"url", "next"}, path)
            url = raw.get("url")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                self.fail(f"{path}.url", "Give an https:// address.")
        else:
            self.keys(raw, common, path)
        return Step(key=key, type=kind, raw=raw, branches=branches)

    def graph(self, start: str, steps: dict[str, Step]) -> None:
        """Every step reachable from the start, and no way back to a step already passed."""
        if start not in steps:
            return
        seen: set[str] = set()
        on_path: list[str] = []

        def visit(key: str) -> None:
            if key in on_path:
                loop = " → ".join([*on_path[on_path.index(key) :], key])
                self.fail(
                    f"steps.{key}", f"The steps loop ({loop}); use a re-entry policy instead."
                )
                return
            if key in seen or key not in steps:
                return
            seen.add(key)
            on_path.append(key)
            for target in steps[key].branches.values():
                if target is not None:
                    visit(target)
            on_path.pop()

        visit(start)
        for key in steps:
            if key not in seen:
                self.fail(f"steps.{key}", "No path from the start reaches this step.")


def definition_parse(raw: Any, *, known_segment_ids: set[Any] | None = None) -> Definition:
    """Check a definition; raise `DefinitionError` with every problem keyed by its path."""
    reader = _Reader(known_segment_ids)
    if not isinstance(raw, dict):
        raise DefinitionError({"definition": ["Give the journey as an object."]})
    reader.keys(
        raw,
        {"trigger", "entryRule", "exitRule", "goal", "reentry", "maxEnrolments", "start",
         "steps"},
        "",
    )  # fmt: skip
    trigger = reader.trigger(raw.get("trigger"))
    entry_rule = reader.rule(raw.get("entryRule"), "entryRule")
    exit_rule = reader.rule(raw.get("exitRule"), "exitRule")
    goal = raw.get("goal")
    if goal is not None:
        if not isinstance(goal, dict):
            reader.fail("goal", 'Give {"eventType": …, "filters": {…}} or null.')
            goal = None
        else:
            reader.keys(goal, {"eventType", "filters", "matchTrigger"}, "goal")
            goal = {
                "eventType": reader.event_type(goal.get("eventType"), "goal.eventType"),
                "filters": reader.filters(goal.get("filters"), "goal.filters"),
                "matchTrigger": reader.match_trigger(goal.get("matchTrigger"), "goal.matchTrigger"),
            }
    reentry = raw.get("reentry") or {"policy": "ONCE"}
    if not isinstance(reentry, dict) or reentry.get("policy") not in REENTRY_POLICIES:
        reader.fail("reentry.policy", f"One of {', '.join(REENTRY_POLICIES)}.")
        reentry = {"policy": "ONCE"}
    elif reentry["policy"] == "AFTER_DAYS":
        days = reentry.get("days")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
            reader.fail("reentry.days", "Give a number of days between 1 and 3,660.")
    cap = raw.get("maxEnrolments")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        reader.fail("maxEnrolments", "Give a whole number, 1 or more, or null for no cap.")
        cap = None
    raw_steps = raw.get("steps")
    steps: dict[str, Step] = {}
    if not isinstance(raw_steps, dict) or not raw_steps:
        reader.fail("steps", "Give at least one step.")
        raw_steps = {}
    elif len(raw_steps) > MAX_STEPS:
        reader.fail("steps", f"At most {MAX_STEPS} steps.")
    for key, step_raw in raw_steps.items():
        step = reader.step(str(key), step_raw, raw_steps)
        if step is not None:
            steps[step.key] = step
    start = raw.get("start")
    if not isinstance(start, str) or start not in raw_steps:
        reader.fail("start", "Name the first step.")
        start = ""
    reader.graph(start, steps)
    if (
        trigger.get("type") == "date"
        and reentry.get("policy") == "ONCE"
        and (trigger.get("field") in YEARLY_DATE_FIELDS)
    ):
        reader.fail(
            "reentry.policy", "A yearly date (birthday, anniversary) needs ALWAYS or AFTER_DAYS."
        )
    if (
        trigger.get("type") == "event"
        and trigger.get("eventType") in BROADCAST_EVENT_TYPES
        and entry_rule is None
    ):
        reader.fail(
            "entryRule",
            "This event is about no one: give the rule that picks who enters (e.g. eligible "
            "players).",
        )
    if reader.errors:
        raise DefinitionError(reader.errors)
    return Definition(
        trigger=trigger,
        entry_rule=entry_rule,
        exit_rule=exit_rule,
        goal=goal,
        reentry=reentry,
        max_enrolments=cap,
        start=start,
        steps=steps,
        raw=raw,
    )
