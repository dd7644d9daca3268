"""The one GraphQL schema: each app's Query and Mutation joined here (Saleor-style)."""

from __future__ import annotations

import graphene

from campaigns.graphql.schema import Mutation as CampaignsMutation
from campaigns.graphql.schema import Query as CampaignsQuery
from crm.graphql.types import TenantType
from journeys.graphql.schema import Mutation as JourneysMutation
from journeys.graphql.schema import Query as JourneysQuery
from profiles.graphql.schema import Mutation as ProfilesMutation
from profiles.graphql.schema import Query as ProfilesQuery
from segments.graphql.schema import Mutation as SegmentsMutation
from segments.graphql.schema import Query as SegmentsQuery
from social.graphql.schema import Mutation as SocialMutation
from social.graphql.schema import Query as SocialQuery


class CoreQuery(graphene.ObjectType):
    tenant = graphene.Field(TenantType, required=True, description="The caller's club.")

    @staticmethod
    def resolve_tenant(root, info):
        return info.context.tenant


class Query(
    CoreQuery,
    ProfilesQuery,
    SegmentsQuery,
    SocialQuery,
    CampaignsQuery,
    JourneysQuery,
    graphene.ObjectType,
):
    pass


class Mutation(
    ProfilesMutation,
    SegmentsMutation,
    SocialMutation,
    CampaignsMutation,
    JourneysMutation,
    graphene.ObjectType,
):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)
