from __future__ import annotations

from zoneinfo import ZoneInfo

import graphene
from django.core.exceptions import ValidationError
from graphql import GraphQLError

from crm.api.pagination import DEFAULT_TAKE, MAX_TAKE
from crm.graphql.permissions import require_scope
from social.graphql.mutations import (
    ApproveSocialPost,
    CancelPromotionItem,
    CancelSocialPost,
    CreateSocialPost,
    RequestSocialPostApproval,
    RescheduleSocialPost,
    ScheduleSocialPost,
    StopCompetitionPromotion,
    UpdatePromotionItem,
)
from social.graphql.types import (
    CompetitionPromotionList,
    CompetitionPromotionType,
    SocialAccountType,
    SocialCalendarEntryType,
    SocialNetworkType,
    SocialPostList,
    SocialPostType,
)
from social.models import PromotionStatus
from social.selectors import (
    CALENDAR_MAX_DAYS,
    account_list,
    calendar_entries,
    calendar_range,
    network_states,
    post_get,
    post_list,
    promotion_get,
    promotion_list,
)


class Query(graphene.ObjectType):
    social_accounts = graphene.List(
        graphene.NonNull(SocialAccountType),
        required=True,
        description="The club's connected social accounts (scope crm:social).",
    )
    social_posts = graphene.Field(
        SocialPostList,
        required=True,
        skip=graphene.Int(default_value=0),
        take=graphene.Int(default_value=DEFAULT_TAKE),
        status=graphene.String(),
        network=graphene.String(),
    )
    social_post = graphene.Field(SocialPostType, id=graphene.UUID(required=True))
    competition_promotions = graphene.Field(
        CompetitionPromotionList,
        required=True,
        skip=graphene.Int(default_value=0),
        take=graphene.Int(default_value=DEFAULT_TAKE),
        status=graphene.String(description=f"One of {', '.join(PromotionStatus.values)}."),
        description="Competition promotion plans, newest first (scope crm:social).",
    )
    competition_promotion = graphene.Field(
        CompetitionPromotionType, id=graphene.UUID(required=True)
    )
    social_networks = graphene.List(
        graphene.NonNull(SocialNetworkType),
        required=True,
        description="Each network: configured on the platform, connected by the club, and how "
        "to connect it (scope crm:social).",
    )
    social_calendar = graphene.List(
        graphene.NonNull(SocialCalendarEntryType),
        required=True,
        from_=graphene.String(
            name="from", required=True, description="YYYY-MM-DD or ISO 8601 (club time)."
        ),
        to=graphene.String(
            required=True,
            description=f"A date includes that day; at most {CALENDAR_MAX_DAYS} days.",
        ),
        description="Posts, promotion items and campaign sends by time (scope crm:social).",
    )

    @staticmethod
    def resolve_social_accounts(root, info):
        require_scope(info, "crm:social")
        return list(account_list())

    @staticmethod
    def resolve_social_posts(root, info, skip: int, take: int, status=None, network=None):
        require_scope(info, "crm:social")
        if skip < 0:
            raise GraphQLError("skip must be 0 or more.", extensions={"field": "skip"})
        if not 1 <= take <= MAX_TAKE:
            raise GraphQLError(f"take must be 1 to {MAX_TAKE}.", extensions={"field": "take"})
        queryset = post_list(status=status, network=network)
        total = queryset.count()
        items = list(queryset[skip : skip + take])
        return SocialPostList(
            items=items, total=total, skip=skip, take=take, has_more=skip + len(items) < total
        )

    @staticmethod
    def resolve_social_post(root, info, id):
        require_scope(info, "crm:social")
        return post_get(post_id=id)

    @staticmethod
    def resolve_competition_promotions(root, info, skip: int, take: int, status=None):
        require_scope(info, "crm:social")
        if skip < 0:
            raise GraphQLError("skip must be 0 or more.", extensions={"field": "skip"})
        if not 1 <= take <= MAX_TAKE:
            raise GraphQLError(f"take must be 1 to {MAX_TAKE}.", extensions={"field": "take"})
        if status and status.upper() not in PromotionStatus.values:
            raise GraphQLError(
                f"status must be one of {', '.join(PromotionStatus.values)}.",
                extensions={"field": "status"},
            )
        queryset = promotion_list(status=status)
        total = queryset.count()
        items = list(queryset[skip : skip + take])
        return CompetitionPromotionList(
            items=items, total=total, skip=skip, take=take, has_more=skip + len(items) < total
        )

    @staticmethod
    def resolve_competition_promotion(root, info, id):
        require_scope(info, "crm:social")
        return promotion_get(promotion_id=id)

    @staticmethod
    def resolve_social_networks(root, info):
        require_scope(info, "crm:social")
        return network_states()

    @staticmethod
    def resolve_social_calendar(root, info, from_: str, to: str):
        require_scope(info, "crm:social")
        tz = ZoneInfo(getattr(info.context.tenant, "timezone", "") or "UTC")
        try:
            start, end = calendar_range(start=from_, end=to, tz=tz)
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise GraphQLError(messages[0], extensions={"field": field}) from None
        return calendar_entries(start=start, end=end)


class Mutation(graphene.ObjectType):
    create_social_post = CreateSocialPost.Field()
    schedule_social_post = ScheduleSocialPost.Field()
    approve_social_post = ApproveSocialPost.Field()
    request_social_post_approval = RequestSocialPostApproval.Field()
    reschedule_social_post = RescheduleSocialPost.Field()
    cancel_social_post = CancelSocialPost.Field()
    update_promotion_item = UpdatePromotionItem.Field()
    cancel_promotion_item = CancelPromotionItem.Field()
    stop_competition_promotion = StopCompetitionPromotion.Field()
