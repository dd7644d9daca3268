"""Reading templates, whichever side holds them: the functions the composer, the admin, the
API and GraphQL call (and the send's readiness check).

- `template_source()`: `"club"` (the club's own, with the email fallback), `"messaging"` (the
  Messaging Service's) or `"none"` (a BullMQ transport with no `MESSAGING_URL` to ask).
- `templates_list(channel=…)`: what a person picks from, with a notice when the list cannot be
  had (no template API yet, the service down, a channel the club's own templates do not cover).
- `template_choices(channel=…)`: the same as `(id, "Name — Subject")` pairs for a select.
- `template_preview(template_id=…, channel=…, customer=…)`: rendered for a real customer (or
  sample values when none is given).
- `template_problems(channel=…, template_id=…, known=…)`: what would stop it sending (unknown
  variables, by block and field), as `{field path: [messages]}`; empty when fine.

Channels are read as `email`/`EMAIL` alike and answered lower-case, as messaging.md writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from campaigns.email_templates.blocks import (
    Brand,
    blocks_errors,
    blocks_to_mjml,
    blocks_to_text,
    describe_path,
)
from campaigns.email_templates.messaging import (
    MessagingTemplateError,
    MessagingTemplatesClient,
    TemplateApiMissing,
    TemplateNotFound,
)
from campaigns.email_templates.models import ClubBranding, EmailTemplate
from campaigns.email_templates.rendering import TemplateRenderError, fill, render_html
from campaigns.email_templates.variables import (
    KNOWN,
    REQUEST_NAMES,
    UNSUBSCRIBE,
    VARIABLES,
    unknown_message,
    unknown_variables,
    with_labels,
)
from crm.tenants.selectors import tenant_current

CHANNELS = ("email", "sms", "push")
# What the preview puts where the send's own unsubscribe link goes.
PREVIEW_UNSUBSCRIBE = "#unsubscribe"


def channel_of(value: Any, *, field_name: str = "channel") -> str:
    """`email`, `sms` or `push` from any case; a ValidationError naming the field otherwise."""
    channel = str(value or "").strip().lower()
    if channel not in CHANNELS:
        raise ValidationError({field_name: ["Not a channel: use email, sms or push."]})
    return channel


def template_source() -> str:
    transport = (getattr(settings, "CAMPAIGN_TRANSPORT", "") or "").lower()
    if transport == "email" or (not transport and not settings.MESSAGING_URL):
        return "club"
    return "messaging" if settings.MESSAGING_URL else "none"


def variables_catalogue() -> list[dict[str, str]]:
    """The customer's fields a template may use, as the editor's picker offers them."""
    return [{"name": v.name, "label": v.label, "sample": v.sample} for v in VARIABLES]


def brand_current() -> Brand:
    tenant = tenant_current()
    row = ClubBranding.objects.filter(pk=1).first() or ClubBranding()
    return Brand(
        club_name=tenant.name,
        logo_url=row.logo_url,
        primary_colour=row.primary_colour,
        accent_colour=row.accent_colour,
        address=row.address,
        website=row.website,
    )


@dataclass
class TemplateListing:
    source: str
    templates: list[dict[str, Any]] = field(default_factory=list)
    # Why the list is empty or cannot be had, for a person: shown beside a typed-id field.
    notice: str = ""
    # False when the page must let a person type an id (no list could be had).
    listed: bool = True


def _club_summary(template: EmailTemplate) -> dict[str, Any]:
    from campaigns.email_templates.services import template_variables

    return {
        "id": template.key,
        "name": template.name,
        "channel": "email",
        "subject": template.subject,
        "variables": template_variables(template),
        "source": "club",
        "updatedAt": template.updated_at.isoformat() if template.updated_at else None,
    }


def templates_list(*, channel: str) -> TemplateListing:
    channel = channel_of(channel)
    source = template_source()
    if source == "club":
        if channel != "email":
            label = {"sms": "SMS", "push": "Push"}[channel]
            return TemplateListing(
                source,
                notice=f"No Messaging Service is configured, so {label} has no templates: "
                "only email has the club's own.",
            )
        return TemplateListing(
            source, [_club_summary(t) for t in EmailTemplate.objects.order_by("name", "key")]
        )
    if source == "none":
        return TemplateListing(
            source,
            notice="MESSAGING_URL is not set, so the Messaging Service's templates cannot be "
            "listed: type the template id.",
            listed=False,
        )
    try:
        with MessagingTemplatesClient.from_settings() as client:
            remote = client.list_templates(tenant_id=str(tenant_current().id), channel=channel)
    except MessagingTemplateError as exc:
        return TemplateListing(source, notice=str(exc), listed=False)
    return TemplateListing(
        source,
        [
            {
                "id": t.id,
                "name": t.name,
                "channel": channel,
                "subject": t.subject,
                "variables": t.variables,
                "source": "messaging",
                "updatedAt": t.updated_at or None,
            }
            for t in remote
        ],
    )


def template_choices(*, channel: str) -> tuple[list[tuple[str, str]], TemplateListing]:
    """`(id, "Name — Subject")` pairs for a select, and the listing they came from."""
    listing = templates_list(channel=channel)
    choices = [
        (t["id"], f"{t['name']} — {t['subject']}" if t["subject"] else t["name"])
        for t in listing.templates
    ]
    return choices, listing


def club_template_get(*, key: str) -> EmailTemplate | None:
    return EmailTemplate.objects.filter(key=key).first() if key else None


def club_templates_by_key(keys: set[str]) -> dict[str, EmailTemplate]:
    """The club templates a batch of send requests names, in one query."""
    return {t.key: t for t in EmailTemplate.objects.filter(key__in=[k for k in keys if k])}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def club_template_render(
    template: EmailTemplate,
    *,
    values: dict[str, Any],
    unsubscribe_url: str,
    subject: str = "",
    brand: Brand | None = None,
) -> RenderedEmail:
    """One email from a club template: `values` are the request's variables, `subject` an
    override (an A/B variant's). A variable with no value is a TemplateRenderError."""
    brand = brand or brand_current()
    values = {**with_labels(values), UNSUBSCRIBE: unsubscribe_url}
    mjml = blocks_to_mjml(
        template.blocks, brand, subject=template.subject, preheader=template.preheader
    )
    subject_text = " ".join(fill(subject or template.subject, values, escape=False).split())
    return RenderedEmail(
        subject=subject_text[:250],
        html=render_html(mjml, values),
        text=fill(blocks_to_text(template.blocks, brand), values, escape=False),
    )


def sample_values() -> dict[str, str]:
    values = {v.name: v.sample for v in VARIABLES}
    values["clubName"] = tenant_current().name
    return values


def customer_values(customer) -> dict[str, Any]:
    """The variables a send to this customer would carry (the send's own builder)."""
    from campaigns.sending import customer_variables
    from campaigns.services import _customer_row

    tenant = tenant_current()
    from zoneinfo import ZoneInfo

    return customer_variables(
        _customer_row(customer),
        club_name=tenant.name,
        tz=ZoneInfo(tenant.timezone or "UTC"),
        fallbacks={},
    )


def template_preview(
    *,
    template_id: str,
    channel: str,
    customer=None,
    content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The template rendered for a customer of the club (sample values with none): `subject`,
    `html`, `text`. Unknown template: `TemplateNotFound`; an unknown variable or bad input: a
    ValidationError naming the field; the service unreachable: `MessagingTemplateError`."""
    channel = channel_of(channel)
    content = content or {}
    values = customer_values(customer) if customer is not None else sample_values()
    source = template_source()
    if source == "club":
        template = club_template_get(key=template_id) if channel == "email" else None
        if template is None:
            raise TemplateNotFound(f"The club has no {channel} template {template_id!r}.")
        subject = str(content.get("subject") or "")
        if unknown := unknown_variables(subject):
            raise ValidationError({"content.subject": [unknown_message(unknown)]})
        try:
            rendered = club_template_render(
                template, values=values, unsubscribe_url=PREVIEW_UNSUBSCRIBE, subject=subject
            )
        except TemplateRenderError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        out = {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}
    elif source == "none":
        raise TemplateApiMissing(
            "MESSAGING_URL is not set: the Messaging Service cannot render a preview.",
            field="messaging",
        )
    else:
        with MessagingTemplatesClient.from_settings() as client:
            out = client.render(
                template_id=template_id,
                tenant_id=str(tenant_current().id),
                variables=values,
                content=content,
            )
    return {
        "templateId": template_id,
        "channel": channel,
        "source": source,
        "customerId": str(customer.id) if customer is not None else None,
        "subject": out.get("subject", ""),
        "html": out.get("html", ""),
        "text": out.get("text", ""),
    }


def club_template_problems(
    template: EmailTemplate, *, known: set[str], path: str
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    label = f"The template {template.name!r}"
    for name, messages in blocks_errors(template.blocks, path="blocks").items():
        where = describe_path(name, template.blocks)
        errors.setdefault(path, []).extend(f"{label}, {where} ({name}): {m}" for m in messages)
    for name in ("subject", "preheader"):
        if unknown := unknown_variables(getattr(template, name), known):
            errors.setdefault(path, []).append(f"{label}, {name}: {unknown_message(unknown)}")
    return errors


def template_problems(
    *, channel: str, template_id: str, known: set[str] | None = None, path: str = ""
) -> dict[str, list[str]]:
    """What stops this template from sending, by field (`path`, default `templates.EMAIL`):
    a club template's unknown variables (by block and field), or a Messaging template that
    names variables the CRM does not hand over. `known` adds variables the caller supplies
    beside the customer's (a campaign's fallbacks and fixed variables). A template the club
    does not hold is left to the fallback's own templates (older campaigns name file
    templates), and a Messaging Service that cannot be asked is not a reason to refuse."""
    channel = channel_of(channel)
    path = path or f"templates.{channel.upper()}"
    source = template_source()
    # A club template may also name the derived labels; a Messaging template gets only what
    # the request carries.
    allowed = set(KNOWN if source == "club" else REQUEST_NAMES) | set(known or ())
    if source == "club":
        template = club_template_get(key=template_id) if channel == "email" else None
        if template is None:
            return {}
        return club_template_problems(template, known=allowed, path=path)
    if source != "messaging":
        return {}
    try:
        with MessagingTemplatesClient.from_settings() as client:
            remote = client.list_templates(tenant_id=str(tenant_current().id), channel=channel)
    except MessagingTemplateError:
        return {}
    found = next((t for t in remote if t.id == template_id), None)
    if found is None:
        return {path: [f"The Messaging Service has no {channel} template {template_id!r}."]}
    if unknown := [v for v in found.variables if v not in allowed]:
        return {
            path: [
                f"The template {found.name!r} needs {', '.join(unknown)}, which the club "
                "does not hold for a customer: give a fallback value or pick another template."
            ]
        }
    return {}


def campaign_template_problems(campaign) -> dict[str, list[str]]:
    """Before a campaign sends (and wherever the composer saves one): the templates it names
    and its subject overrides, checked for variables nobody will fill, by field
    (`templates.EMAIL`, `variants[1].templates.EMAIL`, `content.subject`)."""
    known = set(campaign.fallbacks or {}) | set(campaign.variables or {})
    errors: dict[str, list[str]] = {}
    checked: set[tuple[str, str]] = set()
    sources = [("", campaign.templates or {}, campaign.content or {})]
    sources += [
        (f"variants[{index}].", variant.templates or {}, variant.content or {})
        for index, variant in enumerate(campaign.variants.all())
    ]
    for prefix, templates, content in sources:
        for channel in campaign.channels:
            template_id = str(templates.get(channel) or "")
            if not template_id or (channel, template_id) in checked:
                continue
            checked.add((channel, template_id))
            errors.update(
                template_problems(
                    channel=channel,
                    template_id=template_id,
                    known=known,
                    path=f"{prefix}templates.{channel}",
                )
            )
        for name in ("subject", "body"):
            if unknown := unknown_variables(str(content.get(name) or ""), KNOWN | known):
                errors[f"{prefix}content.{name}"] = [unknown_message(unknown)]
    return errors
