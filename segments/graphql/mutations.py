"""Writes on segments: check the scope, validate, call the service REST calls
(segments.services). Refusals come back in `errors`, each naming its field or rule path."""

from __future__ import annotations

import graphene
from django.core.exceptions import ValidationError
from graphene.types.generic import GenericScalar

from crm.accounts.scopes import Scope
from crm.graphql.errors import MutationError, errors_from, refuse
from crm.graphql.permissions import actor_label, require_scope_for_mutation
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


class CreateSegment(graphene.Mutation):
    class Arguments:
        name = graphene.String(required=True)
        type = SegmentKind(default_value=Kind.DYNAMIC.value)
        rules = GenericScalar()
        refresh = Refresh(default_value=RefreshSchedule.DAILY.value)
        description = graphene.String(default_value="")

    segment = graphene.Field(SegmentType)
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, name, type, refresh, description, rules=None):
        require_scope_for_mutation(info, Scope.WRITE)
        try:
            segment = segment_create(
                name=name,
                type=getattr(type, "value", type),
                rules=rules,
                refresh=getattr(refresh, "value", refresh),
                description=description,
                actor_label=actor_label(info),
            )
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        return cls(segment=segment, errors=[])


class UpdateSegment(graphene.Mutation):
    class Arguments:
        id = graphene.UUID(required=True)
        name = graphene.String()
        rules = GenericScalar()
        refresh = Refresh()
        description = graphene.String()

    segment = graphene.Field(SegmentType)
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, id, **changes):
        require_scope_for_mutation(info, Scope.WRITE)
        segment = segment_get(segment_id=id)
        if segment is None:
            return cls(errors=refuse(info, [_not_found()]))
        data = {key: getattr(value, "value", value) for key, value in changes.items()}
        try:
            segment = segment_update(segment=segment, data=data, actor_label=actor_label(info))
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        return cls(segment=segment, errors=[])


class DeleteSegment(graphene.Mutation):
    class Arguments:
        id = graphene.UUID(required=True)

    deleted_id = graphene.UUID()
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, id):
        require_scope_for_mutation(info, Scope.WRITE)
        segment = segment_get(segment_id=id)
        if segment is None:
            return cls(errors=refuse(info, [_not_found()]))
        try:
            segment_delete(segment=segment, actor_label=actor_label(info))
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc, code="in_use")))
        return cls(deleted_id=id, errors=[])


class RefreshSegment(graphene.Mutation):
    """Re-evaluate a segment now."""

    class Arguments:
        id = graphene.UUID(required=True)

    segment = graphene.Field(SegmentType)
    entered = graphene.Int()
    exited = graphene.Int()
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, id):
        require_scope_for_mutation(info, Scope.WRITE)
        segment = segment_get(segment_id=id)
        if segment is None:
            return cls(errors=refuse(info, [_not_found()]))
        result = segment_refresh(segment_id=segment.id)
        segment.refresh_from_db()
        return cls(segment=segment, entered=result.entered, exited=result.exited, errors=[])


class AddSegmentMembers(graphene.Mutation):
    """Add customers to a STATIC segment."""

    class Arguments:
        id = graphene.UUID(required=True)
        customer_ids = graphene.List(graphene.NonNull(graphene.UUID), required=True)

    segment = graphene.Field(SegmentType)
    added = graphene.Int()
    not_found = graphene.List(graphene.NonNull(graphene.String))
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, id, customer_ids):
        require_scope_for_mutation(info, Scope.WRITE)
        segment = segment_get(segment_id=id)
        if segment is None:
            return cls(errors=refuse(info, [_not_found()]))
        try:
            result = segment_members_add(
                segment=segment, customer_ids=customer_ids, actor_label=actor_label(info)
            )
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        segment.refresh_from_db()
        return cls(segment=segment, added=result.added, not_found=result.not_found, errors=[])
