"""Reading a segment rule (segments.md): validation with errors that point at the bad part,
and the JSON Schema published for it.

`rules_parse` turns the JSON into a small tree the compiler reads, with values already
converted (dates are dates). Every problem is reported at once, keyed by its path from the
rule's root, as segments.md shows: `rules[1].rules[0].operator`.

Choices the contract leaves open:
- The root may be a group or a single condition. An empty group matches every customer.
- Keys other than the contract's are refused (a typo such as `operater` would otherwise be
  silently ignored and change the audience).
- At most 10 levels of groups and 200 conditions, so a rule stays a query PostgreSQL plans fast.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime

from segments.fields import FIELDS, GROUPS, FieldSpec, FieldType, Source

MAX_DEPTH = 10
MAX_CONDITIONS = 200
MAX_LIST = 1000
MAX_DAYS = 36_500

GROUP_KEYS = {"combinator", "not", "rules"}
CONDITION_KEYS = {"field", "operator", "value", "window"}
LIST_OPERATORS = ("in", "notIn")
NO_VALUE_OPERATORS = ("isNull", "isNotNull")
DAY_OPERATORS = ("withinLastDays", "moreThanDaysAgo", "withinNextDays")


class RuleError(ValidationError):
    """A rule that cannot be used; `errors` maps each bad part's path to what is wrong (the
    root itself is `rules`). A ValidationError, so every API layer reports it by path."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = {path or "rules": messages for path, messages in errors.items()}
        super().__init__(self.errors)


@dataclass(frozen=True)
class Window:
    last_days: int | None = None
    start: dt.date | None = None  # inclusive
    end: dt.date | None = None  # inclusive


@dataclass(frozen=True)
class Condition:
    spec: FieldSpec
    operator: str
    value: Any
    window: Window | None
    path: str


@dataclass(frozen=True)
class Group:
    combinator: str
    negate: bool
    children: tuple[Group | Condition, ...]
    path: str


Rule = Group | Condition


class _Reader:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.conditions = 0
        self.segment_ids: list[tuple[uuid.UUID, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    @staticmethod
    def join(prefix: str, name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    def rule(self, raw: Any, path: str, depth: int) -> Rule | None:
        if not isinstance(raw, dict):
            self.fail(
                path,
                "Must be a group ({combinator, rules}) or a condition ({field, operator, value}).",
            )
            return None
        if "field" in raw or "operator" in raw:
            return self.condition(raw, path)
        return self.group(raw, path, depth)

    def group(self, raw: dict, path: str, depth: int) -> Group | None:
        if depth > MAX_DEPTH:
            self.fail(path, f"Groups nest at most {MAX_DEPTH} deep.")
            return None
        for key in sorted(set(raw) - GROUP_KEYS):
            self.fail(self.join(path, key), "Unknown key in a group (combinator, not, rules).")
        combinator = raw.get("combinator")
        if combinator not in ("AND", "OR"):
            self.fail(self.join(path, "combinator"), 'Must be "AND" or "OR".')
        negate = raw.get("not", False)
        if not isinstance(negate, bool):
            self.fail(self.join(path, "not"), "Must be true or false.")
        children_raw = raw.get("rules")
        if not isinstance(children_raw, list):
            self.fail(self.join(path, "rules"), "Must be a list of groups or conditions.")
            return None
        children = []
        for index, child in enumerate(children_raw):
            parsed = self.rule(child, f"{self.join(path, 'rules')}[{index}]", depth + 1)
            if parsed is not None:
                children.append(parsed)
        return Group(combinator or "AND", negate is True, tuple(children), path)

    def condition(self, raw: dict, path: str) -> Condition | None:
        self.conditions += 1
        if self.conditions == MAX_CONDITIONS + 1:
            self.fail(path, f"A rule has at most {MAX_CONDITIONS} conditions.")
        for key in sorted(set(raw) - CONDITION_KEYS):
            self.fail(
                self.join(path, key), "Unknown key in a condition (field, operator, value, window)."
            )
        name = raw.get("field")
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            self.fail(self.join(path, "field"), f"Unknown field {name!r}. See GET segments/fields.")
            return None
        operator = raw.get("operator")
        if operator not in spec.operators:
            self.fail(
                self.join(path, "operator"),
                f"{spec.name} does not take the operator {operator!r}; it takes: "
                f"{', '.join(spec.operators)}.",
            )
            return None
        value = self.value(spec, operator, raw.get("value"), self.join(path, "value"))
        window = None
        if "window" in raw and raw["window"] is not None:
            if not spec.windowed:
                self.fail(self.join(path, "window"), f"{spec.name} does not take a window.")
            else:
                window = self.window(raw["window"], self.join(path, "window"))
        return Condition(spec, operator, value, window, path)

    def value(self, spec: FieldSpec, operator: str, raw: Any, path: str) -> Any:
        if operator in NO_VALUE_OPERATORS:
            if raw is not None:
                self.fail(path, f"{operator} takes no value.")
            return None
        if operator in DAY_OPERATORS:
            if not _is_int(raw) or not 0 <= raw <= MAX_DAYS:
                self.fail(path, f"{operator} takes a number of days, 0 to {MAX_DAYS}.")
                return None
            return raw
        if operator == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                self.fail(path, "between takes [low, high].")
                return None
            low = self.scalar(spec, raw[0], f"{path}[0]")
            high = self.scalar(spec, raw[1], f"{path}[1]")
            if low is not None and high is not None and _comparable(low) > _comparable(high):
                self.fail(path, "between takes [low, high] with low <= high.")
            return (low, high)
        if operator in LIST_OPERATORS:
            if not isinstance(raw, list) or not raw:
                self.fail(path, f"{operator} takes a non-empty list.")
                return None
            if len(raw) > MAX_LIST:
                self.fail(path, f"{operator} takes at most {MAX_LIST} values.")
                return None
            return tuple(self.scalar(spec, item, f"{path}[{i}]") for i, item in enumerate(raw))
        return self.scalar(spec, raw, path)

    def scalar(self, spec: FieldSpec, raw: Any, path: str) -> Any:
        kind = spec.type
        if kind in (FieldType.STRING, FieldType.TAGS):
            if not isinstance(raw, str) or not raw.strip() or len(raw) > 255:
                self.fail(path, "Must be a non-empty text of at most 255 characters.")
                return None
            return raw.strip().lower() if spec.name == "email" else raw.strip()
        if kind == FieldType.ENUM:
            if raw not in spec.choices:
                self.fail(path, f"Must be one of: {', '.join(spec.choices)}.")
                return None
            return raw
        if kind in (FieldType.INTEGER, FieldType.COUNT):
            if not _is_int(raw):
                self.fail(path, "Must be a whole number.")
                return None
            if spec.source != Source.ACTIVITY_SUM and kind == FieldType.COUNT and raw < 0:
                self.fail(path, "Must be 0 or more.")
                return None
            return self.bounded(spec, raw, path)
        if kind in (FieldType.NUMBER, FieldType.SHARE):
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                self.fail(path, "Must be a number.")
                return None
            return self.bounded(spec, Decimal(str(raw)), path)
        if kind == FieldType.BOOLEAN:
            if not isinstance(raw, bool):
                self.fail(path, "Must be true or false.")
                return None
            return raw
        if kind == FieldType.DATE:
            parsed = parse_date(raw) if isinstance(raw, str) else None
            if parsed is None:
                self.fail(path, "Must be a date (YYYY-MM-DD).")
            return parsed
        if kind == FieldType.DATETIME:
            return self.moment(raw, path)
        if kind == FieldType.SEGMENT:
            try:
                segment_id = uuid.UUID(str(raw))
            except ValueError:
                self.fail(path, "Must be a segment id (UUID).")
                return None
            self.segment_ids.append((segment_id, path))
            return segment_id
        raise AssertionError(kind)  # pragma: no cover: every FieldType is handled above

    def bounded(self, spec: FieldSpec, number: Any, path: str) -> Any:
        if spec.minimum is not None and number < spec.minimum:
            self.fail(path, f"Must be at least {spec.minimum:g}.")
            return None
        if spec.maximum is not None and number > spec.maximum:
            self.fail(path, f"Must be at most {spec.maximum:g}.")
            return None
        return number

    def moment(self, raw: Any, path: str) -> dt.date | dt.datetime | None:
        """A date (the whole day, in the club's time zone) or a date and time with offset."""
        if isinstance(raw, str):
            if len(raw) == 10:
                parsed_date = parse_date(raw)
                if parsed_date:
                    return parsed_date
            try:
                moment = parse_datetime(raw)
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return moment
        self.fail(path, "Must be a date (YYYY-MM-DD) or a date and time with offset.")
        return None

    def window(self, raw: Any, path: str) -> Window | None:
        if not isinstance(raw, dict):
            self.fail(path, 'Must be {"lastDays": N} or {"from": date, "to": date}.')
            return None
        unknown = set(raw) - {"lastDays", "from", "to"}
        for key in sorted(unknown):
            self.fail(self.join(path, key), "Unknown key in a window (lastDays, from, to).")
        if "lastDays" in raw:
            if "from" in raw or "to" in raw:
                self.fail(path, "Give lastDays, or from and to, not both.")
                return None
            days = raw["lastDays"]
            if not _is_int(days) or not 1 <= days <= MAX_DAYS:
                self.fail(self.join(path, "lastDays"), f"Must be a whole number, 1 to {MAX_DAYS}.")
                return None
            return Window(last_days=days)
        bounds = {}
        for key in ("from", "to"):
            if key in raw:
                parsed = parse_date(raw[key]) if isinstance(raw[key], str) else None
                if parsed is None:
                    self.fail(self.join(path, key), "Must be a date (YYYY-MM-DD).")
                    return None
                bounds[key] = parsed
        if not bounds:
            self.fail(path, 'Must be {"lastDays": N} or {"from": date, "to": date}.')
            return None
        if "from" in bounds and "to" in bounds and bounds["from"] > bounds["to"]:
            self.fail(path, "from must not be after to.")
            return None
        return Window(start=bounds.get("from"), end=bounds.get("to"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _comparable(value: Any) -> Any:
    # A date and a datetime bound in one `between`: compare them as dates.
    return value.date() if isinstance(value, dt.datetime) else value


def rules_parse(raw: Any, *, known_segment_ids: set[uuid.UUID] | None = None) -> Rule:
    """Validate a rule; raise RuleError with every problem, keyed by path.

    `known_segment_ids`: the club's segments, for `inSegment`; None skips that check.
    """
    reader = _Reader()
    parsed = reader.rule(raw, "", depth=1)
    if known_segment_ids is not None:
        for segment_id, path in reader.segment_ids:
            if segment_id not in known_segment_ids:
                reader.fail(path, "No segment with this id in this club.")
    if reader.errors or parsed is None:
        raise RuleError(reader.errors or {"": ["Not a rule."]})
    return parsed


def rules_fields(rule: Rule) -> set[str]:
    """The field names a rule reads."""
    if isinstance(rule, Condition):
        return {rule.spec.name}
    names: set[str] = set()
    for child in rule.children:
        names |= rules_fields(child)
    return names


def rules_segment_ids(rule: Rule) -> set[uuid.UUID]:
    if isinstance(rule, Condition):
        if rule.spec.name != "inSegment" or rule.value is None:
            return set()
        return set(rule.value) if isinstance(rule.value, tuple) else {rule.value}
    ids: set[uuid.UUID] = set()
    for child in rule.children:
        ids |= rules_segment_ids(child)
    return ids


# --- JSON Schema -------------------------------------------------------------------------------

_SCALAR_SCHEMA: dict[FieldType, dict[str, Any]] = {
    FieldType.STRING: {"type": "string", "minLength": 1, "maxLength": 255},
    FieldType.TAGS: {"type": "string", "minLength": 1, "maxLength": 255},
    FieldType.INTEGER: {"type": "integer"},
    FieldType.COUNT: {"type": "integer"},
    FieldType.NUMBER: {"type": "number"},
    FieldType.SHARE: {"type": "number", "minimum": 0, "maximum": 100},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.DATETIME: {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
    },
    FieldType.BOOLEAN: {"type": "boolean"},
    FieldType.SEGMENT: {"type": "string", "format": "uuid"},
}


def _scalar_schema(spec: FieldSpec) -> dict[str, Any]:
    if spec.type == FieldType.ENUM:
        return {"type": "string", "enum": list(spec.choices)}
    schema = dict(_SCALAR_SCHEMA[spec.type])
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    return schema


def _value_rules(spec: FieldSpec) -> list[dict[str, Any]]:
    scalar = _scalar_schema(spec)
    shapes = {
        "between": {"type": "array", "items": scalar, "minItems": 2, "maxItems": 2},
        "in": {"type": "array", "items": scalar, "minItems": 1, "maxItems": MAX_LIST},
        "notIn": {"type": "array", "items": scalar, "minItems": 1, "maxItems": MAX_LIST},
        "isNull": {"type": "null"},
        "isNotNull": {"type": "null"},
        **{op: {"type": "integer", "minimum": 0, "maximum": MAX_DAYS} for op in DAY_OPERATORS},
    }
    rules = []
    plain = [op for op in spec.operators if op not in shapes]
    if plain:
        rules.append(
            {
                "if": {"properties": {"operator": {"enum": plain}}},
                "then": {"properties": {"value": scalar}, "required": ["value"]},
            }
        )
    for op in spec.operators:
        if op in shapes:
            then: dict[str, Any] = {"properties": {"value": shapes[op]}}
            if op not in NO_VALUE_OPERATORS:
                then["required"] = ["value"]
            rules.append({"if": {"properties": {"operator": {"const": op}}}, "then": then})
    return rules


def rules_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a segment rule, generated from the field catalogue."""
    window = {
        "oneOf": [
            {
                "type": "object",
                "properties": {"lastDays": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}},
                "required": ["lastDays"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                },
                "minProperties": 1,
                "additionalProperties": False,
            },
        ]
    }
    conditions = []
    for spec in FIELDS.values():
        properties: dict[str, Any] = {
            "field": {"const": spec.name, "description": spec.label},
            "operator": {"enum": list(spec.operators)},
            "value": {},
        }
        if spec.windowed:
            properties["window"] = {"$ref": "#/$defs/window"}
        conditions.append(
            {
                "type": "object",
                "properties": properties,
                "required": ["field", "operator"],
                "additionalProperties": False,
                "allOf": _value_rules(spec),
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "segment-rule.schema.json",
        "title": "Segment rule",
        "description": "A group or a condition (segments.md). Field groups: "
        + ", ".join(label for _, label in GROUPS)
        + ".",
        "$ref": "#/$defs/rule",
        "$defs": {
            "rule": {"anyOf": [{"$ref": "#/$defs/group"}, {"$ref": "#/$defs/condition"}]},
            "group": {
                "type": "object",
                "properties": {
                    "combinator": {"enum": ["AND", "OR"]},
                    "not": {"type": "boolean"},
                    "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
                },
                "required": ["combinator", "rules"],
                "additionalProperties": False,
            },
            "condition": {"oneOf": conditions},
            "window": window,
        },
    }
