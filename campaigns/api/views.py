"""Campaign endpoints of segments.md, plus preview and test send. Thin: validate, call a
service or selector. Writes need `crm:campaigns`; sending and scheduling count as "campaign
sends" (10/min per key); a state change the campaign's state forbids is `409 invalid_state`."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.api.serializers import (
    CampaignInputSerializer,
    CampaignOutputSerializer,
    CampaignPreviewInputSerializer,
    CampaignReviewInputSerializer,
    CampaignTestSendInputSerializer,
    campaign_input_checked,
)
from campaigns.models import Campaign
from campaigns.review import campaign_review
from campaigns.selectors import campaign_get, campaign_list, campaign_stats
from campaigns.services import (
    CampaignStateError,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_preview,
    campaign_resume,
    campaign_schedule,
    campaign_send_now,
    campaign_test_send,
    campaign_update,
)
from crm.accounts.scopes import Scope
from crm.api.errors import error_response
from crm.api.views import TenantAPIView
from segments.compiler import base_customers


def _refused(exc: CampaignStateError):
    return error_response(409, "invalid_state", str(exc))


class CampaignView(TenantAPIView):
    write_scope = Scope.CAMPAIGNS.value

    def get_campaign(self, campaign_id: str) -> Campaign:
        campaign = campaign_get(campaign_id=campaign_id)
        if campaign is None:
            raise exceptions.NotFound("No campaign with this id in this club.")
        return campaign

    def respond_campaign(self, campaign: Campaign, status: int = 200) -> Response:
        fresh = campaign_get(campaign_id=campaign.id)
        return self.respond_object(fresh, CampaignOutputSerializer, status)


class CampaignListView(CampaignView):
    @extend_schema(operation_id="campaigns_list", responses=CampaignOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.paginate(request, campaign_list(), CampaignOutputSerializer)

    @extend_schema(
        operation_id="campaigns_create",
        request=CampaignInputSerializer,
        responses={201: CampaignOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        campaign = campaign_create(
            data=campaign_input_checked(request.data, partial=False),
            actor_label=self.actor_label(),
        )
        return self.respond_campaign(campaign, status=201)


class CampaignDetailView(CampaignView):
    @extend_schema(operation_id="campaigns_retrieve", responses=CampaignOutputSerializer)
    def get(self, request: Request, campaign_id: str) -> Response:
        return self.respond_object(self.get_campaign(campaign_id), CampaignOutputSerializer)

    @extend_schema(
        operation_id="campaigns_update",
        request=CampaignInputSerializer,
        responses=CampaignOutputSerializer,
    )
    def patch(self, request: Request, campaign_id: str) -> Response:
        campaign = self.get_campaign(campaign_id)
        data = campaign_input_checked(request.data, partial=True)
        try:
            updated = campaign_update(
                campaign=campaign,
                data=data,
                actor_label=self.actor_label(),
            )
        except CampaignStateError as exc:
            return _refused(exc)
        return self.respond_campaign(updated)


class _ActionView(CampaignView):
    service = staticmethod(campaign_pause)

    @extend_schema(request=None, responses={200: CampaignOutputSerializer})
    def post(self, request: Request, campaign_id: str) -> Response:
        campaign = self.get_campaign(campaign_id)
        try:
            done = type(self).service(campaign=campaign, actor_label=self.actor_label())
        except CampaignStateError as exc:
            return _refused(exc)
        return self.respond_campaign(done)


class CampaignScheduleView(_ActionView):
    throttle_scope = "campaign_send"
    service = staticmethod(campaign_schedule)


class CampaignSendView(_ActionView):
    throttle_scope = "campaign_send"
    service = staticmethod(campaign_send_now)


class CampaignPauseView(_ActionView):
    service = staticmethod(campaign_pause)


class CampaignResumeView(_ActionView):
    service = staticmethod(campaign_resume)


class CampaignCancelView(_ActionView):
    service = staticmethod(campaign_cancel)


class CampaignStatsView(CampaignView):
    @extend_schema(operation_id="campaigns_stats", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, campaign_id: str) -> Response:
        return self.respond(campaign_stats(campaign=self.get_campaign(campaign_id)))


class CampaignResultsView(CampaignView):
    """Results per variant and channel, labelled, with conversions as bookings, entries and
    payments and the money they brought (club currency). `?export=csv`: the same as CSV
    (`format` is DRF's own content negotiation)."""

    @extend_schema(
        operation_id="campaigns_results",
        parameters=[
            OpenApiParameter("export", str, enum=["json", "csv"], required=False),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, campaign_id: str) -> Response | HttpResponse:
        from campaigns.results import campaign_results, campaign_results_csv

        campaign = self.get_campaign(campaign_id)
        wanted = request.query_params.get("export", "json")
        if wanted not in ("json", "csv"):
            raise exceptions.ValidationError({"export": ["One of json, csv."]})
        if wanted == "csv":
            return HttpResponse(
                campaign_results_csv(campaign=campaign), content_type="text/csv; charset=utf-8"
            )
        return self.respond(campaign_results(campaign=campaign))


class CampaignPreviewView(CampaignView):
    """What a chosen customer would get; nothing is saved or sent (a read sent as POST)."""

    write_scope = Scope.READ.value
    throttle_scope = "read"

    @extend_schema(
        operation_id="campaigns_preview",
        request=CampaignPreviewInputSerializer,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request, campaign_id: str) -> Response:
        campaign = self.get_campaign(campaign_id)
        body = CampaignPreviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        customer = base_customers().filter(pk=body.validated_data["customerId"]).first()
        if customer is None:
            raise exceptions.ValidationError({"customerId": ["No customer with this id."]})
        return self.respond(
            campaign_preview(
                campaign=campaign,
                customer=customer,
                channel=body.validated_data.get("channel"),
                variant=body.validated_data["variant"],
            )
        )


class CampaignReviewView(CampaignView):
    """What sending will really do, from the send's own code: recipients, who is held back
    and why, when they receive it (quiet hours, the cap, the A/B winner) and the estimated
    finish. Nothing is saved or sent (a read sent as POST)."""

    write_scope = Scope.READ.value
    throttle_scope = "read"

    @extend_schema(
        operation_id="campaigns_review",
        request=CampaignReviewInputSerializer,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request, campaign_id: str) -> Response:
        campaign = self.get_campaign(campaign_id)
        body = CampaignReviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.respond(
            campaign_review(campaign=campaign, start_now=body.validated_data["sendNow"])
        )


class CampaignTestSendView(CampaignView):
    throttle_scope = "campaign_send"
    atomic_writes = False  # what was sent stays recorded, whatever fails after it

    @extend_schema(
        operation_id="campaigns_test_send",
        request=CampaignTestSendInputSerializer,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request, campaign_id: str) -> Response:
        campaign = self.get_campaign(campaign_id)
        body = CampaignTestSendInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        customer = None
        if body.validated_data.get("customerId"):
            customer = base_customers().filter(pk=body.validated_data["customerId"]).first()
            if customer is None:
                raise exceptions.ValidationError({"customerId": ["No customer with this id."]})
        addresses = body.validated_data.get("addresses")
        own = getattr(request.user, "email", "") if request.user.is_authenticated else ""
        if not addresses and own:
            addresses = [own]  # a signed-in person's test goes to their own inbox
        results = campaign_test_send(
            campaign=campaign,
            addresses=addresses,
            customer=customer,
            variant=body.validated_data["variant"],
            actor_label=self.actor_label(),
        )
        return self.respond(results)
