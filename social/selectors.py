"""Reads of the Social Publisher."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from social.models import (
    CompetitionPromotion,
    Post,
    PostImage,
    PostVariant,
    PromotionItem,
    PromotionSettings,
    SocialAccount,
)


def account_list() -> QuerySet[SocialAccount]:
    return SocialAccount.objects.order_by("network", "name")


def account_get(*, account_id: Any) -> SocialAccount | None:
    return SocialAccount.objects.filter(id=account_id).first()


def post_list(*, status: str | None = None, network: str | None = None) -> QuerySet[Post]:
    """Newest first, each with its variants in one extra query per page."""
    posts = Post.objects.order_by("-created_at")
    if status:
        posts = posts.filter(variants__status=status.upper())
    if network:
        posts = posts.filter(variants__network=network.lower())
    if status or network:
        posts = posts.distinct()
    return posts.prefetch_related(
        Prefetch("variants", queryset=PostVariant.objects.order_by("network"))
    )


def post_get(*, post_id: Any) -> Post | None:
    return post_list().filter(id=post_id).first()


def image_get(*, image_id: Any) -> PostImage | None:
    return PostImage.objects.filter(id=image_id).first()


# --- Competition auto-promotion ----------------------------------------------------------------


def promotion_list(*, status: str | None = None) -> QuerySet[CompetitionPromotion]:
    """Plans, newest first, each with its items (one extra query per page)."""
    plans = CompetitionPromotion.objects.order_by("-created_at")
    if status:
        plans = plans.filter(status=status.upper())
    return plans.prefetch_related(
        Prefetch("items", queryset=PromotionItem.objects.order_by("scheduled_for", "key"))
    )


def promotion_get(*, promotion_id: Any) -> CompetitionPromotion | None:
    return promotion_list().filter(id=promotion_id).first()


def promotion_item_get(*, promotion_id: Any, item_id: Any) -> PromotionItem | None:
    return PromotionItem.objects.filter(promotion_id=promotion_id, id=item_id).first()


def promotion_settings_get() -> PromotionSettings:
    """The club's settings; the defaults (unsaved) until an ADMIN first changes them."""
    return PromotionSettings.objects.filter(id=1).first() or PromotionSettings(id=1)


def promotion_settings_account_ids(*, settings: PromotionSettings) -> list[Any]:
    if settings._state.adding:
        return []
    return list(settings.accounts.order_by("network", "name").values_list("id", flat=True))
