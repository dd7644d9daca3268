from __future__ import annotations

import graphene

from campaigns.graphql.mutations import (
    CancelCampaign,
    CreateCampaign,
    PauseCampaign,
    ResumeCampaign,
    ScheduleCampaign,
    SendCampaign,
    TestSendCampaign,
    UpdateCampaign,
)
from campaigns.graphql.tee_sheet import Mutation as TeeSheetMutation
from campaigns.graphql.tee_sheet import Query as TeeSheetQuery
from campaigns.graphql.templates import Query as TemplatesQuery
from campaigns.graphql.types import CampaignNode
from campaigns.selectors import campaign_get, campaign_list
from crm.graphql.permissions import require_scope


class Query(TeeSheetQuery, TemplatesQuery, graphene.ObjectType):
    campaigns = graphene.List(graphene.NonNull(CampaignNode), required=True)
    campaign = graphene.Field(CampaignNode, id=graphene.UUID(required=True))

    @staticmethod
    def resolve_campaigns(root, info):
        require_scope(info, "crm:read")
        return campaign_list()

    @staticmethod
    def resolve_campaign(root, info, id):
        require_scope(info, "crm:read")
        return campaign_get(campaign_id=id)


class Mutation(TeeSheetMutation, graphene.ObjectType):
    create_campaign = CreateCampaign.Field()
    update_campaign = UpdateCampaign.Field()
    schedule_campaign = ScheduleCampaign.Field()
    send_campaign = SendCampaign.Field()
    pause_campaign = PauseCampaign.Field()
    resume_campaign = ResumeCampaign.Field()
    cancel_campaign = CancelCampaign.Field()
    test_send_campaign = TestSendCampaign.Field()
