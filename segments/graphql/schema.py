from __future__ import annotations

import graphene
from django.utils import timezone
from graphene.types.generic import GenericScalar
from graphql import GraphQLError

from crm.graphql.permissions import require_scope
from profiles.graphql.loaders import customers_seen
from segments.graphql.mutations import (
    AddSegmentMembers,
    CreateSegment,
    DeleteSegment,
    RefreshSegment,
    UpdateSegment,
)
from segments.graphql.types import SegmentPreview, SegmentTemplate, SegmentType
from segments.presets import templates_for
from segments.rules import RuleError
from segments.selectors import segment_get, segment_list, segment_preview


class Query(graphene.ObjectType):
    segments = graphene.List(graphene.NonNull(SegmentType), required=True)
    segment = graphene.Field(SegmentType, id=graphene.UUID(required=True))
    segment_preview = graphene.Field(
        SegmentPreview,
        required=True,
        rules=GenericScalar(required=True),
        description="How many customers a rule matches now, and up to 10 of them. Nothing is "
        "saved. A bad rule is an error whose extensions name each bad path.",
    )
    segment_templates = graphene.List(graphene.NonNull(SegmentTemplate), required=True)

    @staticmethod
    def resolve_segments(root, info):
        require_scope(info, "crm:read")
        return segment_list()

    @staticmethod
    def resolve_segment(root, info, id):
        require_scope(info, "crm:read")
        return segment_get(segment_id=id)

    @staticmethod
    def resolve_segment_preview(root, info, rules):
        require_scope(info, "crm:read")
        try:
            preview = segment_preview(rules=rules)
        except RuleError as exc:
            raise GraphQLError(
                "The rule is not valid.", extensions={"code": "invalid", "errors": exc.errors}
            ) from None
        customers_seen(info, preview.sample)
        return SegmentPreview(count=preview.count, sample=preview.sample)

    @staticmethod
    def resolve_segment_templates(root, info):
        require_scope(info, "crm:read")
        tz = info.context.tenant.timezone or "UTC"
        from zoneinfo import ZoneInfo

        return templates_for(month=timezone.localtime(timezone=ZoneInfo(tz)).month)


class Mutation(graphene.ObjectType):
    create_segment = CreateSegment.Field()
    update_segment = UpdateSegment.Field()
    delete_segment = DeleteSegment.Field()
    refresh_segment = RefreshSegment.Field()
    add_segment_members = AddSegmentMembers.Field()
