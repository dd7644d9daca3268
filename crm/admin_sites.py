"""Two admins: the platform's at `/admin/` (public schema: the tenant registry, beat's
schedule) and each club's at `/t/<tenant>/admin/` (its staff, keys and customers).

Both are served by the same models' tables in different schemas; what each shows is decided by
which site a model is registered on, so the platform admin never lists club data and the club
admin never lists the registry.

Both wear django-unfold's theme. The club admin's sidebar is arranged by task (settings
`UNFOLD`, built in `crm.admin_nav`); the platform admin keeps the plain list of apps (settings
`UNFOLD_PLATFORM`): its operators know the apps by name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.forms import AuthenticationForm
from unfold.sites import UnfoldAdminSite

from crm.accounts.services import acting_as
from crm.api.authentication import caller_actor
from crm.api.throttling import auth_failure_record, auth_failures_wait

TOO_MANY_ATTEMPTS = "too_many_attempts"


class LimitedAuthenticationForm(AuthenticationForm):
    """The theme's login form under the API's limit on failed authentication per address
    (`RATE_LIMIT_AUTH_FAILURES`, crm.api.throttling): each wrong password counts, and an address
    over the limit is told to wait before any password is checked."""

    def clean(self) -> dict[str, Any]:
        wait = auth_failures_wait(self.request)
        if wait is not None:
            self.retry_after = wait
            raise forms.ValidationError(
                "Too many failed sign-ins from your address. Try again in %(seconds)d seconds.",
                code=TOO_MANY_ATTEMPTS,
                params={"seconds": wait},
            )
        try:
            cleaned: dict[str, Any] = super().clean()
        except forms.ValidationError:
            auth_failure_record(self.request)
            raise
        return cleaned


_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


class _LoginLandsOnTheIndex(AdminSite):
    """The theme's login form (unfold 0.91) carries no `next` field, so signing in on the bare
    login page went to Django's LOGIN_REDIRECT_URL (/accounts/profile/, a 404). A login page
    opened without `next` is sent to itself with the site's own index as `next`."""

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if (
            request.method == "GET"
            and REDIRECT_FIELD_NAME not in request.GET
            and not request.user.is_active
        ):
            index = reverse(f"{self.name}:index")
            return HttpResponseRedirect(f"{request.path}?{urlencode({REDIRECT_FIELD_NAME: index})}")
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.has_error(NON_FIELD_ERRORS, TOO_MANY_ATTEMPTS):
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class PlatformAdminSite(_LoginLandsOnTheIndex, UnfoldAdminSite):
    login_form = LimitedAuthenticationForm
    settings_name = "UNFOLD_PLATFORM"
    site_header = "Golf CRM platform"
    site_title = "Golf CRM platform"
    index_title = "Clubs and platform settings"


class ClubAdminSite(_LoginLandsOnTheIndex, UnfoldAdminSite):
    login_form = LimitedAuthenticationForm
    settings_name = "UNFOLD"
    site_title = "Golf CRM"
    index_title = "Club administration"
    # The home page is the club's dashboard: the theme's DASHBOARD_CALLBACK (settings UNFOLD,
    # crm.admin_dashboard.dashboard_callback) gives it the figures, this template the tiles.
    index_template = "admin/club_index.html"

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        """Only an app's own page lists its models. The club's map of pages is the sidebar
        (crm.admin_nav, by task and role) and the theme does not list all applications, so
        Django's list of every app (built for each page's `available_apps` and for the home
        page, a permission check per model) named apps, not tasks, and cost a query per
        singleton settings model on every page."""
        if app_label is None:
            return []
        apps: list[dict[str, Any]] = super().get_app_list(request, app_label)
        return apps

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        from crm.admin_nav import club_context

        context: dict[str, Any] = super().each_context(request)
        context.update(club_context(request))
        return context

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Every club admin page: a page this person's role may not open answers with a "not
        allowed" page inside the admin (status 403, the sidebar still there), not a bare 403.

        Each page runs as its signed-in staff member (crm.accounts.services.acting_as): the
        audit rows its actions, forms and the campaign composer write through the services
        name them by foreign key, though the services take only a label. Model pages, custom
        views (`get_urls`) and the site's own all come through here. The platform admin does
        not: its operators are rows of the public schema, not of a club."""
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                with acting_as(caller_actor(request.user)):
                    return inner(request, *args, **kwargs)
            except PermissionDenied:
                return self.not_allowed(request)

        return cast(_View, wrapper)

    def not_allowed(self, request: HttpRequest) -> HttpResponse:
        from crm.admin_nav import role_names

        context = {
            **self.each_context(request),
            "title": "Not allowed",
            "roles": role_names(request),
        }
        response = TemplateResponse(request, "admin/crm/not_allowed.html", context, status=403)
        return response.render()


platform_admin_site = PlatformAdminSite(name="platform_admin")
club_admin_site = ClubAdminSite(name="club_admin")
