from __future__ import annotations

import datetime as dt

import graphene
from graphene.types.generic import GenericScalar


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


class DashboardClubType(graphene.ObjectType):
    class Meta:
        name = "DashboardClub"

    name = graphene.String(required=True)
    timezone = graphene.String(required=True)
    currency = graphene.String(required=True)


def _section(name: str) -> GenericScalar:
    return GenericScalar(
        required=True,
        description=f"The {name} section: its parts by key, exactly as REST's "
        "`GET api/v1/dashboard` (see its OpenAPI description); a part whose data has not "
        "arrived has `missing` set instead of figures.",
        resolver=lambda root, info: root[name],
    )


class DashboardType(graphene.ObjectType):
    """The club's home dashboard (crm/dashboard.py). Sections are JSON objects: their parts
    come from each app's registered selectors, the same ones REST serves."""

    class Meta:
        name = "Dashboard"

    club = graphene.Field(DashboardClubType, required=True)
    generated_at = graphene.DateTime(
        required=True, resolver=lambda root, info: dt.datetime.fromisoformat(root["generatedAt"])
    )
    members = _section("members")
    at_risk = _section("atRisk")
    golf = _section("golf")
    tee_sheet = _section("teeSheet")
    marketing = _section("marketing")
    data_health = _section("dataHealth")
