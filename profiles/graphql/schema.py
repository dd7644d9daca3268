from __future__ import annotations

import graphene
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from graphene.types.generic import GenericScalar
from graphql import GraphQLError

from crm.api.authentication import ServicePrincipal
from crm.api.pagination import DEFAULT_TAKE, MAX_TAKE
from crm.graphql.permissions import require_scope
from profiles.graphql.loaders import customers_seen
from profiles.graphql.mutations import (
    AddCustomerNote,
    EraseCustomer,
    MergeCustomers,
    SetCustomerTags,
    UnmergeCustomers,
)
from profiles.graphql.types import CustomerList, CustomerType, as_asked
from profiles.models import Customer, CustomerStatus
from profiles.normalise import normalise_email, normalise_phone
from profiles.selectors import customer_get_current, customer_list, customer_resolve
from profiles.services import customer_export


class IdentityInput(graphene.InputObjectType):
    """Identity hints, as in an event envelope's `identity`: strong ids win over email and
    phone, which are used only when no strong id is given."""

    email = graphene.String()
    phone_number = graphene.String(description="As typed; read with the club's country.")
    scl_member_id = graphene.BigInt()
    teetime_player_id = graphene.String()
    messaging_contact_id = graphene.String()
    auth_user_id = graphene.String()


_HINT_NAMES = {
    "email": "email",
    "phone_number": "phoneNumber",
    "scl_member_id": "sclMemberId",
    "teetime_player_id": "teetimePlayerId",
    "messaging_contact_id": "messagingContactId",
    "auth_user_id": "authUserId",
}


def _invalid(message: str, field: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "invalid", "field": field})


def _hints(info, identity: dict) -> dict:
    """IdentityInput -> the camelCase hints of `customer_resolve`, checked as REST checks them
    (profiles.api.serializers.ResolveInputSerializer)."""
    hints = {
        _HINT_NAMES[name]: value
        for name, value in identity.items()
        if value is not None and value != ""
    }
    if not hints:
        raise _invalid("Give at least one identity hint.", "identity")
    for name in ("teetimePlayerId", "messagingContactId", "authUserId"):
        if name in hints and len(hints[name]) > 128:
            raise _invalid("At most 128 characters.", name)
    if "sclMemberId" in hints and not 1 <= hints["sclMemberId"] <= 2**63 - 1:
        raise _invalid("Not an SCL member id.", "sclMemberId")
    if "email" in hints:
        try:
            validate_email(hints["email"])
        except ValidationError:
            raise _invalid("Enter a valid email address.", "email") from None
        hints["email"] = normalise_email(hints["email"])
    if "phoneNumber" in hints:
        phone = normalise_phone(hints["phoneNumber"], default_country=info.context.tenant.country)
        if phone is None:
            raise _invalid("Not a phone number.", "phoneNumber")
        hints["phoneNumber"] = phone
    return hints


def customer_current(customer_id) -> Customer | None:
    """The customer as `customer(id)` answers it: a merged-away id with the winner's data under
    the asked id, status MERGED and mergedInto; nothing for an unknown or erased customer."""
    asked, current = customer_get_current(customer_id=str(customer_id))
    if asked is None or current is None or current.status == CustomerStatus.DELETED:
        return None
    return as_asked(asked, current)


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
    customer = graphene.Field(
        CustomerType,
        id=graphene.UUID(required=True),
        description="A customer by id. A merged-away id answers with the customer it became "
        "(status MERGED, mergedInto its id); an unknown or erased one with null.",
    )
    customer_by_identity = graphene.Field(
        CustomerType,
        name="resolveCustomer",
        identity=graphene.Argument(IdentityInput, required=True),
        description="The customer these identity hints point to, or null. Hints matching more "
        'than one customer are an error with code "ambiguous" and their customerIds.',
    )

    customer_export = graphene.Field(
        GenericScalar,
        id=graphene.UUID(required=True),
        description="Everything held about a customer, in every app (a GDPR access request; "
        "scope crm:admin; audited): the same document as REST's customers/<id>/export. Null "
        "for an unknown or erased customer.",
    )

    @staticmethod
    def resolve_customer_export(root, info, id):
        require_scope(info, "crm:admin")
        asked, current = customer_get_current(customer_id=str(id))
        gone = asked is None or current is None
        if gone or CustomerStatus.DELETED in (asked.status, current.status):
            return None
        user = info.context.user
        actor = str(user) if isinstance(user, ServicePrincipal) else getattr(user, "email", "staff")
        return customer_export(customer=current, actor_label=actor)

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
        customers_seen(info, items)  # identities, notes and timelines load for the whole page
        return CustomerList(
            items=items, total=total, skip=skip, take=take, has_more=skip + len(items) < total
        )

    @staticmethod
    def resolve_customer(root, info, id):
        require_scope(info, "crm:read")
        return customer_current(id)

    @staticmethod
    def resolve_customer_by_identity(root, info, identity) -> Customer | None:
        require_scope(info, "crm:read")
        matches = customer_resolve(hints=_hints(info, dict(identity)))
        if len(matches) > 1:
            raise GraphQLError(
                "These identifiers match more than one customer.",
                extensions={"code": "ambiguous", "customerIds": [str(c.id) for c in matches]},
            )
        return matches[0] if matches else None


class Mutation(graphene.ObjectType):
    merge_customers = MergeCustomers.Field()
    unmerge_customers = UnmergeCustomers.Field()
    add_customer_note = AddCustomerNote.Field()
    set_customer_tags = SetCustomerTags.Field()
    erase_customer = EraseCustomer.Field()
