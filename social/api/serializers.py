"""Social Publisher shapes: camelCase like the rest of the API. No serializer here has a token
field, so no endpoint can return one."""

from __future__ import annotations

from datetime import datetime

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from social.models import Post, PostVariant, ScheduleMode, SocialAccount


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


class AccountUpdateInputSerializer(serializers.Serializer):
    queueTimes = serializers.ListField(child=serializers.CharField(max_length=5), min_length=1)


class ImageOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    contentType = serializers.CharField(source="content_type")
    size = serializers.IntegerField()


class ImageInputSerializer(serializers.Serializer):
    file = serializers.FileField()


class VariantOutputSerializer(serializers.ModelSerializer):
    accountId = serializers.UUIDField(source="account_id")
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


class VariantInputSerializer(serializers.Serializer):
    accountId = serializers.UUIDField()
    text = serializers.CharField(required=False, allow_blank=True, default="")
    link = serializers.URLField(required=False, allow_blank=True, default="", max_length=1000)
    imageIds = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)


class ScheduleInputSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ScheduleMode.values)
    at = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="For mode `at`, ISO 8601. Without an offset it is read in the club's time zone.",
    )

    def validate_at(self, value: str | None) -> datetime | None:
        if value in (None, ""):
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            raise serializers.ValidationError("Not a date and time (ISO 8601).")
        return parsed


class PostCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    variants = VariantInputSerializer(many=True, allow_empty=False)
    schedule = ScheduleInputSerializer(required=False)


class PostUpdateInputSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    variants = VariantInputSerializer(many=True, allow_empty=False, required=False)


class RejectInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class PostFilterSerializer(serializers.Serializer):
    status = serializers.CharField(required=False, help_text="Posts with a variant in it.")
    network = serializers.CharField(required=False)
