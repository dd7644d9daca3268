"""GraphQL shapes of the Social Publisher: the REST fields by the same names. No type has a
token field."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import graphene
from graphene.types.generic import GenericScalar
from graphene_django import DjangoObjectType

from social.models import CompetitionPromotion, Post, PostVariant, PromotionItem, SocialAccount


class SocialAccountType(DjangoObjectType):
    needs_reconnecting = graphene.Boolean(required=True)

    class Meta:
        model = SocialAccount
        name = "SocialAccount"
        fields = (
            "id", "network", "remote_id", "name", "username", "status", "status_reason",
            "linked_page_id", "token_expires_at", "token_checked_at", "queue_times",
            "connected_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_needs_reconnecting(account: SocialAccount, info) -> bool:
        return account.status != "CONNECTED"


class EngagementType(graphene.ObjectType):
    class Meta:
        name = "SocialEngagement"

    likes = graphene.Int()
    comments = graphene.Int()
    shares = graphene.Int()
    impressions = graphene.Int()
    fetched_at = graphene.DateTime(required=True)


class SocialVariantType(DjangoObjectType):
    account_id = graphene.UUID(description="Null: a draft for a network with no account yet.")
    image_ids = graphene.List(graphene.NonNull(graphene.UUID), required=True)
    engagement = graphene.Field(EngagementType)

    class Meta:
        model = PostVariant
        name = "SocialVariant"
        fields = (
            "id", "network", "text", "link", "status", "schedule_mode", "scheduled_at",
            "next_attempt_at", "attempt_count", "error", "remote_id", "remote_url",
            "published_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_engagement(variant: PostVariant, info):
        if variant.metrics_fetched_at is None:
            return None
        return EngagementType(
            likes=variant.likes,
            comments=variant.comments,
            shares=variant.shares,
            impressions=variant.impressions,
            fetched_at=variant.metrics_fetched_at,
        )


class SocialPostType(DjangoObjectType):
    variants = graphene.List(graphene.NonNull(SocialVariantType), required=True)
    created_by = graphene.String(required=True)

    class Meta:
        model = Post
        name = "SocialPost"
        fields = ("id", "title", "approval_status", "approved_at", "origin", "created_at")
        convert_choices_to_enum = False

    @staticmethod
    def resolve_variants(post: Post, info):
        return post.variants.all()  # prefetched by the selector

    @staticmethod
    def resolve_created_by(post: Post, info) -> str:
        return post.created_by_label


class SocialPostList(graphene.ObjectType):
    items = graphene.List(graphene.NonNull(SocialPostType), required=True)
    total = graphene.Int(required=True)
    skip = graphene.Int(required=True)
    take = graphene.Int(required=True)
    has_more = graphene.Boolean(required=True)


class PromotionItemType(DjangoObjectType):
    """One dated item of a competition's promotion plan: a post or an email/SMS campaign."""

    post_id = graphene.UUID()
    campaign_id = graphene.UUID()
    scheduled_at = graphene.DateTime(description="When it goes out (UTC).")
    scheduled_at_local = graphene.String(description="The same, in the club's time zone.")

    class Meta:
        model = PromotionItem
        name = "PromotionItem"
        fields = (
            "id", "key", "kind", "channel", "days_before", "status", "note", "error", "subject",
            "text", "text_edited", "time_edited", "updated_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_scheduled_at(item: PromotionItem, info):
        return item.scheduled_for

    @staticmethod
    def resolve_scheduled_at_local(item: PromotionItem, info) -> str | None:
        if item.scheduled_for is None:
            return None
        tz = ZoneInfo(getattr(info.context.tenant, "timezone", "") or "UTC")
        return item.scheduled_for.astimezone(tz).isoformat()


class CompetitionPromotionType(DjangoObjectType):
    """A competition's promotion plan, with the competition as TeeTime last described it."""

    competition_id = graphene.String(required=True)
    competition = GenericScalar(required=True)
    eligible_segment_id = graphene.UUID()
    entrants_segment_id = graphene.UUID()
    items = graphene.List(graphene.NonNull(PromotionItemType), required=True)

    class Meta:
        model = CompetitionPromotion
        name = "CompetitionPromotion"
        fields = (
            "id", "name", "status", "cancelled_at", "cancel_reason", "image_error",
            "created_at", "synced_at",
        )  # fmt: skip
        convert_choices_to_enum = False

    @staticmethod
    def resolve_competition(plan: CompetitionPromotion, info):
        return plan.payload

    @staticmethod
    def resolve_items(plan: CompetitionPromotion, info):
        return plan.items.all()  # prefetched by the selector


class CompetitionPromotionList(graphene.ObjectType):
    items = graphene.List(graphene.NonNull(CompetitionPromotionType), required=True)
    total = graphene.Int(required=True)
    skip = graphene.Int(required=True)
    take = graphene.Int(required=True)
    has_more = graphene.Boolean(required=True)


class SocialNetworkType(graphene.ObjectType):
    """A network: configured on the platform (app credentials), connected by the club."""

    class Meta:
        name = "SocialNetwork"

    network = graphene.String(required=True)
    label = graphene.String(required=True)
    configured = graphene.Boolean(required=True)
    connected = graphene.Boolean(required=True)
    account_ids = graphene.List(graphene.NonNull(graphene.UUID), required=True)
    how_to_connect = graphene.String(required=True)

    @staticmethod
    def resolve_account_ids(state, info):
        return [a.id for a in state.accounts]


class SocialCalendarEntryType(graphene.ObjectType):
    """One thing on the content calendar (the REST calendar's fields)."""

    class Meta:
        name = "SocialCalendarEntry"

    kind = graphene.String(required=True, description="post, promotion_item or campaign_send.")
    kind_label = graphene.String(required=True)
    id = graphene.String(required=True)
    title = graphene.String(required=True)
    start = graphene.String(required=True, description="ISO 8601 with the club's offset.")
    status = graphene.String(required=True)
    status_label = graphene.String(required=True)
    link = graphene.String(required=True)
    networks = graphene.List(graphene.NonNull(graphene.String), required=True)
    movable = graphene.Boolean(required=True)

    @staticmethod
    def resolve_start(entry, info) -> str:
        tz = ZoneInfo(getattr(info.context.tenant, "timezone", "") or "UTC")
        return entry.start.astimezone(tz).isoformat()

    @staticmethod
    def resolve_link(entry, info) -> str:
        return info.context.build_absolute_uri(entry.link)
