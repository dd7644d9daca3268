"""Writes on campaigns: the scope `crm:campaigns`, then the service REST calls. Bad input comes
back in `errors` naming each field; a state change the state forbids has code
`invalid_state` and says why."""

from __future__ import annotations

from typing import ClassVar

import graphene
from graphene.types.generic import GenericScalar

from campaigns.api.serializers import campaign_input_checked
from campaigns.graphql.inputs import CampaignInputType
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
from crm.graphql.errors import MutationError
from crm.graphql.inputs import input_body
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


def _campaign_input(input: CampaignInputType, *, partial: bool) -> CampaignInput:
    """The typed input read back as REST's body, checked by REST's serializer (lengths and
    the like; a refusal names the field), then the service's typed input, which the service
    checks in full (segments of this club, variants, cron)."""
    return campaign_input_checked(input_body(input), partial=partial)


class CreateCampaign(_CampaignMutation):
    """Create a DRAFT campaign: `input` takes REST's campaign fields (segments.md); `name` is
    required. Refusals come back in `errors`, each naming its field (`name`,
    `audience.include[0]`, `variants[1].weight`)."""

    class Arguments:
        input = CampaignInputType(required=True)

    campaign = graphene.Field(CampaignNode)

    @classmethod
    def perform(cls, root, info, input):
        data = _campaign_input(input, partial=False)
        campaign = campaign_create(data=data, actor_label=actor_label(info))
        return cls(campaign=campaign_get(campaign_id=campaign.id), errors=[])


class UpdateCampaign(_CampaignMutation):
    """Change a DRAFT, SCHEDULED or PAUSED campaign: only the fields `input` gives change
    (null clears a field that may be empty). An id not of this club is `not_found`."""

    class Arguments:
        id = graphene.UUID(required=True)
        input = CampaignInputType(required=True)

    campaign = graphene.Field(CampaignNode)

    @classmethod
    def perform(cls, root, info, id, input):
        campaign = campaign_get(campaign_id=id)
        if campaign is None:
            raise Refused(_not_found())
        data = _campaign_input(input, partial=True)
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
