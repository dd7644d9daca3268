"""The one GraphQL schema: each app's Query (and later Mutation) joined here (Saleor-style)."""

from __future__ import annotations

import graphene

from crm.graphql.types import TenantType
from profiles.graphql.schema import Query as ProfilesQuery


class CoreQuery(graphene.ObjectType):
    tenant = graphene.Field(TenantType, required=True, description="The caller's club.")

    @staticmethod
    def resolve_tenant(root, info):
        return info.context.tenant


class Query(CoreQuery, ProfilesQuery, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query)
