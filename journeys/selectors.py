"""Reads of journeys: lists for the API and the admin, and the per-step analytics.

`journey_stats` counts with two GROUP BY statements whatever the number of steps, enrolments
or versions (plus one to read the versions' step lists when no version is given):

- journey totals come from the enrolments' statuses: `enrolled` (every enrolment ever made),
  `live` (ACTIVE or WAITING), `completed`, `converted`, `exited`, `failed`;
  `conversionRate` = converted / enrolled (null with no enrolments);
- per step, from the enrolment event log: `entered`, `completed`, `exited`, `converted` are the
  events of that kind at the step, `waiting` the live enrolments at the step now, and
  `branches` how many left the step by each branch (yes / no, onEvent / onTimeout, A / B…).

Choices where the design was silent: over all versions, steps are listed in the published
version's order (a walk from its start, branches in their order), then steps only older versions
had (newest version first), then step keys that only the log knows; a journey never published
lists its draft's steps, all at zero. A step key keeps its numbers across versions, so a step
that kept its key in an edit keeps its history.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from django.db.models import Count, QuerySet

from journeys.definition import BRANCH_KEYS
from journeys.models import (
    LIVE_STATUSES,
    Enrolment,
    EnrolmentEvent,
    EnrolmentEventKind,
    EnrolmentStatus,
    Journey,
    JourneyVersion,
    StaffTask,
)

STEP_COUNTS = ("entered", "waiting", "completed", "exited", "converted")
_EVENT_COUNT = {
    EnrolmentEventKind.ENTERED: "entered",
    EnrolmentEventKind.COMPLETED: "completed",
    EnrolmentEventKind.EXITED: "exited",
    EnrolmentEventKind.CONVERTED: "converted",
}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def journey_list(*, status: str | None = None) -> QuerySet[Journey]:
    """Every journey of the club, by name; `status` narrows to one state."""
    queryset = Journey.objects.select_related("published_version")
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def journey_get(*, journey_id: Any) -> Journey | None:
    key = _uuid(journey_id)
    if key is None:
        return None
    return journey_list().filter(pk=key).first()


def journey_versions(*, journey: Journey) -> QuerySet[JourneyVersion]:
    """Published versions, newest first."""
    return (
        JourneyVersion.objects.filter(journey=journey).select_related("journey").order_by("-number")
    )


def journey_version_get(*, journey: Journey, number: Any) -> JourneyVersion | None:
    if isinstance(number, bool) or not isinstance(number, int):
        return None
    return JourneyVersion.objects.filter(journey=journey, number=number).first()


def journey_enrolments(
    *, journey: Journey, status: str | None = None, step: str | None = None
) -> QuerySet[Enrolment]:
    """A journey's enrolments, newest first; `status` and `step` narrow them."""
    queryset = Enrolment.objects.filter(journey=journey).select_related(
        "customer", "version", "journey"
    )
    if status:
        queryset = queryset.filter(status=status)
    if step:
        queryset = queryset.filter(step=step)
    return queryset


def enrolment_get(*, enrolment_id: Any) -> Enrolment | None:
    key = _uuid(enrolment_id)
    if key is None:
        return None
    return Enrolment.objects.select_related("customer", "version", "journey").filter(pk=key).first()


def enrolment_events(*, enrolment: Enrolment) -> QuerySet[EnrolmentEvent]:
    """An enrolment's walk, oldest first."""
    return EnrolmentEvent.objects.filter(enrolment=enrolment).order_by("at", "id")


def customer_enrolments(*, customer) -> QuerySet[Enrolment]:
    """Every journey a customer is or was in, newest first."""
    return Enrolment.objects.filter(customer=customer).select_related(
        "journey", "version", "customer"
    )


def staff_tasks(
    *, status: str | None = "OPEN", journey: Journey | None = None, assigned_to: str | None = None
) -> QuerySet[StaffTask]:
    """Tasks `notify` steps made, open ones first, newest first; None for every status."""
    queryset = StaffTask.objects.select_related("customer", "journey")
    if status:
        queryset = queryset.filter(status=status)
    if journey is not None:
        queryset = queryset.filter(journey=journey)
    if assigned_to:
        queryset = queryset.filter(assigned_to__iexact=assigned_to)
    return queryset


def staff_task_get(*, task_id: Any) -> StaffTask | None:
    key = _uuid(task_id)
    if key is None:
        return None
    return staff_tasks(status=None).filter(pk=key).first()


def definition_step_order(definition: dict[str, Any]) -> list[str]:
    """A definition's step keys in flow order: from the start, every step before the steps it
    leads to (a step two branches join comes after both), branches in their own order; then
    any step no path reaches (a draft may have some)."""
    steps = definition.get("steps") if isinstance(definition, dict) else None
    if not isinstance(steps, dict):
        return []
    finished: list[str] = []
    seen: set[str] = set()

    def visit(key: Any) -> None:
        if not isinstance(key, str) or key in seen or key not in steps:
            return
        seen.add(key)
        for target in reversed(_targets(steps[key])):
            visit(target)
        finished.append(key)

    visit(definition.get("start"))
    order = finished[::-1]
    order.extend(key for key in steps if key not in seen)
    return order


def _targets(step: Any) -> list[str]:
    if not isinstance(step, dict):
        return []
    kind = step.get("type")
    if kind == "split":
        branches = step.get("branches")
        if not isinstance(branches, list):
            return []
        return [
            b["next"] for b in branches if isinstance(b, dict) and isinstance(b.get("next"), str)
        ]
    return [step[name] for name in BRANCH_KEYS.get(kind, ()) if isinstance(step.get(name), str)]


def _step_catalogue(journey: Journey, version: JourneyVersion | None) -> dict[str, dict[str, Any]]:
    """Step key -> its type and label, in display order."""
    if version is not None:
        definitions = [version.definition]
    else:
        versions = list(
            JourneyVersion.objects.filter(journey=journey)
            .order_by("-number")
            .values_list("pk", "definition")
        )
        # The published version first, whatever its number; then the others, newest first.
        versions.sort(key=lambda row: row[0] != journey.published_version_id)
        definitions = [definition for _, definition in versions] or [journey.definition]
    catalogue: dict[str, dict[str, Any]] = {}
    for definition in definitions:
        steps = definition.get("steps") if isinstance(definition, dict) else None
        if not isinstance(steps, dict):
            continue
        for key in definition_step_order(definition):
            if key in catalogue:
                continue
            raw = steps[key] if isinstance(steps[key], dict) else {}
            catalogue[key] = {"type": raw.get("type", ""), "label": raw.get("label") or ""}
    return catalogue


def journey_stats(*, journey: Journey, version: JourneyVersion | None = None) -> dict[str, Any]:
    """Totals and per-step counts (see the module docstring)."""
    enrolments = Enrolment.objects.filter(journey=journey)
    events = EnrolmentEvent.objects.filter(journey=journey)
    if version is not None:
        enrolments = enrolments.filter(version=version)
        events = events.filter(version=version)

    totals = dict.fromkeys(("completed", "converted", "exited", "failed"), 0)
    enrolled = live = 0
    waiting: dict[str, int] = defaultdict(int)
    for row in enrolments.order_by().values("status", "step").annotate(n=Count("id")):
        enrolled += row["n"]
        if row["status"] in LIVE_STATUSES:
            live += row["n"]
            waiting[row["step"]] += row["n"]
        else:
            name = {
                EnrolmentStatus.COMPLETED: "completed",
                EnrolmentStatus.CONVERTED: "converted",
                EnrolmentStatus.EXITED: "exited",
                EnrolmentStatus.FAILED: "failed",
            }.get(row["status"])
            if name:
                totals[name] += row["n"]

    per_step: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STEP_COUNTS, 0))
    branches: dict[str, dict[str, int]] = defaultdict(dict)
    for row in events.order_by().values("step", "kind", "branch").annotate(n=Count("id")):
        name = _EVENT_COUNT.get(row["kind"])
        if name is None:
            continue
        per_step[row["step"]][name] += row["n"]
        if row["kind"] == EnrolmentEventKind.COMPLETED and row["branch"]:
            branch = branches[row["step"]]
            branch[row["branch"]] = branch.get(row["branch"], 0) + row["n"]
    for key, n in waiting.items():
        per_step[key]["waiting"] = n

    catalogue = _step_catalogue(journey, version)
    keys = list(catalogue) + sorted(set(per_step) - set(catalogue))
    steps = []
    for key in keys:
        info = catalogue.get(key, {"type": "", "label": ""})
        counts = per_step.get(key) or dict.fromkeys(STEP_COUNTS, 0)
        steps.append(
            {
                "key": key,
                "type": info["type"],
                "label": info["label"],
                **{name: counts[name] for name in STEP_COUNTS},
                "branches": branches.get(key, {}),
            }
        )
    return {
        "version": version.number if version is not None else None,
        "enrolled": enrolled,
        "live": live,
        **totals,
        "conversionRate": round(totals["converted"] / enrolled, 4) if enrolled else None,
        "steps": steps,
    }
