"""The tee-sheet gap filler under `/t/<club>/api/v1/tee-sheet/`: its settings (read with
`crm:read`, changed with `crm:campaigns`), the slots TeeTime described, the gaps with their
waves and outcome, and the weekly figures. Thin: the service and selectors of
campaigns.tee_sheet do the work."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.models import Channel, GapStatus
from campaigns.tee_sheet import tee_sheet_settings, tee_sheet_settings_update
from campaigns.tee_sheet_selectors import (
    money,
    tee_gap_get,
    tee_gap_list,
    tee_gap_outcome,
    tee_sheet_utilisation,
    tee_sheet_weekly,
    tee_slot_list,
)
from crm.accounts.scopes import Scope
from crm.api.views import TenantAPIView


class TeeSheetSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    horizonHours = serializers.IntegerField(source="horizon_hours", min_value=1)
    golfersPerPlace = serializers.IntegerField(source="golfers_per_place", min_value=1)
    maxWaves = serializers.IntegerField(source="max_waves", min_value=1)
    minutesBetweenWaves = serializers.IntegerField(source="minutes_between_waves", min_value=1)
    weeklyLimit = serializers.IntegerField(source="weekly_limit", min_value=1)
    minDayPartShare = serializers.IntegerField(source="min_day_part_share", min_value=0)
    offerWindowHours = serializers.IntegerField(source="offer_window_hours", min_value=1)
    holdoutPercent = serializers.DecimalField(
        source="holdout_percent", max_digits=5, decimal_places=2, coerce_to_string=False
    )
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices))
    templates = serializers.DictField(child=serializers.CharField())
    content = serializers.DictField()
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    updatedBy = serializers.CharField(source="updated_by", read_only=True)


class TeeSlotSerializer(serializers.Serializer):
    slotId = serializers.CharField(source="slot_id")
    course = serializers.SerializerMethodField()
    teeTime = serializers.DateTimeField(source="tee_time")
    holes = serializers.IntegerField(allow_null=True)
    capacity = serializers.IntegerField()
    booked = serializers.IntegerField()
    freePlaces = serializers.IntegerField(source="free_places")
    price = serializers.SerializerMethodField()
    rules = serializers.SerializerMethodField()
    bookingUrl = serializers.CharField(source="booking_url")
    stateAt = serializers.DateTimeField(source="state_at")
    gapId = serializers.SerializerMethodField()

    def get_course(self, slot) -> dict:
        return {"id": slot.course_id, "name": slot.course_name}

    def get_price(self, slot) -> dict | None:
        if slot.price_cents is None:
            return None
        return {
            "amount": f"{slot.price_cents / 100:.2f}",
            "currency": slot.currency,
            "label": money(slot.price_cents, slot.currency),
        }

    def get_rules(self, slot) -> dict:
        handicap = slot.max_handicap
        return {
            "memberOnly": slot.member_only,
            "maxHandicap": float(handicap) if handicap is not None else None,
        }

    def get_gapId(self, slot) -> int | None:
        gap = getattr(slot, "gap", None)
        return gap.id if gap else None


class TeeSheetWaveSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    freePlaces = serializers.IntegerField(source="free_places")
    chosen = serializers.IntegerField()
    heldOut = serializers.IntegerField(source="held_out")
    runId = serializers.UUIDField(source="run_id", allow_null=True)


class TeeSheetGapSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=GapStatus.choices)
    statusLabel = serializers.CharField(source="get_status_display")
    slot = TeeSlotSerializer()
    freePlacesAtOpen = serializers.IntegerField(source="free_places_at_open")
    openedAt = serializers.DateTimeField(source="opened_at")
    closedAt = serializers.DateTimeField(source="closed_at", allow_null=True)
    waves = TeeSheetWaveSerializer(many=True, source="waves.all")
    outcome = serializers.SerializerMethodField()

    def get_outcome(self, gap) -> dict:
        return tee_gap_outcome(gap)


class TeeSheetSettingsView(TenantAPIView):
    write_scope = Scope.CAMPAIGNS.value

    @extend_schema(operation_id="tee_sheet_settings_retrieve", responses=TeeSheetSettingsSerializer)
    def get(self, request: Request) -> Response:
        return self.respond_object(tee_sheet_settings(), TeeSheetSettingsSerializer)

    @extend_schema(
        operation_id="tee_sheet_settings_update",
        request=TeeSheetSettingsSerializer(partial=True),
        responses=TeeSheetSettingsSerializer,
    )
    def patch(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"nonFieldErrors": ["Give an object."]})
        row = tee_sheet_settings_update(data=dict(request.data), actor_label=self.actor_label())
        return self.respond_object(row, TeeSheetSettingsSerializer)


class TeeSlotListView(TenantAPIView):
    @extend_schema(
        operation_id="tee_sheet_slots_list",
        parameters=[OpenApiParameter("past", bool, description="Include slots already played.")],
        responses=TeeSlotSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        past = request.query_params.get("past", "false").lower() in ("1", "true", "yes")
        return self.paginate(request, tee_slot_list(upcoming_only=not past), TeeSlotSerializer)


class TeeGapListView(TenantAPIView):
    @extend_schema(
        operation_id="tee_sheet_gaps_list",
        parameters=[OpenApiParameter("status", str, enum=GapStatus.values)],
        responses=TeeSheetGapSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in GapStatus.values:
            raise exceptions.ValidationError(
                {"status": [f"Must be one of {', '.join(GapStatus.values)}."]}
            )
        return self.paginate(request, tee_gap_list(status=status), TeeSheetGapSerializer)


class TeeGapDetailView(TenantAPIView):
    @extend_schema(operation_id="tee_sheet_gaps_retrieve", responses=TeeSheetGapSerializer)
    def get(self, request: Request, gap_id: str) -> Response:
        gap = tee_gap_get(gap_id=gap_id)
        if gap is None:
            raise exceptions.NotFound("No gap with this id in this club.")
        return self.respond_object(gap, TeeSheetGapSerializer)


class TeeSheetSummaryView(TenantAPIView):
    @extend_schema(
        operation_id="tee_sheet_summary",
        responses=inline_serializer(
            "TeeSheetSummary",
            {"weeks": serializers.ListField(child=serializers.DictField()),
             "utilisation": serializers.ListField(child=serializers.DictField())},
        ),
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return self.respond(
            {"weeks": tee_sheet_weekly(weeks=8), "utilisation": tee_sheet_utilisation(days=7)}
        )
