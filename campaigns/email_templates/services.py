"""Writing the club's own email templates: create, change and delete, each checked as a whole
(a 400 naming every field at fault, `blocks[2].text`), in one transaction with an audit row.
The MJML the blocks make with the club's branding is stored beside them and must render."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.email_templates.blocks import blocks_errors, blocks_to_mjml, clean_blocks
from campaigns.email_templates.models import EmailTemplate
from campaigns.email_templates.rendering import TemplateRenderError, compile_mjml
from campaigns.email_templates.variables import (
    KNOWN,
    unknown_message,
    unknown_variables,
    variables_in,
)

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def template_variables(template: EmailTemplate) -> list[str]:
    """The customer fields a club template uses (subject, preheader and blocks), in order."""
    texts = [template.subject, template.preheader]
    for block in template.blocks or []:
        if isinstance(block, dict):
            texts += [str(v) for k, v in block.items() if k != "type"]
    names: list[str] = []
    for text in texts:
        names += [n for n in variables_in(text) if n in KNOWN and n not in names]
    return names


def _check(
    *, key: str, name: str, subject: str, preheader: str, blocks: Any, instance_id=None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not _KEY.match(key or ""):
        errors["key"] = ["Give an id of letters, digits, - and _ (at most 100)."]
    elif EmailTemplate.objects.filter(key=key).exclude(pk=instance_id).exists():
        errors["key"] = ["Another template of the club has this id."]
    if not (name or "").strip():
        errors["name"] = ["Give the template a name."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    if not (subject or "").strip():
        errors["subject"] = ["Give a subject."]
    elif len(subject) > 250:
        errors["subject"] = ["At most 250 characters."]
    elif unknown := unknown_variables(subject):
        errors["subject"] = [unknown_message(unknown)]
    if len(preheader or "") > 200:
        errors["preheader"] = ["At most 200 characters."]
    elif unknown := unknown_variables(preheader):
        errors["preheader"] = [unknown_message(unknown)]
    errors.update(blocks_errors(blocks))
    return errors


def _fill(template: EmailTemplate, *, actor_label: str) -> None:
    from campaigns.email_templates.selectors import brand_current

    template.mjml = blocks_to_mjml(
        template.blocks, brand_current(), subject=template.subject, preheader=template.preheader
    )
    try:
        compile_mjml(template.mjml)
    except TemplateRenderError as exc:  # our own MJML: a bug, but never a half-saved row
        raise ValidationError({"blocks": [str(exc)]}) from exc
    template.updated_by = actor_label


def _audit(action: str, template: EmailTemplate, actor_label: str, **details: Any) -> None:
    from crm.accounts.services import audit_record

    audit_record(
        action=f"email_template.{action}",
        actor_label=actor_label,
        object_type="email_template",
        object_id=str(template.id),
        details={"key": template.key, **details},
    )


@transaction.atomic
def email_template_create(
    *,
    key: str,
    name: str,
    subject: str,
    blocks: list[dict[str, Any]],
    preheader: str = "",
    actor_label: str = "",
) -> EmailTemplate:
    key, name, subject, preheader = key.strip(), name.strip(), subject.strip(), preheader.strip()
    if errors := _check(key=key, name=name, subject=subject, preheader=preheader, blocks=blocks):
        raise ValidationError(errors)
    template = EmailTemplate(
        key=key, name=name, subject=subject, preheader=preheader, blocks=clean_blocks(blocks)
    )
    _fill(template, actor_label=actor_label)
    template.save()
    _audit("create", template, actor_label)
    return template


@transaction.atomic
def email_template_update(
    *,
    template: EmailTemplate,
    name: str | None = None,
    subject: str | None = None,
    preheader: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    actor_label: str = "",
) -> EmailTemplate:
    """Change any of name, subject, preheader and blocks (the id stays: campaigns name it)."""
    template = EmailTemplate.objects.select_for_update().get(pk=template.pk)
    name = template.name if name is None else name.strip()
    subject = template.subject if subject is None else subject.strip()
    preheader = template.preheader if preheader is None else preheader.strip()
    blocks = template.blocks if blocks is None else blocks
    errors = _check(
        key=template.key, name=name, subject=subject, preheader=preheader, blocks=blocks,
        instance_id=template.pk,
    )  # fmt: skip
    if errors:
        raise ValidationError(errors)
    template.name, template.subject, template.preheader = name, subject, preheader
    template.blocks = clean_blocks(blocks)
    _fill(template, actor_label=actor_label)
    template.save()
    _audit("update", template, actor_label)
    return template


@transaction.atomic
def email_template_delete(*, template: EmailTemplate, actor_label: str = "") -> None:
    """Delete a template no unfinished campaign names (a sending campaign would lose it)."""
    from campaigns.models import Campaign, CampaignStatus, Variant

    open_states = [s for s in CampaignStatus.values if s not in ("COMPLETED", "CANCELLED")]
    users = list(
        Campaign.objects.filter(status__in=open_states, templates__EMAIL=template.key).values_list(
            "name", flat=True
        )[:3]
    ) + list(
        Variant.objects.filter(
            campaign__status__in=open_states, templates__EMAIL=template.key
        ).values_list("campaign__name", flat=True)[:3]
    )
    if users:
        raise ValidationError(
            {"key": [f"Campaigns still use this template: {', '.join(sorted(set(users)))}."]}
        )
    _audit("delete", template, actor_label)
    template.delete()
