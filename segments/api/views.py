"""Segment endpoints of segments.md, plus what the builder and imports need (fields, JSON
Schema, CSV import, snapshot, change history). Thin: validate, call a service or selector."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from crm.api.parsers import JSONParser
from crm.api.views import TenantAPIView
from crm.tenants.selectors import tenant_of_request
from profiles.api.serializers import CustomerOutputSerializer
from segments.api.serializers import (
    SegmentChangeOutputSerializer,
    SegmentCreateInputSerializer,
    SegmentImportInputSerializer,
    SegmentMembersInputSerializer,
    SegmentOutputSerializer,
    SegmentPreviewInputSerializer,
    SegmentSnapshotInputSerializer,
    SegmentUpdateInputSerializer,
)
from segments.fields import GROUPS, catalogue_for_builder
from segments.models import Segment
from segments.presets import templates_for
from segments.rules import rules_json_schema
from segments.selectors import (
    picker_values,
    segment_changes,
    segment_get,
    segment_list,
    segment_members,
    segment_preview,
)
from segments.services import (
    segment_create,
    segment_delete,
    segment_import_csv,
    segment_members_add,
    segment_members_remove,
    segment_refresh,
    segment_snapshot,
    segment_update,
)

CSV_EXPORT_LIMIT = 100_000
CSV_COLUMNS = (
    ("customerId", "id"),
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("email", "email"),
    ("phoneNumber", "phone_number"),
    ("sclMemberId", "scl_member_id"),
    ("teetimePlayerId", "teetime_player_id"),
    ("membershipTier", "membership_tier"),
    ("membershipStatus", "membership_status"),
)


class SegmentView(TenantAPIView):
    """Base for `segments/<id>/…`."""

    def get_segment(self, segment_id: str) -> Segment:
        segment = segment_get(segment_id=segment_id)
        if segment is None:
            raise exceptions.NotFound("No segment with this id in this club.")
        return segment


class SegmentListView(TenantAPIView):
    @extend_schema(operation_id="segments_list", responses=SegmentOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.paginate(request, segment_list(), SegmentOutputSerializer)

    @extend_schema(
        operation_id="segments_create",
        request=SegmentCreateInputSerializer,
        responses={201: SegmentOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        body = SegmentCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        segment = segment_create(
            name=data["name"],
            type=data["type"],
            rules=data["rules"],
            refresh=data["refresh"],
            description=data["description"],
            template_key=data["templateKey"],
            actor_label=self.actor_label(),
        )
        return self.respond_object(segment, SegmentOutputSerializer, status=201)


class SegmentDetailView(SegmentView):
    @extend_schema(operation_id="segments_retrieve", responses=SegmentOutputSerializer)
    def get(self, request: Request, segment_id: str) -> Response:
        return self.respond_object(self.get_segment(segment_id), SegmentOutputSerializer)

    @extend_schema(
        operation_id="segments_update",
        request=SegmentUpdateInputSerializer,
        responses=SegmentOutputSerializer,
    )
    def patch(self, request: Request, segment_id: str) -> Response:
        segment = self.get_segment(segment_id)
        body = SegmentUpdateInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        updated = segment_update(
            segment=segment, data=dict(body.validated_data), actor_label=self.actor_label()
        )
        return self.respond_object(updated, SegmentOutputSerializer)

    @extend_schema(operation_id="segments_delete", responses={204: None})
    def delete(self, request: Request, segment_id: str) -> Response:
        segment_delete(segment=self.get_segment(segment_id), actor_label=self.actor_label())
        return Response(status=204)


class SegmentPreviewView(TenantAPIView):
    write_scope = "crm:read"  # nothing is saved: a read sent as POST for its body
    # Counted as a read too: the admin's builder previews as the rule is edited.
    throttle_scope = "read"

    @extend_schema(
        operation_id="segments_preview",
        request=SegmentPreviewInputSerializer,
        responses=inline_serializer(
            "SegmentPreview",
            {"count": serializers.IntegerField(), "sample": CustomerOutputSerializer(many=True)},
        ),
    )
    def post(self, request: Request) -> Response:
        body = SegmentPreviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preview = segment_preview(rules=body.validated_data["rules"])
        sample = CustomerOutputSerializer(preview.sample, many=True, context=self.output_context())
        return self.respond({"count": preview.count, "sample": sample.data})


class SegmentTemplatesView(TenantAPIView):
    @extend_schema(
        operation_id="segments_templates",
        responses=inline_serializer(
            "SegmentTemplate",
            {
                "key": serializers.CharField(),
                "name": serializers.CharField(),
                "description": serializers.CharField(),
                "rules": serializers.JSONField(),
            },
            many=True,
        ),
    )
    def get(self, request: Request) -> Response:
        month = timezone.localtime(timezone=_tz(request)).month
        return self.respond(templates_for(month=month))


class SegmentFieldsView(TenantAPIView):
    """The fields, operators and picker values a rule can use (what the builder shows)."""

    @extend_schema(operation_id="segments_fields", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return self.respond(
            {
                "groups": [{"key": key, "label": label} for key, label in GROUPS],
                "fields": catalogue_for_builder(),
                "pickers": picker_values(),
            }
        )


class SegmentRuleSchemaView(TenantAPIView):
    """The JSON Schema of a rule. The same for every club; served under each club's API so
    integrators find it beside the endpoints that take rules."""

    unwrapped_response = True  # a bare JSON Schema document, for schema tooling

    @extend_schema(operation_id="segments_rule_schema", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(rules_json_schema())


class CsvRenderer(BaseRenderer):
    """Lets `?format=csv` through DRF's content negotiation; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class SegmentMembersView(SegmentView):
    # DRF's settings object imports the renderer paths it is given: classes, not the strings
    # the stubs say.
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer]  # type: ignore[list-item]

    @extend_schema(
        operation_id="segments_members",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="csv: every member as a CSV file (up to 100,000 rows).",
            )
        ],
        responses=CustomerOutputSerializer(many=True),
    )
    def get(self, request: Request, segment_id: str) -> Response | HttpResponse:
        segment = self.get_segment(segment_id)
        members = segment_members(segment=segment).order_by("last_name", "first_name", "id")
        if request.accepted_renderer.format == "csv":
            return _csv_export(segment, members)
        return self.paginate(request, members, CustomerOutputSerializer)

    @extend_schema(
        operation_id="segments_members_add",
        request=SegmentMembersInputSerializer,
        responses=inline_serializer(
            "SegmentMembersAdded",
            {
                "added": serializers.IntegerField(),
                "alreadyMembers": serializers.IntegerField(),
                "notFound": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def post(self, request: Request, segment_id: str) -> Response:
        segment = self.get_segment(segment_id)
        body = SegmentMembersInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = segment_members_add(
            segment=segment,
            customer_ids=body.validated_data["customerIds"],
            actor_label=self.actor_label(),
        )
        return self.respond(
            {"added": result.added, "alreadyMembers": result.already, "notFound": result.not_found}
        )

    @extend_schema(
        operation_id="segments_members_remove",
        request=SegmentMembersInputSerializer,
        responses={
            200: inline_serializer("SegmentMembersRemoved", {"removed": serializers.IntegerField()})
        },
    )
    def delete(self, request: Request, segment_id: str) -> Response:
        segment = self.get_segment(segment_id)
        body = SegmentMembersInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        removed = segment_members_remove(
            segment=segment,
            customer_ids=body.validated_data["customerIds"],
            actor_label=self.actor_label(),
        )
        return self.respond({"removed": removed})


class SegmentRefreshView(SegmentView):
    @extend_schema(operation_id="segments_refresh", request=None, responses=SegmentOutputSerializer)
    def post(self, request: Request, segment_id: str) -> Response:
        segment = self.get_segment(segment_id)
        result = segment_refresh(segment_id=segment.id)
        segment.refresh_from_db()
        data = SegmentOutputSerializer(segment, context=self.output_context()).data
        data["lastRefresh"] = {"entered": result.entered, "exited": result.exited}
        return self.respond(data)


class SegmentImportView(SegmentView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        operation_id="segments_import",
        request=SegmentImportInputSerializer,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request, segment_id: str) -> Response:
        segment = self.get_segment(segment_id)
        body = SegmentImportInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data.get("file")
        try:
            content = upload.read().decode("utf-8-sig") if upload else body.validated_data["csv"]
        except UnicodeDecodeError as exc:
            raise exceptions.ValidationError({"file": ["The file is not UTF-8 text."]}) from exc
        report = segment_import_csv(
            segment=segment, content=content, actor_label=self.actor_label()
        )
        return self.respond(
            {
                "rows": report.rows,
                "matched": report.matched,
                "added": report.added,
                "unmatched": report.unmatched,
            }
        )


class SegmentSnapshotView(SegmentView):
    @extend_schema(
        operation_id="segments_snapshot",
        request=SegmentSnapshotInputSerializer,
        responses={201: SegmentOutputSerializer},
    )
    def post(self, request: Request, segment_id: str) -> Response:
        segment = self.get_segment(segment_id)
        body = SegmentSnapshotInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        snapshot = segment_snapshot(
            segment=segment, name=body.validated_data["name"], actor_label=self.actor_label()
        )
        return self.respond_object(snapshot, SegmentOutputSerializer, status=201)


class SegmentChangesView(SegmentView):
    @extend_schema(
        operation_id="segments_changes", responses=SegmentChangeOutputSerializer(many=True)
    )
    def get(self, request: Request, segment_id: str) -> Response:
        segment = self.get_segment(segment_id)
        return self.paginate(
            request, segment_changes(segment=segment), SegmentChangeOutputSerializer
        )


def _tz(request: Request):
    from zoneinfo import ZoneInfo

    return ZoneInfo(tenant_of_request(request).timezone or "UTC")


def _csv_export(segment: Segment, members) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for header, _ in CSV_COLUMNS])
    for row in members.values_list(*(column for _, column in CSV_COLUMNS))[:CSV_EXPORT_LIMIT]:
        writer.writerow(["" if value is None else value for value in row])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"segment-{segment.id}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
