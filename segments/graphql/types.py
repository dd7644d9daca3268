from __future__ import annotations

import graphene
from graphene.types.generic import GenericScalar
from graphene_django import DjangoObjectType

from crm.api.pagination import DEFAULT_TAKE, MAX_TAKE
from profiles.graphql.loaders import customers_seen
from profiles.graphql.types import CustomerList, CustomerType
from segments.models import Segment
from segments.selectors import segment_members


class SegmentType(DjangoObjectType):
    """An audience: DYNAMIC (a rule, segments.md) or STATIC (a list)."""

    rules = GenericScalar(description="The rule (segments.md); null for STATIC segments.")
    member_count = graphene.Int(required=True)
    members = graphene.Field(
        CustomerList,
        required=True,
        skip=graphene.Int(default_value=0),
        take=graphene.Int(default_value=DEFAULT_TAKE),
        description="Members as of the last refresh.",
    )

    class Meta:
        model = Segment
        name = "Segment"
        fields = (
            "id", "name", "description", "type", "refresh", "template_key",
            "last_refreshed_at", "created_by", "created_at", "updated_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_members(root: Segment, info, skip: int, take: int) -> CustomerList:
        skip = max(skip, 0)
        take = min(max(take, 1), MAX_TAKE)
        queryset = segment_members(segment=root).order_by("last_name", "first_name", "id")
        total = queryset.count()
        items = list(queryset[skip : skip + take])
        customers_seen(info, items)
        return CustomerList(
            items=items, total=total, skip=skip, take=take, has_more=skip + len(items) < total
        )


class SegmentPreview(graphene.ObjectType):
    count = graphene.Int(required=True)
    sample = graphene.List(graphene.NonNull(CustomerType), required=True)


class SegmentTemplate(graphene.ObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    rules = GenericScalar(required=True)
