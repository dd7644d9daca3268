"""Reads of the Social Publisher."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from social.models import Post, PostImage, PostVariant, SocialAccount


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
