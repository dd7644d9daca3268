"""Journeys in GraphQL: the same objects and names as REST (journeys/api), camelCase."""

from __future__ import annotations

import graphene
from django.db.models import Prefetch
from graphene.types.generic import GenericScalar
from graphene_django import DjangoObjectType
from graphql import GraphQLError

from crm.api.pagination import DEFAULT_TAKE, MAX_TAKE
from journeys.models import Enrolment, EnrolmentEvent, Journey, JourneyVersion, StaffTask
from journeys.selectors import enrolment_events, journey_enrolments, journey_stats, journey_versions
from profiles.graphql.loaders import customers_seen


class JourneyVersionType(DjangoObjectType):
    """A published, never-changed definition; customers finish the version they started."""

    definition = GenericScalar(required=True)
    current = graphene.Boolean(required=True, description="New enrolments start on it.")

    class Meta:
        model = JourneyVersion
        name = "JourneyVersion"
        fields = ("number", "published_at", "published_by")

    @staticmethod
    def resolve_current(root: JourneyVersion, info) -> bool:
        return root.journey.published_version_id == root.pk


class JourneyStepStats(graphene.ObjectType):
    key = graphene.String(required=True)
    type = graphene.String(required=True)
    label = graphene.String(required=True)
    entered = graphene.Int(required=True)
    waiting = graphene.Int(required=True, description="Live enrolments at the step now.")
    completed = graphene.Int(required=True)
    exited = graphene.Int(required=True)
    converted = graphene.Int(required=True)
    branches = GenericScalar(required=True, description="How many left by each branch.")


class JourneyStats(graphene.ObjectType):
    """Totals and per-step counts, as REST's `journeys/<id>/stats`."""

    version = graphene.Int()
    enrolled = graphene.Int(required=True)
    live = graphene.Int(required=True)
    completed = graphene.Int(required=True)
    converted = graphene.Int(required=True)
    exited = graphene.Int(required=True)
    failed = graphene.Int(required=True)
    conversion_rate = graphene.Float(description="converted / enrolled; null with none.")
    steps = graphene.List(graphene.NonNull(JourneyStepStats), required=True)

    @classmethod
    def of(cls, stats: dict) -> JourneyStats:
        return cls(
            version=stats["version"],
            enrolled=stats["enrolled"],
            live=stats["live"],
            completed=stats["completed"],
            converted=stats["converted"],
            exited=stats["exited"],
            failed=stats["failed"],
            conversion_rate=stats["conversionRate"],
            steps=[JourneyStepStats(**step) for step in stats["steps"]],
        )


class EnrolmentEventType(graphene.ObjectType):
    version = graphene.Int(required=True)
    step = graphene.String(required=True)
    kind = graphene.String(required=True)
    branch = graphene.String(required=True)
    detail = GenericScalar()
    at = graphene.DateTime(required=True)


class EnrolmentType(DjangoObjectType):
    """One customer's walk through one version of a journey."""

    version = graphene.Int(required=True)
    context = GenericScalar()
    events = graphene.List(graphene.NonNull(EnrolmentEventType), required=True)

    class Meta:
        model = Enrolment
        name = "Enrolment"
        fields = (
            "id", "journey", "customer", "status", "step", "due_at", "source", "entry_key",
            "entered_at", "step_entered_at", "finished_at", "exit_reason", "attempts",
            "last_error",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_version(root: Enrolment, info) -> int:
        return root.version.number

    @staticmethod
    def resolve_events(root: Enrolment, info) -> list[EnrolmentEventType]:
        return [
            EnrolmentEventType(
                version=e.version.number, step=e.step, kind=e.kind, branch=e.branch,
                detail=e.detail, at=e.at,
            )
            for e in _events_of(root)
        ]  # fmt: skip


def _events_of(enrolment: Enrolment) -> list[EnrolmentEvent]:
    """Its log: prefetched for a page of enrolments (one query for the page), else read."""
    cache = getattr(enrolment, "_prefetched_objects_cache", {})
    if "events" in cache:
        return list(cache["events"])
    return list(enrolment_events(enrolment=enrolment).select_related("version"))


class EnrolmentList(graphene.ObjectType):
    """A page of enrolments, with the same meta as the REST list."""

    items = graphene.List(graphene.NonNull(EnrolmentType), required=True)
    total = graphene.Int(required=True)
    skip = graphene.Int(required=True)
    take = graphene.Int(required=True)
    has_more = graphene.Boolean(required=True)


def enrolment_page(info, queryset, skip: int, take: int) -> EnrolmentList:
    skip = max(skip, 0)
    take = min(max(take, 1), MAX_TAKE)
    total = queryset.count()
    log = EnrolmentEvent.objects.select_related("version").order_by("at", "id")
    items = list(queryset.prefetch_related(Prefetch("events", queryset=log))[skip : skip + take])
    customers_seen(info, [e.customer for e in items])
    return EnrolmentList(
        items=items, total=total, skip=skip, take=take, has_more=skip + len(items) < total
    )


class JourneyType(DjangoObjectType):
    """A journey (journeys/definition.py): what staff edit (`definition`, the draft) and what
    runs (`publishedVersion`)."""

    definition = GenericScalar(required=True, description="The draft.")
    published_version = graphene.Field(JourneyVersionType)
    has_unpublished_changes = graphene.Boolean(required=True)
    versions = graphene.List(graphene.NonNull(JourneyVersionType), required=True)
    stats = graphene.Field(
        JourneyStats,
        required=True,
        version=graphene.Int(description="One version's numbers; all versions when left out."),
    )
    enrolments = graphene.Field(
        EnrolmentList,
        required=True,
        status=graphene.String(),
        step=graphene.String(),
        skip=graphene.Int(default_value=0),
        take=graphene.Int(default_value=DEFAULT_TAKE),
    )

    class Meta:
        model = Journey
        name = "Journey"
        fields = (
            "id", "name", "description", "status", "trigger_type", "trigger_event_type",
            "trigger_segment_id", "template_key", "created_by", "created_at", "updated_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_has_unpublished_changes(root: Journey, info) -> bool:
        version = root.published_version
        return version is None or version.definition != root.definition

    @staticmethod
    def resolve_versions(root: Journey, info):
        return journey_versions(journey=root)

    @staticmethod
    def resolve_stats(root: Journey, info, version: int | None = None) -> JourneyStats:
        chosen = None
        if version is not None:
            chosen = journey_versions(journey=root).filter(number=version).first()
            if chosen is None:
                raise GraphQLError(
                    f"This journey has no version {version}.", extensions={"code": "not_found"}
                )
        return JourneyStats.of(journey_stats(journey=root, version=chosen))

    @staticmethod
    def resolve_enrolments(root: Journey, info, skip: int, take: int, status=None, step=None):
        queryset = journey_enrolments(journey=root, status=status, step=step)
        return enrolment_page(info, queryset, skip, take)


class StaffTaskType(DjangoObjectType):
    """A task for staff from a journey's notify step: "call this member"."""

    class Meta:
        model = StaffTask
        name = "StaffTask"
        fields = (
            "id", "customer", "journey", "enrolment", "step", "title", "body", "assigned_to",
            "status", "created_at", "done_at", "done_by",
        )  # fmt: skip
        convert_choices_to_enum = False


class JourneyTemplateSegment(graphene.ObjectType):
    path = graphene.String(required=True)
    segment_template = graphene.String(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    segment_id = graphene.UUID(description="The club's segment for it; null: copying makes one.")


class JourneyTemplate(graphene.ObjectType):
    """A ready-made golf journey (journeys/presets.py) to copy and edit."""

    key = graphene.String(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    segments = graphene.List(graphene.NonNull(JourneyTemplateSegment), required=True)
    definition = GenericScalar(required=True)

    @classmethod
    def of(cls, template: dict) -> JourneyTemplate:
        return cls(
            key=template["key"],
            name=template["name"],
            description=template["description"],
            segments=[
                JourneyTemplateSegment(
                    path=s["path"],
                    segment_template=s["segmentTemplate"],
                    name=s["name"],
                    description=s["description"],
                    segment_id=s["segmentId"],
                )
                for s in template["segments"]
            ],
            definition=template["definition"],
        )
