"""Journey endpoints (journeys.md): journeys and their versions, enrolments, stats, the
ready-made templates, staff tasks and the definition's JSON Schema. Thin: validate, call a
service or selector.

Reads need `crm:read`; writes `crm:campaigns` (staff: MARKETING or ADMIN), except completing a
staff task, which any staff member may do (they make the calls) and keys with `crm:write` or
`crm:campaigns`. Bad input is a 400 naming each path (`definition.steps.wait.duration.days`);
a change the journey's state forbids is `409 invalid_state` with the reason. Enrolling by API
key records the enrolments' source as API, by a staff session as MANUAL.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.accounts.scopes import NOTES, Scope
from crm.api.authentication import ServicePrincipal
from crm.api.errors import error_response
from crm.api.pagination import DEFAULT_TAKE, MAX_TAKE
from crm.api.views import TenantAPIView
from journeys.api.serializers import (
    EnrolInputSerializer,
    EnrolmentDetailOutputSerializer,
    EnrolmentExitInputSerializer,
    EnrolmentListFilterSerializer,
    EnrolmentOutputSerializer,
    EnrolResultOutputSerializer,
    JourneyCreateInputSerializer,
    JourneyListFilterSerializer,
    JourneyOutputSerializer,
    JourneyStatsOutputSerializer,
    JourneyTemplateOutputSerializer,
    JourneyUpdateInputSerializer,
    JourneyVersionOutputSerializer,
    MigrateInputSerializer,
    StaffTaskCompleteInputSerializer,
    StaffTaskFilterSerializer,
    StaffTaskOutputSerializer,
    StatsFilterSerializer,
    TemplateCopyInputSerializer,
    journey_input_checked,
)
from journeys.models import EnrolmentSource, Journey
from journeys.presets import journey_templates
from journeys.schema import journey_json_schema
from journeys.selectors import (
    customer_enrolments,
    enrolment_get,
    journey_enrolments,
    journey_get,
    journey_list,
    journey_stats,
    journey_version_get,
    journey_versions,
    staff_task_get,
    staff_tasks,
)
from journeys.services import (
    JourneyStateError,
    enrolment_exit,
    journey_archive,
    journey_create,
    journey_delete,
    journey_enrol,
    journey_migrate,
    journey_pause,
    journey_publish,
    journey_resume,
    journey_template_copy,
    journey_update,
    staff_task_complete,
)
from profiles.api.views import CustomerView

# --- the OpenAPI document: api.md's envelopes around each shape ---------------------------------

PAGE_PARAMETERS = [
    OpenApiParameter("skip", int, description="Rows to skip (default 0)."),
    OpenApiParameter(
        "take", int, description=f"Rows to return (default {DEFAULT_TAKE}, at most {MAX_TAKE})."
    ),
]


class _PageMetaSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    skip = serializers.IntegerField()
    take = serializers.IntegerField()
    hasMore = serializers.BooleanField()


def _page(name: str, item) -> serializers.Serializer:
    """`{"data": [item, …], "meta": {…}}`."""
    return inline_serializer(
        f"{name}Page", {"data": item(many=True), "meta": _PageMetaSerializer()}
    )


def _one(name: str, item) -> serializers.Serializer:
    """`{"data": item}`."""
    return inline_serializer(f"{name}Response", {"data": item()})


JOURNEY = _one("Journey", JourneyOutputSerializer)
JOURNEY_PAGE = _page("Journey", JourneyOutputSerializer)
VERSION_PAGE = _page("JourneyVersion", JourneyVersionOutputSerializer)
ENROLMENT = _one("Enrolment", EnrolmentDetailOutputSerializer)
ENROLMENT_PAGE = _page("Enrolment", EnrolmentOutputSerializer)
ENROL_RESULT = _one("EnrolResult", EnrolResultOutputSerializer)
STATS = _one("JourneyStats", JourneyStatsOutputSerializer)
TEMPLATES = inline_serializer(
    "JourneyTemplatesResponse", {"data": JourneyTemplateOutputSerializer(many=True)}
)
STAFF_TASK = _one("StaffTask", StaffTaskOutputSerializer)
STAFF_TASK_PAGE = _page("StaffTask", StaffTaskOutputSerializer)
MIGRATED = inline_serializer(
    "JourneyMigrateResponse",
    {"data": inline_serializer("JourneyMigrated", {"migrated": serializers.IntegerField()})},
)


def _refused(exc: JourneyStateError):
    return error_response(409, "invalid_state", str(exc))


def _query(serializer_class, request: Request) -> dict:
    """Validated query parameters (a bad filter is a 400 naming it, not an empty list)."""
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


class JourneyView(TenantAPIView):
    """A journey of this club: the draft staff edit (`definition`) and what runs
    (`publishedVersion`). Writes need `crm:campaigns`."""

    write_scope = Scope.CAMPAIGNS.value

    def get_journey(self, journey_id: str) -> Journey:
        journey = journey_get(journey_id=journey_id)
        if journey is None:
            raise exceptions.NotFound("No journey with this id in this club.")
        return journey

    def respond_journey(self, journey: Journey, status: int = 200) -> Response:
        fresh = journey_get(journey_id=journey.id)
        return self.respond_object(fresh, JourneyOutputSerializer, status)


class JourneyListView(JourneyView):
    """The club's journeys by name (`status` narrows them); POST creates a DRAFT."""

    @extend_schema(
        operation_id="journeys_list",
        parameters=[JourneyListFilterSerializer, *PAGE_PARAMETERS],
        responses=JOURNEY_PAGE,
    )
    def get(self, request: Request) -> Response:
        filters = _query(JourneyListFilterSerializer, request)
        return self.paginate(
            request, journey_list(status=filters.get("status")), JourneyOutputSerializer
        )

    @extend_schema(
        operation_id="journeys_create",
        request=JourneyCreateInputSerializer,
        responses={201: JOURNEY},
    )
    def post(self, request: Request) -> Response:
        data = journey_input_checked(request.data, creating=True)
        journey = journey_create(data=data, actor_label=self.actor_label())
        return self.respond_journey(journey, status=201)


class JourneyDetailView(JourneyView):
    """One journey. PATCH edits the draft (never a published version; refused once
    ARCHIVED); DELETE only a DRAFT never published (otherwise archive it)."""

    @extend_schema(operation_id="journeys_retrieve", responses=JOURNEY)
    def get(self, request: Request, journey_id: str) -> Response:
        return self.respond_object(self.get_journey(journey_id), JourneyOutputSerializer)

    @extend_schema(
        operation_id="journeys_update",
        request=JourneyUpdateInputSerializer,
        responses=JOURNEY,
    )
    def patch(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        data = journey_input_checked(request.data, creating=False)
        try:
            updated = journey_update(
                journey=journey,
                data=data,
                actor_label=self.actor_label(),
            )
        except JourneyStateError as exc:
            return _refused(exc)
        return self.respond_journey(updated)

    @extend_schema(operation_id="journeys_delete", responses={204: None})
    def delete(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        try:
            journey_delete(journey=journey, actor_label=self.actor_label())
        except JourneyStateError as exc:
            return _refused(exc)
        return Response(status=204)


class _JourneyActionView(JourneyView):
    service = staticmethod(journey_pause)

    @extend_schema(request=None, responses={200: JOURNEY})
    def post(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        try:
            type(self).service(journey=journey, actor_label=self.actor_label())
        except JourneyStateError as exc:
            return _refused(exc)
        return self.respond_journey(journey)


@extend_schema_view(post=extend_schema(operation_id="journeys_publish"))
class JourneyPublishView(_JourneyActionView):
    """Freeze the draft as the next version; new enrolments start on it (DRAFT → ACTIVE)."""

    service = staticmethod(journey_publish)


@extend_schema_view(post=extend_schema(operation_id="journeys_pause"))
class JourneyPauseView(_JourneyActionView):
    """ACTIVE → PAUSED: nobody enrols and no step runs until it is resumed."""

    service = staticmethod(journey_pause)


@extend_schema_view(post=extend_schema(operation_id="journeys_resume"))
class JourneyResumeView(_JourneyActionView):
    """PAUSED → ACTIVE; what happened while paused enrols nobody."""

    service = staticmethod(journey_resume)


@extend_schema_view(post=extend_schema(operation_id="journeys_archive"))
class JourneyArchiveView(_JourneyActionView):
    """Any state → ARCHIVED; customers still inside leave it ("journey archived")."""

    service = staticmethod(journey_archive)


class JourneyVersionsView(JourneyView):
    """Published versions, newest first; `current` is the one new enrolments start on."""

    @extend_schema(
        operation_id="journeys_versions", parameters=PAGE_PARAMETERS, responses=VERSION_PAGE
    )
    def get(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        return self.paginate(
            request, journey_versions(journey=journey), JourneyVersionOutputSerializer
        )


class JourneyEnrolView(JourneyView):
    """Enrol customers now (an ACTIVE journey only). Each is enrolled or skipped with the
    reason; the same `key` never enrols a customer twice."""

    @extend_schema(
        operation_id="journeys_enrol",
        request=EnrolInputSerializer,
        responses=ENROL_RESULT,
    )
    def post(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        body = EnrolInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        by_key = isinstance(request.user, ServicePrincipal)
        try:
            result = journey_enrol(
                journey=journey,
                customer_ids=data["customerIds"],
                key=data["key"],
                source=EnrolmentSource.API if by_key else EnrolmentSource.MANUAL,
                context=data["context"] or None,
                actor_label=self.actor_label(),
            )
        except JourneyStateError as exc:
            return _refused(exc)
        return self.respond(
            {
                "enrolled": [str(customer_id) for customer_id in result.enrolled],
                "skipped": [
                    {"customerId": str(customer_id), "reason": reason}
                    for customer_id, reason in result.skipped.items()
                ],
            }
        )


class JourneyEnrolmentsView(JourneyView):
    """The journey's enrolments, newest first (`status` and `step` narrow them)."""

    @extend_schema(
        operation_id="journeys_enrolments",
        parameters=[EnrolmentListFilterSerializer, *PAGE_PARAMETERS],
        responses=ENROLMENT_PAGE,
    )
    def get(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        filters = _query(EnrolmentListFilterSerializer, request)
        enrolments = journey_enrolments(
            journey=journey, status=filters.get("status"), step=filters.get("step")
        )
        return self.paginate(request, enrolments, EnrolmentOutputSerializer)


class JourneyStatsView(JourneyView):
    """Totals, conversion rate and per-step counts (entered, waiting, completed, exited,
    converted, and how many took each branch), over all versions or one (`version`)."""

    @extend_schema(
        operation_id="journeys_stats",
        parameters=[StatsFilterSerializer],
        responses=STATS,
    )
    def get(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        filters = _query(StatsFilterSerializer, request)
        version = None
        if "version" in filters:
            version = journey_version_get(journey=journey, number=filters["version"])
            if version is None:
                raise exceptions.ValidationError({"version": ["No such version of this journey."]})
        return self.respond(journey_stats(journey=journey, version=version))


class JourneyMigrateView(JourneyView):
    """Move customers still on an older version to the published one, at the step of the same
    key; those whose step is gone stay where they are."""

    @extend_schema(
        operation_id="journeys_migrate",
        request=MigrateInputSerializer,
        responses=MIGRATED,
    )
    def post(self, request: Request, journey_id: str) -> Response:
        journey = self.get_journey(journey_id)
        body = MigrateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = journey_version_get(journey=journey, number=body.validated_data["fromVersion"])
        if version is None:
            raise exceptions.ValidationError({"fromVersion": ["No such version of this journey."]})
        try:
            moved = journey_migrate(
                journey=journey, from_version=version, actor_label=self.actor_label()
            )
        except JourneyStateError as exc:
            return _refused(exc)
        return self.respond({"migrated": moved})


class JourneySchemaView(TenantAPIView):
    """The JSON Schema of a definition. The same for every club; served under each club's API
    beside the endpoints that take definitions."""

    unwrapped_response = True  # a bare JSON Schema document, for schema tooling

    @extend_schema(operation_id="journeys_schema", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(journey_json_schema())


class EnrolmentView(TenantAPIView):
    """One customer's walk through a journey."""

    write_scope = Scope.CAMPAIGNS.value

    def get_enrolment(self, enrolment_id: str):
        enrolment = enrolment_get(enrolment_id=enrolment_id)
        if enrolment is None:
            raise exceptions.NotFound("No enrolment with this id in this club.")
        return enrolment


class EnrolmentDetailView(EnrolmentView):
    """An enrolment with its log of steps."""

    @extend_schema(operation_id="enrolments_retrieve", responses=ENROLMENT)
    def get(self, request: Request, enrolment_id: str) -> Response:
        return self.respond_object(
            self.get_enrolment(enrolment_id), EnrolmentDetailOutputSerializer
        )


class EnrolmentExitView(EnrolmentView):
    """Take the customer out of the journey now (a live enrolment only)."""

    @extend_schema(
        operation_id="enrolments_exit",
        request=EnrolmentExitInputSerializer,
        responses=ENROLMENT,
    )
    def post(self, request: Request, enrolment_id: str) -> Response:
        enrolment = self.get_enrolment(enrolment_id)
        body = EnrolmentExitInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            enrolment_exit(
                enrolment=enrolment,
                reason=body.validated_data["reason"],
                actor_label=self.actor_label(),
            )
        except JourneyStateError as exc:
            return _refused(exc)
        return self.respond_object(
            enrolment_get(enrolment_id=enrolment.id), EnrolmentDetailOutputSerializer
        )


class CustomerJourneysView(CustomerView):
    """The journeys a customer is or was in (a merged-away id answers with the winner's)."""

    @extend_schema(
        operation_id="customers_journeys", parameters=PAGE_PARAMETERS, responses=ENROLMENT_PAGE
    )
    def get(self, request: Request, customer_id: str) -> Response:
        customer = self.get_customer(customer_id)
        return self.paginate(
            request, customer_enrolments(customer=customer), EnrolmentOutputSerializer
        )


class JourneyTemplatesView(TenantAPIView):
    """The ready-made golf journeys to copy; `segments` lists the segments a template
    needs and the club's own for each (null: copying makes it)."""

    @extend_schema(operation_id="journey_templates_list", responses=TEMPLATES)
    def get(self, request: Request) -> Response:
        return self.respond(journey_templates())


class JourneyTemplateCopyView(JourneyView):
    """Copy a ready-made journey into a new DRAFT called `name`."""

    @extend_schema(
        operation_id="journey_templates_copy",
        request=TemplateCopyInputSerializer,
        responses={201: JOURNEY},
    )
    def post(self, request: Request, key: str) -> Response:
        body = TemplateCopyInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            journey = journey_template_copy(
                key=key,
                name=body.validated_data["name"],
                description=body.validated_data.get("description"),
                actor_label=self.actor_label(),
            )
        except DjangoValidationError as exc:
            if getattr(exc, "error_dict", {}).keys() == {"key"}:
                raise exceptions.NotFound("No journey template has this key.") from None
            raise
        return self.respond_journey(journey, status=201)


class StaffTaskView(TenantAPIView):
    """A task a journey's notify step made for staff."""

    # Staff make the calls, so any staff role closes a task (crm:notes); keys need a write scope.
    write_scope = (Scope.CAMPAIGNS.value, Scope.WRITE.value, NOTES)


class StaffTasksView(StaffTaskView):
    """Tasks journeys made for staff ("call this member"), OPEN ones unless `status` says
    otherwise."""

    @extend_schema(
        operation_id="staff_tasks_list",
        parameters=[StaffTaskFilterSerializer, *PAGE_PARAMETERS],
        responses=STAFF_TASK_PAGE,
    )
    def get(self, request: Request) -> Response:
        filters = _query(StaffTaskFilterSerializer, request)
        journey = None
        if filters.get("journey"):
            journey = journey_get(journey_id=filters["journey"])
            if journey is None:
                raise exceptions.ValidationError({"journey": ["No journey with this id."]})
        tasks = staff_tasks(
            status=None if filters["status"] == "ALL" else filters["status"],
            journey=journey,
            assigned_to=filters.get("assignedTo"),
        )
        return self.paginate(request, tasks, StaffTaskOutputSerializer)


class StaffTaskCompleteView(StaffTaskView):
    """Mark a task DONE (or DISMISSED with `dismiss`)."""

    @extend_schema(
        operation_id="staff_tasks_complete",
        request=StaffTaskCompleteInputSerializer,
        responses=STAFF_TASK,
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = staff_task_get(task_id=task_id)
        if task is None:
            raise exceptions.NotFound("No staff task with this id in this club.")
        body = StaffTaskCompleteInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            staff_task_complete(
                task=task, actor_label=self.actor_label(), dismiss=body.validated_data["dismiss"]
            )
        except JourneyStateError as exc:
            return _refused(exc)
        return self.respond_object(staff_task_get(task_id=task.id), StaffTaskOutputSerializer)
