from __future__ import annotations

import graphene
from graphql import GraphQLError

from crm.api.pagination import DEFAULT_TAKE, MAX_TAKE
from crm.graphql.permissions import require_scope
from profiles.graphql.types import CustomerList, CustomerType
from profiles.normalise import normalise_email, normalise_phone
from profiles.selectors import customer_get, customer_list


class Query(graphene.ObjectType):
    customers = graphene.Field(
        CustomerList,
        required=True,
        skip=graphene.Int(default_value=0),
        take=graphene.Int(default_value=DEFAULT_TAKE),
        email=graphene.String(),
        phone_number=graphene.String(),
        scl_member_id=graphene.Int(),
        teetime_player_id=graphene.String(),
        messaging_contact_id=graphene.String(),
        q=graphene.String(),
    )
    customer = graphene.Field(CustomerType, id=graphene.UUID(required=True))

    @staticmethod
    def resolve_customers(root, info, skip: int, take: int, **filters) -> CustomerList:
        require_scope(info, "crm:read")
        if skip < 0:
            raise GraphQLError("skip must be 0 or more.", extensions={"field": "skip"})
        if not 1 <= take <= MAX_TAKE:
            raise GraphQLError(f"take must be 1 to {MAX_TAKE}.", extensions={"field": "take"})
        if filters.get("email"):
            filters["email"] = normalise_email(filters["email"])
        if filters.get("phone_number"):
            phone = normalise_phone(
                filters["phone_number"], default_country=info.context.tenant.country
            )
            if phone is None:
                raise GraphQLError("Not a phone number.", extensions={"field": "phoneNumber"})
            filters["phone_number"] = phone
        queryset = customer_list(filters=filters)  # type: ignore[arg-type]
        total = queryset.count()
        items = list(queryset[skip : skip + take])
        return CustomerList(
            items=items, total=total, skip=skip, take=take, has_more=skip + len(items) < total
        )

    @staticmethod
    def resolve_customer(root, info, id):
        require_scope(info, "crm:read")
        return customer_get(customer_id=str(id))
