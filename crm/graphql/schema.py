"""The one GraphQL schema: each app's Query and Mutation joined here (Saleor-style)."""

from __future__ import annotations

import graphene

from crm.graphql.types import TenantType
from profiles.graphql.schema import Mutation as ProfilesMutation
from profiles.graphql.schema import Query as ProfilesQuery


class CoreQuery(graphene.ObjectType):
    tenant = graphene.Field(TenantType, required=True, description="The caller's club.")

    @staticmethod
    def resolve_tenant(root, info):
        return info.context.tenant


class Query(CoreQuery, ProfilesQuery, graphene.ObjectType):
    pass


class Mutation(ProfilesMutation, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)
