"""Writes on journeys: the scope `crm:campaigns` (closing a staff task: any staff role, or a
key with `crm:write`), then the service REST calls. Bad input comes back in `errors`, each
naming its field or definition path (`definition.steps.wait.duration.days`); a change the
journey's state forbids has code `invalid_state` and says why."""

from __future__ import annotations

from typing import ClassVar

import graphene
from graphene.types.generic import GenericScalar

from crm.accounts.scopes import NOTES, Scope
from crm.api.authentication import ServicePrincipal
from crm.graphql.errors import MutationError, refuse
from crm.graphql.inputs import input_body
from crm.graphql.mutations import BaseMutation, Refused
from crm.graphql.permissions import actor_label
from journeys.api.serializers import journey_input_checked
from journeys.graphql.types import EnrolmentType, JourneyType, StaffTaskType
from journeys.models import EnrolmentSource
from journeys.selectors import (
    enrolment_get,
    journey_get,
    journey_version_get,
    staff_task_get,
)
from journeys.services import (
    JourneyInput,
    JourneyStateError,
    enrolment_exit,
    journey_archive,
    journey_create,
    journey_enrol,
    journey_migrate,
    journey_pause,
    journey_publish,
    journey_resume,
    journey_template_copy,
    journey_update,
    staff_task_complete,
)


def _not_found(what: str = "journey") -> MutationError:
    return MutationError(
        field="id", message=f"No {what} with this id in this club.", code="not_found"
    )


class _JourneyMutation(BaseMutation):
    class Meta:
        abstract = True

    scopes: ClassVar[tuple[str, ...]] = (Scope.CAMPAIGNS,)
    state_errors = (JourneyStateError,)


class JourneyPayload:
    journey = graphene.Field(JourneyType)


class JourneyInputType(graphene.InputObjectType):
    """A journey's fields, as REST's journey body (journeys.md). Every field is optional:
    creating needs `name`; an update changes only the fields given."""

    class Meta:
        name = "JourneyInput"

    name = graphene.String(
        description="What staff call it: unique in the club, up to 200 characters. Required "
        "when creating."
    )
    description = graphene.String(description="A note for staff.")
    # Free-form on purpose: a graph whose steps are keyed by the club's own step names.
    definition = GenericScalar(
        description="The draft as JSON: trigger, start and steps (GET "
        "api/v1/journeys/schema has its JSON Schema). Checked in full; each part at fault "
        "is named by its path (steps.wait.duration.days). Not given when creating: a manual "
        "trigger and one end step."
    )
    template_key = graphene.String(
        description="The ready-made journey it was copied from (journeyTemplates); only when "
        "creating, up to 64 characters."
    )


def _journey_input(input: JourneyInputType, *, creating: bool) -> JourneyInput:
    """The typed input read back as REST's body and checked by REST's create or update
    serializer (a refusal names the field), then the service's input."""
    return journey_input_checked(input_body(input), creating=creating)


class CreateJourney(JourneyPayload, _JourneyMutation):
    """Create a DRAFT journey from REST's journey fields; `name` is required. Without a
    definition it starts from an empty one."""

    class Arguments:
        input = JourneyInputType(required=True)

    @classmethod
    def perform(cls, root, info, input):
        data = _journey_input(input, creating=True)
        journey = journey_create(data=data, actor_label=actor_label(info))
        return cls(journey=journey_get(journey_id=journey.id), errors=[])


class UpdateJourney(JourneyPayload, _JourneyMutation):
    """Change name, description or the draft definition (never a published version): only
    the fields `input` gives. An id not of this club is `not_found`."""

    class Arguments:
        id = graphene.UUID(required=True)
        input = JourneyInputType(required=True)

    @classmethod
    def perform(cls, root, info, id, input):
        journey = journey_get(journey_id=id)
        if journey is None:
            raise Refused(_not_found())
        data = _journey_input(input, creating=False)
        journey_update(journey=journey, data=data, actor_label=actor_label(info))
        return cls(journey=journey_get(journey_id=journey.id), errors=[])


def _state_mutation(name: str, action, doc: str) -> type[BaseMutation]:
    class Arguments:
        id = graphene.UUID(required=True)

    def perform(cls, root, info, id):
        journey = journey_get(journey_id=id)
        if journey is None:
            raise Refused(_not_found())
        action(journey=journey, actor_label=actor_label(info))
        return cls(journey=journey_get(journey_id=journey.id), errors=[])

    return type(
        name,
        (JourneyPayload, _JourneyMutation),
        {"__doc__": doc, "Arguments": Arguments, "perform": classmethod(perform)},
    )


PublishJourney = _state_mutation(
    "PublishJourney",
    journey_publish,
    "Freeze the draft as the next version; new enrolments start on it (DRAFT → ACTIVE).",
)
PauseJourney = _state_mutation(
    "PauseJourney", journey_pause, "ACTIVE → PAUSED: nobody enrols, no step runs."
)
ResumeJourney = _state_mutation("ResumeJourney", journey_resume, "PAUSED → ACTIVE.")
ArchiveJourney = _state_mutation(
    "ArchiveJourney", journey_archive, "Any state → ARCHIVED; customers inside leave it."
)


class EnrolSkip(graphene.ObjectType):
    customer_id = graphene.UUID(required=True)
    reason = graphene.String(required=True)


class EnrolInJourney(_JourneyMutation):
    """Enrol customers by hand or by API (an ACTIVE journey only); each one not enrolled is
    listed with the reason. The same `key` never enrols a customer twice."""

    class Arguments:
        id = graphene.UUID(required=True)
        customer_ids = graphene.List(graphene.NonNull(graphene.UUID), required=True)
        key = graphene.String(default_value="")
        context = GenericScalar()

    enrolled = graphene.List(graphene.NonNull(graphene.UUID), required=True)
    skipped = graphene.List(graphene.NonNull(EnrolSkip), required=True)

    @classmethod
    def refuse(cls, info, errors):
        return cls(enrolled=[], skipped=[], errors=refuse(info, errors))

    @classmethod
    def perform(cls, root, info, id, customer_ids, key, context=None):
        journey = journey_get(journey_id=id)
        if journey is None:
            raise Refused(_not_found())
        problems = []
        if not 1 <= len(customer_ids) <= 1000:
            problems.append(MutationError(field="customerIds", message="Give 1 to 1,000 ids.",
                                          code="invalid"))  # fmt: skip
        if len(key) > 64:
            problems.append(MutationError(field="key", message="At most 64 characters.",
                                          code="invalid"))  # fmt: skip
        if context is not None and not isinstance(context, dict):
            problems.append(MutationError(field="context", message="Give an object.",
                                          code="invalid"))  # fmt: skip
        if problems:
            raise Refused(*problems)
        by_key = isinstance(info.context.user, ServicePrincipal)
        result = journey_enrol(
            journey=journey,
            customer_ids=list(customer_ids),
            key=key,
            source=EnrolmentSource.API if by_key else EnrolmentSource.MANUAL,
            context=context or None,
            actor_label=actor_label(info),
        )
        return cls(
            enrolled=list(result.enrolled),
            skipped=[EnrolSkip(customer_id=c, reason=r) for c, r in result.skipped.items()],
            errors=[],
        )


class MigrateJourney(JourneyPayload, _JourneyMutation):
    """Move customers still on `fromVersion` to the published version, at the step of the same
    key (those whose step is gone stay)."""

    class Arguments:
        id = graphene.UUID(required=True)
        from_version = graphene.Int(required=True)

    migrated = graphene.Int()

    @classmethod
    def perform(cls, root, info, id, from_version):
        journey = journey_get(journey_id=id)
        if journey is None:
            raise Refused(_not_found())
        version = journey_version_get(journey=journey, number=from_version)
        if version is None:
            raise Refused(MutationError(
                field="fromVersion", message="No such version of this journey.", code="invalid",
            ))  # fmt: skip
        moved = journey_migrate(
            journey=journey, from_version=version, actor_label=actor_label(info)
        )
        return cls(journey=journey_get(journey_id=journey.id), migrated=moved, errors=[])


class CopyJourneyTemplate(JourneyPayload, _JourneyMutation):
    """Copy a ready-made journey into a new DRAFT (making the segments it needs)."""

    class Arguments:
        key = graphene.String(required=True)
        name = graphene.String(required=True)
        description = graphene.String()

    @classmethod
    def perform(cls, root, info, key, name, description=None):
        journey = journey_template_copy(
            key=key, name=name, description=description, actor_label=actor_label(info)
        )
        return cls(journey=journey_get(journey_id=journey.id), errors=[])


class ExitEnrolment(_JourneyMutation):
    """Take a customer out of a journey now."""

    class Arguments:
        id = graphene.UUID(required=True)
        reason = graphene.String(default_value="exited by staff")

    enrolment = graphene.Field(EnrolmentType)

    @classmethod
    def perform(cls, root, info, id, reason):
        enrolment = enrolment_get(enrolment_id=id)
        if enrolment is None:
            raise Refused(_not_found("enrolment"))
        if not reason.strip() or len(reason) > 200:
            raise Refused(MutationError(
                field="reason", message="Give a reason of 1-200 characters.", code="invalid",
            ))  # fmt: skip
        enrolment_exit(enrolment=enrolment, reason=reason, actor_label=actor_label(info))
        return cls(enrolment=enrolment_get(enrolment_id=enrolment.id), errors=[])


class CompleteStaffTask(_JourneyMutation):
    """Mark a staff task done (or `dismiss` it)."""

    scopes = (Scope.CAMPAIGNS, Scope.WRITE, NOTES)

    class Arguments:
        id = graphene.UUID(required=True)
        dismiss = graphene.Boolean(default_value=False)

    task = graphene.Field(StaffTaskType)

    @classmethod
    def perform(cls, root, info, id, dismiss):
        task = staff_task_get(task_id=id)
        if task is None:
            raise Refused(_not_found("staff task"))
        staff_task_complete(task=task, actor_label=actor_label(info), dismiss=dismiss)
        return cls(task=staff_task_get(task_id=task.id), errors=[])
