"""Social Publisher endpoints under `/t/<tenant>/api/v1/social/`. Thin: validate input, call a
selector or service, shape the output. Scope `crm:social` (api.md); approving posts needs
`crm:admin`; scheduling counts against the social publishing limit (30/min).

Connecting accounts is not here: it needs the person at the network's login page, so it lives
in the club admin (OAuth redirects). No response carries a token.

Views do not catch the services' (Django) ValidationError: the platform's exception handler
(crm.api.errors) answers it as api.md's 400 `validation_error` keyed by field, and the base view
rolls the request's writes back, as for any refusal.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.authentication import ServicePrincipal
from crm.api.permissions import caller_scopes
from crm.api.views import TenantAPIView
from crm.tenants.selectors import tenant_of_request
from social.api.serializers import (
    AccountOutputSerializer,
    AccountUpdateInputSerializer,
    CalendarEntryOutputSerializer,
    ImageInputSerializer,
    ImageOutputSerializer,
    NetworkOutputSerializer,
    PostCreateInputSerializer,
    PostFilterSerializer,
    PostOutputSerializer,
    PostUpdateInputSerializer,
    PromotionFilterSerializer,
    PromotionItemOutputSerializer,
    PromotionItemUpdateInputSerializer,
    PromotionOutputSerializer,
    PromotionSettingsInputSerializer,
    PromotionSettingsOutputSerializer,
    RejectInputSerializer,
    RescheduleInputSerializer,
    ScheduleInputSerializer,
)
from social.models import CompetitionPromotion, Post, PromotionItem, PromotionStatus, SocialAccount
from social.promotion_services import (
    promotion_item_cancel,
    promotion_item_update,
    promotion_settings_update,
    promotion_stop,
)
from social.selectors import (
    CALENDAR_MAX_DAYS,
    account_get,
    account_list,
    calendar_entries,
    calendar_range,
    image_get,
    network_states,
    post_get,
    post_list,
    promotion_get,
    promotion_item_get,
    promotion_list,
    promotion_settings_get,
)
from social.services import (
    Actor,
    VariantInput,
    account_set_queue_times,
    image_id_from_token,
    image_upload,
    post_approve,
    post_cancel,
    post_create,
    post_reject,
    post_request_approval,
    post_reschedule,
    post_schedule,
    post_update,
)

SOCIAL = "crm:social"


def actor_of(request: Request) -> Actor:
    user = request.user
    is_admin = "crm:admin" in caller_scopes(request)
    if isinstance(user, ServicePrincipal):
        return Actor(api_key=user.api_key, label=str(user), is_admin=is_admin)
    return Actor(user=user, label=user.email, is_admin=is_admin)


def _variants(data: list[dict]) -> list[VariantInput]:
    return [
        VariantInput(
            account_id=item.get("accountId"),
            network=item.get("network", ""),
            text=item.get("text", ""),
            link=item.get("link", ""),
            image_ids=list(item.get("imageIds") or []),
        )
        for item in data
    ]


class SocialView(TenantAPIView):
    read_scope = SOCIAL
    write_scope = SOCIAL

    def get_post(self, post_id) -> Post:
        post = post_get(post_id=post_id)
        if post is None:
            raise exceptions.NotFound("No post with this id in this club.")
        return post

    def respond_post(self, post: Post, status: int = 200) -> Response:
        return self.respond_object(post_get(post_id=post.id), PostOutputSerializer, status)


class AccountListView(SocialView):
    @extend_schema(
        operation_id="social_accounts_list", responses=AccountOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        return self.paginate(request, account_list(), AccountOutputSerializer)


class AccountDetailView(SocialView):
    def get_account(self, account_id) -> SocialAccount:
        account = account_get(account_id=account_id)
        if account is None:
            raise exceptions.NotFound("No social account with this id in this club.")
        return account

    @extend_schema(operation_id="social_accounts_retrieve", responses=AccountOutputSerializer)
    def get(self, request: Request, account_id) -> Response:
        return self.respond_object(self.get_account(account_id), AccountOutputSerializer)

    @extend_schema(
        operation_id="social_accounts_update",
        request=AccountUpdateInputSerializer,
        responses=AccountOutputSerializer,
    )
    def patch(self, request: Request, account_id) -> Response:
        account = self.get_account(account_id)
        body = AccountUpdateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account_set_queue_times(
            actor=actor_of(request), account=account, times=body.validated_data["queueTimes"]
        )
        return self.respond_object(self.get_account(account_id), AccountOutputSerializer)


class ImageUploadView(SocialView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="social_images_upload",
        request={"multipart/form-data": ImageInputSerializer},
        responses={201: ImageOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        body = ImageInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        image = image_upload(actor=actor_of(request), filename=upload.name, content=upload.read())
        return self.respond(ImageOutputSerializer(image).data, status=201)


class MediaView(TenantAPIView):
    """The image behind a signed URL, for Facebook and Instagram to fetch. No key: the
    signature (bound to this club, valid 7 days) is the permission."""

    read_scope = None
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(operation_id="social_media_retrieve", responses={(200, "image/*"): bytes})
    def get(self, request: Request, token: str) -> HttpResponse:
        image_id = image_id_from_token(token=token)
        image = image_get(image_id=image_id) if image_id else None
        if image is None:
            raise exceptions.NotFound("No such image.")
        response = HttpResponse(bytes(image.content), content_type=image.content_type)
        response["Cache-Control"] = "private, max-age=3600"
        return response


class PostListView(SocialView):
    @extend_schema(
        operation_id="social_posts_list",
        parameters=[OpenApiParameter("status", str), OpenApiParameter("network", str)],
        responses=PostOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = PostFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginate(request, post_list(**filters.validated_data), PostOutputSerializer)

    @extend_schema(
        operation_id="social_posts_create",
        request=PostCreateInputSerializer,
        responses={201: PostOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        body = PostCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        actor = actor_of(request)
        post = post_create(
            actor=actor, title=data.get("title", ""), variants=_variants(data["variants"])
        )
        if data.get("schedule"):
            post = post_schedule(
                actor=actor,
                post=post,
                mode=data["schedule"]["mode"],
                at=data["schedule"].get("at"),
            )
        return self.respond_post(post, status=201)


class PostDetailView(SocialView):
    @extend_schema(operation_id="social_posts_retrieve", responses=PostOutputSerializer)
    def get(self, request: Request, post_id) -> Response:
        return self.respond_object(self.get_post(post_id), PostOutputSerializer)

    @extend_schema(
        operation_id="social_posts_update",
        request=PostUpdateInputSerializer,
        responses=PostOutputSerializer,
    )
    def patch(self, request: Request, post_id) -> Response:
        post = self.get_post(post_id)
        body = PostUpdateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        post = post_update(
            actor=actor_of(request),
            post=post,
            title=data.get("title"),
            variants=_variants(data["variants"]) if "variants" in data else None,
        )
        return self.respond_post(post)


class PostScheduleView(SocialView):
    throttle_scope = "social_publish"

    @extend_schema(
        operation_id="social_posts_schedule",
        request=ScheduleInputSerializer,
        responses=PostOutputSerializer,
    )
    def post(self, request: Request, post_id) -> Response:
        post = self.get_post(post_id)
        body = ScheduleInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        post = post_schedule(
            actor=actor_of(request),
            post=post,
            mode=body.validated_data["mode"],
            at=body.validated_data.get("at"),
        )
        return self.respond_post(post)


class PostApproveView(SocialView):
    write_scope = "crm:admin"

    @extend_schema(
        operation_id="social_posts_approve", request=None, responses=PostOutputSerializer
    )
    def post(self, request: Request, post_id) -> Response:
        post = self.get_post(post_id)
        post = post_approve(actor=actor_of(request), post=post)
        return self.respond_post(post)


class PostRejectView(SocialView):
    write_scope = "crm:admin"

    @extend_schema(
        operation_id="social_posts_reject",
        request=RejectInputSerializer,
        responses=PostOutputSerializer,
    )
    def post(self, request: Request, post_id) -> Response:
        post = self.get_post(post_id)
        body = RejectInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        post = post_reject(actor=actor_of(request), post=post, note=body.validated_data["note"])
        return self.respond_post(post)


class PostRequestApprovalView(SocialView):
    @extend_schema(
        operation_id="social_posts_request_approval", request=None, responses=PostOutputSerializer
    )
    def post(self, request: Request, post_id) -> Response:
        """Send a draft for an ADMIN's approval; no connected account is needed."""
        post = self.get_post(post_id)
        post = post_request_approval(actor=actor_of(request), post=post)
        return self.respond_post(post)


class PostRescheduleView(SocialView):
    throttle_scope = "social_publish"

    @extend_schema(
        operation_id="social_posts_reschedule",
        request=RescheduleInputSerializer,
        responses=PostOutputSerializer,
    )
    def post(self, request: Request, post_id) -> Response:
        """Move a post that has not gone out (what dragging on the calendar does): a draft
        moves its planned time; a scheduled post keeps to the network's daily limit and,
        moved by a non-ADMIN while approval is on, waits for approval again."""
        post = self.get_post(post_id)
        body = RescheduleInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        post = post_reschedule(
            actor=actor_of(request),
            post=post,
            at=body.validated_data["at"],
            networks=body.validated_data.get("networks"),
        )
        return self.respond_post(post)


class NetworkListView(SocialView):
    @extend_schema(
        operation_id="social_networks_list", responses=NetworkOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        """Each network: configured on the platform (app credentials), connected by the club,
        and how to connect it."""
        return self.respond(NetworkOutputSerializer(network_states(), many=True).data)


class _Rows(list):
    """A computed list the skip/take paginator can page."""

    def count(self, *args) -> int:
        return len(self) if not args else super().count(*args)


class CalendarView(SocialView):
    @extend_schema(
        operation_id="social_calendar_list",
        parameters=[
            OpenApiParameter(
                "from", str, required=True,
                description="Start: YYYY-MM-DD or ISO 8601; without an offset, club time.",
            ),
            OpenApiParameter(
                "to", str, required=True,
                description=f"End (a date includes that day); at most {CALENDAR_MAX_DAYS} days "
                "after `from`.",
            ),
        ],
        responses=CalendarEntryOutputSerializer(many=True),
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        """Posts, competition promotion items and campaign sends in one list, by time, each
        with its start in the club's time zone and a status label."""
        tz = ZoneInfo(tenant_of_request(request).timezone or "UTC")
        start, end = calendar_range(
            start=request.query_params.get("from"), end=request.query_params.get("to"), tz=tz
        )
        entries = _Rows(calendar_entries(start=start, end=end))
        return self.paginate(request, entries, CalendarEntryOutputSerializer)


class PostCancelView(SocialView):
    @extend_schema(operation_id="social_posts_cancel", request=None, responses=PostOutputSerializer)
    def post(self, request: Request, post_id) -> Response:
        post = self.get_post(post_id)
        post_cancel(actor=actor_of(request), post=post)
        return self.respond_post(post)


# --- Competition auto-promotion ----------------------------------------------------------------


class PromotionView(SocialView):
    def get_promotion(self, promotion_id) -> CompetitionPromotion:
        promotion = promotion_get(promotion_id=promotion_id)
        if promotion is None:
            raise exceptions.NotFound("No promotion plan with this id in this club.")
        return promotion

    def get_item(self, promotion_id, item_id) -> PromotionItem:
        item = promotion_item_get(promotion_id=promotion_id, item_id=item_id)
        if item is None:
            raise exceptions.NotFound("No such item in this promotion plan.")
        return item

    def respond_promotion(self, promotion_id) -> Response:
        return self.respond_object(self.get_promotion(promotion_id), PromotionOutputSerializer)


class PromotionListView(PromotionView):
    @extend_schema(
        operation_id="social_promotions_list",
        parameters=[OpenApiParameter("status", str, enum=PromotionStatus.values)],
        responses=PromotionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = PromotionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginate(
            request, promotion_list(**filters.validated_data), PromotionOutputSerializer
        )


class PromotionDetailView(PromotionView):
    @extend_schema(operation_id="social_promotions_retrieve", responses=PromotionOutputSerializer)
    def get(self, request: Request, promotion_id) -> Response:
        return self.respond_promotion(promotion_id)


class PromotionStopView(PromotionView):
    @extend_schema(
        operation_id="social_promotions_stop", request=None, responses=PromotionOutputSerializer
    )
    def post(self, request: Request, promotion_id) -> Response:
        promotion_stop(actor=actor_of(request), promotion=self.get_promotion(promotion_id))
        return self.respond_promotion(promotion_id)


class PromotionItemDetailView(PromotionView):
    @extend_schema(
        operation_id="social_promotion_items_retrieve", responses=PromotionItemOutputSerializer
    )
    def get(self, request: Request, promotion_id, item_id) -> Response:
        return self.respond_object(
            self.get_item(promotion_id, item_id), PromotionItemOutputSerializer
        )

    @extend_schema(
        operation_id="social_promotion_items_update",
        request=PromotionItemUpdateInputSerializer,
        responses=PromotionItemOutputSerializer,
    )
    def patch(self, request: Request, promotion_id, item_id) -> Response:
        item = self.get_item(promotion_id, item_id)
        body = PromotionItemUpdateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        item = promotion_item_update(
            actor=actor_of(request),
            item=item,
            text=data.get("text"),
            subject=data.get("subject"),
            scheduled_for=data.get("scheduledAt"),
        )
        return self.respond_object(item, PromotionItemOutputSerializer)


class PromotionItemCancelView(PromotionView):
    @extend_schema(
        operation_id="social_promotion_items_cancel",
        request=None,
        responses=PromotionItemOutputSerializer,
    )
    def post(self, request: Request, promotion_id, item_id) -> Response:
        item = self.get_item(promotion_id, item_id)
        item = promotion_item_cancel(actor=actor_of(request), item=item)
        return self.respond_object(item, PromotionItemOutputSerializer)


class PromotionSettingsView(SocialView):
    """Read: `crm:social`. Change: `crm:admin` (turning it on makes messages go out)."""

    write_scope = "crm:admin"

    @extend_schema(
        operation_id="social_promotion_settings_retrieve",
        responses=PromotionSettingsOutputSerializer,
    )
    def get(self, request: Request) -> Response:
        return self.respond_object(promotion_settings_get(), PromotionSettingsOutputSerializer)

    @extend_schema(
        operation_id="social_promotion_settings_update",
        request=PromotionSettingsInputSerializer,
        responses=PromotionSettingsOutputSerializer,
    )
    def patch(self, request: Request) -> Response:
        body = PromotionSettingsInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = promotion_settings_update(actor=actor_of(request), data=body.service_data())
        return self.respond_object(row, PromotionSettingsOutputSerializer)
