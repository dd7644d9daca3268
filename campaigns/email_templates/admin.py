"""The club's email templates in the admin: a block editor with a live preview rendered by the
server, and the club's email branding (logo, colours, address).

Why our own block form and not GrapesJS + grapesjs-mjml (README, "Email templates"): a club's
marketing manager fills in a handful of fixed blocks (header, text, image, button, competition
card, footer) in a form they already know, with the customer's fields offered from a list; the
preview beside it is the MJML rendered by MRML on the server, exactly what is sent. It is one
small script (static/campaigns/admin/email-editor.js, no dependencies), works offline, and
keeps the email's HTML ours (MJML made from blocks), so nothing a browser editor could produce
(free HTML, scripts, remote fonts) reaches an inbox.

Every save goes through `email_templates.services` (the same checks as the API): errors by
block and field come back beside the block that caused them.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from campaigns.email_templates.blocks import (
    BLOCK_TYPES,
    blocks_errors,
    clean_blocks,
    describe_path,
)
from campaigns.email_templates.models import ClubBranding, EmailTemplate
from campaigns.email_templates.rendering import TemplateRenderError
from campaigns.email_templates.selectors import (
    PREVIEW_UNSUBSCRIBE,
    club_template_render,
    customer_values,
    sample_values,
    variables_catalogue,
)
from campaigns.email_templates.services import email_template_create, email_template_update
from campaigns.email_templates.starters import STARTERS
from campaigns.email_templates.variables import unknown_message, unknown_variables
from crm.admin_sites import club_admin_site

STARTER_CHOICES = [(s["key"], s["name"]) for s in STARTERS] + [("", "A blank email")]


def editor_config() -> dict[str, Any]:
    """What the editor script needs: block types with their fields, the variables picker, the
    starters' blocks."""
    return {
        "blockTypes": {
            kind.type: {
                "label": kind.label,
                "fields": [
                    {"name": f.name, "label": f.label, "kind": f.kind, "required": f.required}
                    for f in kind.fields
                ],
            }
            for kind in BLOCK_TYPES.values()
        },
        "variables": variables_catalogue(),
        "starters": {
            s["key"]: {k: s[k] for k in ("name", "subject", "preheader", "blocks")}
            for s in STARTERS
        }
        | {"": {"name": "", "subject": "", "preheader": "", "blocks": [
            {"type": "header"}, {"type": "text", "text": ""}, {"type": "footer"}]}},
    }  # fmt: skip


class BlockEditorWidget(forms.Widget):
    """The blocks as JSON in a hidden textarea, edited by email-editor.js beside a preview."""

    template_name = "admin/campaigns/emailtemplate/block_editor.html"

    class Media:
        js = ("campaigns/admin/email-editor.js",)
        css = {"all": ("campaigns/admin/email-editor.css",)}

    def format_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value or [], ensure_ascii=False)


class BlocksField(forms.Field):
    widget = BlockEditorWidget

    def to_python(self, value: Any) -> Any:
        if isinstance(value, list):
            return value
        try:
            return json.loads(value or "[]")
        except ValueError:
            raise ValidationError("The blocks could not be read; reload the page.") from None


class EmailTemplateForm(forms.ModelForm):
    start_from = forms.ChoiceField(
        choices=STARTER_CHOICES, required=False, label="Start from",
        help_text="Fills in the blocks and subject of a starter; change anything after.",
    )  # fmt: skip
    blocks = BlocksField(label="Content")

    actor_label = ""

    class Meta:
        model = EmailTemplate
        fields = ("name", "key", "subject", "preheader", "blocks")
        labels = {"key": "Template id"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template: EmailTemplate | None = None
        self.block_errors: dict[str, list[str]] = {}
        if self.instance._state.adding:
            starter = STARTERS[0]
            self.initial.setdefault("blocks", starter["blocks"])
            self.initial.setdefault("subject", starter["subject"])
            self.initial.setdefault("preheader", starter["preheader"])
            self.initial.setdefault("start_from", starter["key"])
            self.fields["key"].required = False
            self.fields[
                "key"
            ].help_text = (
                "Campaigns name the template by this id. Leave it empty to make one from the name."
            )
        else:
            self.fields.pop("start_from", None)
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "Campaigns name this id; it cannot change."

    def validate_unique(self) -> None:
        """The service checks the id is free."""

    def _post_clean(self) -> None:
        if self.errors:  # full_clean, which calls this, has set them: no second clean
            return
        d = self.cleaned_data
        try:
            if self.instance._state.adding:
                self.template = email_template_create(
                    key=d.get("key") or _key_from(d.get("name") or ""), name=d.get("name") or "",
                    subject=d.get("subject") or "", preheader=d.get("preheader") or "",
                    blocks=d["blocks"], actor_label=self.actor_label,  # required: clean gave it
                )  # fmt: skip
            else:
                self.template = email_template_update(
                    template=self.instance, name=d.get("name") or "",
                    subject=d.get("subject") or "", preheader=d.get("preheader") or "",
                    blocks=d.get("blocks"), actor_label=self.actor_label,
                )  # fmt: skip
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                if key.startswith("blocks"):
                    self.block_errors[key] = messages
                    self.add_error("blocks", [f"{_where(key, d.get('blocks'))}{m}"
                                              for m in messages])  # fmt: skip
                elif key in self.fields:
                    self.add_error(key, messages)
                else:
                    self.add_error(None, messages)


def _key_from(name: str) -> str:
    """A free template id made from its name: "Club night" → `club_night` (`club_night_2`…)."""
    from django.utils.text import slugify

    base = slugify(name).replace("-", "_")[:90] or "email"
    key, n = base, 1
    while EmailTemplate.objects.filter(key=key).exists():
        n += 1
        key = f"{base}_{n}"
    return key


def _where(key: str, blocks: Any) -> str:
    """`blocks[2].text` as a person reads it: "Block 3 (Text), text: "."""
    if not key.startswith("blocks["):
        return ""
    where = describe_path(key, blocks)
    return f"{where[0].upper()}{where[1:]}: "


@admin.register(EmailTemplate, site=club_admin_site)
class EmailTemplateAdmin(ModelAdmin):
    form = EmailTemplateForm
    change_form_template = "admin/campaigns/emailtemplate/change_form.html"
    list_display = ("name", "subject", "template_id", "starter_label", "updated_at")
    search_fields = ("name", "subject", "key")
    actions = None
    fieldsets = ((None, {"fields": ("start_from", "name", "key", "subject", "preheader")}),
                 ("Content", {"fields": ("blocks",)}))  # fmt: skip

    @admin.display(description="Template id", ordering="key")
    def template_id(self, obj: EmailTemplate) -> str:
        return obj.key

    @admin.display(description="Starter")
    def starter_label(self, obj: EmailTemplate) -> str:
        return dict(STARTER_CHOICES).get(obj.starter, "") if obj.starter else ""

    def _can(self, request: HttpRequest, write: bool) -> bool:
        from campaigns.admin import can_read, can_write

        return can_write(request) if write else can_read(request)

    def has_module_permission(self, request) -> bool:
        return self._can(request, False)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._can(request, False)

    def has_add_permission(self, request) -> bool:
        return self._can(request, True)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._can(request, True)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._can(request, True)

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return ((None, {"fields": ("name", "key", "subject", "preheader")}),
                    ("Content", {"fields": ("blocks",)}))  # fmt: skip
        return super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor_label = request.user.email
        return form

    def save_form(self, request, form, change):
        return form.template or form.instance

    def save_model(self, request, obj, form, change) -> None:
        """Saved by the service in the form's validation."""

    def save_related(self, request, form, formsets, change) -> None:
        """No related rows: the blocks are the template's own column."""

    def delete_model(self, request, obj) -> None:
        from campaigns.email_templates.services import email_template_delete

        email_template_delete(template=obj, actor_label=request.user.email)

    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_emailtemplate_preview",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context.get("adminform").form if context.get("adminform") else None
        context["editor_config"] = editor_config()
        context["block_errors"] = getattr(form, "block_errors", {})
        context["preview_url"] = reverse(f"{self.admin_site.name}:campaigns_emailtemplate_preview")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """The editor's live preview: the form as it stands, rendered by the server for a
        customer (by email or id) or with sample values. Nothing is saved."""
        from campaigns.admin import _find_customer

        if request.method != "POST" or not self._can(request, False):
            return JsonResponse({"error": "POST the editor's fields."}, status=405)
        try:
            blocks = json.loads(request.POST.get("blocks") or "[]")
        except ValueError:
            return JsonResponse({"errors": {"blocks": ["The blocks could not be read."]}})
        subject = request.POST.get("subject", "")
        preheader = request.POST.get("preheader", "")
        errors = blocks_errors(blocks)
        for name, value in (("subject", subject), ("preheader", preheader)):
            if unknown := unknown_variables(value):
                errors[name] = [unknown_message(unknown)]
        values, shown_for = sample_values(), "sample values"
        query = (request.POST.get("customer") or "").strip()
        if query:
            customer = _find_customer(query)
            if customer is None:
                errors["customer"] = ["No customer with this email or id."]
            else:
                values = customer_values(customer)
                shown_for = " ".join(p for p in (customer.first_name, customer.last_name) if p)
                shown_for = shown_for or customer.email or str(customer.id)
        # Render every block of a known type, so the preview keeps up while a field is still
        # wrong: a variable nobody will fill shows as [name?] where it stands.
        good = [b for b in blocks if isinstance(b, dict) and b.get("type") in BLOCK_TYPES]
        texts = [subject, preheader] + [str(v) for b in good for k, v in b.items() if k != "type"]
        unfilled = {name for text in texts for name in unknown_variables(text)}
        template = EmailTemplate(subject=subject, preheader=preheader, blocks=clean_blocks(good))
        safe_values = {**values, **{name: f"[{name}?]" for name in unfilled}}
        try:
            rendered = club_template_render(
                template,
                values=safe_values,
                unsubscribe_url=PREVIEW_UNSUBSCRIBE,
                subject=subject,
            )
        except TemplateRenderError as exc:
            return JsonResponse({"errors": {**errors, exc.field: [str(exc)]}, "html": ""})
        return JsonResponse(
            {"subject": rendered.subject, "html": rendered.html, "errors": errors,
             "shownFor": shown_for}
        )  # fmt: skip


@admin.register(ClubBranding, site=club_admin_site)
class ClubBrandingAdmin(ModelAdmin):
    """The club's look in emails: one row, edited in place; every template shows it."""

    list_display = ("__str__", "logo", "primary_colour", "accent_colour", "updated_at")
    fields = ("logo_url", "primary_colour", "accent_colour", "address", "website")

    @admin.display(description="Logo")
    def logo(self, obj: ClubBranding) -> str:
        return format_html("{}", obj.logo_url or "the club's name")

    def _can(self, request: HttpRequest, write: bool) -> bool:
        from campaigns.admin import can_read, can_write

        return can_write(request) if write else can_read(request)

    def has_module_permission(self, request) -> bool:
        return self._can(request, False)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._can(request, False)

    def has_add_permission(self, request) -> bool:
        return self._can(request, True) and not ClubBranding.objects.exists()

    def has_change_permission(self, request, obj=None) -> bool:
        return self._can(request, True)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        from crm.accounts.services import audit_record

        obj.pk = 1
        obj.updated_by = request.user.email
        super().save_model(request, obj, form, change)
        audit_record(
            action="email_template.branding",
            actor_label=request.user.email,
            object_type="club_branding",
            object_id="1",
            details={"changed": form.changed_data},
        )


_CHANNEL_LABEL = {"EMAIL": "Email", "SMS": "SMS", "PUSH": "Push"}


def template_field(*, channel: str, current: str = "") -> forms.Field:
    """The form field a campaign (or an A/B variant) picks its template for a channel with:
    a list by name and subject from the Messaging Service or the club's own templates; a typed
    id, saying why, only when no list can be had (a service without a template API yet)."""
    from campaigns.email_templates.selectors import template_choices

    choices, listing = template_choices(channel=channel)
    label = f"{_CHANNEL_LABEL.get(channel.upper(), channel)} template"
    if not listing.listed:
        return forms.CharField(
            required=False, label=f"{label} id", help_text=listing.notice, initial=current
        )
    if current and current not in dict(choices):
        choices.append((current, f"{current} (not in the list)"))
    help_text = listing.notice or (
        "The club's own templates: edit them under Campaigns > Email templates."
        if listing.source == "club"
        else "The Messaging Service's templates for this channel."
    )
    return forms.ChoiceField(
        required=False,
        label=label,
        choices=[("", "— none —"), *choices],
        help_text=help_text,
        initial=current,
    )
