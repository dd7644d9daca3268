from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

import graphene
from graphene.types.generic import GenericScalar
from graphene_django import DjangoObjectType
from graphql import GraphQLError

from crm.api.pagination import DEFAULT_TAKE, MAX_TAKE
from profiles.graphql import loaders
from profiles.models import (
    Activity,
    ActivityCategory,
    Customer,
    CustomerNote,
    CustomerScore,
    CustomerStatus,
)
from profiles.scoring_selectors import customer_scores, reason_texts


class IdentityType(graphene.ObjectType):
    """One identifier linked to a customer: where it came from and how it was matched."""

    class Meta:
        name = "Identity"

    type = graphene.String(
        required=True,
        description="sclMemberId, teetimePlayerId, messagingContactId, authUserId, email or "
        "phoneNumber.",
    )
    value = graphene.String(required=True)
    source = graphene.String(required=True, description="scl, teetime, messaging or crm.")
    matched_by = graphene.String(
        required=True,
        source="matchedBy",
        description="How it was linked: `source` (given by the service) or the shared id.",
    )
    confidence = graphene.Int(required=True, description="0 to 100.")


class ActivityType(DjangoObjectType):
    """One event on a customer's timeline, as the REST activities list has it."""

    data = GenericScalar(required=True)

    class Meta:
        model = Activity
        name = "Activity"
        fields = (
            "id", "type", "category", "channel", "title", "source", "occurred_at",
            "amount_cents", "currency", "data",
        )  # fmt: skip
        convert_choices_to_enum = False


@dataclass(frozen=True)
class Timeline:
    """What `Customer.timeline` resolves to; its fields load the page's timelines together."""

    customer: Customer
    first: int
    after: tuple[datetime, int] | None
    category: str | None

    def page(self, info) -> list[Activity]:
        return loaders.batched(
            info,
            ("timeline", self.first, self.after, self.category),
            self.customer,
            lambda customers: loaders.load_timeline_page(
                customers, first=self.first, after=self.after, category=self.category
            ),
        )


class ActivityConnection(graphene.relay.Connection):
    """A customer's timeline, newest first."""

    class Meta:
        node = ActivityType

    total_count = graphene.Int(
        required=True, description="Activities in this timeline (in `category`), all pages."
    )

    @staticmethod
    def resolve_edges(root: Timeline, info):
        return [
            ActivityConnection.Edge(node=activity, cursor=loaders.activity_cursor(activity))
            for activity in root.page(info)[: root.first]
        ]

    @staticmethod
    def resolve_page_info(root: Timeline, info):
        page = root.page(info)
        shown = page[: root.first]
        return graphene.relay.PageInfo(
            has_next_page=len(page) > root.first,
            # Forward pagination only; as graphql-relay does for first/after, this is false.
            has_previous_page=False,
            start_cursor=loaders.activity_cursor(shown[0]) if shown else None,
            end_cursor=loaders.activity_cursor(shown[-1]) if shown else None,
        )

    @staticmethod
    def resolve_total_count(root: Timeline, info) -> int:
        return loaders.batched(
            info,
            ("timeline_total", root.category),
            root.customer,
            lambda customers: loaders.load_timeline_total(customers, category=root.category),
        )


class CustomerNoteType(DjangoObjectType):
    """A staff note on a customer."""

    author = graphene.String(required=True, source="author_label")
    customer_id = graphene.UUID(required=True)

    class Meta:
        model = CustomerNote
        name = "CustomerNote"
        fields = ("id", "body", "created_at")


class CustomerType(DjangoObjectType):
    """A unified customer; field names match the REST customer (camelCase)."""

    display_name = graphene.String(required=True)
    tenant_id = graphene.UUID(required=True)
    merged_into = graphene.UUID()
    do_not_contact = graphene.Boolean(
        required=True, description="Never contacted on any channel (erased or deceased)."
    )
    identities = graphene.List(
        graphene.NonNull(IdentityType),
        required=True,
        description="Every linked identifier, the most authoritative source first.",
    )
    notes = graphene.List(
        graphene.NonNull(CustomerNoteType),
        required=True,
        description="Staff notes, newest first (with those of customers merged into this one).",
    )
    timeline = graphene.Field(
        ActivityConnection,
        required=True,
        first=graphene.Int(default_value=DEFAULT_TAKE, description=f"1 to {MAX_TAKE}."),
        after=graphene.String(description="The `endCursor` of the previous page."),
        category=graphene.String(description=", ".join(ActivityCategory.values) + "."),
        description="What the customer did and was sent, newest first.",
    )
    # Scores (profiles.CustomerScore), loaded for the whole page at once.
    engagement_score = graphene.Int(description="0 to 100; null until first scored.")
    engagement_band = graphene.String(description="EXCELLENT, GOOD, AVERAGE, LOW or AT_RISK.")
    churn_risk_score = graphene.Int(
        description="0 to 100; null for anyone who is not a current member, or not yet scored."
    )
    churn_risk_reasons = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="The top reasons for the churn risk, in words, most important first.",
    )
    paying_not_playing = graphene.Boolean(
        required=True,
        description="An active, paid-up member playing well below their own seasonal baseline.",
    )

    class Meta:
        model = Customer
        name = "Customer"
        fields = (
            "id", "status", "auth_user_id", "email", "phone_number", "scl_member_id",
            "teetime_player_id", "messaging_contact_id", "first_name", "last_name",
            "date_of_birth", "gender", "lifecycle_stage", "tags", "membership_tier",
            "membership_status", "member_since", "renewal_due_on", "handicap", "home_club_id",
            "lifetime_value", "last_activity_at", "activity_count_30d", "booking_count_30d",
            "email_opt_in", "sms_opt_in", "push_opt_in", "whatsapp_opt_in",
            "email_hard_bounced", "complained", "created_at", "updated_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    # A merged-away id keeps answering with the winner's data (see `as_asked`): the id, status
    # and mergedInto are the asked customer's; everything else is the winner's.

    @staticmethod
    def resolve_id(root: Customer, info):
        return getattr(root, "_asked_id", root.id)

    @staticmethod
    def resolve_status(root: Customer, info) -> str:
        return CustomerStatus.MERGED if hasattr(root, "_asked_id") else root.status

    @staticmethod
    def resolve_merged_into(root: Customer, info):
        return root.id if hasattr(root, "_asked_id") else root.merged_into_id

    @staticmethod
    def resolve_tenant_id(root: Customer, info) -> str:
        return info.context.tenant.id

    @staticmethod
    def resolve_identities(root: Customer, info) -> list[dict]:
        return loaders.batched(info, "identities", root, loaders.load_identities)

    @staticmethod
    def resolve_notes(root: Customer, info) -> list[CustomerNote]:
        return loaders.batched(info, "notes", root, loaders.load_notes)

    @staticmethod
    def _score(root: Customer, info) -> CustomerScore | None:
        return loaders.batched(
            info,
            "scores",
            root,
            lambda customers: customer_scores(customer_ids=[c.pk for c in customers]),
        )

    @staticmethod
    def resolve_engagement_score(root: Customer, info) -> int | None:
        score = CustomerType._score(root, info)
        return score.engagement_score if score else None

    @staticmethod
    def resolve_engagement_band(root: Customer, info) -> str | None:
        score = CustomerType._score(root, info)
        return (score.engagement_band or None) if score else None

    @staticmethod
    def resolve_churn_risk_score(root: Customer, info) -> int | None:
        score = CustomerType._score(root, info)
        return score.churn_risk_score if score else None

    @staticmethod
    def resolve_churn_risk_reasons(root: Customer, info) -> list[str]:
        return reason_texts(CustomerType._score(root, info))

    @staticmethod
    def resolve_paying_not_playing(root: Customer, info) -> bool:
        score = CustomerType._score(root, info)
        return bool(score and score.paying_not_playing)

    @staticmethod
    def resolve_timeline(
        root: Customer, info, first: int, after: str | None = None, category: str | None = None
    ) -> Timeline:
        if not 1 <= first <= MAX_TAKE:
            raise GraphQLError(
                f"first must be 1 to {MAX_TAKE}.", extensions={"code": "invalid", "field": "first"}
            )
        position = None
        if after is not None:
            position = loaders.parse_activity_cursor(after)
            if position is None:
                raise GraphQLError(
                    "Not a timeline cursor.", extensions={"code": "invalid", "field": "after"}
                )
        if category is not None and category not in ActivityCategory.values:
            raise GraphQLError(
                f"category must be one of {', '.join(ActivityCategory.values)}.",
                extensions={"code": "invalid", "field": "category"},
            )
        return Timeline(customer=root, first=first, after=position, category=category or None)


def as_asked(asked: Customer, current: Customer) -> Customer:
    """`current`'s data under `asked`'s id, as REST answers a merged-away id."""
    if asked.pk == current.pk:
        return current
    view = copy.copy(current)
    view._asked_id = asked.pk  # type: ignore[attr-defined]
    return view


class CustomerList(graphene.ObjectType):
    """A page of customers, with the same meta as the REST list."""

    items = graphene.List(graphene.NonNull(CustomerType), required=True)
    total = graphene.Int(required=True)
    skip = graphene.Int(required=True)
    take = graphene.Int(required=True)
    has_more = graphene.Boolean(required=True)
