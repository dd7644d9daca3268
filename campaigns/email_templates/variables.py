"""The variables a template may use: the customer's fields the send request carries
(campaigns.sending.customer_variables) and the club's name, each with the label the editor's
picker shows and a sample value for previews without a customer."""

from __future__ import annotations

import re
from dataclasses import dataclass


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
    Variable("membershipTier", "Membership tier", "Full"),
    Variable("handicap", "Handicap", "14.2"),
    Variable("renewalDueOn", "Renewal date", "2027-01-31"),
    Variable("nextTeeTime", "Next tee time", "Sat 12 Dec 09:10"),
    Variable("clubName", "Club name", "the club"),
)
BY_NAME = {variable.name: variable for variable in VARIABLES}

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


def unknown_variables(text: str, known: set[str] | None = None) -> list[str]:
    allowed = set(BY_NAME) if known is None else known
    return [name for name in variables_in(text) if name not in allowed]


def unknown_message(names: list[str]) -> str:
    listed = ", ".join("{{ %s }}" % name for name in names)  # noqa: UP031 (braces)
    choices = ", ".join(variable.label.lower() for variable in VARIABLES)
    word = "variable" if len(names) == 1 else "variables"
    return f"Unknown {word} {listed}: pick one from the list ({choices})."
