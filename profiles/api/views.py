"""Customer and event endpoints of api.md. Thin: validate input, call a selector or service,
shape the output."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.authentication import (
    ApiKeyAuthentication,
    ServicePrincipal,
    SignedWebhookAuthentication,
)
from crm.api.errors import error_response
from crm.api.parsers import BatchJSONParser
from crm.api.views import TenantAPIView
from crm.tenants.selectors import tenant_of_request
from profiles.api.serializers import (
    ActivityFilterSerializer,
    ActivityOutputSerializer,
    CustomerFilterSerializer,
    CustomerOutputSerializer,
    MergeInputSerializer,
    NoteInputSerializer,
    NoteOutputSerializer,
    ResolveInputSerializer,
    TagsInputSerializer,
)
from profiles.ingestion import MAX_BATCH, events_ingest
from profiles.models import Customer, CustomerStatus
from profiles.selectors import (
    customer_activities,
    customer_get_current,
    customer_list,
    customer_notes,
    customer_resolve,
)
from profiles.services import (
    customer_erase,
    customer_export,
    customer_merge,
    customer_note_add,
    customer_tags_set,
    customer_unmerge,
)


def _actor(request: Request) -> str:
    user = request.user
    return str(user) if isinstance(user, ServicePrincipal) else getattr(user, "email", "staff")


def _django_errors(exc: DjangoValidationError) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        exc.message_dict if hasattr(exc, "message_dict") else exc.messages
    )


class CustomerView(TenantAPIView):
    """Base for `customers/<id>/…`: the customer, following a merge to the one it became."""

    def get_customer(self, customer_id: str, *, follow_merge: bool = True) -> Customer:
        asked, current = customer_get_current(customer_id=customer_id)
        # An erased person is gone under every id they had, merged-away ones included.
        if (
            asked is None
            or current is None
            or CustomerStatus.DELETED in (asked.status, current.status)
        ):
            raise exceptions.NotFound("No customer with this id in this club.")
        return current if follow_merge else asked


class CustomerListView(TenantAPIView):
    @extend_schema(
        operation_id="customers_list",
        parameters=[
            OpenApiParameter(name, str, description=description)
            for name, description in (
                ("email", "Exact email (case-insensitive)."),
                ("phoneNumber", "Phone as typed; read with the club's default country."),
                ("sclMemberId", "SCL member id."),
                ("teetimePlayerId", "TeeTime player id."),
                ("messagingContactId", "Messaging contact id."),
                ("q", "Search names, email, phone and source ids."),
                ("segment", "Segment id: its members as of the segment's last refresh."),
            )
        ],
        responses=CustomerOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = CustomerFilterSerializer(
            data=request.query_params, context={"tenant": tenant_of_request(request)}
        )
        filters.is_valid(raise_exception=True)
        return self.paginate(
            request, customer_list(filters=filters.to_filters()), CustomerOutputSerializer
        )


class CustomerDetailView(CustomerView):
    @extend_schema(operation_id="customers_retrieve", responses=CustomerOutputSerializer)
    def get(self, request: Request, customer_id: str) -> Response:
        asked = self.get_customer(customer_id, follow_merge=False)
        current = self.get_customer(customer_id)
        data = CustomerOutputSerializer(current, context=self.output_context()).data
        if asked.id != current.id:
            # A merged-away id keeps answering: the winner's data, under the id that was asked.
            data.update(id=str(asked.id), status=CustomerStatus.MERGED, mergedInto=str(current.id))
        return self.respond(data)


class CustomerResolveView(TenantAPIView):
    write_scope = "crm:read"  # a read, sent as POST so identifiers stay out of URLs and logs

    @extend_schema(
        operation_id="customers_resolve",
        request=ResolveInputSerializer,
        responses=CustomerOutputSerializer,
    )
    def post(self, request: Request) -> Response | JsonResponse:
        hints = ResolveInputSerializer(
            data=request.data, context={"tenant": tenant_of_request(request)}
        )
        hints.is_valid(raise_exception=True)
        matches = customer_resolve(hints=dict(hints.validated_data))
        if not matches:
            raise exceptions.NotFound("No customer matches these identifiers.")
        if len(matches) > 1:
            return error_response(
                409, "ambiguous", "These identifiers match more than one customer.",
                {"customerIds": [str(c.id) for c in matches]},
            )  # fmt: skip
        return self.respond_object(matches[0], CustomerOutputSerializer)


class CustomerActivitiesView(CustomerView):
    @extend_schema(
        operation_id="customers_activities",
        parameters=[OpenApiParameter("category", str)],
        responses=ActivityOutputSerializer(many=True),
    )
    def get(self, request: Request, customer_id: str) -> Response:
        customer = self.get_customer(customer_id)
        params = ActivityFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = customer_activities(
            customer=customer, category=params.validated_data.get("category")
        )
        return self.paginate(request, queryset, ActivityOutputSerializer)


class CustomerMergeView(CustomerView):
    write_scope = "crm:admin"

    @extend_schema(
        operation_id="customers_merge",
        request=MergeInputSerializer,
        responses=CustomerOutputSerializer,
    )
    def post(self, request: Request, customer_id: str) -> Response | JsonResponse:
        winner = self.get_customer(customer_id, follow_merge=False)
        body = MergeInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        loser = self.get_customer(str(body.validated_data["loserId"]), follow_merge=False)
        try:
            merged = customer_merge(winner=winner, loser=loser, actor_label=_actor(request))
        except DjangoValidationError as exc:
            return error_response(
                409, "merge_refused", " ".join(exc.messages), getattr(exc, "message_dict", {})
            )
        return self.respond_object(merged, CustomerOutputSerializer)


class CustomerUnmergeView(CustomerView):
    write_scope = "crm:admin"

    @extend_schema(
        operation_id="customers_unmerge",
        request=MergeInputSerializer,
        responses=CustomerOutputSerializer,
    )
    def post(self, request: Request, customer_id: str) -> Response | JsonResponse:
        winner = self.get_customer(customer_id, follow_merge=False)
        body = MergeInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            restored = customer_unmerge(
                winner=winner, loser_id=body.validated_data["loserId"], actor_label=_actor(request)
            )
        except DjangoValidationError as exc:
            return error_response(409, "unmerge_refused", " ".join(exc.messages))
        return self.respond_object(restored, CustomerOutputSerializer)


class CustomerNotesView(CustomerView):
    write_scope = ("crm:write", "crm:notes")

    @extend_schema(operation_id="customers_notes_list", responses=NoteOutputSerializer(many=True))
    def get(self, request: Request, customer_id: str) -> Response:
        return self.paginate(
            request, customer_notes(customer=self.get_customer(customer_id)), NoteOutputSerializer
        )

    @extend_schema(
        operation_id="customers_notes_create",
        request=NoteInputSerializer,
        responses={201: NoteOutputSerializer},
    )
    def post(self, request: Request, customer_id: str) -> Response:
        customer = self.get_customer(customer_id)
        body = NoteInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            note = customer_note_add(
                customer=customer, body=body.validated_data["body"], author_label=_actor(request)
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return self.respond_object(note, NoteOutputSerializer, status=201)


class CustomerTagsView(CustomerView):
    @extend_schema(
        operation_id="customers_tags_update",
        request=TagsInputSerializer,
        responses=CustomerOutputSerializer,
    )
    def post(self, request: Request, customer_id: str) -> Response:
        customer = self.get_customer(customer_id)
        body = TagsInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            customer = customer_tags_set(
                customer=customer, actor_label=_actor(request), **body.validated_data
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return self.respond_object(customer, CustomerOutputSerializer)


class CustomerExportView(CustomerView):
    """A GDPR access request: everything the club holds about the customer, in every app, as
    one JSON document (README, "Privacy", for its structure). Audited."""

    read_scope = "crm:admin"
    write_scope = "crm:admin"

    @extend_schema(
        operation_id="customers_export",
        responses={200: OpenApiTypes.OBJECT},
        description="Everything held about the customer (a merged-away id exports the customer "
        "it became): `format`, `exportedAt`, `customer`, one section per app (`profiles`, "
        "`segments`, `campaigns`, `journeys`, `social`) and `tables`, the stores it covers. "
        "Scope crm:admin; audited as customer.exported.",
    )
    def get(self, request: Request, customer_id: str) -> Response:
        customer = self.get_customer(customer_id)
        return self.respond(customer_export(customer=customer, actor_label=_actor(request)))


class CustomerEraseView(CustomerView):
    """A GDPR erasure request: the person's data goes from every app in the club, and events
    about them that arrive later are kept only as anonymous facts. Audited; cannot be undone."""

    write_scope = "crm:admin"

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            required=False, max_length=200, help_text="Why (kept in the audit log)."
        )

        def validate(self, attrs: dict) -> dict:
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            return attrs

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()

    @extend_schema(
        operation_id="customers_erase",
        request=InputSerializer,
        responses=OutputSerializer,
        description="Erase the customer (a merged-away id erases the customer it became). "
        "Scope crm:admin; audited as customer.erased. Afterwards the id answers 404.",
    )
    def post(self, request: Request, customer_id: str) -> Response:
        customer = self.get_customer(customer_id)
        data = request.data if request.data not in (None, "") else {}
        body = self.InputSerializer(data=data)
        body.is_valid(raise_exception=True)
        erased = customer_erase(
            customer=customer,
            actor_label=_actor(request),
            reason=body.validated_data.get("reason", ""),
        )
        return self.respond({"id": str(erased.id), "status": erased.status})


class _EventResultSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    # DRF's metaclass takes declared fields off the class, so this field does not hide
    # Serializer.errors at run time; the stubs cannot see that.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class EventIngestView(TenantAPIView):
    """`POST events`: `{"events": [1 to 1,000 envelopes]}` with a key holding `events:write`,
    or one signed envelope (`X-CRM-Signature`). One result per event, in order."""

    authentication_classes = [SignedWebhookAuthentication, ApiKeyAuthentication]
    parser_classes = [BatchJSONParser]
    atomic_writes = False  # events_ingest commits each batch itself, before answering
    write_scope = "events:write"
    throttle_scope = "ingest"

    @extend_schema(
        operation_id="events_ingest", request=None, responses=_EventResultSerializer(many=True)
    )
    def post(self, request: Request) -> Response | JsonResponse:
        body = request.data
        signed = getattr(request.user, "label", "") == "signed-webhook"
        if isinstance(body, dict) and "events" in body:
            events = body["events"]
            if not isinstance(events, list) or not events:
                raise exceptions.ValidationError(
                    {"events": [f"Must be a list of 1 to {MAX_BATCH} events."]}
                )
            if len(events) > MAX_BATCH:
                return error_response(
                    413,
                    "too_many_events",
                    f"{len(events)} events; at most {MAX_BATCH} per batch.",
                    {"limit": MAX_BATCH},
                )
        elif isinstance(body, dict) and "type" in body:
            events = [body]  # a single envelope, as webhooks send them
        else:
            raise exceptions.ValidationError(
                {"events": ['Send {"events": [...]} or a single event envelope.']}
            )
        results = events_ingest(
            tenant=tenant_of_request(request),
            envelopes=events,
            transport="webhook" if signed else "rest",
        )
        return self.respond(results)
