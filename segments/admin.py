"""The club admin's Segments: the visual rule builder with a live count, and the page that
keeps a segment's members (refresh, latest entries and exits, static lists, CSV in and out).

Every write goes through `segments.services`; the admin only turns requests into service
calls and service refusals into messages next to what was wrong.

Who may do what follows the club API's scopes (`crm.accounts.scopes`), so the admin and the
API never disagree: every role reads segments (`crm:read`: STAFF included, although roles.py
gives STAFF no segment permissions, since it grants only profile views), MARKETING and ADMIN
(`crm:write`) create, edit, refresh, delete and change static lists.

The rule builder
----------------
`static/segments/rule-builder.js` (with `segment-form.js` wiring it to this page) is a small
vanilla-JS builder, no framework and no build step. The library made for the job,
react-querybuilder (MIT; its JSON `{combinator, not, rules: [{field, operator, value}]}` is
nearly ours), was the first choice and was ruled out after reading what npm ships (8.24.1):
only ES modules and CommonJS that import bare package names (react, react-redux,
@reduxjs/toolkit, immer, numeric-quantity), no browser (UMD) build, the 6.x line neither.
Loading that without a bundler means an import map over about ten vendored packages plus
hand-written shim modules: React 19 ships no browser build at all (React 18's UMD files are the
last), and react-redux needs use-sync-external-store, which is CommonJS only. That is our own
fragile glue around a framework, pinned to an old React, and our value editors (club pickers,
day counts, windows, `between`) would still be our own components written without JSX. The
other well-known drop-in, jQuery QueryBuilder, is no longer developed (its author says so in
its tracker, 2026). So: about a thousand lines of plain JavaScript (the builder, and the page
around it) that know our field catalogue.

What it does (all from `segments.fields.catalogue_for_builder()`, the one catalogue the
validator, compiler and API read):
- groups with ALL (AND) / ANY (OR) and NOT, nested to any depth; conditions with a field picker
  grouped as `GROUPS`, an operator picker limited to the field's operators with their human
  labels (`OPERATOR_LABELS`), and a value editor by type: the club's tiers, genders, home clubs,
  tags and segments as pick lists (`picker_values()`, free entry for values not seen yet),
  enum choices, numbers with the field's bounds, date pickers, "N days" for relative dates,
  two inputs for `between`, and a period editor (last N days, from/to, or all time) for
  windowed counts;
- the JSON (segments.md) in a collapsible panel, kept in step both ways: it is the form field
  that is submitted, so the page also works, more plainly, without JavaScript;
- a live count and a sample of up to 10 members (`POST segments/preview`, debounced, with the
  admin's session and CSRF token); a refused rule shows the server's message under the
  condition its path names (`rules[1].rules[0].operator` is the second child's first child);
- "Start from a template" (`GET segments/templates`).

Saving
------
The form asks `segment_create` / `segment_update` as the last step of its validation
(`SegmentForm._post_clean`): the service is the one judge of a rule, so what it refuses becomes
form errors (rule errors under their conditions, a taken name under the name), never a stack
trace, and what it accepts is saved in the admin's own transaction (Django's change view is
atomic), so nothing is left half-done if anything after it fails. `save_model` then has
nothing left to do.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms.fields import InvalidJSONInput
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from crm.accounts.models import User
from crm.accounts.scopes import Scope
from crm.admin_base import ReadOnlyAdmin
from crm.admin_sites import club_admin_site
from crm.api.permissions import caller_scopes
from crm.tenants.selectors import tenant_of_request
from profiles.models import Customer
from segments.fields import GROUPS, OPERATOR_LABELS, catalogue_for_builder
from segments.models import (
    RefreshSchedule,
    Segment,
    SegmentMembership,
    SegmentMembershipChange,
    SegmentType,
)
from segments.selectors import picker_values, segment_changes, segment_members
from segments.services import (
    segment_create,
    segment_delete,
    segment_import_csv,
    segment_members_add,
    segment_members_remove,
    segment_refresh,
    segment_update,
)

MEMBERS_PAGE_SIZE = 50
LATEST_CHANGES = 20
EXPORT_LIMIT = 100_000
EXPORT_COLUMNS = (
    ("customerId", "id"),
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("email", "email"),
    ("phoneNumber", "phone_number"),
    ("sclMemberId", "scl_member_id"),
    ("teetimePlayerId", "teetime_player_id"),
    ("membershipTier", "membership_tier"),
    ("membershipStatus", "membership_status"),
)
_SERVICE_FIELDS = ("name", "description", "rules", "refresh")
_PLAIN_FIELDS = ("name", "description", "type", "refresh", "template_key")


# --- who may do what ---------------------------------------------------------------------------


def can_read(request: HttpRequest) -> bool:
    return Scope.READ in caller_scopes(request)


def can_write(request: HttpRequest) -> bool:
    return Scope.WRITE in caller_scopes(request)


def _actor(request: HttpRequest) -> str:
    """The signed-in staff user's email (the club admin lets no one else in)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user.email


# --- the form ----------------------------------------------------------------------------------


class RuleJSONField(forms.JSONField):
    """The rule as JSON text, indented for people who read it. Optional here: whether a rule
    is needed (DYNAMIC) is the service's call."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, InvalidJSONInput):
            return value
        if value is None:
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False)


class SegmentForm(forms.ModelForm):
    rules = RuleJSONField(
        required=False,
        label="Rule (JSON)",
        widget=forms.Textarea(
            attrs={"rows": 14, "spellcheck": "false", "class": "vLargeTextField rb-json"}
        ),
    )
    template_key = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)

    # Set per request by SegmentAdmin.get_form: who is acting, for the audit rows.
    actor_label = ""

    class Meta:
        model = Segment
        fields = ("name", "description", "type", "refresh", "rules", "template_key")
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"})}
        help_texts = {
            "type": "Dynamic: whoever the rule matches, kept up to date. Static: a list you "
            "fill by hand or from a CSV file.",
            "refresh": "When a dynamic segment's members are worked out again. Hourly and "
            "daily segments also follow, within a minute, the events that change who matches; "
            "manual ones change only when you press Refresh now.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.segment: Segment | None = None
        # Rule errors by path (`rules[0].value`), for the builder to show under each condition.
        self.rule_errors: dict[str, list[str]] = {}

    def validate_unique(self) -> None:
        """Names are the service's to judge (case-insensitively, which the model cannot)."""

    def _post_clean(self) -> None:
        # Django's hook after the model's own validation: private, so not in Django's stubs.
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        try:
            self.segment = self._save_through_service()
        except ValidationError as exc:
            self._add_service_errors(exc)

    def _save_through_service(self) -> Segment:
        data = self.cleaned_data
        if self.instance._state.adding:
            kind = data.get("type") or SegmentType.DYNAMIC
            return segment_create(
                name=data.get("name", ""),
                type=kind,
                # A static list has no rule: whatever the JSON box held is not asked for.
                rules=data.get("rules") if kind == SegmentType.DYNAMIC else None,
                refresh=data.get("refresh") or RefreshSchedule.DAILY,
                description=data.get("description", ""),
                template_key=data.get("template_key", ""),
                actor_label=self.actor_label,
            )
        changes = {
            key: data[key]
            for key in _SERVICE_FIELDS
            if key in self.changed_data
            and not (key == "rules" and self.instance.type == SegmentType.STATIC)
        }
        if not changes:
            return Segment.objects.get(pk=self.instance.pk)
        return segment_update(segment=self.instance, data=changes, actor_label=self.actor_label)

    def _add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for key, errors in exc.message_dict.items():
            if key in _PLAIN_FIELDS:
                self.add_error(key, errors)
            else:  # `rules`, `rules[1].value`, or a key of the root group (`combinator`)
                self.rule_errors[key] = list(errors)
        if self.rule_errors:
            self.add_error(
                "rules",
                [
                    f"{'The rule' if path == 'rules' else path}: {message}"
                    for path, messages_ in self.rule_errors.items()
                    for message in messages_
                ],
            )


# --- members (static lists) --------------------------------------------------------------------


class MembersAddForm(forms.Form):
    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["customers"] = forms.ModelMultipleChoiceField(
            queryset=Customer.objects.all(),
            label="Add customers",
            help_text="Search by name, email, phone or member id.",
            # Django's own search-as-you-type picker, over the customer admin's search.
            widget=AutocompleteSelectMultiple(
                SegmentMembership._meta.get_field("customer"), admin_site
            ),
        )


class CsvImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A header row naming one of: customerId, email, phone, sclMemberId, "
        "teetimePlayerId, messagingContactId. Rows are matched by the first of those with a "
        "value; rows that match nobody (or several people) are listed, not added.",
    )


# --- segments ----------------------------------------------------------------------------------


@admin.register(Segment, site=club_admin_site)
class SegmentAdmin(ModelAdmin):
    form = SegmentForm
    change_form_template = "admin/segments/segment/change_form.html"
    list_display = ("name", "type", "member_count", "refresh", "last_refreshed_at", "updated_at")
    list_filter = ("type", "refresh")
    search_fields = ("name", "description")
    radio_fields = {"type": admin.HORIZONTAL}
    actions = None  # deleting goes through segment_delete one at a time (it can refuse)
    save_on_top = False

    def get_fieldsets(self, request, obj=None):
        # The rule is not in a fieldset: the template shows it as the builder. A static list
        # has no schedule to choose (its refresh only follows merges).
        if obj is not None and obj.type == SegmentType.STATIC:
            return ((None, {"fields": ("name", "description", "type")}),)
        return ((None, {"fields": ("name", "description", "type", "refresh")}),)

    def get_readonly_fields(self, request, obj=None):
        return ("type",) if obj is not None else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        fields = [name for name in kwargs.get("fields") or () if name != "type" or obj is None]
        kwargs["fields"] = [*fields, "rules", "template_key"]
        base = super().get_form(request, obj, change=change, **kwargs)
        return type(base.__name__, (base,), {"actor_label": _actor(request)})

    # -- permissions: the API's scopes --

    def has_module_permission(self, request) -> bool:
        return can_read(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_read(request)

    def has_add_permission(self, request) -> bool:
        return can_write(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return can_write(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return can_write(request)

    # -- saving and deleting through the services --

    def save_form(self, request, form, change):
        return form.segment

    def save_model(self, request, obj, form, change) -> None:
        """Already saved by the service when the form validated (see the module docstring)."""

    def save_related(self, request, form, formsets, change) -> None:
        """A segment has no related forms."""

    def delete_model(self, request, obj: Segment) -> None:
        segment_delete(segment=obj, actor_label=_actor(request))

    def get_deleted_objects(self, objs, request):
        """A count of what goes with the segment, not a page listing every membership; and no
        extra permission needed for the memberships and their history, which go with it."""
        segments = list(objs)
        members = SegmentMembership.objects.filter(segment__in=segments).count()
        changes = SegmentMembershipChange.objects.filter(segment__in=segments).count()
        summary = [
            format_html(
                "{} (with its {} membership(s) and {} entry/exit record(s))",
                segment.name,
                f"{members:,}",
                f"{changes:,}",
            )
            for segment in segments
        ]
        counts = {"segments": len(segments), "memberships": members, "entries and exits": changes}
        return summary, counts, set(), []

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as exc:
            # segment_delete refused (another segment's rule names this one); the admin's
            # transaction has rolled back the log entry it wrote first.
            messages.error(request, "Not deleted: " + " ".join(exc.messages))
            return HttpResponseRedirect(self._url("change", unquote(object_id)))

    # -- the change page --

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(self._builder_context(request, context["adminform"].form, obj))
        if obj is not None:
            context.update(self._membership_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _builder_context(
        self, request: HttpRequest, form: SegmentForm, obj: Segment | None
    ) -> dict[str, Any]:
        pickers = picker_values()
        if obj is not None:  # a segment cannot include itself
            pickers["segments"] = [s for s in pickers["segments"] if s["id"] != str(obj.pk)]
        editable = obj is None or self.has_change_permission(request, obj)
        try:
            customer_url = reverse(
                f"{self.admin_site.name}:profiles_customer_change", args=[uuid.UUID(int=0)]
            )
        except NoReverseMatch:  # the customer admin is not on this site
            customer_url = ""
        config = {
            "groups": [{"key": key, "label": label} for key, label in GROUPS],
            "fields": catalogue_for_builder(),
            "operatorLabels": OPERATOR_LABELS,
            "pickers": pickers,
            "previewUrl": reverse("segments-preview"),
            "templatesUrl": reverse("segments-templates"),
            "customerUrl": customer_url,
            "readOnly": not editable,
            "initialRules": obj.rules if obj is not None else None,
            "ruleErrors": getattr(form, "rule_errors", {}),
        }
        is_static = obj is not None and obj.type == SegmentType.STATIC
        return {
            "builder_config": config,
            "rules_editable": editable,
            "is_static": is_static,
            "rules_field": form["rules"] if "rules" in form.fields else None,
            "template_field": form["template_key"] if "template_key" in form.fields else None,
            "rules_pretty": json.dumps(obj.rules, indent=2, ensure_ascii=False)
            if obj is not None and obj.rules is not None
            else "",
        }

    def _membership_context(self, request: HttpRequest, segment: Segment) -> dict[str, Any]:
        writable = can_write(request)
        context: dict[str, Any] = {
            "segment": segment,
            "can_write": writable,
            "club_tz": tenant_of_request(request).timezone,
            "latest_changes": segment_changes(segment=segment)[:LATEST_CHANGES],
            "changes_url": reverse(
                f"{self.admin_site.name}:segments_segmentmembershipchange_changelist"
            )
            + f"?segment__id__exact={segment.pk}",
            "refresh_url": self._url("refresh", segment.pk),
            "export_url": self._url("export", segment.pk),
            "customer_url_name": f"{self.admin_site.name}:profiles_customer_change",
        }
        if segment.type == SegmentType.STATIC:
            members = segment_members(segment=segment).order_by("last_name", "first_name", "id")
            page = Paginator(members, MEMBERS_PAGE_SIZE).get_page(request.GET.get("members_page"))
            add_form = MembersAddForm(admin_site=self.admin_site)
            context.update(
                {
                    "members_page": page,
                    "members_add_form": add_form,
                    "members_add_url": self._url("members_add", segment.pk),
                    "members_remove_url": self._url("members_remove", segment.pk),
                    "import_form": CsvImportForm(),
                    "import_url": self._url("import", segment.pk),
                }
            )
        return context

    # -- the page's actions --

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/refresh/", wrap(self.refresh_view),
                 name="segments_segment_refresh"),
            path("<path:object_id>/members/add/", wrap(self.members_add_view),
                 name="segments_segment_members_add"),
            path("<path:object_id>/members/remove/", wrap(self.members_remove_view),
                 name="segments_segment_members_remove"),
            path("<path:object_id>/import/", wrap(self.import_view),
                 name="segments_segment_import"),
            path("<path:object_id>/export/", wrap(self.export_view),
                 name="segments_segment_export"),
            *super().get_urls(),
        ]  # fmt: skip

    def _url(self, action: str, object_id: Any) -> str:
        return reverse(f"{self.admin_site.name}:segments_segment_{action}", args=[object_id])

    def _segment(self, request: HttpRequest, object_id: str, *, write: bool) -> Segment:
        if not (can_write(request) if write else can_read(request)):
            raise PermissionDenied
        segment = self.get_object(request, unquote(object_id))
        if segment is None:
            raise Http404("No such segment in this club.")
        return segment

    def _static(self, request: HttpRequest, object_id: str) -> Segment:
        segment = self._segment(request, object_id, write=True)
        if segment.type != SegmentType.STATIC:
            raise Http404("Only static segments have members kept by hand.")
        return segment

    def refresh_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._refresh)(request, object_id)

    def _refresh(self, request: HttpRequest, object_id: str) -> HttpResponse:
        segment = self._segment(request, object_id, write=True)
        result = segment_refresh(segment_id=segment.pk)
        if result.skipped:
            messages.warning(
                request,
                "Not refreshed: the rule no longer compiles (a segment it names has changed). "
                "The members are kept as they were; fix the rule and save.",
            )
        else:
            messages.success(
                request,
                f"Refreshed: {result.entered:,} entered, {result.exited:,} left; "
                f"{result.member_count:,} members now.",
            )
        return HttpResponseRedirect(self._url("change", segment.pk) + "#membership")

    def members_add_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._members_add)(request, object_id)

    def _members_add(self, request: HttpRequest, object_id: str) -> HttpResponse:
        segment = self._static(request, object_id)
        form = MembersAddForm(request.POST, admin_site=self.admin_site)
        if not form.is_valid():
            messages.error(
                request, "Nobody added: " + " ".join(map(str, form.errors.get("customers", [])))
            )
        else:
            result = segment_members_add(
                segment=segment,
                customer_ids=[customer.pk for customer in form.cleaned_data["customers"]],
                actor_label=_actor(request),
            )
            parts = [f"Added {result.added:,}"]
            if result.already:
                parts.append(f"{result.already:,} already in the list")
            if result.not_found:
                parts.append(f"{len(result.not_found):,} not added (merged away or erased)")
            messages.success(request, "; ".join(parts) + ".")
        return HttpResponseRedirect(self._url("change", segment.pk) + "#members")

    def members_remove_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._members_remove)(request, object_id)

    def _members_remove(self, request: HttpRequest, object_id: str) -> HttpResponse:
        segment = self._static(request, object_id)
        ids = []
        for raw in request.POST.getlist("customer"):
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                continue
        if not ids:
            messages.warning(request, "Tick the members to remove first.")
        else:
            removed = segment_members_remove(
                segment=segment, customer_ids=ids, actor_label=_actor(request)
            )
            messages.success(request, f"Removed {removed:,} member(s).")
        return HttpResponseRedirect(self._url("change", segment.pk) + "#members")

    def import_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._import)(request, object_id)

    def _import(self, request: HttpRequest, object_id: str) -> HttpResponse:
        segment = self._static(request, object_id)
        form = CsvImportForm(request.POST, request.FILES)
        back = self._url("change", segment.pk) + "#import"
        if not form.is_valid():
            messages.error(request, "Choose a CSV file to import.")
            return HttpResponseRedirect(back)
        try:
            content = form.cleaned_data["file"].read().decode("utf-8-sig")
        except UnicodeDecodeError:
            messages.error(request, "The file is not UTF-8 text (save it as CSV UTF-8).")
            return HttpResponseRedirect(back)
        try:
            report = segment_import_csv(
                segment=segment, content=content, actor_label=_actor(request)
            )
        except ValidationError as exc:
            messages.error(request, "Nothing imported: " + " ".join(exc.messages))
            return HttpResponseRedirect(back)
        segment.refresh_from_db()
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": f"CSV import into {segment.name}",
            "opts": self.opts,
            "segment": segment,
            "report": report,
            "file_name": form.cleaned_data["file"].name,
            "segment_url": self._url("change", segment.pk),
        }
        return TemplateResponse(request, "admin/segments/segment/import_report.html", context)

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        segment = self._segment(request, object_id, write=False)
        members = segment_members(segment=segment).order_by("last_name", "first_name", "id")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([header for header, _ in EXPORT_COLUMNS])
        for row in members.values_list(*(column for _, column in EXPORT_COLUMNS))[:EXPORT_LIMIT]:
            writer.writerow(["" if value is None else value for value in row])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}.csv"'
        return response


# --- the membership change log -----------------------------------------------------------------


@admin.register(SegmentMembershipChange, site=club_admin_site)
class SegmentMembershipChangeAdmin(ReadOnlyAdmin):
    """Who entered or left which segment, and when: read only (refreshes write it)."""

    read_scope = Scope.READ
    list_display = ("at", "segment_link", "customer_link", "kind")
    list_filter = ("kind", "segment")
    list_select_related = ("segment", "customer")
    ordering = ("-at", "-id")
    show_full_result_count = False
    fields = ("at", "segment_link", "customer_link", "kind")
    readonly_fields = fields

    @admin.display(description="Segment", ordering="segment__name")
    def segment_link(self, obj: SegmentMembershipChange) -> str:
        url = reverse(f"{self.admin_site.name}:segments_segment_change", args=[obj.segment_id])
        return format_html('<a href="{}">{}</a>', url, obj.segment.name)

    @admin.display(description="Customer", ordering="customer__last_name")
    def customer_link(self, obj: SegmentMembershipChange) -> str:
        url = reverse(f"{self.admin_site.name}:profiles_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.customer))
