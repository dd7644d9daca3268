"""The JSON Schema (2020-12) of a journey definition (journeys/definition.py), served at
`GET journeys/schema` for integrators and editors.

It checks shapes: keys, types, enums, ranges, each trigger and step type's own fields, and the
segment rules (`segments.rules.rules_json_schema`, whose `$defs` are included as they are:
`rule`, `group`, `condition`, `window`). What a schema cannot say, `definition_parse` still
checks: that `next` and branch targets name steps, that the steps form no loop and are all
reachable, that split percentages add up to 100, that `ofStep` names a send step, that a wait
has exactly one of its forms, and that segment ids are the club's.
"""

from __future__ import annotations

from typing import Any

from journeys.definition import (
    CHANNELS,
    DATE_FIELDS,
    LIFECYCLE_STAGES,
    MAX_STEPS,
    MAX_TAGS,
    MAX_WAIT_DAYS,
    REENTRY_POLICIES,
    STAFF_ROLES,
    STEP_KEY_RE,
    TIME_RE,
)
from segments.rules import rules_json_schema

EVENT_TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.]{0,127}$"
PAYLOAD_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _step(kind: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    return _object(
        {
            "type": {"const": kind},
            "label": {"type": "string", "maxLength": 200, "description": "The builder's name."},
            "position": _ref("position"),
            **properties,
        },
        ["type", *required],
        description=description,
    )


def journey_json_schema() -> dict[str, Any]:
    """The definition's JSON Schema; the same for every club."""
    rule_schema = rules_json_schema()
    step_key = STEP_KEY_RE.pattern
    target = {
        "type": ["string", "null"],
        "pattern": step_key,
        "description": "Another step's key, or null to end the journey there.",
    }
    filters = {
        "type": "object",
        "description": 'Matched by containment against the event envelope, e.g. {"payload": '
        '{"purpose": "SUBSCRIPTION"}}.',
    }
    event_type = {
        "type": "string",
        "pattern": EVENT_TYPE_PATTERN,
        "description": "An event type of events.md (its aliases are read as the catalogue name).",
    }
    match_trigger = {
        "type": "array",
        "items": {"type": "string", "pattern": PAYLOAD_KEY_PATTERN},
        "description": "Payload keys whose values must equal the trigger event's.",
    }
    date_field = {"enum": list(DATE_FIELDS)}
    offset_days = {"type": "integer", "minimum": -366, "maximum": 366}
    tags = {
        "type": "array",
        "maxItems": MAX_TAGS,
        "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"},
    }
    defs: dict[str, Any] = {
        "position": _object(
            {"x": {"type": "number"}, "y": {"type": "number"}},
            description="Where the builder draws the step (pixels).",
        ),
        "target": target,
        "time": {"type": "string", "pattern": TIME_RE.pattern, "description": "HH:MM, club time."},
        "duration": _object(
            {unit: {"type": "integer", "minimum": 0} for unit in ("days", "hours", "minutes")},
            minProperties=1,
            description=f"Longer than nothing, at most {MAX_WAIT_DAYS} days in all.",
        ),
        "segmentRuleOrNull": {"anyOf": [{"type": "null"}, _ref("rule")]},
        "trigger": {
            "oneOf": [
                _object(
                    {
                        "type": {"const": "event"},
                        "eventType": event_type,
                        "filters": filters,
                        "firstTime": {"type": "boolean"},
                    },
                    ["type", "eventType"],
                    description="An event; one about no customer (teetime.competition."
                    "published) enrols everyone matching entryRule.",
                ),
                _object(
                    {
                        "type": {"const": "segment"},
                        "segmentId": {"type": "string", "format": "uuid"},
                        "on": {"enum": ["enter", "leave"]},
                    },
                    ["type", "segmentId"],
                    description="Entering (default) or leaving a segment of the club.",
                ),
                _object(
                    {
                        "type": {"const": "date"},
                        "field": date_field,
                        "offsetDays": offset_days,
                        "time": _ref("time"),
                    },
                    ["type", "field"],
                    description="A date on the customer plus offsetDays, at time (club time); "
                    "dateOfBirth and memberSince come round every year.",
                ),
                _object({"type": {"const": "manual"}}, ["type"], description="Staff or API."),
            ]
        },
        "goal": {
            "anyOf": [
                {"type": "null"},
                _object(
                    {"eventType": event_type, "filters": filters, "matchTrigger": match_trigger},
                    ["eventType"],
                    description="Reaching it ends the journey as a conversion.",
                ),
            ]
        },
        "reentry": {
            "oneOf": [
                _object({"policy": {"enum": ["ONCE", "ALWAYS"]}}, ["policy"]),
                _object(
                    {
                        "policy": {"const": "AFTER_DAYS"},
                        "days": {"type": "integer", "minimum": 1, "maximum": 3660},
                    },
                    ["policy", "days"],
                ),
            ],
            "description": f"One of {', '.join(REENTRY_POLICIES)}.",
        },
        "step": {
            "oneOf": [
                _step(
                    "send",
                    "Send a Messaging template through the campaign ledger (consent, caps, "
                    "quiet hours and dedup apply).",
                    {
                        "channel": {"enum": list(CHANNELS)},
                        "template": {"type": "string", "minLength": 1, "pattern": r"\S"},
                        "variables": {"type": "object"},
                        "content": {"type": "object"},
                        "priority": {"enum": [1, 2, 3]},
                        "next": _ref("target"),
                    },
                    ["channel", "template"],
                ),
                _step(
                    "wait",
                    "Wait a duration, until a time of day, or until a date on the customer "
                    "(exactly one).",
                    {
                        "duration": _ref("duration"),
                        "until": _object(
                            {
                                "time": _ref("time"),
                                "weekdays": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"type": "integer", "minimum": 0, "maximum": 6},
                                    "description": "0 Monday to 6 Sunday.",
                                },
                            },
                            ["time"],
                        ),
                        "untilDate": _object(
                            {"field": date_field, "offsetDays": offset_days, "time": _ref("time")},
                            ["field"],
                        ),
                        "next": _ref("target"),
                    },
                    [],
                )
                | {
                    "oneOf": [
                        {"required": ["duration"]},
                        {"required": ["until"]},
                        {"required": ["untilDate"]},
                    ]
                },
                _step(
                    "waitForEvent",
                    "Wait for an event, up to a timeout; a branch for each outcome.",
                    {
                        "eventType": event_type,
                        "filters": filters,
                        "matchTrigger": match_trigger,
                        "ofStep": {"type": "string", "pattern": step_key},
                        "timeout": _ref("duration"),
                        "onEvent": _ref("target"),
                        "onTimeout": _ref("target"),
                    },
                    ["eventType", "timeout"],
                ),
                _step(
                    "condition",
                    "A segment rule; yes or no.",
                    {"rule": _ref("rule"), "yes": _ref("target"), "no": _ref("target")},
                    ["rule"],
                ),
                _step(
                    "split",
                    "Random split; percents add up to 100; a branch with next null is a holdout.",
                    {
                        "branches": {
                            "type": "array",
                            "minItems": 2,
                            "maxItems": 5,
                            "items": _object(
                                {
                                    "key": {"type": "string", "pattern": step_key},
                                    "label": {"type": "string", "maxLength": 200},
                                    "percent": {
                                        "type": "number",
                                        "exclusiveMinimum": 0,
                                        "maximum": 100,
                                    },
                                    "next": _ref("target"),
                                },
                                ["key", "percent"],
                            ),
                        }
                    },
                    ["branches"],
                ),
                _step(
                    "update",
                    "Update the customer: tags, lifecycle stage, a note (at least one).",
                    {
                        "addTags": tags,
                        "removeTags": tags,
                        "lifecycleStage": {"enum": list(LIFECYCLE_STAGES)},
                        "note": {"type": "string", "maxLength": 2000},
                        "next": _ref("target"),
                    },
                    [],
                )
                | {
                    "anyOf": [
                        {"required": ["addTags"]},
                        {"required": ["removeTags"]},
                        {"required": ["lifecycleStage"]},
                        {"required": ["note"]},
                    ]
                },
                _step(
                    "notify",
                    "A task for staff in the admin.",
                    {
                        "title": {"type": "string", "minLength": 1, "maxLength": 200},
                        "body": {"type": "string"},
                        "assignTo": {
                            "anyOf": [
                                {"enum": list(STAFF_ROLES)},
                                {"type": "string", "pattern": "@"},
                            ],
                            "description": "A role or a staff email.",
                        },
                        "next": _ref("target"),
                    },
                    ["title"],
                ),
                _step(
                    "webhook",
                    "POST the enrolment to a URL, signed like api.md's webhooks.",
                    {
                        "url": {"type": "string", "pattern": "^https?://"},
                        "next": _ref("target"),
                    },
                    ["url"],
                ),
                _step("end", "The journey ends here.", {}, []),
            ]
        },
    }
    for name, value in rule_schema["$defs"].items():
        if name in defs:  # the rule's own names are kept as they are, so none may clash
            raise RuntimeError(f"Journey schema name {name!r} clashes with the rule schema's.")
        defs[name] = value
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "journey-definition.schema.json",
        "title": "Journey definition",
        "description": "A journey's trigger, rules, goal, re-entry policy and steps "
        "(journeys/definition.py). Targets must name steps, the steps must form no loop, and "
        "split percents must add up to 100: the API checks these too and names the path at "
        "fault.",
        "type": "object",
        "additionalProperties": False,
        "required": ["trigger", "start", "steps"],
        "properties": {
            "trigger": _ref("trigger"),
            "entryRule": {
                **_ref("segmentRuleOrNull"),
                "description": "A segment rule a customer must match to enter.",
            },
            "exitRule": {
                **_ref("segmentRuleOrNull"),
                "description": "A segment rule checked before every step: matching it ends "
                "the journey.",
            },
            "goal": _ref("goal"),
            "reentry": _ref("reentry"),
            "maxEnrolments": {"type": ["integer", "null"], "minimum": 1},
            "start": {"type": "string", "pattern": step_key},
            "steps": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": MAX_STEPS,
                "propertyNames": {"pattern": step_key},
                "additionalProperties": _ref("step"),
            },
        },
        "$defs": defs,
    }
