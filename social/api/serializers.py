"""Social Publisher shapes: camelCase like the rest of the API. No serializer here has a token
field, so no endpoint can return one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.serializers import InputSerializer
from social.models import (
    CompetitionPromotion,
    Network,
    Post,
    PostVariant,
    PromotionItem,
    PromotionStatus,
    ScheduleMode,
    SocialAccount,
)
from social.promotion import PLACEHOLDERS
from social.selectors import CalendarEntry, promotion_settings_account_ids


class AccountOutputSerializer(serializers.ModelSerializer):
    remoteId = serializers.CharField(source="remote_id")
    statusReason = serializers.CharField(source="status_reason")
    needsReconnecting = serializers.SerializerMethodField()
    linkedPageId = serializers.CharField(source="linked_page_id")
    tokenExpiresAt = serializers.DateTimeField(source="token_expires_at", allow_null=True)
    tokenCheckedAt = serializers.DateTimeField(source="token_checked_at", allow_null=True)
    queueTimes = serializers.ListField(source="queue_times", child=serializers.CharField())
    connectedAt = serializers.DateTimeField(source="connected_at")

    class Meta:
        model = SocialAccount
        fields = [
            "id", "network", "remoteId", "name", "username", "status", "statusReason",
            "needsReconnecting", "linkedPageId", "tokenExpiresAt", "tokenCheckedAt",
            "queueTimes", "connectedAt",
        ]  # fmt: skip

    def get_needsReconnecting(self, account: SocialAccount) -> bool:
        return account.status != "CONNECTED"


class AccountUpdateInputSerializer(InputSerializer):
    queueTimes = serializers.ListField(child=serializers.CharField(max_length=5), min_length=1)


class ImageOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    contentType = serializers.CharField(source="content_type")
    size = serializers.IntegerField()


class ImageInputSerializer(InputSerializer):
    file = serializers.FileField()


class VariantOutputSerializer(serializers.ModelSerializer):
    accountId = serializers.UUIDField(
        source="account_id",
        allow_null=True,
        help_text="Null: a draft for a network with no account connected yet.",
    )
    imageIds = serializers.ListField(source="image_ids", child=serializers.UUIDField())
    scheduleMode = serializers.CharField(source="schedule_mode")
    scheduledAt = serializers.DateTimeField(source="scheduled_at", allow_null=True)
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    attemptCount = serializers.IntegerField(source="attempt_count")
    remoteId = serializers.CharField(source="remote_id")
    remoteUrl = serializers.CharField(source="remote_url")
    publishedAt = serializers.DateTimeField(source="published_at", allow_null=True)
    engagement = serializers.SerializerMethodField()

    class Meta:
        model = PostVariant
        fields = [
            "id", "network", "accountId", "text", "link", "imageIds", "status", "scheduleMode",
            "scheduledAt", "nextAttemptAt", "attemptCount", "error", "remoteId", "remoteUrl",
            "publishedAt", "engagement",
        ]  # fmt: skip

    def get_engagement(self, variant: PostVariant) -> dict | None:
        if variant.metrics_fetched_at is None:
            return None
        return {
            "likes": variant.likes,
            "comments": variant.comments,
            "shares": variant.shares,
            "impressions": variant.impressions,
            "fetchedAt": variant.metrics_fetched_at.isoformat(),
        }


class PostOutputSerializer(serializers.ModelSerializer):
    approvalStatus = serializers.CharField(source="approval_status")
    approvedAt = serializers.DateTimeField(source="approved_at", allow_null=True)
    createdBy = serializers.CharField(source="created_by_label")
    createdAt = serializers.DateTimeField(source="created_at")
    variants = VariantOutputSerializer(many=True)

    class Meta:
        model = Post
        fields = [
            "id", "title", "approvalStatus", "approvedAt", "createdBy", "origin", "createdAt",
            "variants",
        ]  # fmt: skip


class VariantInputSerializer(InputSerializer):
    accountId = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The account to post to; or give only `network` (a draft needs no account).",
    )
    network = serializers.ChoiceField(
        choices=Network.choices,
        required=False,
        help_text="With no accountId: the network's connected account, or none yet (a draft).",
    )
    text = serializers.CharField(required=False, allow_blank=True, default="")
    link = serializers.URLField(required=False, allow_blank=True, default="", max_length=1000)
    imageIds = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("accountId") and not attrs.get("network"):
            raise serializers.ValidationError({"network": "Give an accountId or a network."})
        return attrs


def _parse_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise serializers.ValidationError("Not a date and time (ISO 8601).")
    return parsed


class RescheduleInputSerializer(InputSerializer):
    at = serializers.CharField(
        help_text="The new time, ISO 8601; without an offset it is read in the club's time zone."
    )
    networks = serializers.ListField(
        child=serializers.ChoiceField(choices=Network.choices),
        required=False,
        allow_empty=False,
        help_text="Move only these networks' parts (default: every part not gone out).",
    )

    def validate_at(self, value: str) -> datetime:
        parsed = _parse_at(value)
        if parsed is None:
            raise serializers.ValidationError("Give the new time.")
        return parsed


class NetworkOutputSerializer(serializers.Serializer):
    network = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # API field name; DRF pops it off the class
    configured = serializers.BooleanField(
        help_text="The platform has the app credentials to connect this network."
    )
    connected = serializers.BooleanField(help_text="The club has a connected account on it.")
    accountIds = serializers.SerializerMethodField()
    howToConnect = serializers.CharField(source="how_to_connect")

    def get_accountIds(self, state) -> list[str]:
        return [str(a.id) for a in state.accounts]


class CalendarEntryOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["post", "promotion_item", "campaign_send"],
        help_text="post (a social post), promotion_item (competition promotion not yet handed "
        "over) or campaign_send.",
    )
    kindLabel = serializers.CharField(source="kind_label")
    id = serializers.CharField(help_text="The post's, promotion item's or campaign's id.")
    title = serializers.CharField()
    start = serializers.SerializerMethodField(help_text="ISO 8601 with the club's offset.")
    status = serializers.CharField()
    statusLabel = serializers.CharField(source="status_label")
    link = serializers.SerializerMethodField(help_text="Where staff open it in the club admin.")
    networks = serializers.ListField(child=serializers.CharField())
    movable = serializers.BooleanField(
        help_text="A post not gone out: POST social/posts/<id>/reschedule moves it."
    )

    def get_start(self, entry: CalendarEntry) -> str:
        return _wall_clock(entry.start, self.context)

    def get_link(self, entry) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(entry.link) if request else entry.link


class ScheduleInputSerializer(InputSerializer):
    mode = serializers.ChoiceField(choices=ScheduleMode.values)
    at = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="For mode `at`, ISO 8601. Without an offset it is read in the club's time zone.",
    )

    def validate_at(self, value: str | None) -> datetime | None:
        if not value:
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            raise serializers.ValidationError("Not a date and time (ISO 8601).")
        return parsed


class PostCreateInputSerializer(InputSerializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    variants = VariantInputSerializer(many=True, allow_empty=False)
    schedule = ScheduleInputSerializer(required=False)


class PostUpdateInputSerializer(InputSerializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    variants = VariantInputSerializer(many=True, allow_empty=False, required=False)


class RejectInputSerializer(InputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class PostFilterSerializer(serializers.Serializer):
    status = serializers.CharField(required=False, help_text="Posts with a variant in it.")
    network = serializers.CharField(required=False)


# --- Competition auto-promotion ----------------------------------------------------------------


def _wall_clock(value: datetime, context: Mapping[str, Any]) -> str:
    """An aware time as the club's wall clock, with its offset (2026-12-05T10:00:00+00:00)."""
    tenant = context.get("tenant")
    tz = ZoneInfo(getattr(tenant, "timezone", "") or "UTC")
    return value.astimezone(tz).isoformat()


def _local(value: datetime | None, context: Mapping[str, Any]) -> str | None:
    return None if value is None else _wall_clock(value, context)


class PromotionItemOutputSerializer(serializers.ModelSerializer):
    daysBefore = serializers.IntegerField(source="days_before", allow_null=True)
    scheduledAt = serializers.DateTimeField(source="scheduled_for", allow_null=True)
    scheduledAtLocal = serializers.SerializerMethodField(
        help_text="scheduledAt in the club's time zone."
    )
    textEdited = serializers.BooleanField(source="text_edited")
    timeEdited = serializers.BooleanField(source="time_edited")
    postId = serializers.UUIDField(source="post_id", allow_null=True)
    campaignId = serializers.UUIDField(source="campaign_id", allow_null=True)
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = PromotionItem
        fields = [
            "id", "key", "kind", "channel", "daysBefore", "scheduledAt", "scheduledAtLocal",
            "status", "note", "error", "subject", "text", "textEdited", "timeEdited", "postId",
            "campaignId", "updatedAt",
        ]  # fmt: skip

    def get_scheduledAtLocal(self, item: PromotionItem) -> str | None:
        return _local(item.scheduled_for, self.context)


class PromotionOutputSerializer(serializers.ModelSerializer):
    competitionId = serializers.CharField(source="competition_id")
    competition = serializers.JSONField(
        source="payload", help_text="The competition as TeeTime's newest event described it."
    )
    competitionUpdatedAt = serializers.DateTimeField(source="payload_at", allow_null=True)
    cancelledAt = serializers.DateTimeField(source="cancelled_at", allow_null=True)
    cancelReason = serializers.CharField(source="cancel_reason")
    eligibleSegmentId = serializers.UUIDField(source="eligible_segment_id", allow_null=True)
    entrantsSegmentId = serializers.UUIDField(source="entrants_segment_id", allow_null=True)
    imageId = serializers.UUIDField(source="image_id", allow_null=True)
    imageError = serializers.CharField(source="image_error")
    createdAt = serializers.DateTimeField(source="created_at")
    syncedAt = serializers.DateTimeField(source="synced_at", allow_null=True)
    items = PromotionItemOutputSerializer(many=True)

    class Meta:
        model = CompetitionPromotion
        fields = [
            "id", "competitionId", "name", "status", "competition", "competitionUpdatedAt",
            "cancelledAt", "cancelReason", "eligibleSegmentId", "entrantsSegmentId", "imageId",
            "imageError", "createdAt", "syncedAt", "items",
        ]  # fmt: skip


class PromotionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PromotionStatus.values, required=False)


class PromotionItemUpdateInputSerializer(InputSerializer):
    text = serializers.CharField(required=False, max_length=5000)
    subject = serializers.CharField(required=False, max_length=200)
    scheduledAt = serializers.CharField(
        required=False,
        help_text="ISO 8601. Without an offset it is read in the club's time zone.",
    )

    def validate_scheduledAt(self, value: str) -> datetime:
        parsed = parse_datetime(value)
        if parsed is None:
            raise serializers.ValidationError("Not a date and time (ISO 8601).")
        return parsed

    def validate(self, data: dict) -> dict:
        if not data:
            raise serializers.ValidationError("Give text, subject or scheduledAt.")
        return data


@extend_schema_field({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"})
class _ClockTimeField(serializers.TimeField):
    """HH:MM, the club's wall clock (OpenAPI's `time` format would demand seconds)."""


class PromotionSettingsInputSerializer(InputSerializer):
    """A change of the settings: any of the fields, by the names the output uses."""

    enabled = serializers.BooleanField(required=False)
    accountIds = serializers.ListField(
        child=serializers.UUIDField(), required=False,
        help_text="Where posts go; empty: every connected account.",
    )  # fmt: skip
    postReminders = serializers.BooleanField(required=False, source="post_reminders")
    emailEnabled = serializers.BooleanField(required=False, source="email_enabled")
    smsEnabled = serializers.BooleanField(required=False, source="sms_enabled")
    emailTemplateId = serializers.CharField(
        required=False, allow_blank=True, max_length=100, source="email_template_id"
    )
    smsTemplateId = serializers.CharField(
        required=False, allow_blank=True, max_length=100, source="sms_template_id"
    )
    announcementSubject = serializers.CharField(
        required=False, max_length=200, source="announcement_subject"
    )
    reminderSubject = serializers.CharField(
        required=False, max_length=200, source="reminder_subject"
    )
    announcementText = serializers.CharField(required=False, source="announcement_text")
    reminderText = serializers.CharField(required=False, source="reminder_text")
    fewPlacesText = serializers.CharField(required=False, source="few_places_text")
    resultsText = serializers.CharField(required=False, source="results_text")
    cancellationText = serializers.CharField(required=False, source="cancellation_text")
    reminderDays = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=60), required=False,
        max_length=6, source="reminder_days",
    )  # fmt: skip
    reminderTime = _ClockTimeField(
        required=False, format="%H:%M", input_formats=["%H:%M"], source="reminder_time"
    )
    fewPlacesPercent = serializers.IntegerField(
        required=False, min_value=1, max_value=99, source="few_places_percent"
    )
    resultsDelayMinutes = serializers.IntegerField(
        required=False, min_value=0, max_value=1440, source="results_delay_minutes"
    )
    defaultImageId = serializers.UUIDField(
        required=False, allow_null=True, source="default_image_id"
    )

    def service_data(self) -> dict:
        """The validated input under the API's own (camelCase) names, as the service takes."""
        return {
            name: self.validated_data[field.source]
            for name, field in self.fields.items()
            if not field.read_only and field.source in self.validated_data
        }


class PromotionSettingsOutputSerializer(PromotionSettingsInputSerializer):
    accountIds = serializers.SerializerMethodField()
    placeholders = serializers.SerializerMethodField(
        help_text="What the texts may use, e.g. {name}: the competition's name."
    )
    updatedAt = serializers.DateTimeField(source="updated_at", allow_null=True)

    def get_accountIds(self, row) -> list[str]:
        return [str(i) for i in promotion_settings_account_ids(settings=row)]

    def get_placeholders(self, _row) -> dict[str, str]:
        return dict(PLACEHOLDERS)
