"""Writes of journeys: each one transaction, with an audit row (`journey.<verb>`).

States: DRAFT → ACTIVE ⇄ PAUSED, and any → ARCHIVED.

- create / update: the draft `definition` (journeys/definition.py), checked in full; a bad one
  is a `ValidationError` keyed by the paths at fault. Editing never touches a published
  version, and is refused once ARCHIVED.
- publish: the draft frozen as version N+1 (or the latest version again when the draft has not
  changed), new enrolments start on it; its send steps get their hidden JOURNEY campaigns;
  DRAFT → ACTIVE (ACTIVE and PAUSED stay as they are). Customers already inside finish the
  version they started on unless staff `journey_migrate` them.
- pause: ACTIVE → PAUSED: nothing enrols and no step runs (due steps wait, and run on resume).
- resume: PAUSED → ACTIVE. Triggers listen again from now: what happened while paused does not
  enrol anyone.
- archive: any but ARCHIVED → ARCHIVED: live enrolments are EXITED ("journey archived").
- delete: only a DRAFT never published (`journey_delete`); anything else is archived.

A change the state does not allow raises `JourneyStateError` (REST 409), its message saying why.
Enrolment by staff or the API (`journey_enrol`) answers per customer: enrolled, or skipped with
the reason. The engine itself (journeys.engine, journeys.triggers) writes no audit rows: the
enrolment event log is its record.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from campaigns.services import journey_campaigns_complete
from crm.accounts.services import audit_record
from crm.inputs import UNSET, Unset, fields_given
from journeys.definition import Definition, DefinitionError, definition_parse, empty_definition
from journeys.engine import step_campaign, version_definition
from journeys.models import (
    LIVE_STATUSES,
    Enrolment,
    EnrolmentEvent,
    EnrolmentSource,
    Journey,
    JourneyCursor,
    JourneyStatus,
    JourneyVersion,
    StaffTask,
    StaffTaskStatus,
    WebhookDelivery,
    WebhookStatus,
)
from journeys.presets import club_template_segments, journey_template_get, template_definition
from journeys.triggers import EnrolResult, enrol_customers, log_positions, queue_run_due
from journeys.webhooks import unsigned_step_problems
from segments.models import Segment

MAX_ENROL = 10_000
ARCHIVED_REASON = "journey archived"


class JourneyStateError(Exception):
    """A state change the journey's (or enrolment's, or task's) state does not allow; the
    message says why."""


def _audit(action: str, journey: Journey, actor_label: str, **details: Any) -> None:
    audit_record(
        action=f"journey.{action}",
        actor_label=actor_label,
        object_type="journey",
        object_id=str(journey.id),
        details=details,
    )


def _locked(journey: Journey) -> Journey:
    return (
        Journey.objects.select_for_update(of=("self",))
        .select_related("published_version")
        .get(pk=journey.pk)
    )


def _parse(raw: Any) -> Definition:
    return definition_parse(
        raw, known_segment_ids=set(Segment.objects.values_list("id", flat=True))
    )


@dataclass(frozen=True)
class JourneyInput:
    """A journey's editable fields, built by the API layers from their validated data and by
    other services directly. A field left `UNSET` is not changed. `definition` is the draft's
    JSON (journeys/definition.py), checked in full: errors name its paths
    (`steps.wait.duration.days`). Other errors use the API's names (`templateKey`)."""

    name: str | Unset = UNSET
    description: str | Unset = UNSET
    definition: dict[str, Any] | Unset = UNSET
    template_key: str | Unset = UNSET


def _apply(journey: Journey, data: JourneyInput, errors: dict[str, list[str]]) -> None:
    """Apply the given fields to `journey` in memory, collecting errors by path."""
    if data.name is not UNSET:
        name = (data.name or "").strip() if isinstance(data.name, str | None) else ""
        if not name:
            errors["name"] = ["Give the journey a name."]
        elif len(name) > 200:
            errors["name"] = ["At most 200 characters."]
        elif Journey.objects.filter(name=name).exclude(pk=journey.pk).exists():
            errors["name"] = ["Another journey already has this name."]
        journey.name = name
    if data.description is not UNSET:
        description = data.description or ""
        if not isinstance(description, str):
            errors["description"] = ["Give text."]
        else:
            journey.description = description
    if data.template_key is not UNSET:
        template_key = data.template_key or ""
        if not isinstance(template_key, str) or len(template_key) > 64:
            errors["templateKey"] = ["Give a template key of at most 64 characters."]
        else:
            journey.template_key = template_key
    if data.definition is not UNSET:
        raw = data.definition
        try:
            _parse(raw)
        except DefinitionError as exc:
            for path, messages in exc.errors.items():
                errors.setdefault(path, []).extend(messages)
        else:
            journey.definition = raw


@transaction.atomic
def journey_create(*, data: JourneyInput, actor_label: str = "") -> Journey:
    """A DRAFT journey. `data`: name (required, unique), description, definition (default:
    a manual trigger and one end step), template_key."""
    journey = Journey(definition=empty_definition(), created_by=actor_label)
    errors: dict[str, list[str]] = {}
    if data.name is UNSET:
        data = replace(data, name="")  # required: refused by name
    _apply(journey, data, errors)
    if errors:
        raise ValidationError(errors)
    journey.save()
    _audit("create", journey, actor_label, name=journey.name, templateKey=journey.template_key)
    return journey


@transaction.atomic
def journey_update(*, journey: Journey, data: JourneyInput, actor_label: str = "") -> Journey:
    """Edit the name, description or draft definition (any state but ARCHIVED)."""
    journey = _locked(journey)
    if journey.status == JourneyStatus.ARCHIVED:
        raise JourneyStateError("An ARCHIVED journey cannot be edited; copy it instead.")
    errors: dict[str, list[str]] = {}
    _apply(journey, data, errors)
    if errors:
        raise ValidationError(errors)
    journey.save()
    _audit("update", journey, actor_label, changed=fields_given(data))
    return journey


def _ensure_cursors(positions: dict[str, int]) -> None:
    """The logs' cursors exist from the first journey that listens, so nothing after its
    start is skipped."""
    for name, position in positions.items():
        JourneyCursor.objects.get_or_create(
            name=name,
            defaults={"last_id": position, "horizon_id": position, "horizon_at": timezone.now()},
        )


def _listen_from_now(journey: Journey) -> None:
    positions = log_positions()
    _ensure_cursors(positions)
    journey.listening_from = positions


@transaction.atomic
def journey_publish(*, journey: Journey, actor_label: str = "") -> JourneyVersion:
    """Freeze the draft as the next version (see the module docstring)."""
    journey = _locked(journey)
    if journey.status == JourneyStatus.ARCHIVED:
        raise JourneyStateError("An ARCHIVED journey cannot be published.")
    definition = _parse(journey.definition)
    if problems := unsigned_step_problems(journey.definition):
        raise ValidationError(problems)
    latest = journey.versions.order_by("-number").first()
    if latest is not None and latest.definition == journey.definition:
        version = latest
    else:
        version = JourneyVersion.objects.create(
            journey=journey,
            number=(latest.number + 1) if latest else 1,
            definition=copy.deepcopy(journey.definition),
            published_at=timezone.now(),
            published_by=actor_label,
        )
    trigger = definition.trigger
    journey.published_version = version
    journey.trigger_type = trigger["type"]
    journey.trigger_event_type = trigger.get("eventType", "") if trigger["type"] == "event" else ""
    journey.trigger_segment_id = (
        uuid.UUID(str(trigger["segmentId"])) if trigger["type"] == "segment" else None
    )
    if journey.status == JourneyStatus.DRAFT:
        journey.status = JourneyStatus.ACTIVE
        _listen_from_now(journey)
    journey.save()
    for step in version_definition(version).steps.values():
        if step.type == "send":
            step_campaign(journey=journey, version=version, step=step)
    _audit("publish", journey, actor_label, version=version.number, status=journey.status)
    return version


@transaction.atomic
def journey_pause(*, journey: Journey, actor_label: str = "") -> Journey:
    journey = _locked(journey)
    if journey.status != JourneyStatus.ACTIVE:
        raise JourneyStateError(
            f"Only an ACTIVE journey can be paused; this one is {journey.status}."
        )
    journey.status = JourneyStatus.PAUSED
    journey.save()
    _audit("pause", journey, actor_label)
    return journey


@transaction.atomic
def journey_resume(*, journey: Journey, actor_label: str = "") -> Journey:
    journey = _locked(journey)
    if journey.status != JourneyStatus.PAUSED:
        raise JourneyStateError(
            f"Only a PAUSED journey can be resumed; this one is {journey.status}."
        )
    journey.status = JourneyStatus.ACTIVE
    _listen_from_now(journey)
    journey.save()
    queue_run_due()  # steps that fell due while paused
    _audit("resume", journey, actor_label)
    return journey


def _exit_live(*, journey_id: Any, reason: str, enrolment_id: Any = None) -> int:
    """EXIT the journey's live enrolments (or one of them) with the event logged: one statement."""
    now = timezone.now()
    only = "AND id = %s" if enrolment_id is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH hit AS (
                SELECT id FROM journeys_enrolment
                WHERE journey_id = %s AND status IN ('ACTIVE', 'WAITING') {only}
                ORDER BY id FOR UPDATE
            ),
            done AS (
                UPDATE journeys_enrolment AS e
                SET status = 'EXITED', exit_reason = %s, finished_at = %s, due_at = NULL
                FROM hit WHERE e.id = hit.id
                RETURNING e.id, e.journey_id, e.version_id, e.step
            ),
            logged AS (
                INSERT INTO journeys_enrolmentevent (enrolment_id, journey_id, version_id, step,
                    kind, branch, detail, at)
                SELECT id, journey_id, version_id, step, 'EXITED', '',
                       jsonb_build_object('reason', %s::text), %s
                FROM done
            )
            SELECT count(*) FROM done
            """,  # noqa: S608 - built from constants
            [journey_id, *([enrolment_id] if enrolment_id is not None else []), reason[:200], now,
             reason[:200], now],
        )  # fmt: skip
        return int(cursor.fetchone()[0])


@transaction.atomic
def journey_archive(*, journey: Journey, actor_label: str = "") -> Journey:
    journey = _locked(journey)
    if journey.status == JourneyStatus.ARCHIVED:
        raise JourneyStateError("This journey is already ARCHIVED.")
    exited = _exit_live(journey_id=journey.id, reason=ARCHIVED_REASON)
    journey.status = JourneyStatus.ARCHIVED
    journey.save()
    journey_campaigns_complete(journey_id=journey.id)
    _audit("archive", journey, actor_label, exited=exited)
    return journey


@transaction.atomic
def journey_delete(*, journey: Journey, actor_label: str = "") -> None:
    """Delete a DRAFT never published; a journey that ever ran is archived instead."""
    journey = _locked(journey)
    if journey.status != JourneyStatus.DRAFT or journey.versions.exists():
        raise JourneyStateError(
            f"Only a DRAFT journey never published can be deleted; archive this {journey.status} "
            "one instead."
        )
    _audit("delete", journey, actor_label, name=journey.name)
    journey.delete()


@transaction.atomic
def journey_enrol(
    *,
    journey: Journey,
    customer_ids: list[Any],
    key: str = "",
    source: str = EnrolmentSource.MANUAL,
    context: dict[str, Any] | None = None,
    actor_label: str = "",
    now: dt.datetime | None = None,
) -> EnrolResult:
    """Enrol these customers now (staff or the API). Each is enrolled or skipped with the
    reason: "already in the journey", "re-entry not allowed yet", "cap reached", "does not
    match the entry rule", "no such customer", "journey not active". `key` makes a repeated
    request the same enrolment (under the re-entry policy). `now`: the clock (the engine's
    `run_due` takes one too), for a club's history made through here, as the demo's is."""
    errors: dict[str, list[str]] = {}
    if not isinstance(customer_ids, list | tuple) or not customer_ids:
        errors["customerIds"] = ["Give a list of customer ids."]
    elif len(customer_ids) > MAX_ENROL:
        errors["customerIds"] = [f"At most {MAX_ENROL:,} customers at a time."]
    if not isinstance(key, str) or len(key) > 64:
        errors["key"] = ["Give a key of at most 64 characters."]
    if source not in (EnrolmentSource.MANUAL, EnrolmentSource.API):
        errors["source"] = ["MANUAL or API."]
    if context is not None and not isinstance(context, dict):
        errors["context"] = ["Give an object."]
    if errors:
        raise ValidationError(errors)
    journey = _locked(journey)
    result = enrol_customers(
        journey=journey, customer_ids=list(customer_ids), key=key, source=source,
        context=context, now=now,
    )  # fmt: skip
    _audit(
        "enrol", journey, actor_label, enrolled=len(result.enrolled),
        skipped=len(result.skipped), key=key,
    )  # fmt: skip
    return result


@transaction.atomic
def enrolment_exit(*, enrolment: Enrolment, reason: str, actor_label: str = "") -> Enrolment:
    """Take a customer out of a journey now (ACTIVE or WAITING -> EXITED)."""
    reason = (reason or "").strip() or "exited by staff"
    if len(reason) > 200:
        raise ValidationError({"reason": ["At most 200 characters."]})
    locked = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
    if locked.status not in LIVE_STATUSES:
        raise JourneyStateError(
            f"This enrolment is {locked.status} already; only a live one can be exited."
        )
    _exit_live(journey_id=locked.journey_id, reason=reason, enrolment_id=locked.id)
    locked.refresh_from_db()
    audit_record(
        action="journey.enrolment_exit", actor_label=actor_label, object_type="journey",
        object_id=str(locked.journey_id),
        details={"enrolmentId": str(locked.id), "customerId": str(locked.customer_id),
                 "reason": reason},
    )  # fmt: skip
    return locked


@transaction.atomic
def journey_migrate(
    *, journey: Journey, from_version: JourneyVersion, actor_label: str = ""
) -> int:
    """Move the live enrolments of an older version to the published one, each at the step of
    the same key (one whose step is gone stays where it is). An enrolment whose step changed
    type arrives at it afresh; one whose step kept its type keeps its wait. Returns how many
    moved."""
    journey = _locked(journey)
    target = journey.published_version
    if target is None:
        raise JourneyStateError("This journey has no published version to move customers to.")
    if from_version.journey_id != journey.id:
        raise ValidationError({"fromVersion": ["Not a version of this journey."]})
    if from_version.id == target.id:
        raise ValidationError({"fromVersion": ["That is the published version already."]})
    old_steps = version_definition(from_version).steps
    new_steps = version_definition(target).steps
    keys = [key for key in old_steps if key in new_steps]
    same = [old_steps[key].type == new_steps[key].type for key in keys]
    if not keys:
        return 0
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH hit AS (
                SELECT e.id FROM journeys_enrolment AS e
                WHERE e.journey_id = %s AND e.version_id = %s
                  AND e.status IN ('ACTIVE', 'WAITING') AND e.step = ANY(%s::text[])
                ORDER BY e.id FOR UPDATE
            )
            UPDATE journeys_enrolment AS e SET
                version_id = %s,
                status = CASE WHEN m.same THEN e.status ELSE 'ACTIVE' END,
                due_at = CASE WHEN m.same THEN e.due_at ELSE %s END,
                step_entered_at = CASE WHEN m.same THEN e.step_entered_at ELSE %s END
            FROM hit, unnest(%s::text[], %s::bool[]) AS m(step, same)
            WHERE e.id = hit.id AND e.step = m.step
            """,
            [journey.id, from_version.id, keys, target.id, now, now, keys, same],
        )
        moved = cursor.rowcount
    if moved:
        queue_run_due()
    _audit(
        "migrate", journey, actor_label, fromVersion=from_version.number,
        toVersion=target.number, moved=moved,
    )  # fmt: skip
    return moved


@transaction.atomic
def staff_task_complete(*, task: StaffTask, actor_label: str, dismiss: bool = False) -> StaffTask:
    """Mark an OPEN task DONE (or DISMISSED)."""
    locked = StaffTask.objects.select_for_update().get(pk=task.pk)
    if locked.status != StaffTaskStatus.OPEN:
        raise JourneyStateError(f"This task is {locked.status} already.")
    locked.status = StaffTaskStatus.DISMISSED if dismiss else StaffTaskStatus.DONE
    locked.done_at = timezone.now()
    locked.done_by = actor_label
    locked.save(update_fields=["status", "done_at", "done_by"])
    audit_record(
        action="journey.staff_task_dismissed" if dismiss else "journey.staff_task_done",
        actor_label=actor_label, object_type="staff_task", object_id=str(locked.id),
        details={"title": locked.title, "customerId": str(locked.customer_id)},
    )  # fmt: skip
    return locked


__all__ = [
    "EnrolResult",
    "JourneyInput",
    "JourneyStateError",
    "enrolment_exit",
    "journey_archive",
    "journey_create",
    "journey_delete",
    "journey_enrol",
    "journey_migrate",
    "journey_pause",
    "journey_publish",
    "journey_resume",
    "journey_update",
    "staff_task_complete",
]


@transaction.atomic
def journey_template_copy(
    *, key: str, name: str, description: str | None = None, actor_label: str = ""
) -> Journey:
    """Copy a template into a new DRAFT journey called `name`; makes the segments it needs
    that the club does not have yet (through segments' own service, so they refresh).

    It composes `segment_create` and `journey_create`, which check and audit everything
    themselves. Raises ValidationError keyed by `key` for an
    unknown template, and `journey_create`'s errors (e.g. on `name`) as they are.
    """
    from segments.presets import TEMPLATES as SEGMENT_TEMPLATES
    from segments.services import segment_create

    template = journey_template_get(key=key)
    if template is None:
        raise ValidationError({"key": ["No journey template has this key."]})
    segment_ids = club_template_segments()
    for slot in template["segments"]:
        segment_key = slot["segmentTemplate"]
        if segment_key in segment_ids:
            continue
        rules = next(t["rules"] for t in SEGMENT_TEMPLATES if t["key"] == segment_key)
        segment_name, n = slot["name"], 1
        while Segment.objects.filter(name__iexact=segment_name).exists():
            n += 1
            segment_name = f"{slot['name']} {n}"
        segment = segment_create(
            name=segment_name,
            rules=copy.deepcopy(rules),
            description=slot["description"],
            template_key=segment_key,
            actor_label=actor_label,
        )
        segment_ids[segment_key] = segment.id
    return journey_create(
        data=JourneyInput(
            name=name,
            description=template["description"] if description is None else description,
            definition=template_definition(template=template, segment_ids=segment_ids),
            template_key=key,
        ),
        actor_label=actor_label,
    )


def journeys_customer_erase(customer: Any, identifiers: dict[str, set[str]]) -> None:
    """Erasure hook (profiles/erasure.py): what journeys hold about an erased person goes with
    them. Their enrolments lose the trigger's details (an event's payload names and addresses
    them) and live ones end now, logged EXITED so the step counts stay true; open staff tasks
    about them are dismissed; webhooks not yet delivered are dropped (their bodies carry the
    person's ids)."""
    now = timezone.now()
    Enrolment.objects.filter(customer=customer).exclude(context={}).update(context={})
    # At most one live enrolment per journey (a unique index), so this loop is over journeys.
    live = Enrolment.objects.filter(customer=customer, status__in=LIVE_STATUSES)
    for enrolment_id, journey_id in live.values_list("id", "journey_id"):
        _exit_live(journey_id=journey_id, reason="customer erased", enrolment_id=enrolment_id)
    StaffTask.objects.filter(customer=customer, status=StaffTaskStatus.OPEN).update(
        status=StaffTaskStatus.DISMISSED, done_at=now, done_by="erasure", body=""
    )
    # A task's title names the person ("Call Aoife Byrne"); a step's log may hold the values
    # it read; a delivered webhook's body carried their ids.
    StaffTask.objects.filter(customer=customer).update(title="(erased)", body="")
    EnrolmentEvent.objects.filter(enrolment__customer=customer).exclude(detail={}).update(detail={})
    WebhookDelivery.objects.filter(
        enrolment__customer=customer, status=WebhookStatus.PENDING
    ).delete()
    WebhookDelivery.objects.filter(enrolment__customer=customer).update(body={}, last_error="")
    # After-the-round survey answers: the score stays for the club's NPS, the words go.
    from journeys.models import RoundSurveyAnswer

    RoundSurveyAnswer.objects.filter(customer=customer).update(comment="")
