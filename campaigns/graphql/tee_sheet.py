"""The tee-sheet gap filler in GraphQL: the same settings, slots, gaps (with waves and outcome)
and figures as REST; settings changed with `crm:campaigns`."""

from __future__ import annotations

import graphene
from django.core.exceptions import ValidationError
from graphene.types.generic import GenericScalar
from graphene_django import DjangoObjectType

from campaigns.graphql.inputs import CampaignChannel, CampaignTemplatesInput
from campaigns.models import TeeSheetGap, TeeSheetSettings, TeeSheetWave
from campaigns.tee_sheet import tee_sheet_settings, tee_sheet_settings_update
from campaigns.tee_sheet_selectors import (
    tee_gap_list,
    tee_gap_outcome,
    tee_sheet_utilisation,
    tee_sheet_weekly,
    tee_slot_list,
)
from crm.accounts.scopes import Scope
from crm.graphql.errors import MutationError, errors_from, refuse
from crm.graphql.inputs import input_body
from crm.graphql.permissions import actor_label, require_scope, require_scope_for_mutation
from profiles.models import TeeSlot


class TeeSheetSettingsNode(DjangoObjectType):
    channels = graphene.List(graphene.NonNull(graphene.String), required=True)
    templates = GenericScalar()
    content = GenericScalar()
    holdout_percent = graphene.Float(required=True)

    class Meta:
        model = TeeSheetSettings
        name = "TeeSheetSettings"
        fields = (
            "enabled", "horizon_hours", "golfers_per_place", "max_waves", "minutes_between_waves",
            "weekly_limit", "min_day_part_share", "offer_window_hours", "updated_at", "updated_by",
        )  # fmt: skip

    @staticmethod
    def resolve_holdout_percent(root, info) -> float:
        return float(root.holdout_percent)


class TeeSlotNode(DjangoObjectType):
    free_places = graphene.Int(required=True)
    max_handicap = graphene.Float()

    class Meta:
        model = TeeSlot
        name = "TeeSlot"
        fields = (
            "slot_id", "course_id", "course_name", "tee_time", "holes", "capacity", "booked",
            "price_cents", "currency", "member_only", "booking_url", "state_at",
        )  # fmt: skip

    @staticmethod
    def resolve_max_handicap(root, info):
        return float(root.max_handicap) if root.max_handicap is not None else None


class TeeSheetWaveNode(DjangoObjectType):
    class Meta:
        model = TeeSheetWave
        name = "TeeSheetWave"
        fields = ("number", "free_places", "chosen", "held_out", "created_at")


class TeeSheetGapNode(DjangoObjectType):
    slot = graphene.Field(TeeSlotNode, required=True)
    waves = graphene.List(graphene.NonNull(TeeSheetWaveNode), required=True)
    outcome = GenericScalar(
        required=True, description="Offers, held out, bookings, revenue recovered."
    )

    class Meta:
        model = TeeSheetGap
        name = "TeeSheetGap"
        fields = ("id", "status", "free_places_at_open", "opened_at", "closed_at")
        convert_choices_to_enum = False

    @staticmethod
    def resolve_waves(root, info):
        return list(root.waves.all())

    @staticmethod
    def resolve_outcome(root, info):
        return tee_gap_outcome(root)


class Query(graphene.ObjectType):
    tee_sheet_settings = graphene.Field(TeeSheetSettingsNode, required=True)
    tee_sheet_slots = graphene.List(graphene.NonNull(TeeSlotNode), required=True)
    tee_sheet_gaps = graphene.List(
        graphene.NonNull(TeeSheetGapNode), required=True, status=graphene.String()
    )
    tee_sheet_summary = GenericScalar(
        required=True, description="Weekly offers, bookings and revenue; utilisation by day part."
    )

    @staticmethod
    def resolve_tee_sheet_settings(root, info):
        require_scope(info, "crm:read")
        return tee_sheet_settings()

    @staticmethod
    def resolve_tee_sheet_slots(root, info):
        require_scope(info, "crm:read")
        return list(tee_slot_list()[:500])

    @staticmethod
    def resolve_tee_sheet_gaps(root, info, status=None):
        require_scope(info, "crm:read")
        return list(tee_gap_list(status=status)[:200])

    @staticmethod
    def resolve_tee_sheet_summary(root, info):
        require_scope(info, "crm:read")
        return {"weeks": tee_sheet_weekly(weeks=8), "utilisation": tee_sheet_utilisation(days=7)}


class TeeSheetSettingsInput(graphene.InputObjectType):
    """The gap filler's settings, as REST's PATCH tee-sheet/settings body: only the fields
    given change. The filler's service checks the ranges and names each field at fault."""

    enabled = graphene.Boolean(description="Whether the filler offers free places.")
    horizon_hours = graphene.Int(
        description="Fill slots teeing off within this many hours: 1 to 336."
    )
    golfers_per_place = graphene.Int(
        description="Wave size: golfers offered per free place, 1 to 50."
    )
    max_waves = graphene.Int(description="Waves of offers at most per gap: 1 to 10.")
    minutes_between_waves = graphene.Int(description="Minutes between two waves: 1 to 1,440.")
    weekly_limit = graphene.Int(description="Most slots offered to one golfer in 7 days: 1 to 21.")
    min_day_part_share = graphene.Int(
        description="Only golfers with at least this % of their bookings (last 365 days) in "
        "the slot's day part: 0 to 100."
    )
    offer_window_hours = graphene.Int(
        description="A booking of the slot this long after the offer counts as recovered: 1 "
        "to 336 hours."
    )
    holdout_percent = graphene.Float(
        description="Share of chosen golfers who get no offer, to measure the lift: 0 to 50."
    )
    channels = graphene.List(
        graphene.NonNull(CampaignChannel), description="The channels offers go out on."
    )
    templates = graphene.InputField(
        CampaignTemplatesInput, description="A template for each channel used."
    )
    # Free-form: the offer template's own variables.
    content = GenericScalar(description="JSON the offer's templates fill in (a subject).")


class UpdateTeeSheetSettings(graphene.Mutation):
    """Change the gap filler's settings: only the fields `input` gives."""

    class Arguments:
        input = TeeSheetSettingsInput(required=True)

    settings = graphene.Field(TeeSheetSettingsNode)
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, input):
        require_scope_for_mutation(info, Scope.CAMPAIGNS)
        try:
            row = tee_sheet_settings_update(data=input_body(input), actor_label=actor_label(info))
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        return cls(settings=row, errors=[])


class Mutation(graphene.ObjectType):
    update_tee_sheet_settings = UpdateTeeSheetSettings.Field()
