"""The variables a template may use: the customer's fields the send request carries
(campaigns.sending.customer_variables) and the club's name, each with the label the editor's
picker shows and a sample value for previews without a customer.

Two are offered as a person reads them rather than as stored: the membership tier as a label
("Five day", not `FIVE_DAY`) and the renewal date written out ("31 January 2027"), derived
from the request's `membershipTier` and `renewalDueOn` when a club template is rendered
(`with_labels`). The raw two stay usable (older templates, Messaging templates name them)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    sample: str


VARIABLES: tuple[Variable, ...] = (
    Variable("firstName", "First name", "Aoife"),
    Variable("lastName", "Last name", "Byrne"),
    Variable("displayName", "Full name", "Aoife Byrne"),
    Variable("email", "Email address", "aoife.byrne@example.ie"),
    Variable("membershipTierLabel", "Membership tier", "Full"),
    Variable("handicap", "Handicap", "14.2"),
    Variable("renewalDate", "Renewal date", "31 January 2027"),
    Variable("nextTeeTime", "Next tee time", "Sat 12 Dec 09:10"),
    Variable("clubName", "Club name", "the club"),
)
BY_NAME = {variable.name: variable for variable in VARIABLES}
# What a send request's `variables` hold for every customer (campaigns.sending).
REQUEST_NAMES = frozenset(
    ("firstName", "lastName", "displayName", "email", "membershipTier", "handicap",
     "renewalDueOn", "nextTeeTime", "clubName")
)  # fmt: skip
# What a club template may name: the picker's, and the raw forms of the derived two.
KNOWN = frozenset(BY_NAME) | REQUEST_NAMES


def _tier_label(code: str) -> str:
    if not code or code != code.upper():
        return code or ""
    return code.replace("_", " ").replace("-", " ").capitalize()


def _date_label(value: str) -> str:
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return f"{day.day} {day:%B %Y}"


def with_labels(values: dict[str, Any]) -> dict[str, Any]:
    """The request's variables plus the derived labels (kept when the request has them)."""
    out = dict(values)
    out.setdefault("membershipTierLabel", _tier_label(str(values.get("membershipTier") or "")))
    out.setdefault("renewalDate", _date_label(str(values.get("renewalDueOn") or "")))
    return out


# What the block generator itself puts in (never the author): the send's unsubscribe link.
UNSUBSCRIBE = "unsubscribeUrl"

# `{{ firstName }}` or `{{firstName}}` (messaging.md writes them without spaces).
TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def variables_in(text: str) -> list[str]:
    """The variable names a text uses, in order, each once."""
    seen: list[str] = []
    for match in TOKEN.finditer(text or ""):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def unknown_variables(text: str, known: AbstractSet[str] | None = None) -> list[str]:
    allowed = KNOWN if known is None else known
    return [name for name in variables_in(text) if name not in allowed]


def unknown_message(names: list[str]) -> str:
    listed = ", ".join("{{ %s }}" % name for name in names)  # noqa: UP031 (braces)
    choices = ", ".join(variable.label.lower() for variable in VARIABLES)
    word = "variable" if len(names) == 1 else "variables"
    return f"Unknown {word} {listed}: pick one from the list ({choices})."
