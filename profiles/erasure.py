"""What other apps hold about a person: erased with them, and exported with them.

`customer_erase` (profiles/services.py) erases what profiles holds and `customer_export` exports
it. Other apps keep their own copies of personal data keyed by the customer or by an upstream
id (social keeps competition entries and scores by TeeTime player id; journeys keep the
triggering event in an enrolment's context; campaigns keep a recipient's template values).
Each such app registers an eraser and an exporter here from its `AppConfig.ready()`, so
profiles never imports the other apps. The erasure runs every eraser inside its own
transaction, so a person is erased everywhere or nowhere; the export puts every exporter's
section in one document.

An explicit registry rather than a signal: the erasure is a legal duty, and a hook that fails
must fail the erasure loudly instead of being one receiver among others. The same goes for an
access request: an exporter that fails fails the export, never a silently partial document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models

from profiles.models import Customer

# (customer, identifiers by record kind: {"teetime": {"P-123"}, "scl": {"4417"}, …}) -> None
ErasureHook = Callable[[Customer, dict[str, set[str]]], None]
# The same arguments -> the app's section of the export document (JSON-ready).
ExportHook = Callable[[Customer, dict[str, set[str]]], dict[str, Any]]

_HOOKS: list[ErasureHook] = []


@dataclass(frozen=True)
class Exporter:
    section: str
    hook: ExportHook
    # The tables whose rows about a person this section carries (the erasure test checks that
    # every table holding a person's data is named by some section).
    models: tuple[type[models.Model], ...]

    @property
    def tables(self) -> list[str]:
        return [model._meta.db_table for model in self.models]


_EXPORTERS: dict[str, Exporter] = {}


def erasure_hook_register(hook: ErasureHook) -> None:
    """Register an app's eraser (idempotent: `ready()` may run more than once in tests)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def erasure_hooks_run(*, customer: Customer, identifiers: dict[str, set[str]]) -> None:
    for hook in _HOOKS:
        hook(customer, identifiers)


def export_hook_register(
    section: str, hook: ExportHook, *, models: tuple[type[models.Model], ...]
) -> None:
    """Register an app's exporter under its section name (the app's label)."""
    _EXPORTERS[section] = Exporter(section=section, hook=hook, models=models)


def export_hooks_run(
    *, customer: Customer, identifiers: dict[str, set[str]]
) -> tuple[dict[str, Any], list[str]]:
    """({section: data} of every registered app, the tables those sections cover)."""
    sections: dict[str, Any] = {}
    tables: list[str] = []
    for section in sorted(_EXPORTERS):
        exporter = _EXPORTERS[section]
        sections[section] = exporter.hook(customer, identifiers)
        tables += exporter.tables
    return sections, tables
