"""The club admin's Social Publisher: connected accounts (connect through each network's OAuth,
see "needs reconnecting", check now, disconnect), posts (compose once with per-network text,
schedule, approve, see each network's status, address and engagement), settings.

Tokens are never shown: the token fields are not in any form or page. Only a club ADMIN
connects or disconnects accounts and approves posts; MARKETING composes and schedules.
"""

from __future__ import annotations

import json
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin, TabularInline

from crm.accounts.scopes import Scope
from crm.admin_base import SettingsAdmin
from crm.admin_sites import club_admin_site
from crm.api.permissions import caller_scopes
from crm.tenants.selectors import tenant_current
from social import oauth
from social.clients.base import NetworkError
from social.models import (
    AccountStatus,
    CompetitionPromotion,
    ItemChannel,
    ItemStatus,
    Post,
    PostVariant,
    PromotionItem,
    PromotionSettings,
    ScheduleMode,
    SocialAccount,
    SocialSettings,
    VariantStatus,
)
from social.promotion import PLACEHOLDERS, competition_from, local_text
from social.promotion_services import (
    promotion_item_cancel,
    promotion_item_update,
    promotion_settings_update,
    promotion_stop,
)
from social.publishing import account_check
from social.selectors import (
    CalendarKind,
    best_posting_times,
    calendar_entries,
    calendar_range,
    network_states,
)
from social.services import (
    Actor,
    VariantInput,
    account_disconnect,
    image_upload,
    post_approve,
    post_cancel,
    post_create,
    post_reject,
    post_request_approval,
    post_reschedule,
    post_schedule,
    post_update,
    settings_update,
    variant_resolve_review,
)


def is_club_admin(request: HttpRequest) -> bool:
    # The scopes cached on the request (a groups query per call otherwise: the sidebar asks
    # every social admin on every page).
    return "crm:admin" in caller_scopes(request)


def actor_of(request: HttpRequest) -> Actor:
    return Actor(user=request.user, label=request.user.email, is_admin=is_club_admin(request))


def _uuid(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _errors_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(m for messages_ in exc.message_dict.values() for m in messages_)
    return " ".join(exc.messages)


@admin.register(SocialAccount, site=club_admin_site)
class SocialAccountAdmin(ModelAdmin):
    list_display = ("name", "network", "status_badge", "token_expires_at", "token_checked_at")
    list_filter = ("network", "status")
    fields = (
        "network", "name", "status", "status_reason", "linked_page_id", "token_expires_at",
        "token_checked_at", "connected_by", "connected_at", "queue_times",
    )  # fmt: skip
    readonly_fields = (
        "network", "name", "status", "status_reason", "linked_page_id", "token_expires_at",
        "token_checked_at", "connected_by", "connected_at",
    )  # fmt: skip
    change_list_template = "admin/social/socialaccount/change_list.html"
    change_form_template = "admin/social/socialaccount/change_form.html"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, account: SocialAccount) -> str:
        if account.status == AccountStatus.CONNECTED:
            return "Connected"
        return format_html(
            '<strong style="color:#ba2121">{}</strong><br><small>{}</small>',
            account.get_status_display(),
            account.status_reason,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts come only from the networks' OAuth flows

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and is_club_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # disconnect instead: posts keep pointing at the account

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("connect/<str:network>/", wrap(self.connect_view), name="social_connect"),
            path("oauth/callback/", wrap(self.callback_view), name="social_oauth_callback"),
            path("oauth/choose/", wrap(self.choose_view), name="social_oauth_choose"),
            path(
                "<uuid:account_id>/disconnect/",
                wrap(self.disconnect_view),
                name="social_disconnect",
            ),
            path("<uuid:account_id>/check/", wrap(self.check_view), name="social_check"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            **(extra_context or {}),
            "can_connect": is_club_admin(request),
            "network_states": network_states(),
        }
        return super().changelist_view(request, extra_context)

    def _list_url(self) -> str:
        return reverse(f"{self.admin_site.name}:social_socialaccount_changelist")

    def _require_admin(self, request: HttpRequest) -> None:
        if not is_club_admin(request):
            raise PermissionDenied

    def connect_view(self, request: HttpRequest, network: str) -> HttpResponse:
        self._require_admin(request)
        try:
            return HttpResponseRedirect(oauth.oauth_start(session=request.session, network=network))
        except ValidationError as exc:
            self.message_user(request, _errors_text(exc), messages.ERROR)
            return HttpResponseRedirect(self._list_url())

    def callback_view(self, request: HttpRequest) -> HttpResponse:
        self._require_admin(request)
        try:
            account, candidates = oauth.oauth_finish(
                session=request.session,
                actor=actor_of(request),
                query=request.GET.dict(),
                query_string=request.GET.urlencode(),
            )
        except ValidationError as exc:
            self.message_user(request, _errors_text(exc), messages.ERROR)
            return HttpResponseRedirect(self._list_url())
        except NetworkError as exc:
            self.message_user(request, f"Not connected: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(self._list_url())
        if account is not None:
            self.message_user(request, f"Connected {account}.", messages.SUCCESS)
            return HttpResponseRedirect(self._list_url())
        context = {
            **self.admin_site.each_context(request),
            "title": "Choose what to connect",
            "candidates": candidates,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/social/socialaccount/choose.html", context)

    def choose_view(self, request: HttpRequest) -> HttpResponse:
        self._require_admin(request)
        if request.method != "POST":
            return HttpResponseRedirect(self._list_url())
        try:
            account = oauth.oauth_choose(
                session=request.session, actor=actor_of(request), key=request.POST.get("key", "")
            )
        except ValidationError as exc:
            self.message_user(request, _errors_text(exc), messages.ERROR)
        else:
            self.message_user(request, f"Connected {account}.", messages.SUCCESS)
        return HttpResponseRedirect(self._list_url())

    def disconnect_view(self, request: HttpRequest, account_id) -> HttpResponse:
        self._require_admin(request)
        if request.method != "POST":
            return HttpResponseRedirect(self._list_url())
        account = get_object_or_404(SocialAccount, id=account_id)
        account_disconnect(actor=actor_of(request), account=account)
        self.message_user(request, f"Disconnected {account}.", messages.SUCCESS)
        return HttpResponseRedirect(self._list_url())

    def check_view(self, request: HttpRequest, account_id) -> HttpResponse:
        self._require_admin(request)
        if request.method != "POST":
            return HttpResponseRedirect(self._list_url())
        outcome = account_check(account_id=account_id)
        level = messages.SUCCESS if outcome.result == "ok" else messages.WARNING
        self.message_user(request, f"Check: {outcome.result} {outcome.detail}".strip(), level)
        return HttpResponseRedirect(self._list_url())


@admin.register(SocialSettings, site=club_admin_site)
class SocialSettingsAdmin(SettingsAdmin):
    """Changed by a club ADMIN only, through settings_update (audited)."""

    fields = ("approval_required",)
    edit_scope = Scope.ADMIN

    def save_model(self, request, obj, form, change) -> None:
        row = settings_update(
            actor=actor_of(request), approval_required=form.cleaned_data["approval_required"]
        )
        obj.pk = row.pk


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


def _target_choices() -> list[tuple[str, str]]:
    """Each connected account, and each network with none connected (a draft for it)."""
    choices = []
    for state in network_states():
        for account in state.accounts:
            choices.append((f"account:{account.id}", f"{state.label}: {account.name}"))
        if not state.accounts:
            choices.append(
                (f"network:{state.network}", f"{state.label} (not connected: draft only)")
            )
    return choices


class ComposeForm(forms.ModelForm):
    """Compose once: shared text, link and images, with optional per-network text. Networks
    with no connected account can be chosen too: the post is then kept as a draft."""

    targets = forms.MultipleChoiceField(
        label="Post to", choices=(), widget=forms.CheckboxSelectMultiple,
        help_text="A network with no connected account can be written for and approved; it is "
        "scheduled once an account is connected.",
    )  # fmt: skip
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    link = forms.URLField(required=False, assume_scheme="https")
    images = MultipleFileField(required=False, help_text="JPEG for Instagram; up to 10 MB.")
    x_text = forms.CharField(
        label="Text for X", widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="Leave empty to use the text above. 280 characters; links count as 23.",
    )  # fmt: skip
    facebook_text = forms.CharField(
        label="Text for Facebook", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    instagram_text = forms.CharField(
        label="Text for Instagram", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    mode = forms.ChoiceField(
        choices=[
            ("draft", "Keep as draft"),
            ("approval", "Keep as draft and send for approval"),
            *ScheduleMode.choices,
        ],
        initial="draft",
    )
    at = forms.DateTimeField(
        label="When (club time)",
        required=False,
        help_text="YYYY-MM-DD HH:MM. For 'At a time'; for a draft, the planned time shown on "
        "the calendar.",
    )

    class Meta:
        model = Post
        fields = ("title",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds copies of the declared fields: this one is the MultipleChoiceField.
        cast(forms.MultipleChoiceField, self.fields["targets"]).choices = _target_choices()

    def clean_at(self):
        value = self.cleaned_data.get("at")
        # Django reads the field in the active time zone (UTC): it is the club's wall time.
        return value.replace(tzinfo=None) if value else None


class PostEditForm(forms.ModelForm):
    """The title, and while every network's part is a draft, each network's text (saved
    through post_update, with or without a connected account)."""

    class Meta:
        model = Post
        fields = ("title",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.draft_variants: list[PostVariant] = []
        if self.instance.pk:
            variants = list(self.instance.variants.order_by("network"))
            if variants and all(v.status == VariantStatus.DRAFT for v in variants):
                self.draft_variants = variants
        for variant in self.draft_variants:
            self.fields[f"text_{variant.network}"] = forms.CharField(
                label=f"Text for {variant.get_network_display()}",
                widget=forms.Textarea(attrs={"rows": 3}),
                required=False,
                initial=variant.text,
            )


def _draft_networks(post: Post | None) -> list[str]:
    if post is None:
        return []
    variants = list(post.variants.order_by("network"))
    if variants and all(v.status == VariantStatus.DRAFT for v in variants):
        return [v.network for v in variants]
    return []


class VariantInline(TabularInline):
    model = PostVariant
    extra = 0
    can_delete = False
    fields = (
        "network", "status", "scheduled_at", "text", "remote_link", "published_at",
        "engagement", "error",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="On the network")
    def remote_link(self, variant: PostVariant) -> str:
        if not variant.remote_url:
            return variant.remote_id or "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            variant.remote_url,
            variant.remote_id,
        )

    @admin.display(description="Likes · comments · shares · impressions")
    def engagement(self, variant: PostVariant) -> str:
        if variant.metrics_fetched_at is None:
            return "—"
        values = [variant.likes, variant.comments, variant.shares, variant.impressions]
        return format_html(
            "{}<br><small>as of {}</small>",
            " · ".join("—" if v is None else str(v) for v in values),
            f"{variant.metrics_fetched_at:%Y-%m-%d %H:%M}",
        )


@admin.register(Post, site=club_admin_site)
class PostAdmin(ModelAdmin):
    list_display = ("__str__", "networks", "approval_status", "created_by_label", "created_at")
    list_filter = ("approval_status", "variants__status")
    search_fields = ("title", "variants__text")
    inlines = [VariantInline]
    actions = ["approve_selected", "cancel_selected"]
    readonly_fields = ("approval_status", "approved_by", "approved_at", "approval_note",
                       "created_by_label", "origin", "created_at")  # fmt: skip
    change_form_template = "admin/social/post/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Post]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("variants", queryset=PostVariant.objects.order_by("network"))
            )
        )

    @admin.display(description="Networks")
    def networks(self, post: Post) -> str:
        return format_html_join(
            ", ",
            "{}: {}",
            ((v.get_network_display(), v.get_status_display()) for v in post.variants.all()),
        )

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = ComposeForm
            kwargs["fields"] = None
        else:
            kwargs["form"] = PostEditForm
            kwargs["fields"] = ["title"]  # the texts are the form's own fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None):
        if obj is None:
            return [
                (None, {"fields": ("title", "targets", "text", "link", "images")}),
                ("Per network", {"fields": ("x_text", "facebook_text", "instagram_text")}),
                ("When", {"fields": ("mode", "at")}),
            ]
        texts = [f"text_{network}" for network in _draft_networks(obj)]
        return [
            (None, {"fields": ("title", *self.readonly_fields)}),
            *([("Texts (draft)", {"fields": texts})] if texts else []),
        ]

    def get_inlines(self, request: HttpRequest, obj: Any = None):
        return [VariantInline] if obj is not None else []

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return self.readonly_fields if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Post, form: forms.Form, change: bool) -> None:
        if change:
            data = form.cleaned_data
            drafts = getattr(form, "draft_variants", [])
            texts_changed = any(
                (data.get(f"text_{v.network}") or "").strip() != v.text for v in drafts
            )
            variants = (
                [
                    VariantInput(
                        account_id=v.account_id,
                        network=v.network,
                        link=v.link,
                        image_ids=list(v.image_ids),
                        text=data.get(f"text_{v.network}") or "",
                    )
                    for v in drafts
                ]
                if texts_changed
                else None
            )
            try:
                post_update(
                    actor=actor_of(request), post=obj, title=obj.title or "", variants=variants
                )
            except ValidationError as exc:
                raise _FormInvalid(exc) from exc
            return
        actor = actor_of(request)
        data = form.cleaned_data
        try:
            images = [
                image_upload(actor=actor, filename=upload.name, content=upload.read())
                for upload in data.get("images") or []
            ]
            variants = []
            accounts = SocialAccount.objects.in_bulk(
                [t.split(":", 1)[1] for t in data["targets"] if t.startswith("account:")]
            )
            for target in data["targets"]:
                kind, value = target.split(":", 1)
                account = accounts.get(_uuid(value)) if kind == "account" else None
                network = account.network if account else value
                variants.append(
                    VariantInput(
                        account_id=account.id if account else None,
                        network=network,
                        text=data.get(f"{network}_text") or data.get("text") or "",
                        link=data.get("link") or "",
                        image_ids=[image.id for image in images],
                    )
                )
            mode = data["mode"]
            post = post_create(
                actor=actor,
                title=data.get("title") or "",
                variants=variants,
                planned_at=data.get("at") if mode in ("draft", "approval") else None,
            )
            if mode == "approval":
                post_request_approval(actor=actor, post=post)
            elif mode != "draft":
                post_schedule(actor=actor, post=post, mode=mode, at=data.get("at"))
        except ValidationError as exc:
            raise _FormInvalid(exc) from exc
        obj.pk = post.pk
        obj.id = post.id

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "network_states": network_states()}
        try:
            return super().add_view(request, form_url, extra_context)
        except _FormInvalid as exc:
            self.message_user(request, f"Not saved: {_errors_text(exc.error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_related(self, request, form, formsets, change) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    def log_addition(self, request, obj, message):
        return None  # the service wrote the audit row

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<uuid:post_id>/act/<str:action>/",
                wrap(require_POST(self.act_view)),
                name="social_post_act",
            ),
            path("calendar/", wrap(self.calendar_view), name="social_calendar"),
            path("calendar/feed/", wrap(self.calendar_feed_view), name="social_calendar_feed"),
            path(
                "calendar/move/",
                wrap(require_POST(self.calendar_move_view)),
                name="social_calendar_move",
            ),
            *super().get_urls(),
        ]

    def act_view(self, request: HttpRequest, post_id, action: str) -> HttpResponse:
        post = get_object_or_404(Post, id=post_id)
        if not self.has_change_permission(request, post):
            raise PermissionDenied
        actor = actor_of(request)
        try:
            if action == "approve":
                post_approve(actor=actor, post=post)
            elif action == "request_approval":
                post_request_approval(actor=actor, post=post)
            elif action == "schedule_planned":
                post_schedule(actor=actor, post=post, mode="at")
            elif action == "reject":
                post_reject(actor=actor, post=post, note=request.POST.get("note", ""))
            elif action == "cancel":
                post_cancel(actor=actor, post=post)
            elif action in ("schedule_now", "queue"):
                post_schedule(
                    actor=actor, post=post, mode="now" if action == "schedule_now" else "queue"
                )
            elif action in ("reviewed_posted", "reviewed_not_posted"):
                variant = get_object_or_404(PostVariant, id=request.POST.get("variant"), post=post)
                variant_resolve_review(
                    actor=actor, variant=variant, posted=action == "reviewed_posted",
                    remote_url=request.POST.get("remote_url", ""),
                )  # fmt: skip
            else:
                raise PermissionDenied
        except ValidationError as exc:
            self.message_user(request, _errors_text(exc), messages.ERROR)
        else:
            self.message_user(request, "Done.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:social_post_change", args=[post.pk])
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        post = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "is_club_admin": is_club_admin(request),
            "review_variants": [
                v
                for v in (post.variants.all() if post else [])
                if v.status == VariantStatus.NEEDS_REVIEW
            ],
            "statuses": {v.status for v in post.variants.all()} if post else set(),
            "planned": any(v.scheduled_at for v in post.variants.all()) if post else False,
            "network_states": network_states(),
        }
        try:
            return super().change_view(request, object_id, form_url, extra_context)
        except _FormInvalid as exc:
            self.message_user(request, f"Not saved: {_errors_text(exc.error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "network_states": network_states()}
        return super().changelist_view(request, extra_context)

    # --- The content calendar ---------------------------------------------------------------

    def calendar_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        tz = _club_tz()
        context = {
            **self.admin_site.each_context(request),
            "title": "Content calendar",
            "opts": self.model._meta,
            "timezone_name": str(tz),
            "best_times": best_posting_times(tz=tz),
            "kinds": CalendarKind.LABELS,
            "network_states": network_states(),
            "can_move": self.has_change_permission(request),
            # How the club writes dates: US clubs month first, everyone else day first.
            "locale_code": "en-US" if tenant_current().country == "US" else "en-GB",
        }
        return TemplateResponse(request, "admin/social/calendar.html", context)

    def calendar_feed_view(self, request: HttpRequest) -> HttpResponse:
        """FullCalendar's event source. It runs in 'UTC' mode and gets the club's wall times
        without an offset, so it shows the club's time whatever the browser's zone."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        tz = _club_tz()
        try:
            start, end = calendar_range(
                start=_wall(request.GET.get("start")),
                end=_wall(request.GET.get("end")),
                tz=tz,
                names=("start", "end"),
            )
        except ValidationError as exc:
            return JsonResponse({"error": _errors_text(exc)}, status=400)
        can_move = self.has_change_permission(request)
        events = [
            {
                "id": f"{entry.kind}:{entry.id}:{entry.start.isoformat()}",
                "title": entry.title,
                "start": entry.start.astimezone(tz).replace(tzinfo=None).isoformat(),
                "url": entry.link,
                "editable": bool(can_move and entry.movable),
                "classNames": [f"sc-{entry.kind}", f"sc-status-{entry.status.lower()}"],
                "extendedProps": {
                    "kind": entry.kind,
                    "kindLabel": entry.kind_label,
                    "status": entry.status,
                    "statusLabel": entry.status_label,
                    "objectId": entry.id,
                    "networks": list(entry.networks),
                },
            }
            for entry in calendar_entries(start=start, end=end)
        ]
        return JsonResponse(events, safe=False)

    def calendar_move_view(self, request: HttpRequest) -> HttpResponse:
        """A drag on the calendar: the same service as every other reschedule, so limits and
        approval apply; a refusal comes back as a message and the calendar snaps back."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JsonResponse({"message": "Send a JSON object."}, status=400)
        post = Post.objects.filter(id=_uuid(str(body.get("postId", "")))).first()
        if post is None:
            return JsonResponse({"message": "No such post in this club."}, status=404)
        networks = body.get("networks") or None
        if networks is not None and not (
            isinstance(networks, list) and all(isinstance(n, str) for n in networks)
        ):
            return JsonResponse({"message": "networks: give a list of networks."}, status=400)
        start = _wall(body.get("start")) if isinstance(body.get("start"), str) else None
        moment = parse_datetime(start) if start else None
        if moment is None:
            return JsonResponse({"message": "start: give the new date and time."}, status=400)
        try:
            post_reschedule(actor=actor_of(request), post=post, at=moment, networks=networks)
        except ValidationError as exc:
            return JsonResponse({"message": _errors_text(exc)}, status=400)
        post = Post.objects.get(id=post.id)
        waiting = post.approval_status == "PENDING"
        when = moment.strftime("%a %d %b %H:%M")
        return JsonResponse(
            {
                "message": f"Moved to {when} (club time)."
                + (" It waits for an ADMIN's approval again." if waiting else ""),
                "waitsForApproval": waiting,
            }
        )

    @admin.action(description="Approve (ADMIN)")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        actor = actor_of(request)
        done = 0
        for post in queryset:
            try:
                post_approve(actor=actor, post=post)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{post}: {_errors_text(exc)}", messages.WARNING)
        self.message_user(request, f"Approved {done} post(s).")

    @admin.action(description="Cancel what has not gone out")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        actor = actor_of(request)
        total = sum(post_cancel(actor=actor, post=post) for post in queryset)
        self.message_user(request, f"Cancelled {total} network post(s).")


class _FormInvalid(Exception):
    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.error = error


# --- Competition auto-promotion ----------------------------------------------------------------

# Settings form field -> the service's (API's) name.
_SETTINGS_NAMES = {
    "enabled": "enabled", "post_reminders": "postReminders", "email_enabled": "emailEnabled",
    "sms_enabled": "smsEnabled", "email_template_id": "emailTemplateId",
    "sms_template_id": "smsTemplateId", "announcement_subject": "announcementSubject",
    "reminder_subject": "reminderSubject", "announcement_text": "announcementText",
    "reminder_text": "reminderText", "few_places_text": "fewPlacesText",
    "results_text": "resultsText", "cancellation_text": "cancellationText",
    "reminder_days": "reminderDays", "reminder_time": "reminderTime",
    "few_places_percent": "fewPlacesPercent", "results_delay_minutes": "resultsDelayMinutes",
}  # fmt: skip


@admin.register(PromotionSettings, site=club_admin_site)
class PromotionSettingsAdmin(SettingsAdmin):
    """Changed by a club ADMIN only, through promotion_settings_update (validated, audited)."""

    fieldsets = [
        (None, {"fields": ("enabled", "accounts", "post_reminders")}),
        ("Email and SMS", {"fields": ("email_enabled", "email_template_id", "sms_enabled",
                                      "sms_template_id", "announcement_subject",
                                      "reminder_subject")}),
        ("Post texts", {
            "fields": ("announcement_text", "reminder_text", "few_places_text", "results_text",
                       "cancellation_text", "placeholders"),
        }),
        ("When", {"fields": ("reminder_days", "reminder_time", "few_places_percent",
                             "results_delay_minutes", "default_image")}),
    ]  # fmt: skip
    readonly_fields = ("placeholders",)
    edit_scope = Scope.ADMIN
    filter_horizontal = ()
    raw_id_fields = ("default_image",)

    @admin.display(description="Placeholders")
    def placeholders(self, row: PromotionSettings) -> str:
        return format_html_join(
            "", "<div><code>{{{}}}</code>: {}</div>", ((k, v) for k, v in PLACEHOLDERS.items())
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "accounts":
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        data = {
            name: form.cleaned_data[attr]
            for attr, name in _SETTINGS_NAMES.items()
            if attr in form.cleaned_data
        }
        data["accountIds"] = [a.id for a in form.cleaned_data.get("accounts") or []]
        image = form.cleaned_data.get("default_image")
        data["defaultImageId"] = image.id if image else None
        try:
            row = promotion_settings_update(actor=actor_of(request), data=data)
        except ValidationError as exc:
            raise _FormInvalid(exc) from exc
        obj.pk = row.pk

    def save_related(self, request, form, formsets, change) -> None:
        return None  # the service saved the accounts

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _FormInvalid as exc:
            self.message_user(request, f"Not saved: {_errors_text(exc.error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class PromotionItemForm(forms.ModelForm):
    """Staff edit an item that has not gone out: its text, subject and time (club time), or
    cancel it. Saved through the services, never straight to the row."""

    when_local = forms.DateTimeField(
        label="When (club time)", required=False, help_text="YYYY-MM-DD HH:MM"
    )
    cancel_item = forms.BooleanField(label="Cancel", required=False)

    class Meta:
        model = PromotionItem
        fields = ("subject", "text")
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3, "cols": 60}),
            "subject": forms.TextInput(attrs={"size": 30}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = _club_tz()
        item = self.instance
        if item.scheduled_for:
            # Shown (and compared, for has_changed) in the active time zone, UTC: so the
            # club's wall time goes in with a UTC label and comes back out the same way.
            wall = item.scheduled_for.astimezone(self.tz).replace(tzinfo=None)
            self.initial["when_local"] = wall.replace(tzinfo=ZoneInfo("UTC"))
        if item.status in (ItemStatus.DONE, ItemStatus.CANCELLED, ItemStatus.FAILED):
            for name in self.fields:
                self.fields[name].disabled = True
        if item.channel != ItemChannel.CAMPAIGN:
            self.fields["subject"].disabled = True

    def clean_when_local(self):
        value = self.cleaned_data.get("when_local")
        if value is None:
            return None
        # Django reads the field in the active time zone (UTC here): it is the club's wall time.
        return value.replace(tzinfo=None).replace(tzinfo=self.tz)


class PromotionItemInline(TabularInline):
    model = PromotionItem
    form = PromotionItemForm
    extra = 0
    can_delete = False
    fields = ("kind", "channel", "days_before", "when_local", "status", "note", "subject",
              "text", "links", "cancel_item")  # fmt: skip
    readonly_fields = ("kind", "channel", "days_before", "status", "note", "links")
    ordering = ("scheduled_for", "key")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Post / campaign")
    def links(self, item: PromotionItem) -> str:
        site = self.admin_site.name
        if item.post_id:
            url = reverse(f"{site}:social_post_change", args=[item.post_id])
            return format_html('<a href="{}">the post</a>', url)
        if item.campaign_id:
            url = reverse(f"{site}:campaigns_campaign_change", args=[item.campaign_id])
            return format_html('<a href="{}">the campaign</a>', url)
        return "—"


@admin.register(CompetitionPromotion, site=club_admin_site)
class CompetitionPromotionAdmin(ModelAdmin):
    """A competition's promotion plan with its items: edit the text, subject and time of what
    has not gone out, cancel an item, or stop the whole plan."""

    list_display = ("__str__", "competition_id", "status", "starts", "closes", "progress",
                    "created_at")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("name", "competition_id")
    inlines = [PromotionItemInline]
    actions = ["stop_selected"]
    fields = ("name", "competition_id", "status", "starts", "closes", "cancel_reason",
              "eligible_segment", "entrants_segment", "image_error", "synced_at")  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CompetitionPromotion]:
        return super().get_queryset(request).prefetch_related("items")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # plans come from TeeTime's events

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # stop it instead: its posts and campaigns keep pointing at it

    @admin.display(description="Starts (club time)")
    def starts(self, plan: CompetitionPromotion) -> str:
        competition = competition_from(plan.competition_id, plan.payload)
        return local_text(competition.starts_at, _club_tz())

    @admin.display(description="Entries close (club time)")
    def closes(self, plan: CompetitionPromotion) -> str:
        competition = competition_from(plan.competition_id, plan.payload)
        return local_text(competition.closes_at, _club_tz())

    @admin.display(description="Items")
    def progress(self, plan: CompetitionPromotion) -> str:
        counts: dict[str, int] = {}
        for item in plan.items.all():
            counts[item.get_status_display()] = counts.get(item.get_status_display(), 0) + 1
        return ", ".join(f"{n} {label.lower()}" for label, n in sorted(counts.items())) or "—"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _FormInvalid as exc:
            self.message_user(request, f"Not saved: {_errors_text(exc.error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change) -> None:
        return None  # nothing on the plan itself is edited here

    def save_formset(self, request, form, formset, change) -> None:
        actor = actor_of(request)
        # What construct_change_message reads; the services write their own audit rows.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            with transaction.atomic():
                for item_form in formset.forms:
                    if not item_form.has_changed() or item_form.instance.pk is None:
                        continue
                    # The form has already written its values onto its instance: compare
                    # with (and hand the services) the row as stored.
                    item = PromotionItem.objects.get(pk=item_form.instance.pk)
                    if item.status in (
                        ItemStatus.DONE, ItemStatus.CANCELLED, ItemStatus.FAILED,
                    ):  # fmt: skip
                        continue
                    data = item_form.cleaned_data
                    if data.get("cancel_item"):
                        promotion_item_cancel(actor=actor, item=item)
                        continue
                    text = _newlines(data.get("text"))
                    subject = _newlines(data.get("subject"))
                    when = data.get("when_local")
                    changes = {
                        "text": text if text is not None and text != item.text else None,
                        "subject": (
                            subject if subject is not None and subject != item.subject else None
                        ),
                        "scheduled_for": when if when and when != item.scheduled_for else None,
                    }
                    if any(value is not None for value in changes.values()):
                        promotion_item_update(actor=actor, item=item, **changes)
        except ValidationError as exc:
            raise _FormInvalid(exc) from exc

    def log_change(self, request, obj, message):
        return None  # the services wrote the audit rows

    @admin.action(description="Stop the plan (cancel what has not gone out)")
    def stop_selected(self, request: HttpRequest, queryset: QuerySet[CompetitionPromotion]) -> None:
        actor = actor_of(request)
        for plan in queryset:
            promotion_stop(actor=actor, promotion=plan)
        self.message_user(request, f"Stopped {queryset.count()} plan(s).")


def _wall(value: str | None) -> str | None:
    """FullCalendar in 'UTC' mode stands for the club's wall time: drop its 'Z' or offset."""
    if not value:
        return value
    value = value.strip().replace(" ", "+")
    for suffix in ("Z", "+00:00"):
        if value.endswith(suffix):
            return value[: -len(suffix)]
    return value


def _club_tz() -> ZoneInfo:
    return ZoneInfo(tenant_current().timezone or "UTC")


def _newlines(value: str | None) -> str | None:
    return None if value is None else value.replace("\r\n", "\n").strip()
