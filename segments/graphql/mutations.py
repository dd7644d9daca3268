"""Writes on segments: check the scope, validate, call the service REST calls
(segments.services). Refusals come back in `errors`, each naming its field or rule path."""

from __future__ import annotations

import graphene
from graphene.types.generic import GenericScalar

from crm.accounts.scopes import Scope
from crm.graphql.errors import MutationError
from crm.graphql.mutations import BaseMutation, Refused
from crm.graphql.permissions import actor_label
from segments.graphql.types import SegmentType
from segments.models import RefreshSchedule
from segments.models import SegmentType as Kind
from segments.selectors import segment_get
from segments.services import (
    segment_create,
    segment_delete,
    segment_members_add,
    segment_refresh,
    segment_update,
)


def _not_found() -> MutationError:
    return MutationError(
        field="id", message="No segment with this id in this club.", code="not_found"
    )


SegmentKind = graphene.Enum.from_enum(Kind, name="SegmentKind")
Refresh = graphene.Enum.from_enum(RefreshSchedule, name="SegmentRefresh")


class CreateSegment(BaseMutation):
    scopes = (Scope.WRITE,)

    class Arguments:
        name = graphene.String(required=True)
        type = SegmentKind(default_value=Kind.DYNAMIC.value)
        rules = GenericScalar()
        refresh = Refresh(default_value=RefreshSchedule.DAILY.value)
        description = graphene.String(default_value="")

    segment = graphene.Field(SegmentType)

    @classmethod
    def perform(cls, root, info, name, type, refresh, description, rules=None):
        segment = segment_create(
            name=name,
            type=getattr(type, "value", type),
            rules=rules,
            refresh=getattr(refresh, "value", refresh),
            description=description,
            actor_label=actor_label(info),
        )
        return cls(segment=segment, errors=[])


class UpdateSegment(BaseMutation):
    scopes = (Scope.WRITE,)

    class Arguments:
        id = graphene.UUID(required=True)
        name = graphene.String()
        rules = GenericScalar()
        refresh = Refresh()
        description = graphene.String()

    segment = graphene.Field(SegmentType)

    @classmethod
    def perform(cls, root, info, id, **changes):
        segment = segment_get(segment_id=id)
        if segment is None:
            raise Refused(_not_found())
        data = {key: getattr(value, "value", value) for key, value in changes.items()}
        segment = segment_update(segment=segment, data=data, actor_label=actor_label(info))
        return cls(segment=segment, errors=[])


class DeleteSegment(BaseMutation):
    scopes = (Scope.WRITE,)
    validation_code = "in_use"  # the one refusal: another segment's rule names it

    class Arguments:
        id = graphene.UUID(required=True)

    deleted_id = graphene.UUID()

    @classmethod
    def perform(cls, root, info, id):
        segment = segment_get(segment_id=id)
        if segment is None:
            raise Refused(_not_found())
        segment_delete(segment=segment, actor_label=actor_label(info))
        return cls(deleted_id=id, errors=[])


class RefreshSegment(BaseMutation):
    """Re-evaluate a segment now."""

    scopes = (Scope.WRITE,)

    class Arguments:
        id = graphene.UUID(required=True)

    segment = graphene.Field(SegmentType)
    entered = graphene.Int()
    exited = graphene.Int()

    @classmethod
    def perform(cls, root, info, id):
        segment = segment_get(segment_id=id)
        if segment is None:
            raise Refused(_not_found())
        result = segment_refresh(segment_id=segment.id)
        segment.refresh_from_db()
        return cls(segment=segment, entered=result.entered, exited=result.exited, errors=[])


class AddSegmentMembers(BaseMutation):
    """Add customers to a STATIC segment."""

    scopes = (Scope.WRITE,)

    class Arguments:
        id = graphene.UUID(required=True)
        customer_ids = graphene.List(graphene.NonNull(graphene.UUID), required=True)

    segment = graphene.Field(SegmentType)
    added = graphene.Int()
    not_found = graphene.List(graphene.NonNull(graphene.String))

    @classmethod
    def perform(cls, root, info, id, customer_ids):
        segment = segment_get(segment_id=id)
        if segment is None:
            raise Refused(_not_found())
        result = segment_members_add(
            segment=segment, customer_ids=customer_ids, actor_label=actor_label(info)
        )
        segment.refresh_from_db()
        return cls(segment=segment, added=result.added, not_found=result.not_found, errors=[])
