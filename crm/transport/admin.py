"""Dead letters in the admin: listed, searched, and retried one by one or all at once.

The platform admin (`/admin/`) lists every dead letter, those naming no known club included. A
club's admin (`/t/<club>/admin/`) lists only the club's own: its queryset is filtered by the
club of the request, and every view and action (the change page, retry, retry all) goes
through that queryset, so another club's dead letter is a 404 there whatever its id. In a club,
reading dead letters takes the right to read the event log and retrying takes the right to
replay events (ADMIN), as they are the events that did not make it into the log.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from crm.admin_base import ReadOnlyAdmin
from crm.admin_sites import club_admin_site, platform_admin_site
from crm.transport.models import DeadLetter, DeadLetterStatus
from crm.transport.services import dead_letters_retry

VIEW_EVENTS = "profiles.view_rawevent"
REPLAY_EVENTS = "profiles.change_rawevent"


class _DeadLetterAdmin(ReadOnlyAdmin):
    """Kept as they failed (retry is the one write); they expire after 7 days with the
    queue's copy."""

    list_display: tuple[str, ...] = (
        "failed_at", "event_type", "event_id", "source", "short_reason", "attempts",
        "permanent", "status",
    )  # fmt: skip
    list_display_links = ("event_type",)
    list_filter: tuple[str, ...] = ("status", "permanent", "source")
    search_fields = ("=event_id", "=source_job_id", "event_type", "reason")
    search_help_text = "Exact event or job id, or part of the event type or the reason."
    ordering = ("-failed_at", "-id")
    show_full_result_count = False
    actions = ("retry_selected",)
    change_list_template = "admin/transport/deadletter/change_list.html"
    change_form_template = "admin/transport/deadletter/change_form.html"
    fieldsets: tuple[tuple[str, dict[str, tuple[str, ...]]], ...] = (
        ("Job", {"fields": ("event_type", "event_id", "source", "source_job_id", "job_id",
                            "tenant_reference")}),
        ("Failure", {"fields": ("reason", "permanent", "attempts", "failed_at")}),
        ("Retry", {"fields": ("status", "retried_at", "retried_by")}),
        ("Job data, as received", {"fields": ("pretty_envelope", "raw_data")}),
    )  # fmt: skip
    readonly_fields: tuple[str, ...] = (
        "event_type", "event_id", "source", "source_job_id", "job_id", "tenant_reference",
        "reason", "permanent", "attempts", "failed_at", "status", "retried_at", "retried_by",
        "pretty_envelope", "raw_data",
    )  # fmt: skip

    @admin.display(description="Reason")
    def short_reason(self, obj: DeadLetter) -> str:
        return obj.reason if len(obj.reason) <= 120 else obj.reason[:119] + "…"

    @admin.display(description="Envelope")
    def pretty_envelope(self, obj: DeadLetter) -> str:
        if obj.envelope is None:
            return "—"
        text = json.dumps(obj.envelope, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html("<pre>{}</pre>", text)

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeadLetter]:
        queryset: QuerySet[DeadLetter] = super().get_queryset(request)
        url_name = request.resolver_match.url_name if request.resolver_match else None
        if url_name and url_name.endswith("changelist"):
            queryset = queryset.defer("envelope", "raw_data")
        return queryset

    def has_retry_permission(self, request: HttpRequest) -> bool:
        raise NotImplementedError

    # -- retry ------------------------------------------------------------------------------

    def _retry(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        retried, skipped = dead_letters_retry(
            dead_letters=queryset.filter(status=DeadLetterStatus.DEAD),
            actor_label=getattr(request.user, "email", "") or str(request.user),
            actor_user=request.user if self.admin_site is club_admin_site else None,
        )
        if retried:
            messages.success(request, f"Put {retried} dead letter(s) back on crm-events.")
        if skipped:
            messages.warning(
                request, f"{skipped} not retried: their data is not JSON (fix it at the source)."
            )
        if not retried and not skipped:
            messages.info(request, "No dead letters waiting to be retried.")

    @admin.action(description="Retry selected dead letters", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        self._retry(request, queryset)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "retry-all/",
                self.admin_site.admin_view(self.retry_all_view),
                name="{}_{}_retry_all".format(*info),
            ),
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(self.retry_one_view),
                name="{}_{}_retry".format(*info),
            ),
            *super().get_urls(),
        ]

    def _confirm(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter], title: str
    ) -> HttpResponse:
        if not self.has_retry_permission(request):
            raise PermissionDenied
        waiting = queryset.filter(status=DeadLetterStatus.DEAD)
        changelist = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_changelist"
        )
        if request.method == "POST":
            self._retry(request, waiting)
            return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "count": waiting.count(),
            "changelist_url": changelist,
        }
        return TemplateResponse(
            request, "admin/transport/deadletter/retry_confirmation.html", context
        )

    def retry_all_view(self, request: HttpRequest) -> HttpResponse:
        return self._confirm(request, self.get_queryset(request), "Retry all dead letters")

    def retry_one_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj: DeadLetter | None = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such dead letter here.")
        queryset = self.get_queryset(request).filter(pk=obj.pk)
        return self._confirm(request, queryset, f"Retry {obj}")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_retry": self.has_retry_permission(request)}
        response: HttpResponse = super().changelist_view(request, extra_context)
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_retry": self.has_retry_permission(request)}
        response: HttpResponse = super().change_view(request, object_id, form_url, extra_context)
        return response


@admin.register(DeadLetter, site=platform_admin_site)
class PlatformDeadLetterAdmin(_DeadLetterAdmin):
    """Every dead letter, whichever club (or none) it names."""

    list_display = ("failed_at", "club", *_DeadLetterAdmin.list_display[1:])
    list_select_related = ("tenant",)
    list_filter = ("status", "permanent", "source", "tenant")
    fieldsets = (("Club", {"fields": ("club",)}), *_DeadLetterAdmin.fieldsets)
    readonly_fields = ("club", *_DeadLetterAdmin.readonly_fields)

    @admin.display(description="Club", ordering="tenant__slug")
    def club(self, obj: DeadLetter) -> str:
        return obj.tenant.slug if obj.tenant else f"unknown ({obj.tenant_reference or '—'})"

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("transport.change_deadletter")


@admin.register(DeadLetter, site=club_admin_site)
class ClubDeadLetterAdmin(_DeadLetterAdmin):
    """This club's dead letters only."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeadLetter]:
        tenant = getattr(request, "tenant", None)
        if tenant is None or getattr(tenant, "pk", None) is None:
            return DeadLetter.objects.none()
        return super().get_queryset(request).filter(tenant_id=tenant.pk)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_EVENTS)

    def has_view_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return request.user.has_perm(VIEW_EVENTS)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_EVENTS)
