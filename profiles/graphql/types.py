from __future__ import annotations

import graphene
from graphene_django import DjangoObjectType

from profiles.models import Customer


class CustomerType(DjangoObjectType):
    """A unified customer; field names match the REST customer (camelCase)."""

    display_name = graphene.String(required=True)
    tenant_id = graphene.UUID(required=True)
    merged_into = graphene.UUID()

    class Meta:
        model = Customer
        name = "Customer"
        fields = (
            "id", "status", "auth_user_id", "email", "phone_number", "scl_member_id",
            "teetime_player_id", "messaging_contact_id", "first_name", "last_name",
            "date_of_birth", "gender", "lifecycle_stage", "tags", "membership_tier",
            "membership_status", "member_since", "renewal_due_on", "handicap", "home_club_id",
            "lifetime_value", "last_activity_at", "activity_count_30d", "booking_count_30d",
            "email_opt_in", "sms_opt_in", "push_opt_in", "whatsapp_opt_in", "created_at",
            "updated_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_tenant_id(root: Customer, info) -> str:
        return info.context.tenant.id

    @staticmethod
    def resolve_merged_into(root: Customer, info):
        return root.merged_into_id


class CustomerList(graphene.ObjectType):
    """A page of customers, with the same meta as the REST list."""

    items = graphene.List(graphene.NonNull(CustomerType), required=True)
    total = graphene.Int(required=True)
    skip = graphene.Int(required=True)
    take = graphene.Int(required=True)
    has_more = graphene.Boolean(required=True)
