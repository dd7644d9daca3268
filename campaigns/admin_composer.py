"""The campaign composer in the club admin: four steps, audience → content → schedule → review,
each saved through the campaign services as the person moves on (a DRAFT campaign holds the
work in between; nothing is sent or scheduled before the review's button).

- Audience: a name, segments in and out, and the live count (the send's own audience rule).
- Content: channels, a template per channel picked from a list (`campaigns.composer.
  template_choices`: the Messaging Service's templates, or with none the club's own; a typed
  id only when no list can be had), the subject and text, and an optional B subject beside A
  (an A/B test, half and half; body and template variants are the API's).
- Schedule: now; a date and time in the club's zone; repeating ("every Monday at 09:00", "the
  first day of the month"), translated to the crontab underneath, with an end date; or
  triggered by an event. A time in the past or a repeat with no end is refused on its field.
- Review: the figures of `campaigns.review` (who gets it, who is held back and why, when, the
  estimated finish), a test send to the signed-in person, and the button that does it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from campaigns.composer import (
    REPEATS,
    TRIGGER_EVENTS,
    WEEKDAYS,
    recurrence_cron,
    recurrence_label,
    recurrence_parts,
    template_choices,
    template_name,
    trigger_label,
)
from campaigns.email_templates.selectors import template_problems
from campaigns.email_templates.variables import unknown_message, unknown_variables
from campaigns.models import Campaign, CampaignStatus, CampaignType, Channel
from campaigns.review import campaign_review
from campaigns.selectors import audience_count
from campaigns.services import (
    AudienceInput,
    CampaignInput,
    CampaignStateError,
    CampaignVariantInput,
    TriggerInput,
    campaign_create,
    campaign_update,
)
from crm.tenants.selectors import tenant_current
from segments.models import Segment
from segments.rules import RuleError

CHANNEL_LABELS = (("EMAIL", "Email"), ("SMS", "SMS"), ("PUSH", "App notification"))
STEPS = (("audience", "Audience"), ("content", "Content"), ("schedule", "Schedule"),
         ("review", "Review"))  # fmt: skip


def staff_email(request: HttpRequest) -> str:
    """The signed-in staff member's email: the admin's views are behind its login, so the user
    is never anonymous there."""
    email: str = getattr(request.user, "email", "")
    return email


def _apply_errors(form: forms.Form, exc: ValidationError, fields: dict[str, str]) -> None:
    """The service's errors (named `audience.include`, `templates.EMAIL` …) on the form's own
    fields, so each shows where it was entered."""
    for name, problems in exc.message_dict.items():
        target = next((f for key, f in fields.items() if name.startswith(key)), None)
        for problem in problems:
            form.add_error(target if target in form.fields else None, problem)


class AudienceForm(forms.Form):
    name = forms.CharField(max_length=200, label="Campaign name")
    include = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.order_by("name"), label="Send to everyone in",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one segment to send to."},
    )  # fmt: skip
    exclude = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.order_by("name"), label="But leave out anyone in",
        widget=forms.CheckboxSelectMultiple, required=False,
    )  # fmt: skip


class ContentForm(forms.Form):
    channels = forms.MultipleChoiceField(
        choices=CHANNEL_LABELS, widget=forms.CheckboxSelectMultiple, label="Send by",
        error_messages={"required": "Pick at least one channel."},
    )  # fmt: skip
    email_template = forms.ChoiceField(required=False, label="Email template")
    sms_template = forms.ChoiceField(required=False, label="SMS template")
    push_template = forms.ChoiceField(required=False, label="Push template")
    subject = forms.CharField(
        max_length=250, required=False, label="Subject (A)",
        help_text="Personalise with {{ firstName }}. Picking a template fills in its own "
        "subject when this is empty.",
    )  # fmt: skip
    subject_b = forms.CharField(
        max_length=250, required=False, label="Subject (B)",
        help_text="Fill in to test two subjects: half the audience gets each. Only the subject "
        "is tested here; variants of the text or template are set through the API.",
    )  # fmt: skip
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), required=False, label="Email text"
    )
    sms_text = forms.CharField(
        max_length=480, required=False, label="SMS text", widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for channel in Channel.values:
            name = f"{channel.lower()}_template"
            choices, listing = template_choices(channel)
            if not listing.listed:
                # No list can be had (a Messaging Service without a template API yet): the id
                # is typed, and the page says why (messaging.md, "Templates").
                self.fields[name] = forms.CharField(
                    required=False, max_length=100, label=f"{self.fields[name].label} id",
                    help_text=listing.notice,
                )  # fmt: skip
                continue
            field = cast(forms.ChoiceField, self.fields[name])
            field.choices = [("", "Choose a template"), *choices]
            field.help_text = listing.notice or (
                "The club's own templates (Campaigns > Email templates) and the built-in "
                "club email." if listing.source == "club"
                else "The Messaging Service's templates for this channel."
            )  # fmt: skip
            if channel == Channel.EMAIL and listing.source == "club":
                # The text box feeds only the built-in "default"; a designed template carries
                # its own text, so the page shows the box with that one only.
                self.fields["body"].help_text = (
                    "Shown by the built-in club email only: the club's designed templates "
                    "carry their own text (edit them under Email templates)."
                )
                self.fields["body"].widget.attrs["data-only-template"] = "default"

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # Form.clean returns cleaned_data
        for channel in data.get("channels") or []:
            name = f"{channel.lower()}_template"
            if not data.get(name):
                self.add_error(name, f"Choose the {Channel(channel).label.lower()} template.")
                continue
            # An unknown variable in the chosen template is refused here, on its field, not
            # when the campaign is sent (the send checks again).
            for problems in template_problems(channel=channel, template_id=data[name]).values():
                for problem in problems:
                    self.add_error(name, problem)
        for name in ("subject", "subject_b", "body"):
            if unknown := unknown_variables(str(data.get(name) or "")):
                self.add_error(name, unknown_message(unknown))
        if "EMAIL" in (data.get("channels") or []) and not (data.get("subject") or "").strip():
            self.add_error("subject", "Give the email a subject.")
        if (data.get("subject_b") or "").strip() and data.get("subject_b") == data.get("subject"):
            self.add_error("subject_b", "The B subject is the same as A: change it or leave it "
                           "empty.")  # fmt: skip
        return data


class ScheduleForm(forms.Form):
    WHEN = (
        ("now", "Send now (after the review)"),
        ("at", "On a date and time"),
        ("repeat", "Repeatedly"),
        ("trigger", "When something happens"),
    )
    when = forms.ChoiceField(choices=WHEN, widget=forms.RadioSelect, initial="now")
    at_date = forms.DateField(
        required=False, label="Date", widget=forms.DateInput(attrs={"type": "date"})
    )
    at_time = forms.TimeField(
        required=False, label="Time (club time)", widget=forms.TimeInput(attrs={"type": "time"})
    )
    repeat = forms.ChoiceField(choices=REPEATS, required=False, label="Repeat")
    weekday = forms.TypedChoiceField(
        choices=list(enumerate(WEEKDAYS)), coerce=int, required=False, label="On"
    )
    repeat_time = forms.TimeField(
        required=False, label="At (club time)", widget=forms.TimeInput(attrs={"type": "time"})
    )
    ends_on = forms.DateField(
        required=False, label="Until (last day)", widget=forms.DateInput(attrs={"type": "date"})
    )
    trigger_event = forms.ChoiceField(
        choices=[("", "Choose an event"), *TRIGGER_EVENTS], required=False, label="When"
    )

    def __init__(self, *args: Any, tz: str = "UTC", now: dt.datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = ZoneInfo(tz or "UTC")
        self.now = now or timezone.now()

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # Form.clean returns cleaned_data
        when = data.get("when")
        if when == "at":
            if not data.get("at_date"):
                self.add_error("at_date", "Give the date to send.")
            if not data.get("at_time"):
                self.add_error("at_time", "Give the time to send.")
            if data.get("at_date") and data.get("at_time"):
                at = dt.datetime.combine(data["at_date"], data["at_time"], tzinfo=self.zone)
                if at <= self.now:
                    self.add_error("at_date", "That time has passed: pick a later one, or send "
                                   "now.")  # fmt: skip
                data["scheduled_at"] = at
        elif when == "repeat":
            if not data.get("repeat"):
                self.add_error("repeat", "Choose how often.")
            if not data.get("repeat_time"):
                self.add_error("repeat_time", "Give the time of day.")
            if not data.get("ends_on"):
                self.add_error("ends_on", "A repeating campaign needs a last day.")
            elif data["ends_on"] <= self.now.astimezone(self.zone).date():
                self.add_error("ends_on", "The last day must be after today.")
            if data.get("repeat") and data.get("repeat_time"):
                data["recurrence"] = recurrence_cron(
                    repeat=data["repeat"], at=data["repeat_time"], weekday=data.get("weekday") or 0
                )
        elif when == "trigger" and not data.get("trigger_event"):
            self.add_error("trigger_event", "Choose the event that sends it.")
        if data.get("ends_on"):
            data["ends_at"] = dt.datetime.combine(
                data["ends_on"] + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone
            )
        return data


def _review_preview(campaign: Campaign, variants: list) -> dict[str, Any] | None:
    """The email as one real person of the audience will get it (one who can receive email
    first), each subject variant rendered: by the Messaging Service when one is configured,
    else by the fallback, through the same `campaign_preview` as the campaign page."""
    from campaigns.email_templates.rendering import TemplateRenderError
    from campaigns.sending import audience_queryset
    from campaigns.services import campaign_preview

    if Channel.EMAIL not in campaign.channels or not campaign.templates.get(Channel.EMAIL):
        return None
    from campaigns.selectors import suppression_reason

    candidates = list(
        audience_queryset(campaign=campaign)
        .filter(email_opt_in=True)
        .exclude(email="")
        .order_by("last_name", "first_name", "id")[:10]
    )
    # The first who will really get it (bounded: the review must stay quick), else the first.
    customer = next(
        (c for c in candidates if suppression_reason(customer=c, channel=Channel.EMAIL) is None),
        candidates[0] if candidates else None,
    )
    if customer is None:
        return None
    shown: dict[str, Any] = {"customer": customer, "subjects": [], "html": "", "problem": ""}
    for key in [v.key for v in variants] or [""]:
        try:
            preview = campaign_preview(
                campaign=campaign, customer=customer, channel=Channel.EMAIL, variant=key
            )
        except (ValidationError, TemplateRenderError) as exc:
            shown["problem"] = " ".join(getattr(exc, "messages", [str(exc)]))
            break
        if "email" not in preview:
            shown["problem"] = preview.get("emailProblem", "")
            break
        shown["subjects"].append((key, preview["email"]["subject"]))
        shown["html"] = shown["html"] or preview["email"]["html"]
    return shown


class ComposerMixin:
    """Adds the composer's pages to the campaign admin."""

    def composer_urls(self) -> list:
        view = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("compose/", view(self.compose_view), name="campaigns_campaign_compose_new"),
            path("compose/count/", view(self.compose_count_view),
                 name="campaigns_campaign_compose_count"),
            path("<path:object_id>/compose/<str:step>/", view(self.compose_view),
                 name="campaigns_campaign_compose"),
        ]  # fmt: skip

    def _step_url(self, campaign: Campaign, step: str) -> str:
        return reverse(
            f"{self.admin_site.name}:campaigns_campaign_compose",  # type: ignore[attr-defined]
            args=[campaign.pk, step],
        )

    def compose_count_view(self, request: HttpRequest) -> HttpResponse:
        from campaigns.admin import can_read

        if not can_read(request):
            raise Http404
        try:
            count = audience_count(
                include=request.GET.getlist("include"), exclude=request.GET.getlist("exclude")
            )
        except (RuleError, ValidationError, ValueError):
            return JsonResponse({"error": "Pick segments from the list."}, status=400)
        return JsonResponse({"count": count, "label": f"{count:,} people right now"})

    def compose_view(
        self, request: HttpRequest, object_id: str | None = None, step: str = "audience"
    ) -> HttpResponse:
        from campaigns.admin import can_write

        if not can_write(request):
            raise Http404("Only marketing staff compose campaigns.")
        if step not in dict(STEPS):
            raise Http404("No such step.")
        campaign = None
        if object_id is not None:
            campaign = self.get_object(request, object_id)  # type: ignore[attr-defined]
            if campaign is None:
                raise Http404("No such campaign.")
            if campaign.status != CampaignStatus.DRAFT:
                messages.info(request, "Only a draft is composed; this one is already "
                              f"{campaign.get_status_display().lower()}.")  # fmt: skip
                return HttpResponseRedirect(
                    reverse(f"{self.admin_site.name}:campaigns_campaign_change",  # type: ignore[attr-defined]
                            args=[campaign.pk])
                )  # fmt: skip
        tz = tenant_current().timezone or "UTC"
        handler = getattr(self, f"_compose_{step}")
        return handler(request, campaign, tz)

    # --- steps ------------------------------------------------------------------------------

    def _render(self, request: HttpRequest, campaign: Campaign | None, step: str, **ctx: Any):
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "opts": Campaign._meta,
            "title": campaign.name if campaign else "New campaign",
            "campaign": campaign,
            "step": step,
            "steps": [
                {
                    "key": key,
                    "label": label,
                    "url": self._step_url(campaign, key) if campaign else None,
                }
                for key, label in STEPS
            ],
            "count_url": reverse(
                f"{self.admin_site.name}:campaigns_campaign_compose_count"  # type: ignore[attr-defined]
            ),
            **ctx,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/compose.html", context)

    def _compose_audience(self, request: HttpRequest, campaign: Campaign | None, tz: str):
        initial = {}
        if campaign is not None:
            initial = {
                "name": campaign.name,
                "include": list(campaign.include_segments.all()),
                "exclude": list(campaign.exclude_segments.all()),
            }
        form = AudienceForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = CampaignInput(
                name=form.cleaned_data["name"],
                audience=AudienceInput(
                    include=[str(s.pk) for s in form.cleaned_data["include"]],
                    exclude=[str(s.pk) for s in form.cleaned_data["exclude"]],
                ),
            )
            try:
                if campaign is None:
                    campaign = campaign_create(data=data, actor_label=staff_email(request))
                else:
                    campaign = campaign_update(
                        campaign=campaign, data=data, actor_label=staff_email(request)
                    )
            except ValidationError as exc:
                _apply_errors(form, exc, {"name": "name", "audience.include": "include",
                                          "audience.exclude": "exclude"})  # fmt: skip
            except CampaignStateError as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(self._step_url(campaign, "content"))
        count = None
        if campaign is not None and campaign.include_segments.exists():
            count = audience_count(
                include=list(campaign.include_segments.values_list("id", flat=True)),
                exclude=list(campaign.exclude_segments.values_list("id", flat=True)),
            )
        return self._render(request, campaign, "audience", form=form, count=count)

    def _compose_content(self, request: HttpRequest, campaign: Campaign | None, tz: str):
        if campaign is None:
            raise Http404
        b = campaign.variants.filter(key="B").first()
        initial = {
            "channels": campaign.channels or ["EMAIL"],
            "email_template": campaign.templates.get("EMAIL", ""),
            "sms_template": campaign.templates.get("SMS", ""),
            "push_template": campaign.templates.get("PUSH", ""),
            "subject": campaign.content.get("subject", ""),
            "subject_b": (b.content.get("subject", "") if b else ""),
            "body": campaign.content.get("body", ""),
            "sms_text": campaign.content.get("text", ""),
        }
        form = ContentForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            channels = list(d["channels"])
            content = {**campaign.content, "subject": d["subject"].strip(), "body": d["body"]}
            if d.get("sms_text"):
                content["text"] = d["sms_text"]
            subject_b = (d.get("subject_b") or "").strip()
            variants = (
                [CampaignVariantInput(key="A", weight=50, content={"subject": content["subject"]}),
                 CampaignVariantInput(key="B", weight=50, content={"subject": subject_b})]
                if subject_b else []
            )  # fmt: skip
            data = CampaignInput(
                channels=channels,
                templates={c: d[f"{c.lower()}_template"] for c in channels},
                content=content,
                variants=variants,
            )
            try:
                campaign_update(campaign=campaign, data=data, actor_label=staff_email(request))
            except ValidationError as exc:
                _apply_errors(form, exc, {"channels": "channels",
                                          "templates.EMAIL": "email_template",
                                          "templates.SMS": "sms_template",
                                          "templates.PUSH": "push_template",
                                          "variants": "subject_b"})  # fmt: skip
            except CampaignStateError as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(self._step_url(campaign, "schedule"))
        return self._render(request, campaign, "content", form=form)

    def _compose_schedule(self, request: HttpRequest, campaign: Campaign | None, tz: str):
        if campaign is None:
            raise Http404
        zone = ZoneInfo(tz)
        initial: dict[str, Any] = {"when": "now"}
        if campaign.type == CampaignType.ONE_TIME and campaign.scheduled_at:
            local = campaign.scheduled_at.astimezone(zone)
            initial.update(when="at", at_date=local.date(), at_time=local.time())
        elif campaign.type == CampaignType.RECURRING:
            parts: Mapping[str, object] = recurrence_parts(campaign.recurrence) or {}
            initial.update(
                when="repeat", repeat=parts.get("repeat"), weekday=parts.get("weekday"),
                repeat_time=parts.get("at"),
                ends_on=((campaign.ends_at.astimezone(zone) - dt.timedelta(days=1)).date()
                         if campaign.ends_at else None),
            )  # fmt: skip
        elif campaign.type == CampaignType.TRIGGERED:
            initial.update(when="trigger", trigger_event=campaign.trigger_event_type)
        form = ScheduleForm(request.POST or None, initial=initial, tz=tz)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            when = d["when"]
            data = CampaignInput(
                type={"now": "ONE_TIME", "at": "ONE_TIME", "repeat": "RECURRING",
                      "trigger": "TRIGGERED"}[when],
                scheduled_at=d["scheduled_at"] if when == "at" else None,
                recurrence=d.get("recurrence", "") if when == "repeat" else "",
                ends_at=d["ends_at"] if when == "repeat" else None,
                trigger=TriggerInput(event_type=d["trigger_event"] if when == "trigger" else ""),
            )  # fmt: skip
            try:
                campaign_update(campaign=campaign, data=data, actor_label=staff_email(request))
            except ValidationError as exc:
                _apply_errors(form, exc, {"scheduledAt": "at_date", "recurrence": "repeat",
                                          "endsAt": "ends_on",
                                          "trigger": "trigger_event"})  # fmt: skip
            except CampaignStateError as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(self._step_url(campaign, "review"))
        return self._render(request, campaign, "schedule", form=form)

    def _compose_review(self, request: HttpRequest, campaign: Campaign | None, tz: str):
        if campaign is None:
            raise Http404
        sends_now = campaign.type == CampaignType.ONE_TIME and not campaign.scheduled_at
        try:
            review = campaign_review(campaign=campaign, start_now=sends_now)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(self._step_url(campaign, "audience"))
        zone = ZoneInfo(tz)
        if campaign.type == CampaignType.RECURRING:
            label = recurrence_label(campaign.recurrence)
            plan = label[:1].upper() + label[1:]
            if campaign.ends_at:
                last = (campaign.ends_at.astimezone(zone) - dt.timedelta(days=1)).date()
                plan += f", until {last:%a %d %b %Y}"
        elif campaign.type == CampaignType.TRIGGERED:
            plan = f"Each time: {trigger_label(campaign.trigger_event_type).lower()}"
        elif campaign.scheduled_at:
            plan = f"On {campaign.scheduled_at.astimezone(zone):%a %d %b %Y at %H:%M} (club time)"
        elif any(s["reason"] for s in review.get("schedule") or []):
            # "Now" would not be what happens: say when they really go (quiet hours, the cap).
            plan = "When you press Send now: " + "; ".join(s["label"] for s in review["schedule"])
        else:
            plan = "Now, when you press Send now"
        action = "send" if sends_now else "schedule"
        variants = list(campaign.variants.all())
        preview = _review_preview(campaign, variants)
        return self._render(
            request, campaign, "review", review=review, plan=plan, action=action,
            action_url=reverse(
                f"{self.admin_site.name}:campaigns_campaign_state",  # type: ignore[attr-defined]
                args=[campaign.pk, action],
            ),
            test_send_url=reverse(
                f"{self.admin_site.name}:campaigns_campaign_test_send",  # type: ignore[attr-defined]
                args=[campaign.pk],
            ),
            variants=variants, preview=preview,
            template_labels={c: template_name(c, t) for c, t in campaign.templates.items()},
        )  # fmt: skip
