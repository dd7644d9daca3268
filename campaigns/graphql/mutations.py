"""Writes on campaigns: the scope `crm:campaigns`, then the service REST calls. Bad input comes
back in `errors` naming each field; a state change the state forbids has code
`invalid_state` and says why."""

from __future__ import annotations

from typing import Any, ClassVar

import graphene
from django.core.exceptions import ValidationError
from graphene.types.generic import GenericScalar

from campaigns.api.serializers import CampaignInputSerializer, campaign_input
from campaigns.graphql.types import CampaignNode
from campaigns.selectors import campaign_get
from campaigns.services import (
    CampaignInput,
    CampaignStateError,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_send_now,
    campaign_test_send,
    campaign_update,
)
from crm.accounts.scopes import Scope
from crm.api.errors import validation_details
from crm.graphql.errors import MutationError
from crm.graphql.mutations import BaseMutation, Refused
from crm.graphql.permissions import actor_label


def _not_found() -> MutationError:
    return MutationError(
        field="id", message="No campaign with this id in this club.", code="not_found"
    )


class _CampaignMutation(BaseMutation):
    class Meta:
        abstract = True

    scopes: ClassVar[tuple[str, ...]] = (Scope.CAMPAIGNS,)
    state_errors = (CampaignStateError,)


def _campaign_input(input: Any, *, partial: bool) -> CampaignInput:
    """REST's body checked by REST's serializer (unknown fields and types refused, by field
    path), then the service's typed input."""
    if not isinstance(input, dict):
        raise ValidationError({"input": ["Give an object."]})
    body = CampaignInputSerializer(data=input, partial=partial)
    if not body.is_valid():
        raise ValidationError(validation_details(body.errors))
    return campaign_input(body.validated_data)


class CreateCampaign(_CampaignMutation):
    """Create a DRAFT campaign; `input` is the REST body of segments.md (camelCase)."""

    class Arguments:
        input = GenericScalar(required=True)

    campaign = graphene.Field(CampaignNode)

    @classmethod
    def validate(cls, info, input):
        if not isinstance(input, dict):
            return [MutationError(field="input", message="Give an object.", code="invalid")]
        return []

    @classmethod
    def perform(cls, root, info, input):
        data = _campaign_input(input, partial=False)
        campaign = campaign_create(data=data, actor_label=actor_label(info))
        return cls(campaign=campaign_get(campaign_id=campaign.id), errors=[])


class UpdateCampaign(_CampaignMutation):
    class Arguments:
        id = graphene.UUID(required=True)
        input = GenericScalar(required=True)

    campaign = graphene.Field(CampaignNode)

    @classmethod
    def perform(cls, root, info, id, input):
        campaign = campaign_get(campaign_id=id)
        if campaign is None:
            raise Refused(_not_found())
        data = _campaign_input(input or {}, partial=True)
        campaign = campaign_update(campaign=campaign, data=data, actor_label=actor_label(info))
        return cls(campaign=campaign_get(campaign_id=campaign.id), errors=[])


def _state_mutation(name: str, action, doc: str) -> type[BaseMutation]:
    class Arguments:
        id = graphene.UUID(required=True)

    def perform(cls, root, info, id):
        campaign = campaign_get(campaign_id=id)
        if campaign is None:
            raise Refused(_not_found())
        campaign = action(campaign=campaign, actor_label=actor_label(info))
        return cls(campaign=campaign_get(campaign_id=campaign.id), errors=[])

    return type(
        name,
        (_CampaignMutation,),
        {
            "__doc__": doc,
            "Arguments": Arguments,
            "campaign": graphene.Field(CampaignNode),
            "perform": classmethod(perform),
        },
    )


ScheduleCampaign = _state_mutation(
    "ScheduleCampaign", campaign_schedule, "DRAFT → SCHEDULED (its time, crontab or trigger)."
)
SendCampaign = _state_mutation("SendCampaign", campaign_send_now, "Send a ONE_TIME campaign now.")
PauseCampaign = _state_mutation("PauseCampaign", campaign_pause, "Stop handing messages over.")
ResumeCampaign = _state_mutation("ResumeCampaign", campaign_resume, "Back to where it was.")
CancelCampaign = _state_mutation(
    "CancelCampaign", campaign_cancel, "Cancel; messages not yet handed over are never sent."
)


class TestSendCampaign(_CampaignMutation):
    """Send the campaign's email now to staff addresses (a signed-in person's own address
    when none are given); it enters neither the ledger nor the statistics."""

    class Arguments:
        id = graphene.UUID(required=True)
        addresses = graphene.List(graphene.NonNull(graphene.String))
        variant = graphene.String(default_value="")

    results = GenericScalar()

    @classmethod
    def perform(cls, root, info, id, addresses=None, variant=""):
        campaign = campaign_get(campaign_id=id)
        if campaign is None:
            raise Refused(_not_found())
        user = info.context.user
        own = getattr(user, "email", "") if getattr(user, "is_authenticated", False) else ""
        if not addresses and own:
            addresses = [own]
        results = campaign_test_send(
            campaign=campaign, addresses=addresses, variant=variant,
            actor_label=actor_label(info),
        )  # fmt: skip
        return cls(results=results, errors=[])
