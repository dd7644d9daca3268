from __future__ import annotations

import graphene


class TenantType(graphene.ObjectType):
    """The caller's club."""

    class Meta:
        name = "Tenant"

    id = graphene.UUID(required=True)
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    timezone = graphene.String(required=True)
    country = graphene.String(required=True)
    currency = graphene.String(required=True)
