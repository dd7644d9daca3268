"""Segment shapes of segments.md: camelCase, like the rest of the API."""

from __future__ import annotations

from rest_framework import serializers

from crm.api.serializers import InputSerializer
from segments.models import (
    RefreshSchedule,
    Segment,
    SegmentMembershipChange,
    SegmentType,
)


class SegmentOutputSerializer(serializers.ModelSerializer):
    memberCount = serializers.IntegerField(source="member_count")
    lastRefreshedAt = serializers.DateTimeField(source="last_refreshed_at", allow_null=True)
    templateKey = serializers.CharField(source="template_key")
    createdBy = serializers.CharField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Segment
        fields = [
            "id", "name", "description", "type", "rules", "refresh", "memberCount",
            "lastRefreshedAt", "templateKey", "createdBy", "createdAt", "updatedAt",
        ]  # fmt: skip


class SegmentCreateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    type = serializers.ChoiceField(choices=SegmentType.choices, default=SegmentType.DYNAMIC)
    # Any JSON: the rule is validated by the segment service, which names the bad part.
    rules = serializers.JSONField(required=False, allow_null=True, default=None)
    refresh = serializers.ChoiceField(
        choices=RefreshSchedule.choices, default=RefreshSchedule.DAILY
    )
    templateKey = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class SegmentUpdateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    rules = serializers.JSONField(required=False)
    refresh = serializers.ChoiceField(choices=RefreshSchedule.choices, required=False)


class SegmentPreviewInputSerializer(InputSerializer):
    rules = serializers.JSONField()


class SegmentMembersInputSerializer(InputSerializer):
    customerIds = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=10_000
    )


class SegmentSnapshotInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)


class SegmentImportInputSerializer(InputSerializer):
    file = serializers.FileField(required=False)
    csv = serializers.CharField(required=False, trim_whitespace=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("file") and not attrs.get("csv"):
            raise serializers.ValidationError({"file": ["Upload a CSV file (or send it as csv)."]})
        return attrs


class SegmentChangeOutputSerializer(serializers.ModelSerializer):
    customerId = serializers.UUIDField(source="customer_id")
    displayName = serializers.CharField(source="customer.display_name")

    class Meta:
        model = SegmentMembershipChange
        fields = ["customerId", "displayName", "kind", "at"]
