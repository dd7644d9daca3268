"""What the apps' typed GraphQL inputs share (issue 19): enums built from a model's choices,
and the typed input read back as the REST body it mirrors.

A mutation whose input has a known shape takes an `InputObjectType` (nested ones for nested
shapes), so GraphQL itself refuses an unknown field or a wrong type before anything runs, and
GraphiQL documents every field. The rules beyond types (lengths, existence, cross-field
checks) stay where REST has them: the mutation turns its typed input into the REST body with
`input_body` and hands that to REST's serializer and service, so no rule is written twice.
`GenericScalar` is kept only for values that are free-form JSON (a journey's definition
graph, a segment's rule tree, message content).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import graphene
from graphene.utils.str_converters import to_camel_case


def choices_enum(
    name: str,
    choices: Iterable[Any],
    *,
    description: str,
    by_name: bool = False,
    notes: Mapping[Any, str] | None = None,
    own_labels: Mapping[Any, str] | None = None,
) -> type[graphene.Enum]:
    """A GraphQL enum of a model's choices (a Django `TextChoices` / `IntegerChoices`, or some
    of its members): one value per choice, named as the API names it, described by the
    choice's label (what a person reads; `own_labels[value]` instead where the model's label is
    only the code title-cased, such as "Sms"; `notes[value]` after it where the label alone
    says too little). `input_body` reads a value back as the API's: the stored code, or with
    `by_name` the member's name (Priority: LOW, NORMAL, HIGH, as REST takes it)."""
    members = list(choices)
    values = [(m.name, m.name if by_name else m.value) for m in members]
    labels = {(m.name if by_name else m.value): str(getattr(m, "label", m.name)) for m in members}
    labels.update(own_labels or {})
    for value, note in (notes or {}).items():
        labels[value] = f"{labels[value]}: {note}" if labels.get(value) else note
    python_enum = enum.Enum(name, values)  # type: ignore[misc]

    def describe(member: enum.Enum | None) -> str:
        return description if member is None else labels[member.value]

    made: type[graphene.Enum] = graphene.Enum.from_enum(
        python_enum, name=name, description=describe
    )
    return made


def input_value(value: Any) -> Any:
    """One value of a typed input as JSON would carry it in REST's body: enum values as their
    codes, UUIDs, dates and times as text (no offset stays no offset: club time), lists and
    nested inputs likewise."""
    if isinstance(value, graphene.InputObjectType):
        return input_body(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [input_value(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def input_body(value: Any) -> dict[str, Any]:
    """A typed GraphQL input as the REST body it mirrors: the fields the caller gave, by their
    GraphQL (camelCase) names; a field not given is absent (an update leaves it unchanged)
    and an explicit null stays null (it clears, where the field allows it)."""
    fields = type(value)._meta.fields
    body: dict[str, Any] = {}
    for key, given in dict(value).items():
        field = fields.get(key)
        name = (getattr(field, "name", None) or to_camel_case(key)) if field else key
        body[name] = input_value(given)
    return body
