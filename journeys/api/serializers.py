"""Journey shapes (camelCase, like the rest of the API). A definition is read as any JSON here
and checked by the journey service with `definition_parse`, which names every part at fault
by its path (`definition.steps.wait.duration.days`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from crm.api.serializers import InputSerializer
from journeys.models import (
    Enrolment,
    EnrolmentEvent,
    EnrolmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    StaffTask,
    StaffTaskStatus,
)
from journeys.services import JourneyInput

MAX_ENROL = 1000


# --- input ---------------------------------------------------------------------------------


class JourneyCreateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    # Any JSON: the service checks it (definition_parse) and names the bad path.
    definition = serializers.JSONField(required=False)
    templateKey = serializers.CharField(required=False, allow_blank=True, max_length=64)


class JourneyUpdateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    definition = serializers.JSONField(required=False)


def journey_input(body: Mapping[str, Any]) -> JourneyInput:
    """The service's input from a body already checked for unknown keys (a serializer's
    validated data, or GraphQL's `input`): the keys it has, camelCase; the rest stay UNSET."""
    names = {"name": "name", "description": "description", "definition": "definition",
             "templateKey": "template_key"}  # fmt: skip
    return JourneyInput(**{attr: body[key] for key, attr in names.items() if key in body})


def journey_input_checked(body: Any, *, creating: bool) -> JourneyInput:
    """A journey body (REST's, or GraphQL's typed input read back as that body) checked by
    the create or update serializer, then the service input of the fields sent (a default
    the caller did not send changes nothing). REST and GraphQL run the same checks; a refusal
    is DRF's ValidationError, keyed by field."""
    serializer: InputSerializer = (
        JourneyCreateInputSerializer(data=body)
        if creating
        else JourneyUpdateInputSerializer(data=body, partial=True)
    )
    serializer.is_valid(raise_exception=True)
    validated = serializer.validated_data
    return journey_input({key: value for key, value in validated.items() if key in body})


class JourneyListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=JourneyStatus.choices, required=False)


class EnrolmentListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=EnrolmentStatus.choices, required=False)
    step = serializers.CharField(max_length=40, required=False)


class StatsFilterSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, required=False)


# The task list's status filter: a task's statuses, or ALL of them.
STAFF_TASK_STATUS_FILTER = [*StaffTaskStatus.choices, ("ALL", "Every status")]


class StaffTaskFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=STAFF_TASK_STATUS_FILTER,
        default=StaffTaskStatus.OPEN,
        help_text="OPEN unless given; ALL for every status.",
    )
    journey = serializers.UUIDField(required=False)
    assignedTo = serializers.CharField(max_length=254, required=False)


class EnrolInputSerializer(InputSerializer):
    customerIds = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=MAX_ENROL
    )
    key = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="Makes the request repeatable: the same key never enrols a customer twice.",
    )
    context = serializers.DictField(
        required=False,
        default=dict,
        help_text="Kept on the enrolments beside the trigger's details.",
    )


class MigrateInputSerializer(InputSerializer):
    fromVersion = serializers.IntegerField(min_value=1)


class EnrolmentExitInputSerializer(InputSerializer):
    reason = serializers.CharField(
        max_length=200, required=False, allow_blank=False, default="exited by staff"
    )


class StaffTaskCompleteInputSerializer(InputSerializer):
    dismiss = serializers.BooleanField(
        required=False, default=False, help_text="Close it without doing it (DISMISSED)."
    )


class TemplateCopyInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)


# --- output --------------------------------------------------------------------------------


class JourneyOutputSerializer(serializers.ModelSerializer):
    publishedVersion = serializers.SerializerMethodField()
    hasUnpublishedChanges = serializers.SerializerMethodField()
    trigger = serializers.SerializerMethodField()
    templateKey = serializers.CharField(source="template_key")
    createdBy = serializers.CharField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Journey
        fields = [
            "id", "name", "description", "status", "definition", "publishedVersion",
            "hasUnpublishedChanges", "trigger", "templateKey", "createdBy", "createdAt",
            "updatedAt",
        ]  # fmt: skip

    def get_publishedVersion(self, obj: Journey) -> int | None:
        version = obj.published_version
        return version.number if version is not None else None

    def get_hasUnpublishedChanges(self, obj: Journey) -> bool:
        """The draft differs from what new enrolments start on (or nothing is published)."""
        version = obj.published_version
        return version is None or version.definition != obj.definition

    def get_trigger(self, obj: Journey) -> dict | None:
        """The published version's trigger, as the engine looks journeys up by it."""
        if not obj.trigger_type:
            return None
        return {
            "type": obj.trigger_type,
            "eventType": obj.trigger_event_type or None,
            "segmentId": str(obj.trigger_segment_id) if obj.trigger_segment_id else None,
        }


class JourneyVersionOutputSerializer(serializers.ModelSerializer):
    journeyId = serializers.UUIDField(source="journey_id")
    publishedAt = serializers.DateTimeField(source="published_at")
    publishedBy = serializers.CharField(source="published_by")
    current = serializers.SerializerMethodField()

    class Meta:
        model = JourneyVersion
        fields = ["journeyId", "number", "current", "definition", "publishedAt", "publishedBy"]

    def get_current(self, obj: JourneyVersion) -> bool:
        """New enrolments start on this version."""
        return obj.journey.published_version_id == obj.pk


class EnrolmentOutputSerializer(serializers.ModelSerializer):
    journeyId = serializers.UUIDField(source="journey_id")
    journeyName = serializers.CharField(source="journey.name")
    version = serializers.IntegerField(source="version.number")
    customerId = serializers.UUIDField(source="customer_id")
    displayName = serializers.CharField(source="customer.display_name")
    dueAt = serializers.DateTimeField(source="due_at", allow_null=True)
    entryKey = serializers.CharField(source="entry_key")
    enteredAt = serializers.DateTimeField(source="entered_at")
    stepEnteredAt = serializers.DateTimeField(source="step_entered_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    exitReason = serializers.CharField(source="exit_reason")
    lastError = serializers.CharField(source="last_error")

    class Meta:
        model = Enrolment
        fields = [
            "id", "journeyId", "journeyName", "version", "customerId", "displayName", "status",
            "step", "dueAt", "source", "entryKey", "context", "enteredAt", "stepEnteredAt",
            "finishedAt", "exitReason", "attempts", "lastError",
        ]  # fmt: skip


class EnrolmentEventOutputSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = EnrolmentEvent
        fields = ["version", "step", "kind", "branch", "detail", "at"]


class EnrolmentDetailOutputSerializer(EnrolmentOutputSerializer):
    events = serializers.SerializerMethodField()

    class Meta(EnrolmentOutputSerializer.Meta):
        fields = [*EnrolmentOutputSerializer.Meta.fields, "events"]

    def get_events(self, obj: Enrolment) -> list[dict]:
        from journeys.selectors import enrolment_events

        events = enrolment_events(enrolment=obj).select_related("version")
        return EnrolmentEventOutputSerializer(events, many=True).data


class EnrolResultOutputSerializer(serializers.Serializer):
    class SkippedSerializer(serializers.Serializer):
        customerId = serializers.UUIDField()
        reason = serializers.CharField()

    enrolled = serializers.ListField(child=serializers.UUIDField())
    skipped = SkippedSerializer(many=True)


class StaffTaskOutputSerializer(serializers.ModelSerializer):
    customerId = serializers.UUIDField(source="customer_id")
    displayName = serializers.CharField(source="customer.display_name")
    journeyId = serializers.UUIDField(source="journey_id", allow_null=True)
    journeyName = serializers.SerializerMethodField()
    enrolmentId = serializers.UUIDField(source="enrolment_id", allow_null=True)
    assignedTo = serializers.CharField(source="assigned_to")
    createdAt = serializers.DateTimeField(source="created_at")
    doneAt = serializers.DateTimeField(source="done_at", allow_null=True)
    doneBy = serializers.CharField(source="done_by")

    class Meta:
        model = StaffTask
        fields = [
            "id", "title", "body", "status", "assignedTo", "customerId", "displayName",
            "journeyId", "journeyName", "enrolmentId", "step", "createdAt", "doneAt", "doneBy",
        ]  # fmt: skip

    def get_journeyName(self, obj: StaffTask) -> str | None:
        return obj.journey.name if obj.journey_id else None


class JourneyStepStatsSerializer(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField()
    label = serializers.CharField()
    entered = serializers.IntegerField()
    waiting = serializers.IntegerField(help_text="Live enrolments at the step now.")
    completed = serializers.IntegerField()
    exited = serializers.IntegerField()
    converted = serializers.IntegerField()
    branches = serializers.DictField(
        child=serializers.IntegerField(), help_text="How many left the step by each branch."
    )


class JourneyStatsOutputSerializer(serializers.Serializer):
    """Documents `journey_stats` (journeys/selectors.py) for the OpenAPI schema."""

    version = serializers.IntegerField(allow_null=True)
    enrolled = serializers.IntegerField()
    live = serializers.IntegerField()
    completed = serializers.IntegerField()
    converted = serializers.IntegerField()
    exited = serializers.IntegerField()
    failed = serializers.IntegerField()
    conversionRate = serializers.FloatField(allow_null=True)
    steps = JourneyStepStatsSerializer(many=True)


class JourneyTemplateSegmentSerializer(serializers.Serializer):
    path = serializers.CharField()
    segmentTemplate = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    segmentId = serializers.UUIDField(
        allow_null=True, help_text="The club's segment for it; null: copying makes one."
    )


class JourneyTemplateOutputSerializer(serializers.Serializer):
    """Documents `journey_templates` (journeys/presets.py) for the OpenAPI schema."""

    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    segments = JourneyTemplateSegmentSerializer(many=True)
    definition = serializers.JSONField()
