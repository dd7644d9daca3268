"""The club admin's Campaigns: create and edit, the state buttons (schedule, send now, pause,
resume, cancel), a preview for any customer, a test send to staff addresses, and the results
with charts (messages sent over time, the funnel, the variants side by side) drawn by Chart.js,
vendored under static/campaigns/vendor/chartjs (MIT, its licence beside it).

Every write goes through `campaigns.services`: the form asks `campaign_create` /
`campaign_update` as the last step of its validation, so what the service refuses becomes form
errors next to the field it names; a refused state change becomes a message saying why. Times
are typed in the club's own time zone. A/B variants, triggers' filters and fallbacks are edited
through the API (`PATCH campaigns/<id>`) and shown here.

Who may do what follows the API's scopes: every role reads (`crm:read`); MARKETING and ADMIN
(`crm:campaigns`) create, edit, send and test.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin, TabularInline

from campaigns.admin_composer import CHANNEL_LABELS, ComposerMixin, staff_email
from campaigns.models import (
    HIDDEN_TYPES,
    Campaign,
    CampaignSettings,
    CampaignType,
    Channel,
    Priority,
    SendReason,
    TeeSheetGap,
    TeeSheetSettings,
    TeeSheetWave,
)
from campaigns.selectors import campaign_send_series, campaign_stats
from campaigns.services import (
    AudienceInput,
    CampaignInput,
    CampaignStateError,
    TriggerInput,
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
from crm.admin_base import ReadOnlyAdmin, SettingsAdmin
from crm.admin_sites import club_admin_site
from crm.api.permissions import caller_scopes
from crm.inputs import UNSET
from profiles.models import Customer
from segments.compiler import base_customers
from segments.models import Segment


class _StateService(Protocol):
    """What the state buttons call: the services share this much (send now also takes a
    clock)."""

    def __call__(self, *, campaign: Campaign, actor_label: str = ...) -> Campaign: ...


STATE_ACTIONS: dict[str, tuple[_StateService, str]] = {
    "schedule": (campaign_schedule, "Scheduled."),
    "send": (campaign_send_now, "Sending now."),
    "pause": (campaign_pause, "Paused: nothing more is handed over until you resume."),
    "resume": (campaign_resume, "Resumed."),
    "cancel": (campaign_cancel, "Cancelled: messages not yet handed over will never be sent."),
}
# Which buttons a state shows (the services still decide; these only avoid dead buttons).
BUTTONS = {
    "DRAFT": ("schedule", "send", "cancel"),
    "SCHEDULED": ("send", "pause", "cancel"),
    "SENDING": ("pause", "cancel"),
    "PAUSED": ("resume", "cancel"),
}


_CHANNEL_LABELS = {"EMAIL": "Email", "SMS": "SMS", "PUSH": "Push"}


def _reason_label(code: str) -> str:
    try:
        return SendReason(code).label
    except ValueError:
        return code.replace("_", " ").capitalize()


def can_read(request: HttpRequest) -> bool:
    return Scope.READ in caller_scopes(request)


def can_write(request: HttpRequest) -> bool:
    return Scope.CAMPAIGNS in caller_scopes(request)


def _club_time(value, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz or "UTC")).strftime("%Y-%m-%d %H:%M") if value else ""


class CampaignForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        choices=CHANNEL_LABELS, widget=forms.CheckboxSelectMultiple, initial=["EMAIL"]
    )
    # Ticked boxes, not a multi-select: a list of every segment read as if all were chosen.
    include = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.order_by("name"), label="Send to (segments)", required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    leave_out = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.order_by("name"), label="Leave out (segments)", required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    email_template = forms.CharField(required=False, label="Email template id")
    sms_template = forms.CharField(required=False, label="SMS template id")
    push_template = forms.CharField(required=False, label="Push template id")
    subject = forms.CharField(required=False, help_text="Variables allowed: {{ firstName }}.")
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Used by the built-in email fallback (no Messaging Service).",
    )
    priority_name = forms.ChoiceField(
        choices=[(p.name, p.label) for p in Priority], initial="NORMAL", label="Priority"
    )
    scheduled = forms.CharField(
        required=False, label="Send at (club time)",
        help_text="Date and time in the club's time zone, written as 2026-12-01 09:00.",
    )  # fmt: skip
    ends = forms.CharField(required=False, label="Ends at (club time)")
    trigger_event = forms.CharField(required=False, label="Trigger event type")

    actor_label = ""
    club_tz = "UTC"

    class Meta:
        model = Campaign
        fields = ("name", "description", "type", "recurrence", "holdout_percent")
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign: Campaign | None = None
        if "type" in self.fields:  # JOURNEY campaigns are made by publishing a journey
            self.fields["type"].choices = [
                c for c in self.fields["type"].choices if c[0] not in HIDDEN_TYPES
            ]
        if "recurrence" in self.fields:
            self.fields["recurrence"].help_text = (
                "Cron in club time (0 9 * * 1 is every Monday at 09:00). The composer "
                "(Compose a campaign) asks for it in words instead."
            )
        obj = self.instance
        # Templates are picked from a list by channel (name and subject), not typed.
        from campaigns.email_templates.admin import template_field

        for channel in Channel.values:
            name = f"{channel.lower()}_template"
            if name in self.fields:
                self.fields[name] = template_field(
                    channel=channel, current=(obj.templates or {}).get(channel, "")
                )
        if not obj._state.adding:
            self.initial.update(
                {
                    "channels": obj.channels,
                    "include": list(obj.include_segments.all()),
                    "leave_out": list(obj.exclude_segments.all()),
                    "email_template": obj.templates.get("EMAIL", ""),
                    "sms_template": obj.templates.get("SMS", ""),
                    "push_template": obj.templates.get("PUSH", ""),
                    "subject": obj.content.get("subject", ""),
                    "body": obj.content.get("body", ""),
                    "priority_name": Priority(obj.priority).name,
                    "scheduled": _club_time(obj.scheduled_at, self.club_tz),
                    "ends": _club_time(obj.ends_at, self.club_tz),
                    "trigger_event": obj.trigger_event_type,
                }
            )

    def validate_unique(self) -> None:
        """Nothing unique to check here; the service judges the rest."""

    def _data(self) -> CampaignInput:
        d = self.cleaned_data
        templates = {
            channel: d[f"{channel.lower()}_template"].strip()
            for channel in Channel.values
            if d.get(f"{channel.lower()}_template", "").strip()
        }
        content = dict(self.instance.content or {})
        content.update({"subject": d.get("subject", ""), "body": d.get("body", "")})
        return CampaignInput(
            name=d.get("name", ""),
            description=d.get("description", ""),
            channels=d.get("channels") or [],
            audience=AudienceInput(
                include=[str(s.pk) for s in d.get("include") or []],
                exclude=[str(s.pk) for s in d.get("leave_out") or []],
            ),
            templates=templates,
            content=content,
            priority=d.get("priority_name") or "NORMAL",
            scheduled_at=d.get("scheduled") or None,
            ends_at=d.get("ends") or None,
            recurrence=d.get("recurrence") or "",
            holdout_percent=d.get("holdout_percent") or 0,
            trigger=(
                TriggerInput(
                    event_type=d["trigger_event"], filters=self.instance.trigger_filters or {}
                )
                if d.get("trigger_event")
                else UNSET
            ),
            type=(d.get("type") or CampaignType.ONE_TIME) if self.instance._state.adding else UNSET,
        )

    def _post_clean(self) -> None:
        super()._post_clean()
        if self._errors:
            return
        try:
            if self.instance._state.adding:
                self.campaign = campaign_create(data=self._data(), actor_label=self.actor_label)
            else:
                self.campaign = campaign_update(
                    campaign=self.instance, data=self._data(), actor_label=self.actor_label
                )
        except CampaignStateError as exc:
            self.add_error(None, str(exc))
        except ValidationError as exc:
            self._service_errors(exc)

    _FIELD_OF = {
        "templates.EMAIL": "email_template",
        "templates.SMS": "sms_template",
        "templates.PUSH": "push_template",
        "scheduledAt": "scheduled",
        "endsAt": "ends",
        "holdoutPercent": "holdout_percent",
        "trigger.eventType": "trigger_event",
        "priority": "priority_name",
    }

    def _service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for key, errors in exc.message_dict.items():
            field = self._FIELD_OF.get(key) or (
                "include" if key.startswith("audience.include") else
                "leave_out" if key.startswith("audience.exclude") else key
            )  # fmt: skip
            if field in self.fields:
                self.add_error(field, errors)
            else:
                self.add_error(None, [f"{key}: {message}" for message in errors])


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        required=False, help_text="Staff email addresses, comma-separated; empty: your own."
    )


@admin.register(Campaign, site=club_admin_site)
class CampaignAdmin(ComposerMixin, ModelAdmin):
    form = CampaignForm
    change_form_template = "admin/campaigns/campaign/change_form.html"
    change_list_template = "admin/campaigns/campaign/change_list.html"
    list_display = ("name", "type", "status", "channel_list", "scheduled_at", "updated_at")
    list_filter = ("status", "type")
    search_fields = ("name", "description")
    actions = None
    fieldsets = (
        (None, {"fields": ("name", "description", "type", "channels", "priority_name")}),
        ("Audience", {"fields": ("include", "leave_out", "holdout_percent")}),
        (
            "Content",
            {"fields": ("email_template", "sms_template", "push_template", "subject", "body")},
        ),
        ("When", {"fields": ("scheduled", "recurrence", "ends", "trigger_event")}),
    )

    def get_queryset(self, request):
        """A journey's hidden step campaigns are the journey's; they show with it, not here."""
        return super().get_queryset(request).exclude(type__in=HIDDEN_TYPES)

    @admin.display(description="Channels")
    def channel_list(self, obj: Campaign) -> str:
        return ", ".join(_CHANNEL_LABELS.get(c, c) for c in obj.channels)

    def has_module_permission(self, request) -> bool:
        return can_read(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_read(request)

    def has_add_permission(self, request) -> bool:
        return can_write(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return can_write(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # campaigns are cancelled, never deleted: their ledger is the record

    # What a reader without `crm:campaigns` sees: the campaign's own columns, read-only.
    READ_ONLY_FIELDSETS = (
        (None, {"fields": ("name", "description", "type", "status", "channels", "priority")}),
        ("Audience", {"fields": ("include_segments", "exclude_segments", "holdout_percent")}),
        ("Content", {"fields": ("templates", "content", "fallbacks")}),
        ("When", {"fields": ("scheduled_at", "recurrence", "ends_at", "trigger_event_type")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not can_write(request):
            return self.READ_ONLY_FIELDSETS
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not can_write(request):
            return [f for _, spec in self.READ_ONLY_FIELDSETS for f in spec["fields"]]
        return ("type",) if obj is not None else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)
        return type(
            base.__name__,
            (base,),
            {"actor_label": staff_email(request), "club_tz": request.tenant.timezone},
        )

    def save_form(self, request, form, change):
        return form.campaign

    def save_model(self, request, obj, form, change) -> None:
        """Saved by the service when the form validated."""

    def save_related(self, request, form, formsets, change) -> None:
        """The service saved the audience with the campaign."""

    def get_urls(self):
        info = self.admin_site.admin_view
        return [
            path("<path:object_id>/state/<str:action>/", info(self.state_view),
                 name="campaigns_campaign_state"),
            path("<path:object_id>/test-send/", info(self.test_send_view),
                 name="campaigns_campaign_test_send"),
            path("<path:object_id>/results.csv", info(self.results_csv_view),
                 name="campaigns_campaign_results_csv"),
            *self.composer_urls(),
            *super().get_urls(),
        ]  # fmt: skip

    def _campaign(self, request: HttpRequest, object_id: str) -> Campaign:
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not can_read(request):
            raise Http404("No such campaign.")
        return campaign

    def _back(self, campaign: Campaign) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:campaigns_campaign_change", args=[campaign.pk])
        )

    def state_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        return require_POST(self._state)(request, object_id, action)

    def _state(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        campaign = self._campaign(request, object_id)
        if action not in STATE_ACTIONS or not can_write(request):
            raise Http404("No such action.")
        service, done = STATE_ACTIONS[action]
        if action == "send":
            done = _what_send_now_does(campaign) or done
        elif action == "schedule" and campaign.type == CampaignType.ONE_TIME:
            done = _what_send_now_does(campaign, now=False) or done
        try:
            service(campaign=campaign, actor_label=staff_email(request))
        except CampaignStateError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, "Not yet: " + "; ".join(
                f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()
            ) if hasattr(exc, "error_dict") else " ".join(exc.messages))  # fmt: skip
        else:
            messages.success(request, done)
        return self._back(campaign)

    def results_csv_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        from campaigns.results import campaign_results_csv

        campaign = self._campaign(request, object_id)
        response = HttpResponse(
            campaign_results_csv(campaign=campaign), content_type="text/csv; charset=utf-8"
        )
        name = "".join(c if c.isalnum() else "-" for c in campaign.name).strip("-")[:60]
        response["Content-Disposition"] = f'attachment; filename="{name or "campaign"}-results.csv"'
        return response

    def test_send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._test_send)(request, object_id)

    def _test_send(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = self._campaign(request, object_id)
        if not can_write(request):
            raise Http404("No such action.")
        form = TestSendForm(request.POST)
        typed = form.cleaned_data["addresses"] if form.is_valid() else ""
        addresses = [a.strip() for a in typed.split(",") if a.strip()]
        own = staff_email(request)
        if not addresses and own:
            addresses = [own]  # "Send me a test": the signed-in person's inbox
        if not addresses:
            messages.error(request, "Give at least one staff email address.")
            return self._back(campaign)
        try:
            results = campaign_test_send(campaign=campaign, addresses=addresses, actor_label=own)
        except ValidationError as exc:
            messages.error(request, "Test send refused: " + " ".join(exc.messages))
            return self._back(campaign)
        for result in results:
            level = messages.SUCCESS if result["outcome"] == "accepted" else messages.ERROR
            messages.add_message(
                request, level, f"Test to {result['address']}: {result['outcome']} "
                f"{result['detail']}".strip(),
            )  # fmt: skip
        if request.POST.get("back") == "review" and campaign.status == "DRAFT":
            return HttpResponseRedirect(self._step_url(campaign, "review"))
        return self._back(campaign)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._results_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _results_context(self, request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
        stats = campaign_stats(campaign=campaign)
        total = stats["total"]
        charts = {
            "series": campaign_send_series(campaign=campaign),
            "funnel": {
                "labels": ["Targeted", "Sent", "Delivered", "Opened", "Clicked", "Converted"],
                "values": [
                    total[k]
                    for k in ("targeted", "sent", "delivered", "opened", "clicked", "converted")
                ],
            },
            "variants": [
                {
                    "variant": v["variant"] or "(all)",
                    "open": v["rates"]["open"] or 0,
                    "click": v["rates"]["click"] or 0,
                    "conversion": v["rates"]["conversion"] or 0,
                }
                for v in stats["variants"]
            ],
        }
        preview = None
        query = (request.GET.get("preview") or "").strip()
        if query:
            customer = _find_customer(query)
            if customer is None:
                messages.warning(request, f"No customer matches {query!r}.")
            else:
                try:
                    preview = campaign_preview(
                        campaign=campaign, customer=customer,
                        channel=request.GET.get("channel") or None,
                        variant=request.GET.get("variant") or "",
                    )  # fmt: skip
                    preview["customer"] = customer
                    preview["request_json"] = json.dumps(preview["request"], indent=2)
                except ValidationError as exc:
                    messages.error(request, " ".join(exc.messages))
        writable = can_write(request)
        from campaigns.results import campaign_results

        return {
            "results": campaign_results(campaign=campaign),
            "results_csv_url": reverse(
                f"{self.admin_site.name}:campaigns_campaign_results_csv", args=[campaign.pk]
            ),
            "compose_url": self._step_url(campaign, "audience")
            if writable and campaign.status == "DRAFT"
            else None,
            "campaign": campaign,
            "channel_labels": ", ".join(dict(CHANNEL_LABELS).get(c, c) for c in campaign.channels),
            "channel_choices": [(c, dict(CHANNEL_LABELS).get(c, c)) for c in campaign.channels],
            "schedule_label": _schedule_label(campaign),
            "stats": stats,
            "charts": charts,
            "preview": preview,
            "preview_query": query,
            "buttons": [
                (
                    action,
                    reverse(
                        f"{self.admin_site.name}:campaigns_campaign_state",
                        args=[campaign.pk, action],
                    ),
                )
                for action in BUTTONS.get(campaign.status, ())
            ]
            if writable
            else [],
            "test_send_url": reverse(
                f"{self.admin_site.name}:campaigns_campaign_test_send", args=[campaign.pk]
            ),
            "can_write": writable,
            # Labels, not codes: "Not opted in on this channel", not "No_consent".
            "suppressed": sorted(
                (_reason_label(reason), n) for reason, n in total["suppressed"].items()
            ),
        }


def _schedule_label(campaign: Campaign) -> str:
    """ "every Monday at 09:00", "each time: a golfer finishes a round", for the page."""
    from campaigns.composer import recurrence_label, trigger_label

    if campaign.type == CampaignType.RECURRING and campaign.recurrence:
        return recurrence_label(campaign.recurrence)
    if campaign.type == CampaignType.TRIGGERED and campaign.trigger_event_type:
        return "each time: " + trigger_label(campaign.trigger_event_type).lower()
    if campaign.scheduled_at and campaign.status in ("DRAFT", "SCHEDULED"):
        from crm.tenants.selectors import tenant_current

        zone = ZoneInfo(tenant_current().timezone or "UTC")
        return f"{campaign.scheduled_at.astimezone(zone):%a %d %b %Y at %H:%M}, club time"
    return ""


def _what_send_now_does(campaign: Campaign, *, now: bool = True) -> str:
    """ "Sending to 1,204 people: 1,166 now; 38 at 08:00 tomorrow, club time (quiet hours)",
    or "Scheduled for 1,204 people: …", from the review, which uses the send's own code."""
    from campaigns.review import campaign_review

    try:
        review = campaign_review(campaign=campaign, start_now=now)
    except ValidationError:
        return ""
    parts = [s["label"] for s in review["schedule"]]
    held = review["heldBackTotal"]
    text = f"{'Sending to' if now else 'Scheduled for'} {review['recipients']:,} people"
    if parts:
        text += ": " + "; ".join(parts)
    if held:
        text += f". {held:,} held back (see the review)"
    return text + "."


def _find_customer(query: str) -> Customer | None:
    customers = base_customers()
    try:
        return customers.filter(pk=query).first()
    except ValidationError:
        return customers.filter(email__iexact=query).order_by("id").first()


@admin.register(CampaignSettings, site=club_admin_site)
class CampaignSettingsAdmin(SettingsAdmin):
    """The club's sending rules: one row, edited in place."""

    list_display = ("__str__", "frequency_cap", "frequency_window_days", "quiet_hours_enabled",
                    "quiet_hours_start", "quiet_hours_end", "conversion_window_days")  # fmt: skip
    read_scope = Scope.READ
    edit_scope = Scope.CAMPAIGNS  # as the campaigns themselves (can_write)
    audit_action = "campaign.settings"
    audit_object_type = "campaign_settings"


# --- the tee-sheet gap filler ---------------------------------------------------------------


# The tee-sheet service's (API) names of the settings form's fields.
_TEE_SHEET_API_NAMES = {
    "enabled": "enabled", "horizon_hours": "horizonHours",
    "golfers_per_place": "golfersPerPlace", "max_waves": "maxWaves",
    "minutes_between_waves": "minutesBetweenWaves", "weekly_limit": "weeklyLimit",
    "min_day_part_share": "minDayPartShare", "offer_window_hours": "offerWindowHours",
    "holdout_percent": "holdoutPercent", "channels": "channels", "templates": "templates",
    "content": "content",
}  # fmt: skip


class TeeSheetSettingsForm(forms.ModelForm):
    """The form checks each field's type; the row is written by the filler's own service,
    `tee_sheet_settings_update` (as the API does), whose refusals show on their fields."""

    actor_label = ""

    class Meta:
        model = TeeSheetSettings
        fields = list(_TEE_SHEET_API_NAMES)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.errors:
            return cleaned
        from campaigns.tee_sheet import tee_sheet_settings_update

        data = {api: cleaned[name] for name, api in _TEE_SHEET_API_NAMES.items() if name in cleaned}
        try:
            self.instance = tee_sheet_settings_update(data=data, actor_label=self.actor_label)
        except ValidationError as exc:
            fields = {api: name for name, api in _TEE_SHEET_API_NAMES.items()}
            for key, errors in exc.message_dict.items():
                field = fields.get(key)
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(TeeSheetSettings, site=club_admin_site)
class TeeSheetSettingsAdmin(SettingsAdmin):
    """The gap filler's settings (one row): on or off, horizon, wave size, weekly limit,
    channels and templates. Form validation is the model's; the API's service says the same."""

    list_display = ("__str__", "enabled", "horizon_hours", "golfers_per_place", "weekly_limit",
                    "holdout_percent", "channels")  # fmt: skip
    exclude = ("booking_cursor", "updated_by")
    read_scope = Scope.READ
    edit_scope = Scope.CAMPAIGNS
    audit_action = "tee_sheet.settings.updated"
    audit_object_type = "tee_sheet_settings"

    form = TeeSheetSettingsForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)
        return type(base.__name__, (base,), {"actor_label": staff_email(request)})

    def save_model(self, request, obj, form, change) -> None:
        """Saved (and audited) by `tee_sheet_settings_update` when the form validated."""


class TeeSheetWaveInline(TabularInline):
    model = TeeSheetWave
    fields = ("number", "created_at", "free_places", "chosen", "held_out", "run")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TeeSheetGap, site=club_admin_site)
class TeeSheetGapAdmin(ReadOnlyAdmin):
    """Each gap the filler worked on: its waves and what they brought (read-only)."""

    read_scope = Scope.READ

    list_display = ("slot", "status", "free_places_at_open", "waves_sent", "offers",
                    "bookings", "recovered", "opened_at")  # fmt: skip
    list_filter = ("status",)
    inlines = [TeeSheetWaveInline]
    readonly_fields = ("slot", "status", "free_places_at_open", "opened_at", "closed_at",
                       "last_wave_at", "waves_sent", "outcome")  # fmt: skip
    fields = readonly_fields

    def get_queryset(self, request):
        from campaigns.tee_sheet_selectors import tee_gap_list

        return tee_gap_list()

    @admin.display(description="Offers")
    def offers(self, gap) -> int:
        return gap.n_offers

    @admin.display(description="Bookings")
    def bookings(self, gap) -> int:
        return gap.n_bookings

    @admin.display(description="Revenue recovered")
    def recovered(self, gap) -> str:
        from campaigns.tee_sheet_selectors import tee_gap_outcome

        return tee_gap_outcome(gap)["revenueRecovered"]

    @admin.display(description="Outcome")
    def outcome(self, gap) -> str:
        from campaigns.tee_sheet_selectors import tee_gap_outcome

        o = tee_gap_outcome(gap)
        return (
            f"{o['offers']} offered, {o['bookings']} booked ({o['revenueRecovered']}); "
            f"{o['heldOut']} held out, {o['holdoutBookings']} of them booked"
        )


# The club's email templates (block editor) and email branding.
from campaigns.email_templates import admin as _email_templates_admin  # noqa: E402, F401
