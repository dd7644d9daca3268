"""Social Publisher writes: the services REST calls, with Saleor-style payload errors (and the
operation rolled back when there are any)."""

from __future__ import annotations

import graphene

from crm.api.authentication import ServicePrincipal
from crm.api.permissions import caller_scopes
from crm.graphql.errors import MutationError
from crm.graphql.mutations import BaseMutation, Refused
from social.graphql.types import (
    CompetitionPromotionType,
    PromotionItemType,
    SocialPostType,
)
from social.models import Post, PromotionItem, ScheduleMode
from social.promotion_services import promotion_item_cancel, promotion_item_update, promotion_stop
from social.selectors import post_get, promotion_get
from social.services import (
    Actor,
    VariantInput,
    post_approve,
    post_cancel,
    post_create,
    post_request_approval,
    post_reschedule,
    post_schedule,
)


def _actor(info) -> Actor:
    user = info.context.user
    is_admin = "crm:admin" in caller_scopes(info.context)
    if isinstance(user, ServicePrincipal):
        return Actor(api_key=user.api_key, label=str(user), is_admin=is_admin)
    return Actor(user=user, label=user.email, is_admin=is_admin)


def _not_found() -> MutationError:
    return MutationError(field="id", message="No post with this id in this club.", code="not_found")


def _post_found(post_id) -> Post:
    """The club's post by id, or the mutation is refused with `not_found` on `id`."""
    post = post_get(post_id=post_id)
    if post is None:
        raise Refused(_not_found())
    return post


class SocialVariantInput(graphene.InputObjectType):
    account_id = graphene.UUID(description="Or only `network`: a draft needs no account.")
    network = graphene.String(description="facebook, instagram or x (with no accountId).")
    text = graphene.String()
    link = graphene.String()
    image_ids = graphene.List(graphene.NonNull(graphene.UUID))


ScheduleModeEnum = graphene.Enum(
    "SocialScheduleMode", [(m.upper(), m) for m in ScheduleMode.values]
)


class CreateSocialPost(BaseMutation):
    """Compose a post (scope crm:social); with `mode`, schedule it too."""

    scopes = ("crm:social",)

    class Arguments:
        title = graphene.String()
        variants = graphene.List(graphene.NonNull(SocialVariantInput), required=True)
        mode = ScheduleModeEnum()
        at = graphene.DateTime(description="For mode AT; without offset: the club's time zone.")

    post = graphene.Field(SocialPostType)

    @classmethod
    def perform(cls, root, info, variants, title="", mode=None, at=None):
        actor = _actor(info)
        post = post_create(
            actor=actor,
            title=title or "",
            variants=[
                VariantInput(
                    account_id=v.account_id,
                    network=v.network or "",
                    text=v.text or "",
                    link=v.link or "",
                    image_ids=list(v.image_ids or []),
                )
                for v in variants
            ],
        )
        if mode is not None:
            value = mode.value if hasattr(mode, "value") else mode
            post_schedule(actor=actor, post=post, mode=value, at=at)
        return cls(post=post_get(post_id=post.id), errors=[])


class ScheduleSocialPost(BaseMutation):
    scopes = ("crm:social",)

    class Arguments:
        id = graphene.UUID(required=True)
        mode = ScheduleModeEnum(required=True)
        at = graphene.DateTime()

    post = graphene.Field(SocialPostType)

    @classmethod
    def perform(cls, root, info, id, mode, at=None):
        post = _post_found(id)
        value = mode.value if hasattr(mode, "value") else mode
        post_schedule(actor=_actor(info), post=post, mode=value, at=at)
        return cls(post=post_get(post_id=id), errors=[])


class ApproveSocialPost(BaseMutation):
    """An ADMIN lets a MARKETING post go out (scope crm:admin)."""

    scopes = ("crm:admin",)

    class Arguments:
        id = graphene.UUID(required=True)

    post = graphene.Field(SocialPostType)

    @classmethod
    def perform(cls, root, info, id):
        post = _post_found(id)
        post_approve(actor=_actor(info), post=post)
        return cls(post=post_get(post_id=id), errors=[])


class RequestSocialPostApproval(BaseMutation):
    """Send a draft for an ADMIN's approval; no connected account is needed (crm:social)."""

    scopes = ("crm:social",)

    class Arguments:
        id = graphene.UUID(required=True)

    post = graphene.Field(SocialPostType)

    @classmethod
    def perform(cls, root, info, id):
        post = _post_found(id)
        post_request_approval(actor=_actor(info), post=post)
        return cls(post=post_get(post_id=id), errors=[])


class RescheduleSocialPost(BaseMutation):
    """Move a post that has not gone out, as dragging on the calendar does (crm:social)."""

    scopes = ("crm:social",)

    class Arguments:
        id = graphene.UUID(required=True)
        at = graphene.DateTime(required=True, description="Without offset: the club's time.")
        networks = graphene.List(graphene.NonNull(graphene.String))

    post = graphene.Field(SocialPostType)

    @classmethod
    def perform(cls, root, info, id, at, networks=None):
        post = _post_found(id)
        post_reschedule(actor=_actor(info), post=post, at=at, networks=networks or None)
        return cls(post=post_get(post_id=id), errors=[])


class CancelSocialPost(BaseMutation):
    scopes = ("crm:social",)

    class Arguments:
        id = graphene.UUID(required=True)

    post = graphene.Field(SocialPostType)

    @classmethod
    def perform(cls, root, info, id):
        post = _post_found(id)
        post_cancel(actor=_actor(info), post=post)
        return cls(post=post_get(post_id=id), errors=[])


# --- Competition auto-promotion ----------------------------------------------------------------


def _item_not_found() -> MutationError:
    return MutationError(
        field="id", message="No promotion item with this id in this club.", code="not_found"
    )


class UpdatePromotionItem(BaseMutation):
    """Change an item of a promotion plan that has not gone out (scope crm:social). What is
    set here is kept through later competition updates."""

    scopes = ("crm:social",)

    class Arguments:
        id = graphene.UUID(required=True)
        text = graphene.String()
        subject = graphene.String()
        scheduled_at = graphene.DateTime(description="Without offset: the club's time zone.")

    item = graphene.Field(PromotionItemType)

    @classmethod
    def perform(cls, root, info, id, text=None, subject=None, scheduled_at=None):
        item = PromotionItem.objects.filter(id=id).first()
        if item is None:
            raise Refused(_item_not_found())
        item = promotion_item_update(
            actor=_actor(info), item=item, text=text, subject=subject,
            scheduled_for=scheduled_at,
        )  # fmt: skip
        return cls(item=item, errors=[])


class CancelPromotionItem(BaseMutation):
    """Cancel an item of a promotion plan, with its post or campaign (scope crm:social)."""

    scopes = ("crm:social",)

    class Arguments:
        id = graphene.UUID(required=True)

    item = graphene.Field(PromotionItemType)

    @classmethod
    def perform(cls, root, info, id):
        item = PromotionItem.objects.filter(id=id).first()
        if item is None:
            raise Refused(_item_not_found())
        item = promotion_item_cancel(actor=_actor(info), item=item)
        return cls(item=item, errors=[])


class StopCompetitionPromotion(BaseMutation):
    """Stop a whole plan: what has not gone out is cancelled (scope crm:social)."""

    scopes = ("crm:social",)

    class Arguments:
        id = graphene.UUID(required=True)

    promotion = graphene.Field(CompetitionPromotionType)

    @classmethod
    def perform(cls, root, info, id):
        plan = promotion_get(promotion_id=id)
        if plan is None:
            raise Refused(MutationError(
                field="id", message="No promotion plan with this id in this club.",
                code="not_found",
            ))  # fmt: skip
        promotion_stop(actor=_actor(info), promotion=plan)
        return cls(promotion=promotion_get(promotion_id=id), errors=[])
