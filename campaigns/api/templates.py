"""Templates a person or a script picks from (issue 18; messaging.md "Templates"):

- `GET templates?channel=email`: the Messaging Service's templates for the channel, or the
  club's own email templates when no Messaging Service is configured. `meta` says which
  (`source`), whether a list could be had at all (`listed`; false: type an id, `notice` says
  why) and the customer fields a template may use (`variables`, for pickers).
- `POST templates/<id>/preview`: the template rendered for one of the club's customers
  (`customerId`; sample values without one), with an optional subject override. An unknown
  template is a 404, an unknown channel, customer or variable a 400 naming the field, and a
  Messaging Service that cannot answer a 502 saying so.
"""

from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.email_templates.messaging import (
    MessagingTemplateError,
    TemplateNotFound,
    UnknownVariable,
)
from campaigns.email_templates.selectors import (
    channel_of,
    template_preview,
    templates_list,
    variables_catalogue,
)
from crm.accounts.scopes import Scope
from crm.api.errors import error_response
from crm.api.openapi import ErrorSerializer
from crm.api.serializers import InputSerializer
from crm.api.views import TenantAPIView
from segments.compiler import base_customers


class TemplateOutputSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The templateId a campaign names.")
    name = serializers.CharField()
    channel = serializers.ChoiceField(choices=["email", "sms", "push"])
    subject = serializers.CharField(allow_blank=True)
    variables = serializers.ListField(child=serializers.CharField())
    source = serializers.ChoiceField(choices=["club", "messaging"])  # type: ignore[assignment]  # API field name; DRF pops it off the class
    updatedAt = serializers.DateTimeField(allow_null=True)


class TemplateVariableSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # API field name; DRF pops it off the class
    sample = serializers.CharField()


class TemplateListMetaSerializer(serializers.Serializer):
    source = serializers.ChoiceField(  # type: ignore[assignment]  # API field name; DRF pops it off the class
        choices=["club", "messaging", "none"],
        help_text="club: the club's own email templates (no Messaging Service); messaging: "
        "the Messaging Service's; none: a queue transport with no MESSAGING_URL to ask.",
    )
    listed = serializers.BooleanField(help_text="False: no list could be had; type an id.")
    notice = serializers.CharField(allow_blank=True)
    variables = TemplateVariableSerializer(many=True)


class TemplateListResponseSerializer(serializers.Serializer):
    data = TemplateOutputSerializer(many=True)  # type: ignore[assignment]  # API field name; DRF pops it off the class
    meta = TemplateListMetaSerializer()


class TemplatePreviewContentSerializer(InputSerializer):
    subject = serializers.CharField(max_length=250, required=False, allow_blank=True)


class TemplatePreviewInputSerializer(InputSerializer):
    channel = serializers.CharField(max_length=10, required=False, default="email")
    customerId = serializers.UUIDField(required=False, allow_null=True)
    content = TemplatePreviewContentSerializer(required=False)


class TemplatePreviewOutputSerializer(serializers.Serializer):
    templateId = serializers.CharField()
    channel = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # API field name; DRF pops it off the class
    customerId = serializers.UUIDField(allow_null=True)
    subject = serializers.CharField(allow_blank=True)
    html = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)


class TemplateListView(TenantAPIView):
    @extend_schema(
        operation_id="templates_list",
        parameters=[
            OpenApiParameter(
                "channel", str, enum=["email", "sms", "push"], description="Default email."
            )
        ],
        responses=TemplateListResponseSerializer,
    )
    def get(self, request: Request) -> Response:
        channel = channel_of(request.query_params.get("channel", "email"))
        listing = templates_list(channel=channel)
        return Response(
            {
                "data": TemplateOutputSerializer(listing.templates, many=True).data,
                "meta": {
                    "source": listing.source,
                    "listed": listing.listed,
                    "notice": listing.notice,
                    "variables": variables_catalogue(),
                },
            }
        )


class TemplatePreviewView(TenantAPIView):
    """A read sent as POST (it takes a body): nothing is saved or sent."""

    write_scope = Scope.READ.value
    throttle_scope = "read"

    @extend_schema(
        operation_id="templates_preview",
        request=TemplatePreviewInputSerializer,
        responses={
            200: TemplatePreviewOutputSerializer,
            502: OpenApiResponse(
                ErrorSerializer, description="The Messaging Service could not render it."
            ),
        },
    )
    def post(self, request: Request, template_id: str) -> Response | JsonResponse:
        body = TemplatePreviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        channel = channel_of(data.get("channel"))
        customer = None
        if data.get("customerId"):
            customer = base_customers().filter(pk=data["customerId"]).first()
            if customer is None:
                raise exceptions.ValidationError({"customerId": ["No customer with this id."]})
        try:
            preview = template_preview(
                template_id=template_id,
                channel=channel,
                customer=customer,
                content=dict(data.get("content") or {}),
            )
        except TemplateNotFound as exc:
            raise exceptions.NotFound(str(exc)) from exc
        except UnknownVariable as exc:
            raise exceptions.ValidationError({exc.field: [str(exc)]}) from exc
        except MessagingTemplateError as exc:
            return error_response(502, "messaging_unavailable", str(exc))
        return self.respond(TemplatePreviewOutputSerializer(preview).data)
