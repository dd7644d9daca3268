"""Writes on campaigns: the scope `crm:campaigns`, then the service REST calls. Bad input comes
back in `errors` naming each field; a state change the state forbids has code
`invalid_state` and says why."""

from __future__ import annotations

import graphene
from django.core.exceptions import ValidationError
from graphene.types.generic import GenericScalar

from campaigns.graphql.types import CampaignNode
from campaigns.selectors import campaign_get
from campaigns.services import (
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
from crm.graphql.errors import MutationError, errors_from, refuse
from crm.graphql.permissions import actor_label, require_scope_for_mutation


def _not_found() -> MutationError:
    return MutationError(
        field="id", message="No campaign with this id in this club.", code="not_found"
    )


class CreateCampaign(graphene.Mutation):
    """Create a DRAFT campaign; `input` is the REST body of segments.md (camelCase)."""

    class Arguments:
        input = GenericScalar(required=True)

    campaign = graphene.Field(CampaignNode)
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, input):
        require_scope_for_mutation(info, Scope.CAMPAIGNS)
        if not isinstance(input, dict):
            return cls(errors=refuse(info, [MutationError(field="input", message="Give an object.",
                                                           code="invalid")]))  # fmt: skip
        try:
            campaign = campaign_create(data=input, actor_label=actor_label(info))
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        return cls(campaign=campaign_get(campaign_id=campaign.id), errors=[])


class UpdateCampaign(graphene.Mutation):
    class Arguments:
        id = graphene.UUID(required=True)
        input = GenericScalar(required=True)

    campaign = graphene.Field(CampaignNode)
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, id, input):
        require_scope_for_mutation(info, Scope.CAMPAIGNS)
        campaign = campaign_get(campaign_id=id)
        if campaign is None:
            return cls(errors=refuse(info, [_not_found()]))
        try:
            campaign = campaign_update(
                campaign=campaign, data=dict(input or {}), actor_label=actor_label(info)
            )
        except CampaignStateError as exc:
            return cls(errors=refuse(info, [MutationError(message=str(exc), code="invalid_state")]))
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        return cls(campaign=campaign_get(campaign_id=campaign.id), errors=[])


def _state_mutation(name: str, action, doc: str) -> type[graphene.Mutation]:
    class Arguments:
        id = graphene.UUID(required=True)

    def mutate(cls, root, info, id):
        require_scope_for_mutation(info, Scope.CAMPAIGNS)
        campaign = campaign_get(campaign_id=id)
        if campaign is None:
            return cls(errors=refuse(info, [_not_found()]))
        try:
            campaign = action(campaign=campaign, actor_label=actor_label(info))
        except CampaignStateError as exc:
            return cls(errors=refuse(info, [MutationError(message=str(exc), code="invalid_state")]))
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        return cls(campaign=campaign_get(campaign_id=campaign.id), errors=[])

    return type(
        name,
        (graphene.Mutation,),
        {
            "__doc__": doc,
            "Arguments": Arguments,
            "campaign": graphene.Field(CampaignNode),
            "errors": graphene.List(graphene.NonNull(MutationError), required=True),
            "mutate": classmethod(mutate),
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


class TestSendCampaign(graphene.Mutation):
    """Send the campaign's email now to staff addresses (a signed-in person's own address
    when none are given); it enters neither the ledger nor the statistics."""

    class Arguments:
        id = graphene.UUID(required=True)
        addresses = graphene.List(graphene.NonNull(graphene.String))
        variant = graphene.String(default_value="")

    results = GenericScalar()
    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    @classmethod
    def mutate(cls, root, info, id, addresses=None, variant=""):
        require_scope_for_mutation(info, Scope.CAMPAIGNS)
        campaign = campaign_get(campaign_id=id)
        if campaign is None:
            return cls(errors=refuse(info, [_not_found()]))
        user = info.context.user
        own = getattr(user, "email", "") if getattr(user, "is_authenticated", False) else ""
        if not addresses and own:
            addresses = [own]
        try:
            results = campaign_test_send(
                campaign=campaign, addresses=addresses, variant=variant,
                actor_label=actor_label(info),
            )  # fmt: skip
        except ValidationError as exc:
            return cls(errors=refuse(info, errors_from(exc)))
        return cls(results=results, errors=[])
