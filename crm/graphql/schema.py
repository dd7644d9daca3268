"""The one GraphQL schema: each app's Query and Mutation joined here (Saleor-style)."""

from __future__ import annotations

from typing import Any

import graphene
from graphql import GraphQLResolveInfo

from campaigns.graphql.schema import Mutation as CampaignsMutation
from campaigns.graphql.schema import Query as CampaignsQuery
from crm.graphql.permissions import require_scope
from crm.graphql.types import DashboardType, TenantType
from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_of_request
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

    dashboard = graphene.Field(
        DashboardType,
        required=True,
        description="The club's home dashboard: the same figures as GET api/v1/dashboard.",
    )

    @staticmethod
    def resolve_tenant(root: Any, info: GraphQLResolveInfo) -> Tenant:
        return tenant_of_request(info.context)

    @staticmethod
    def resolve_dashboard(root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
        from crm.dashboard import dashboard_build

        require_scope(info, "crm:read")
        return dashboard_build()


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
