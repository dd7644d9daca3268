"""The club admin's sidebar, arranged by what a club does (customers, audiences, campaigns…)
rather than by Django app, and shown per role.

A link is shown when the page behind it would open for this person (the model admin's own
`has_view_permission` decides, so no link answers "not allowed") and belongs to their job: the
marketing areas and settings to those who may change them. The *System* section (raw events,
dead letters, churn models) is for the club's ADMINs only, even where a lower role could read
the model. Models are named by label, so `crm` imports no domain app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib.admin import ModelAdmin
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse

from crm.accounts.scopes import Scope
from crm.api.permissions import caller_scopes

SITE = "club_admin"


def is_club_admin(request: HttpRequest) -> bool:
    """The club's ADMIN role, as the API sees it (scopes cached on the request)."""
    return Scope.ADMIN in caller_scopes(request)


def _model_admin(label: str) -> ModelAdmin[Any] | None:
    from crm.admin_sites import club_admin_site

    try:
        model = apps.get_model(label)
    except LookupError:
        return None
    return club_admin_site._registry.get(model)


def can_view(label: str) -> Callable[[HttpRequest], bool]:
    def check(request: HttpRequest) -> bool:
        model_admin = _model_admin(label)
        return bool(
            model_admin is not None
            and model_admin.has_module_permission(request)
            and model_admin.has_view_permission(request)
        )

    return check


def can_change(label: str) -> Callable[[HttpRequest], bool]:
    def check(request: HttpRequest) -> bool:
        model_admin = _model_admin(label)
        return bool(model_admin is not None and model_admin.has_change_permission(request))

    return check


def _named(name: str) -> Callable[[HttpRequest], str]:
    """A page of the club admin by its URL name; "#" when the page is not installed."""

    def link(request: HttpRequest) -> str:
        try:
            return reverse(f"{SITE}:{name}")
        except NoReverseMatch:
            return "#"

    return link


def _changelist(label: str, query: str = "") -> Callable[[HttpRequest], str]:
    app_label, model_name = label.lower().split(".")
    page = _named(f"{app_label}_{model_name}_changelist")

    def link(request: HttpRequest) -> str:
        url = page(request)
        return url if url == "#" else f"{url}{query}"

    return link


def _active(label: str) -> Callable[[HttpRequest], bool]:
    page = _changelist(label)

    def active(request: HttpRequest) -> bool:
        url = page(request)
        return url != "#" and request.path.startswith(url)

    return active


def _item(
    title: str,
    icon: str,
    label: str,
    *,
    query: str = "",
    permission: Callable[[HttpRequest], bool] | None = None,
    active: bool = True,
) -> dict[str, Any]:
    item = {
        "title": title,
        "icon": icon,
        "link": _changelist(label, query),
        "permission": permission or can_view(label),
    }
    # Report links point at a filtered list that has its own entry too: only that one lights up.
    item["active"] = _active(label) if active else (lambda request: False)
    return item


def _admins_only(check: Callable[[HttpRequest], bool]) -> Callable[[HttpRequest], bool]:
    return lambda request: is_club_admin(request) and check(request)


def _home(request: HttpRequest) -> str:
    return reverse(f"{SITE}:index")


def _manages(label: str) -> Callable[[HttpRequest], bool]:
    """Shown to those who may change these (MARKETING for its areas, ADMIN for settings): STAFF
    can read some of them (a segment's members, a campaign's figures) but the sidebar keeps to
    their job, customers and notes."""
    return lambda request: can_view(label)(request) and can_change(label)(request)


NAVIGATION: list[dict[str, Any]] = [
    {"title": "Home", "items": [
        {"title": "Dashboard", "icon": "home", "link": _home,
         "active": lambda request: request.path == _home(request)},
    ]},
    {"title": "Customers", "items": [
        _item("All customers", "group", "profiles.Customer"),
        # Deciding a pair is a merge: only those who may merge see the queue.
        _item("Duplicates to review", "join_inner", "profiles.DuplicateCandidate",
              permission=lambda request: request.user.has_perm("profiles.change_customer")),
        _item("Tasks", "task_alt", "journeys.StaffTask"),
        _item("Notes", "sticky_note_2", "profiles.CustomerNote"),
    ]},
    {"title": "Audiences", "items": [
        _item("Segments", "filter_alt", "segments.Segment",
              permission=_manages("segments.Segment")),
    ]},
    {"title": "Campaigns", "items": [
        _item("Campaigns", "campaign", "campaigns.Campaign",
              permission=_manages("campaigns.Campaign")),
        _item("Email templates", "mail", "campaigns.EmailTemplate",
              permission=_manages("campaigns.EmailTemplate")),
        _item("Tee-sheet gaps", "golf_course", "campaigns.TeeSheetGap",
              permission=_manages("campaigns.Campaign")),
    ]},
    {"title": "Journeys", "items": [
        _item("Journeys", "route", "journeys.Journey", permission=_manages("journeys.Journey")),
        _item("Enrolments", "directions_walk", "journeys.Enrolment",
              permission=_manages("journeys.Journey")),
    ]},
    {"title": "Social", "items": [
        {**_item("Posts", "share", "social.Post", permission=_manages("social.Post")),
         "active": lambda request: _active("social.Post")(request)
         and not request.path.startswith(_named("social_calendar")(request))},
        {"title": "Content calendar", "icon": "calendar_month",
         "link": _named("social_calendar"), "permission": _manages("social.Post"),
         "active": lambda request: request.path.startswith(_named("social_calendar")(request))},
        _item("Competition promotions", "emoji_events", "social.CompetitionPromotion",
              permission=_manages("social.CompetitionPromotion")),
    ]},
    {"title": "Reports", "items": [
        _item("Campaign results", "monitoring", "campaigns.Campaign",
              query="?status__exact=COMPLETED", active=False,
              permission=_manages("campaigns.Campaign")),
        _item("Audience changes", "swap_vert", "segments.SegmentMembershipChange",
              permission=_manages("segments.Segment")),
        _item("Tee sheet", "event_available", "profiles.TeeSlot",
              permission=_manages("campaigns.Campaign")),
        _item("Survey answers", "reviews", "journeys.RoundSurveyAnswer",
              permission=_manages("journeys.Journey")),
        _item("Activity log", "history", "accounts.AuditEntry",
              permission=_admins_only(can_view("accounts.AuditEntry"))),
    ]},
    {"title": "Settings", "items": [
        _item("Staff accounts", "badge", "accounts.User", permission=_manages("accounts.User")),
        _item("Scoring", "speed", "profiles.ScoringConfig",
              permission=_manages("profiles.ScoringConfig")),
        _item("Sending", "send", "campaigns.CampaignSettings",
              permission=_manages("campaigns.CampaignSettings")),
        _item("Email branding", "palette", "campaigns.ClubBranding",
              permission=_manages("campaigns.ClubBranding")),
        _item("Tee-sheet gap filler", "golf_course", "campaigns.TeeSheetSettings",
              permission=_manages("campaigns.TeeSheetSettings")),
        _item("After-round survey", "rate_review", "journeys.FeedbackSettings",
              permission=_manages("journeys.FeedbackSettings")),
        _item("Social accounts", "link", "social.SocialAccount",
              permission=_manages("social.SocialAccount")),
        _item("Social publishing", "tune", "social.SocialSettings",
              permission=_manages("social.SocialSettings")),
        _item("Promotion plans", "event_note", "social.PromotionSettings",
              permission=_manages("social.PromotionSettings")),
        _item("API keys", "key", "accounts.ApiKey", permission=_manages("accounts.ApiKey")),
    ]},
    {"title": "System", "items": [
        _item("Raw events", "data_object", "profiles.RawEvent",
              permission=_admins_only(can_view("profiles.RawEvent"))),
        _item("Dead letters", "report", "transport.DeadLetter",
              permission=_admins_only(can_view("transport.DeadLetter"))),
        _item("Churn model versions", "model_training", "profiles.ChurnModel",
              permission=_admins_only(can_view("profiles.ChurnModel"))),
        _item("Journey versions", "history_edu", "journeys.JourneyVersion",
              permission=_admins_only(can_view("journeys.JourneyVersion"))),
    ]},
]  # fmt: skip


def navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """The sections with the links this person may use; a section with none is left out
    (rather than drawn empty and hidden), so STAFF's page never even names *System*."""
    groups = []
    for group in NAVIGATION:
        items = [
            {key: value for key, value in item.items() if key != "permission"}
            for item in group["items"]
            if item.get("permission") is None or item["permission"](request)
        ]
        if items:
            groups.append({**group, "items": items})
    return groups


def role_names(request: HttpRequest) -> list[str]:
    user = request.user
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return ["Platform operator"]
    return sorted(name.capitalize() for name in user.groups.values_list("name", flat=True))


def favicon_url(request: HttpRequest) -> str:
    return static("crm/favicon.svg")


def theme_css_url(request: HttpRequest) -> str:
    return static("crm/admin-theme.css")


def site_header(request: HttpRequest) -> str:
    tenant = getattr(request, "tenant", None)
    return getattr(tenant, "name", "") or "Golf CRM"


def club_context(request: HttpRequest) -> dict[str, Any]:
    """What every club admin page adds: the club's name (never its schema) and the customer
    search in the top bar, for those who may read customers."""
    tenant = getattr(request, "tenant", None)
    search_url = ""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and can_view("profiles.Customer")(request):
        search_url = reverse(f"{SITE}:profiles_customer_changelist")
    return {
        "club_name": getattr(tenant, "name", ""),
        "club_timezone": getattr(tenant, "timezone", ""),
        "customer_search_url": search_url,
    }
