"""Templates in GraphQL, as in REST (campaigns/api/templates.py): `templates(channel)` lists
what a person picks from, `templatePreview(...)` renders one for a customer of the club. Bad
input is a GraphQLError naming the field in `extensions.field`."""

from __future__ import annotations

import graphene
from django.core.exceptions import ValidationError
from graphql import GraphQLError

from campaigns.email_templates.messaging import MessagingTemplateError, TemplateNotFound
from campaigns.email_templates.selectors import (
    channel_of,
    template_preview,
    templates_list,
    variables_catalogue,
)
from crm.graphql.permissions import require_scope
from segments.compiler import base_customers


class TemplateVariable(graphene.ObjectType):
    name = graphene.String(required=True)
    label = graphene.String(required=True)
    sample = graphene.String(required=True)


class Template(graphene.ObjectType):
    id = graphene.String(required=True, description="The templateId a campaign names.")
    name = graphene.String(required=True)
    channel = graphene.String(required=True)
    subject = graphene.String(required=True)
    variables = graphene.List(graphene.NonNull(graphene.String), required=True)
    source = graphene.String(required=True)
    updated_at = graphene.String()

    @staticmethod
    def resolve_updated_at(root, info):
        return root.get("updatedAt")


class TemplateList(graphene.ObjectType):
    source = graphene.String(required=True, description="club, messaging or none.")
    listed = graphene.Boolean(required=True, description="False: type an id (see notice).")
    notice = graphene.String(required=True)
    items = graphene.List(graphene.NonNull(Template), required=True)
    variables = graphene.List(graphene.NonNull(TemplateVariable), required=True)


class TemplatePreview(graphene.ObjectType):
    template_id = graphene.String(required=True)
    channel = graphene.String(required=True)
    source = graphene.String(required=True)
    customer_id = graphene.String()
    subject = graphene.String(required=True)
    html = graphene.String(required=True)
    text = graphene.String(required=True)


def _refuse(exc: ValidationError) -> GraphQLError:
    field, messages = next(iter(exc.message_dict.items()))
    return GraphQLError(f"{field}: {messages[0]}", extensions={"field": field})


class Query(graphene.ObjectType):
    templates = graphene.Field(
        TemplateList, required=True, channel=graphene.String(default_value="email")
    )
    template_preview = graphene.Field(
        TemplatePreview,
        required=True,
        template_id=graphene.String(required=True),
        channel=graphene.String(default_value="email"),
        customer_id=graphene.UUID(),
        subject=graphene.String(),
    )

    @staticmethod
    def resolve_templates(root, info, channel: str = "email"):
        require_scope(info, "crm:read")
        try:
            listing = templates_list(channel=channel)
        except ValidationError as exc:
            raise _refuse(exc) from exc
        return TemplateList(
            source=listing.source,
            listed=listing.listed,
            notice=listing.notice,
            items=listing.templates,
            variables=variables_catalogue(),
        )

    @staticmethod
    def resolve_template_preview(
        root, info, template_id: str, channel: str = "email", customer_id=None, subject=None
    ):
        require_scope(info, "crm:read")
        try:
            channel = channel_of(channel)
            customer = None
            if customer_id:
                customer = base_customers().filter(pk=customer_id).first()
                if customer is None:
                    raise ValidationError({"customerId": ["No customer with this id."]})
            preview = template_preview(
                template_id=template_id,
                channel=channel,
                customer=customer,
                content={"subject": subject} if subject else {},
            )
        except ValidationError as exc:
            raise _refuse(exc) from exc
        except TemplateNotFound as exc:
            raise GraphQLError(str(exc), extensions={"field": "templateId"}) from exc
        except MessagingTemplateError as exc:
            raise GraphQLError(str(exc), extensions={"field": exc.field}) from exc
        return TemplatePreview(
            template_id=preview["templateId"],
            channel=preview["channel"],
            source=preview["source"],
            customer_id=preview["customerId"],
            subject=preview["subject"],
            html=preview["html"],
            text=preview["text"],
        )
