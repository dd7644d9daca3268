from __future__ import annotations

import graphene

from crm.graphql.permissions import require_scope
from journeys.graphql.mutations import (
    ArchiveJourney,
    CompleteStaffTask,
    CopyJourneyTemplate,
    CreateJourney,
    EnrolInJourney,
    ExitEnrolment,
    MigrateJourney,
    PauseJourney,
    PublishJourney,
    ResumeJourney,
    UpdateJourney,
)
from journeys.graphql.types import EnrolmentType, JourneyTemplate, JourneyType, StaffTaskType
from journeys.presets import journey_templates
from journeys.selectors import enrolment_get, journey_get, journey_list, staff_tasks
from profiles.graphql.loaders import customers_seen


class Query(graphene.ObjectType):
    journeys = graphene.List(
        graphene.NonNull(JourneyType),
        required=True,
        status=graphene.String(description="DRAFT, ACTIVE, PAUSED or ARCHIVED."),
    )
    journey = graphene.Field(JourneyType, id=graphene.UUID(required=True))
    enrolment = graphene.Field(EnrolmentType, id=graphene.UUID(required=True))
    journey_templates = graphene.List(graphene.NonNull(JourneyTemplate), required=True)
    staff_tasks = graphene.List(
        graphene.NonNull(StaffTaskType),
        required=True,
        status=graphene.String(
            default_value="OPEN", description="OPEN, DONE, DISMISSED, or ALL for every one."
        ),
        take=graphene.Int(default_value=100, description="At most 500."),
    )

    @staticmethod
    def resolve_journeys(root, info, status=None):
        require_scope(info, "crm:read")
        return journey_list(status=status)

    @staticmethod
    def resolve_journey(root, info, id):
        require_scope(info, "crm:read")
        return journey_get(journey_id=id)

    @staticmethod
    def resolve_enrolment(root, info, id):
        require_scope(info, "crm:read")
        enrolment = enrolment_get(enrolment_id=id)
        if enrolment is not None:
            customers_seen(info, [enrolment.customer])
        return enrolment

    @staticmethod
    def resolve_journey_templates(root, info):
        require_scope(info, "crm:read")
        return [JourneyTemplate.of(template) for template in journey_templates()]

    @staticmethod
    def resolve_staff_tasks(root, info, status, take):
        require_scope(info, "crm:read")
        tasks = list(
            staff_tasks(status=None if status == "ALL" else status)[: min(max(take, 1), 500)]
        )
        customers_seen(info, [task.customer for task in tasks])
        return tasks


class Mutation(graphene.ObjectType):
    journey_create = CreateJourney.Field()
    journey_update = UpdateJourney.Field()
    journey_publish = PublishJourney.Field()
    journey_pause = PauseJourney.Field()
    journey_resume = ResumeJourney.Field()
    journey_archive = ArchiveJourney.Field()
    journey_enrol = EnrolInJourney.Field()
    journey_migrate = MigrateJourney.Field()
    journey_template_copy = CopyJourneyTemplate.Field()
    enrolment_exit = ExitEnrolment.Field()
    staff_task_complete = CompleteStaffTask.Field()
