"""Campaign shapes of segments.md (camelCase). Input is checked here for unknown fields and
types, turned into the service's typed `CampaignInput` (`campaign_input`), and checked in full
by the campaign service, which names every field at fault (`variants[1].weight`,
`audience.include[0]`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from campaigns.models import Campaign, CampaignType, Channel, Priority, WinnerMetric
from campaigns.services import AudienceInput, CampaignInput, CampaignVariantInput, TriggerInput
from crm.api.serializers import InputSerializer


class CampaignAudienceSerializer(InputSerializer):
    include = serializers.ListField(child=serializers.CharField(), required=False)
    exclude = serializers.ListField(child=serializers.CharField(), required=False)


class CampaignTriggerSerializer(InputSerializer):
    eventType = serializers.CharField()
    filters = serializers.JSONField(required=False)


class CampaignVariantSerializer(InputSerializer):
    # Required fields and ranges are the service's to check (it names `variants[2].weight`).
    key = serializers.CharField(required=False)
    weight = serializers.IntegerField(required=False)
    content = serializers.JSONField(required=False)
    templates = serializers.JSONField(required=False)
    sendAt = serializers.CharField(required=False, allow_null=True)


class CampaignInputSerializer(InputSerializer):
    """Create (`name` required) or PATCH (any subset). Times without an offset are the club's
    local time; `recurrence` is a 5-field cron in club time."""

    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    type = serializers.ChoiceField(choices=CampaignType.choices, required=False)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), required=False
    )
    audience = CampaignAudienceSerializer(required=False)
    templates = serializers.DictField(child=serializers.CharField(), required=False)
    content = serializers.JSONField(required=False)
    fallbacks = serializers.JSONField(required=False)
    priority = serializers.ChoiceField(choices=Priority.names, required=False)
    scheduledAt = serializers.CharField(required=False, allow_null=True)
    recurrence = serializers.CharField(required=False, allow_blank=True)
    endsAt = serializers.CharField(required=False, allow_null=True)
    expiresAt = serializers.CharField(required=False, allow_null=True)
    topic = serializers.CharField(required=False, allow_blank=True, max_length=120)
    trigger = CampaignTriggerSerializer(required=False)
    # Checked here for unknown keys and types (a `subject` beside `content` is refused); the
    # service checks the rest, naming `variants[1].weight`.
    variants = CampaignVariantSerializer(many=True, required=False)
    holdoutPercent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    testPoolPercent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    winnerMetric = serializers.ChoiceField(choices=WinnerMetric.choices, required=False)
    winnerAfterHours = serializers.IntegerField(required=False)
    conversionWindowDays = serializers.IntegerField(required=False, allow_null=True)


# The API's names of CampaignInput's plain fields (the nested ones are built below).
_PLAIN = {
    "name": "name", "description": "description", "type": "type", "channels": "channels",
    "templates": "templates", "content": "content", "fallbacks": "fallbacks",
    "priority": "priority", "scheduledAt": "scheduled_at", "endsAt": "ends_at",
    "expiresAt": "expires_at", "topic": "topic", "recurrence": "recurrence",
    "holdoutPercent": "holdout_percent", "testPoolPercent": "test_pool_percent",
    "winnerMetric": "winner_metric", "winnerAfterHours": "winner_after_hours",
    "conversionWindowDays": "conversion_window_days",
}  # fmt: skip


def campaign_input(validated: Mapping[str, Any]) -> CampaignInput:
    """The service's input from a CampaignInputSerializer's validated data (camelCase); a
    field the caller did not send stays UNSET. The admin's forms build theirs the same way."""
    given: dict[str, Any] = {
        attr: validated[api] for api, attr in _PLAIN.items() if api in validated
    }
    if "audience" in validated:
        audience = validated["audience"] or {}
        given["audience"] = AudienceInput(
            include=list(audience.get("include") or []),
            exclude=list(audience.get("exclude") or []),
        )
    if "trigger" in validated:
        trigger = validated["trigger"]
        given["trigger"] = (
            TriggerInput(
                event_type=trigger.get("eventType") or "", filters=trigger.get("filters") or {}
            )
            if trigger is not None
            else None
        )
    if "variants" in validated:
        given["variants"] = [
            CampaignVariantInput(
                key=variant.get("key") or "",
                weight=variant.get("weight", 50),
                content=variant.get("content") or {},
                templates=variant.get("templates") or {},
                send_at=variant.get("sendAt"),
            )
            for variant in validated["variants"] or []
        ]
    return CampaignInput(**given)


def campaign_input_checked(body: Any, *, partial: bool) -> CampaignInput:
    """A campaign body (REST's, or GraphQL's typed input read back as that body) checked by
    CampaignInputSerializer, then the service's typed input: REST and GraphQL run the same
    checks. A refusal is DRF's ValidationError, keyed by field path (`audience.include[0]`)."""
    serializer = CampaignInputSerializer(data=body, partial=partial)
    serializer.is_valid(raise_exception=True)
    return campaign_input(serializer.validated_data)


class CampaignOutputSerializer(serializers.ModelSerializer):
    audience = serializers.SerializerMethodField()
    variants = serializers.SerializerMethodField()
    trigger = serializers.SerializerMethodField()
    priority = serializers.SerializerMethodField()
    scheduledAt = serializers.DateTimeField(source="scheduled_at", allow_null=True)
    endsAt = serializers.DateTimeField(source="ends_at", allow_null=True)
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    holdoutPercent = serializers.DecimalField(
        source="holdout_percent", max_digits=5, decimal_places=2, coerce_to_string=False
    )
    testPoolPercent = serializers.DecimalField(
        source="test_pool_percent", max_digits=5, decimal_places=2, coerce_to_string=False
    )
    winnerMetric = serializers.CharField(source="winner_metric")
    winnerAfterHours = serializers.IntegerField(source="winner_after_hours")
    winner = serializers.SerializerMethodField()
    conversionWindowDays = serializers.IntegerField(
        source="conversion_window_days", allow_null=True
    )
    createdBy = serializers.CharField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "description", "type", "status", "channels", "audience", "templates",
            "content", "fallbacks", "priority", "scheduledAt", "recurrence", "endsAt",
            "expiresAt", "topic", "trigger", "variants", "holdoutPercent", "testPoolPercent",
            "winnerMetric",
            "winnerAfterHours", "winner", "conversionWindowDays", "createdBy", "createdAt",
            "updatedAt", "startedAt", "completedAt",
        ]  # fmt: skip

    def get_audience(self, obj: Campaign) -> dict:
        return {
            "include": [str(s.id) for s in obj.include_segments.all()],
            "exclude": [str(s.id) for s in obj.exclude_segments.all()],
        }

    def get_variants(self, obj: Campaign) -> list[dict]:
        return [
            {
                "key": v.key,
                "weight": v.weight,
                "content": v.content,
                "templates": v.templates,
                "sendAt": v.send_at.isoformat() if v.send_at else None,
            }
            for v in obj.variants.all()
        ]

    def get_trigger(self, obj: Campaign) -> dict | None:
        if not obj.trigger_event_type:
            return None
        return {"eventType": obj.trigger_event_type, "filters": obj.trigger_filters}

    def get_priority(self, obj: Campaign) -> str:
        return Priority(obj.priority).name

    def get_winner(self, obj: Campaign) -> dict | None:
        return obj.winner_decision or None


class CampaignPreviewInputSerializer(InputSerializer):
    customerId = serializers.UUIDField()
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    variant = serializers.CharField(max_length=1, required=False, allow_blank=True, default="")


class CampaignReviewInputSerializer(InputSerializer):
    """`sendNow`: review as if sent now ("Send now"), whatever the campaign's schedule."""

    sendNow = serializers.BooleanField(required=False, default=False)


class CampaignTestSendInputSerializer(InputSerializer):
    addresses = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False, max_length=20
    )
    customerId = serializers.UUIDField(required=False)
    variant = serializers.CharField(max_length=1, required=False, allow_blank=True, default="")
