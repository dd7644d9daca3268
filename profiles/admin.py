"""The club admin's Customer Intelligence: the 360° customer page, the customer list, the
duplicate review queue, the event log (with dead letters to replay) and staff notes.

Customers are built from events, so nothing here edits a customer's fields: every change is one
of the services (note, merge, dismiss, export, erase), each behind its permission. STAFF and
MARKETING read and add notes; ADMIN (`profiles.change_customer`) also merges, exports, erases
and replays events.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from crm.accounts.models import User
from crm.admin_base import ReadOnlyAdmin, SettingsAdmin
from crm.admin_sites import club_admin_site
from crm.tenants.selectors import tenant_of_request
from profiles.envelope import MEMBER_STATUSES, SOURCES
from profiles.models import (
    Activity,
    ActivityCategory,
    ChurnModel,
    Customer,
    CustomerNote,
    CustomerStatus,
    DuplicateCandidate,
    DuplicateStatus,
    EngagementBand,
    EventStatus,
    LinkReason,
    RawEvent,
    RecordLink,
    ScoringConfig,
    TeeSlot,
)
from profiles.normalise import normalise_email, normalise_phone
from profiles.pnp import pnp_text
from profiles.scoring import scoring_param_docs, scoring_params, scoring_params_validate
from profiles.scoring_selectors import churn_method_summary, churn_model_current, customer_scores
from profiles.scoring_services import scoring_config_update
from profiles.selectors import customer_activities, customer_identities, customer_notes
from profiles.services import (
    customer_erase,
    customer_export,
    customer_merge,
    customer_note_add,
    customer_unmerge,
    duplicate_dismiss,
)
from profiles.tasks import apply_pending_events

TIMELINE_PAGE_SIZE = 50
SIDE_LIST_SIZE = 10  # handicap history and payments on the 360° page

CHANGE_CUSTOMER = "profiles.change_customer"
ADD_NOTE = "profiles.add_customernote"
CHANGE_DUPLICATE = "profiles.change_duplicatecandidate"
CHANGE_EVENT = "profiles.change_rawevent"

_CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]{6,}$")

_IDENTITY_TYPES = {
    "sclMemberId": "SCL member id",
    "teetimePlayerId": "TeeTime player id",
    "messagingContactId": "Messaging contact id",
    "authUserId": "Login (identity provider)",
    "email": "Email address",
    "phoneNumber": "Phone number",
    "guestForm": "Named on a booker's guest form",
}
_SOURCES = {
    "scl": "SCL (membership)",
    "teetime": "TeeTime (golf)",
    "messaging": "Messaging",
    "crm": "CRM",
}
# The timeline's channel and source columns, in words (the events carry codes).
_CHANNELS = {"EMAIL": "Email", "SMS": "SMS", "PUSH": "Push", "WHATSAPP": "WhatsApp",
             "ONLINE": "Online", "APP": "App", "PHONE": "Phone", "WALK_IN": "Walk-in"}  # fmt: skip
_TIMELINE_SOURCES = {"scl": "SCL", "teetime": "TeeTime", "messaging": "Messaging", "crm": "CRM"}
_MATCHED_BY = {
    "source": "The customer's first record",
    "sclMemberId": "Linked by SCL member id",
    "teetimePlayerId": "Linked by TeeTime player id",
    "messagingContactId": "Linked by Messaging contact id",
    "authUserId": "Linked by login id",
    "manual": "Merged by staff",
    "email+phone": "Same email address and phone number",
    "email": "Same email address",
    "phone": "Same phone number",
    "link": "Linked by the source system",
}
_DUPLICATE_REASONS = {
    "shared email": "They share an email address",
    "shared phone": "They share a phone number",
    "conflicting ids": "Linked, but they hold different ids of one kind",
}


# --- small helpers -----------------------------------------------------------------------------


def _money(cents: int | None, currency: str) -> str:
    """`-€1,234.50` from cents; a code we have no symbol for follows the number."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    amount = f"{Decimal(abs(cents)) / 100:,.2f}"
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}".strip()


def _actor(request: HttpRequest) -> str:
    """The signed-in staff user's email (the club admin lets no one else in)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user.email


def _boolean_icon(value: bool | None) -> str:
    """The admin's yes / no / unknown icon."""
    return display_for_value(value, "", boolean=True)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _customer_url(customer_id: Any) -> str:
    return reverse(f"{club_admin_site.name}:profiles_customer_change", args=[customer_id])


def _customer_link(customer: Customer | None) -> str:
    if customer is None:
        return "—"
    label = customer.display_name or _nameless(customer)
    return format_html('<a href="{}">{}</a>', _customer_url(customer.pk), label)


def _nameless(customer: Customer) -> str:
    if customer.status == CustomerStatus.DELETED:
        return "Erased customer"
    return f"Customer {str(customer.pk)[:8]}"


def _staff_merges(customer: Customer) -> list[dict[str, Any]]:
    """The staff merges still in force that this customer took part in, kept or merged, one
    entry per pair (a merge links one record of each side)."""
    links = (
        RecordLink.objects.filter(reason=LinkReason.MANUAL_MERGE, active=True)
        .filter(Q(winner=customer) | Q(loser=customer))
        .exclude(winner=None)
        .exclude(loser=None)
        .select_related("winner", "loser")
        .order_by("-created_at")
    )
    merges: dict[tuple, dict[str, Any]] = {}
    for link in links:
        kept_this = link.winner_id == customer.id
        other = link.loser if kept_this else link.winner
        assert other is not None  # the query leaves out links missing a side
        merges.setdefault(
            (link.winner_id, link.loser_id),
            {
                "winner_id": link.winner_id,
                "loser_id": link.loser_id,
                "kept_this": kept_this,
                "other_name": other.display_name or _nameless(other),
                "other_url": _customer_url(other.pk),
                "when": link.created_at,
                "by": link.created_by,
            },
        )
    return list(merges.values())


def _home_club(customer: Customer, tenant: Any) -> str:
    """The home club by name: TeeTime may name this club by its slug, id or schema."""
    home = customer.home_club_id
    if home and home in {str(tenant.pk), tenant.slug, tenant.schema_name}:
        return tenant.name
    return home


def _postal_address(customer: Customer) -> str:
    address = customer.address or {}
    parts = [address.get(key) for key in ("line1", "city", "postcode", "country")]
    return ", ".join(str(part) for part in parts if part)


def _category_counts(customer: Customer) -> dict[str, int]:
    """How many timeline entries the customer has per category (one query)."""
    rows = (
        Activity.objects.filter(customer=customer)
        .values_list("category")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def _open_duplicates(customer: Customer) -> QuerySet[DuplicateCandidate]:
    return (
        DuplicateCandidate.objects.filter(status=DuplicateStatus.OPEN)
        .filter(Q(customer_a=customer) | Q(customer_b=customer))
        .select_related("customer_a", "customer_b")
        .order_by("created_at", "id")
    )


def _merge_candidate(
    request: HttpRequest, candidate: DuplicateCandidate, *, keep: str = "a"
) -> Customer | None:
    """Merge a candidate's pair keeping `customer_a` (or `customer_b` with keep="b"); errors
    become messages."""
    candidate.refresh_from_db()  # an earlier merge in the same request may have decided it
    if candidate.status != DuplicateStatus.OPEN:
        messages.warning(request, f"{candidate} was already {candidate.status.lower()}.")
        return None
    ids = (candidate.customer_a_id, candidate.customer_b_id)
    if keep == "b":
        ids = ids[::-1]
    winner = Customer.objects.get(pk=ids[0])
    loser = Customer.objects.get(pk=ids[1])
    try:
        merged = customer_merge(winner=winner, loser=loser, actor_label=_actor(request))
    except ValidationError as exc:
        messages.error(
            request,
            f"{winner.display_name or winner.pk} and {loser.display_name or loser.pk} were not "
            f"merged: {' '.join(exc.messages)}",
        )
        return None
    return merged


def _dismiss_candidate(request: HttpRequest, candidate: DuplicateCandidate) -> bool:
    candidate.refresh_from_db()
    if candidate.status != DuplicateStatus.OPEN:
        messages.warning(request, f"{candidate} was already {candidate.status.lower()}.")
        return False
    duplicate_dismiss(candidate=candidate, actor_label=_actor(request))
    return True


class _FixedChoicesFilter(admin.SimpleListFilter):
    """A filter over a known, short list of values: no SELECT DISTINCT over a big table."""

    field: str = ""
    values: tuple[tuple[str, str], ...] = ()

    def lookups(self, request, model_admin):
        return self.values

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field: self.value()})
        return queryset


# --- customers ---------------------------------------------------------------------------------


class MembershipStatusFilter(_FixedChoicesFilter):
    title = "membership status"
    parameter_name = "membership_status"
    field = "membership_status"
    values = tuple((status, status.capitalize()) for status in MEMBER_STATUSES)


def code_label(code: str | None) -> str:
    """A code as people write it: `FIVE_DAY` -> "Five day", `No_consent` -> "No consent"."""
    if not code:
        return "—"
    words = str(code).replace("_", " ").replace("-", " ").split()
    return " ".join(words).capitalize()


class TierFilter(admin.SimpleListFilter):
    """The club's own tiers, as SCL names them (a short list: one DISTINCT over an index-free
    column is cheap next to the page's count)."""

    title = "membership tier"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        tiers = (
            Customer.objects.exclude(membership_tier="")
            .values_list("membership_tier", flat=True)
            .distinct()
            .order_by("membership_tier")[:50]
        )
        return [(tier, code_label(tier)) for tier in tiers]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(membership_tier=self.value())
        return queryset


class EngagementBandFilter(_FixedChoicesFilter):
    title = "engagement"
    parameter_name = "engagement"
    field = "score__engagement_band"
    values = tuple(EngagementBand.choices)


# Churn risk bands over the 0-100 score, for filtering and the list's badge.
CHURN_BANDS: tuple[tuple[str, str, int, int], ...] = (
    ("critical", "Critical (80-100)", 80, 100),
    ("high", "High (60-79)", 60, 79),
    ("medium", "Medium (40-59)", 40, 59),
    ("low", "Low (0-39)", 0, 39),
)


def churn_band_label(score: int | None) -> str:
    if score is None:
        return "Not scored yet"
    for _key, label, low, high in CHURN_BANDS:
        if low <= score <= high:
            return label.split(" (")[0]
    return "—"


class ChurnRiskFilter(admin.SimpleListFilter):
    title = "churn risk"
    parameter_name = "churn_risk"

    def lookups(self, request, model_admin):
        return [(key, label) for key, label, _low, _high in CHURN_BANDS]

    def queryset(self, request, queryset):
        for key, _label, low, high in CHURN_BANDS:
            if self.value() == key:
                return queryset.filter(
                    score__churn_risk_score__gte=low, score__churn_risk_score__lte=high
                )
        return queryset


class PayingNotPlayingFilter(admin.SimpleListFilter):
    title = "paying but not playing"
    parameter_name = "pnp"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(score__paying_not_playing=True)
        if self.value() == "no":
            return queryset.exclude(score__paying_not_playing=True)
        return queryset


class SegmentFilter(admin.SimpleListFilter):
    """Members of one segment. Segments are another app's: read through the app registry, so
    profiles does not import it."""

    title = "segment"
    parameter_name = "segment"

    def lookups(self, request, model_admin):
        try:
            segment = apps.get_model("segments", "Segment")
        except LookupError:
            return []
        return [(str(pk), name) for pk, name in segment.objects.order_by("name").values_list(
            "pk", "name")[:200]]  # fmt: skip

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        membership = apps.get_model("segments", "SegmentMembership")
        try:
            uuid.UUID(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(
            Exists(membership.objects.filter(customer=OuterRef("pk"), segment_id=self.value()))
        )


class DashboardFigureFilter(admin.SimpleListFilter):
    """The customers behind a number on the home dashboard: the same query that counted them
    (profiles.dashboard.figure_q), so the list's total is the tile's number."""

    title = "dashboard figure"
    parameter_name = "figure"

    def lookups(self, request, model_admin):
        from profiles.dashboard import FIGURE_LABELS

        return tuple(FIGURE_LABELS.items())

    def queryset(self, request, queryset):
        from crm.dashboard import dashboard_context
        from profiles.dashboard import FIGURE_LABELS, figure_q

        if self.value() in FIGURE_LABELS:
            return queryset.filter(figure_q(dashboard_context(), self.value())).exclude(
                status__in=(CustomerStatus.MERGED, CustomerStatus.DELETED)
            )
        return queryset


@admin.register(Customer, site=club_admin_site)
class CustomerAdmin(ReadOnlyAdmin):
    """Customers are built from events (ingestion); staff read them here, on one page each.
    The only writes are the services behind the page's buttons (deleting is "Erase personal
    data (GDPR)")."""

    change_form_template = "admin/profiles/customer/change_form.html"
    list_display = (
        "name", "contact", "tier", "stage", "engagement", "churn_risk", "last_activity",
    )  # fmt: skip
    list_filter = (
        "lifecycle_stage", TierFilter, MembershipStatusFilter, EngagementBandFilter,
        ChurnRiskFilter, PayingNotPlayingFilter, SegmentFilter, "status", DashboardFigureFilter,
    )  # fmt: skip
    list_filter_submit = True
    list_select_related = ("score",)
    search_fields = (
        "first_name", "last_name", "email", "phone_number", "=teetime_player_id",
        "=messaging_contact_id", "=auth_user_id",
    )  # fmt: skip
    search_help_text = (
        "Name, email, phone (any format), SCL member id, TeeTime player id, Messaging contact id "
        "or login id."
    )
    show_full_result_count = False
    # The record's bookkeeping, in the admin's own read-only rendering at the foot of the page;
    # everything above it is the 360° modules (see _customer_context).
    fieldsets = (
        ("Record", {"fields": ("id", "status", "merged_into", "created_at", "updated_at")}),
    )
    readonly_fields = ("id", "status", "merged_into", "created_at", "updated_at")

    class Media:
        css = {"all": ("profiles/admin.css",)}

    @admin.display(description="Name", ordering="last_name")
    def name(self, obj: Customer) -> str:
        return obj.display_name or _nameless(obj)

    @admin.display(description="Last activity", ordering="last_activity_at")
    def last_activity(self, obj: Customer):
        return obj.last_activity_at

    @admin.display(description="Email and phone", ordering="email")
    def contact(self, obj: Customer) -> str:
        # One column for both keeps the list inside a 1280 px screen.
        if obj.phone_number:
            return format_html(
                '{}<div class="c360-muted">{}</div>', obj.email or "—", obj.phone_number
            )
        return obj.email or "—"

    @admin.display(description="Tier", ordering="membership_tier")
    def tier(self, obj: Customer) -> str:
        if not obj.membership_tier:
            return "—"
        status = f" ({obj.membership_status.lower()})" if obj.membership_status else ""
        return f"{code_label(obj.membership_tier)}{status}"

    @admin.display(description="Stage", ordering="lifecycle_stage")
    def stage(self, obj: Customer) -> str:
        return obj.get_lifecycle_stage_display().capitalize()

    @admin.display(description="Engagement", ordering="score__engagement_score")
    def engagement(self, obj: Customer) -> str:
        score = getattr(obj, "score", None)
        if score is None or score.engagement_score is None:
            return "—"
        band = EngagementBand(score.engagement_band).label.split(" (")[0] if (
            score.engagement_band) else ""  # fmt: skip
        return f"{score.engagement_score} · {band}" if band else str(score.engagement_score)

    @admin.display(description="Churn risk", ordering="score__churn_risk_score")
    def churn_risk(self, obj: Customer) -> str:
        score = getattr(obj, "score", None)
        if score is None or score.churn_risk_score is None:
            return "—"
        pnp = " · paying, not playing" if score.paying_not_playing else ""
        return f"{score.churn_risk_score} · {churn_band_label(score.churn_risk_score)}{pnp}"

    def get_search_results(self, request, queryset, search_term):
        """Besides the search fields: an email in any case, a phone number as the club writes
        it (`087 123 4567` finds `+353871234567`) and an SCL member id, each exactly."""
        term = search_term.strip()
        exact = Q()
        if "@" in term:
            term = normalise_email(term)
            exact |= Q(email=term)
        if _PHONE_LIKE.match(term):
            tenant = getattr(request, "tenant", None)
            phone = normalise_phone(term, default_country=getattr(tenant, "country", "") or "")
            if phone:
                exact |= Q(phone_number=phone)
        if term.isdigit() and len(term) <= 18:  # bigint range
            exact |= Q(scl_member_id=int(term))
        results, may_have_duplicates = super().get_search_results(request, queryset, term)
        if exact:
            results = results | queryset.filter(exact)
        return results, may_have_duplicates

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/notes/add/", wrap(self.note_add_view),
                 name="profiles_customer_note_add"),
            path("<path:object_id>/export/", wrap(self.export_view),
                 name="profiles_customer_export"),
            path("<path:object_id>/erase/", wrap(self.erase_view),
                 name="profiles_customer_erase"),
            path("<path:object_id>/unmerge/", wrap(self.unmerge_view),
                 name="profiles_customer_unmerge"),
            *super().get_urls(),
        ]  # fmt: skip

    # -- the 360° page --

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._customer_context(request, obj))
            context.update(_scores_context(obj))
            context.update(_partners_context(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _customer_context(self, request: HttpRequest, customer: Customer) -> dict[str, Any]:
        tenant = tenant_of_request(request)
        currency = tenant.currency
        user = request.user

        category = request.GET.get("category") or ""
        if category not in ActivityCategory.values:
            category = ""
        counts = _category_counts(customer)
        paginator = Paginator(
            customer_activities(customer=customer, category=category or None), TIMELINE_PAGE_SIZE
        )
        page = paginator.get_page(request.GET.get("timeline_page"))
        timeline = [
            {
                "activity": activity,
                "amount": _money(activity.amount_cents, activity.currency or currency)
                if activity.amount_cents is not None
                else "",
                "channel": _CHANNELS.get(activity.channel, code_label(activity.channel))
                if activity.channel
                else "",
                "source": _TIMELINE_SOURCES.get(activity.source, activity.source),
            }
            for activity in page.object_list
        ]

        identities = [
            {
                **identity,
                "type_label": _IDENTITY_TYPES.get(identity["type"], identity["type"]),
                "source_label": _SOURCES.get(identity["source"], identity["source"]),
                "matched_by_text": _MATCHED_BY.get(identity["matchedBy"], identity["matchedBy"]),
            }
            for identity in customer_identities(customers=[customer])[customer.id]
        ]

        handicaps = customer_activities(customer=customer).filter(type="teetime.handicap.updated")
        recent_payments = customer_activities(customer=customer, category=ActivityCategory.PAYMENT)
        payments = [
            {
                "activity": activity,
                "amount": _money(activity.amount_cents, activity.currency or currency),
            }
            for activity in recent_payments[:SIDE_LIST_SIZE]
        ]

        duplicates = []
        for candidate in _open_duplicates(customer):
            other = (
                candidate.customer_b
                if candidate.customer_a_id == customer.id
                else candidate.customer_a
            )
            duplicates.append(
                {
                    "candidate": candidate,
                    "other": other,
                    "other_link": _customer_link(other),
                    "keeps": candidate.customer_a.display_name or _nameless(candidate.customer_a),
                    "keeps_this": candidate.customer_a_id == customer.id,
                    "reason_text": _DUPLICATE_REASONS.get(candidate.reason, candidate.reason),
                    "compare_url": reverse(
                        f"{self.admin_site.name}:profiles_duplicatecandidate_change",
                        args=[candidate.pk],
                    ),
                }
            )

        merged_into = (
            Customer.objects.filter(pk=customer.merged_into_id).first()
            if customer.merged_into_id
            else None
        )
        consent = [
            ("Email", customer.email_opt_in),
            ("SMS", customer.sms_opt_in),
            ("Push", customer.push_opt_in),
            ("WhatsApp", customer.whatsapp_opt_in),
        ]
        return {
            "title": customer.display_name or _nameless(customer),
            "subtitle": None,
            "customer": customer,
            "postal_address": _postal_address(customer),
            "tier_label": code_label(customer.membership_tier),
            "home_club": _home_club(customer, tenant),
            "club_tz": tenant.timezone,
            "merged_into": merged_into,
            "merged_into_url": _customer_url(merged_into.pk) if merged_into else "",
            "identities": identities,
            "lifetime_value": _money(customer.lifetime_value, currency),
            "payments": payments,
            "payment_count": counts.get(ActivityCategory.PAYMENT, 0),
            "handicap_history": handicaps[:SIDE_LIST_SIZE],
            "consent": [(label, _boolean_icon(value)) for label, value in consent],
            "suppression": [
                ("Email hard-bounced", _boolean_icon(customer.email_hard_bounced)),
                ("Complained (spam)", _boolean_icon(customer.complained)),
            ],
            "timeline": timeline,
            "timeline_page": page,
            "timeline_total": paginator.count,
            "timeline_category": category,
            "timeline_categories": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in ActivityCategory.choices
                if counts.get(value)
            ],
            "timeline_all_count": sum(counts.values()),
            "notes": customer_notes(customer=customer),
            "duplicates": duplicates,
            "merges": _staff_merges(customer),
            "unmerge_url": reverse(
                f"{self.admin_site.name}:profiles_customer_unmerge", args=[customer.pk]
            ),
            "can_admin": user.has_perm(CHANGE_CUSTOMER),
            "can_add_note": user.has_perm(ADD_NOTE) and customer.status != CustomerStatus.DELETED,
            "can_merge": user.has_perm(CHANGE_CUSTOMER),
            "can_dismiss": user.has_perm(CHANGE_DUPLICATE),
            "note_add_url": reverse(
                f"{self.admin_site.name}:profiles_customer_note_add", args=[customer.pk]
            ),
            "export_url": reverse(
                f"{self.admin_site.name}:profiles_customer_export", args=[customer.pk]
            ),
            "erase_url": reverse(
                f"{self.admin_site.name}:profiles_customer_erase", args=[customer.pk]
            ),
            "duplicate_merge_url": f"{self.admin_site.name}:profiles_duplicatecandidate_merge",
            "duplicate_dismiss_url": f"{self.admin_site.name}:profiles_duplicatecandidate_dismiss",
        }

    # -- the page's actions --

    def _get_customer(self, request: HttpRequest, object_id: str) -> Customer:
        if not self.has_view_permission(request):
            raise PermissionDenied
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            raise Http404("No such customer.")
        return customer

    def note_add_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._note_add)(request, object_id)

    def _note_add(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(ADD_NOTE):
            raise PermissionDenied
        customer = self._get_customer(request, object_id)
        if customer.status == CustomerStatus.DELETED:
            messages.error(request, "This customer's personal data was erased; no new notes.")
        else:
            try:
                customer_note_add(
                    customer=customer, body=request.POST.get("body", ""),
                    author_label=_actor(request),
                )  # fmt: skip
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, "Note added.")
        return HttpResponseRedirect(_customer_url(customer.pk) + "#notes")

    def unmerge_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._unmerge)(request, object_id)

    def _unmerge(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Undo a staff merge shown on this customer's page (the kept customer's or the merged
        one's): both come back as they were."""
        if not request.user.has_perm(CHANGE_CUSTOMER):
            raise PermissionDenied
        customer = self._get_customer(request, object_id)
        merge = next(
            (
                m
                for m in _staff_merges(customer)
                if str(m["winner_id"]) == request.POST.get("winner", "")
                and str(m["loser_id"]) == request.POST.get("loser", "")
            ),
            None,
        )
        if merge is None:
            messages.error(request, "There is no such merge on this customer to undo.")
            return HttpResponseRedirect(_customer_url(customer.pk))
        winner = Customer.objects.get(pk=merge["winner_id"])
        try:
            loser = customer_unmerge(
                winner=winner, loser_id=merge["loser_id"], actor_label=_actor(request)
            )
        except ValidationError as exc:
            messages.error(request, f"The merge was not undone: {' '.join(exc.messages)}")
            return HttpResponseRedirect(_customer_url(customer.pk))
        messages.success(
            request,
            f"Merge undone: {winner.display_name or _nameless(winner)} and "
            f"{loser.display_name or _nameless(loser)} are two customers again.",
        )
        return HttpResponseRedirect(_customer_url(customer.pk))

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(CHANGE_CUSTOMER):
            raise PermissionDenied
        customer = self._get_customer(request, object_id)
        document = customer_export(customer=customer, actor_label=_actor(request))
        response = JsonResponse(document, json_dumps_params={"indent": 2, "ensure_ascii": False})
        response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
        return response

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(CHANGE_CUSTOMER):
            raise PermissionDenied
        customer = self._get_customer(request, object_id)
        page = _customer_url(customer.pk)
        if customer.status == CustomerStatus.DELETED:
            messages.warning(request, "This customer's personal data is already erased.")
            return HttpResponseRedirect(page)
        if customer.status == CustomerStatus.MERGED and customer.merged_into_id:
            messages.warning(
                request,
                "This customer was merged into another: erase that customer, which erases this "
                "one too.",
            )
            return HttpResponseRedirect(_customer_url(customer.merged_into_id))
        if request.method == "POST":
            customer_erase(customer=customer, actor_label=_actor(request))
            messages.success(request, "Personal data erased. The customer is now DELETED.")
            return HttpResponseRedirect(page)
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase personal data?",
            "opts": self.opts,
            "customer": customer,
            "customer_name": customer.display_name or _nameless(customer),
            "customer_url": page,
            "record_count": customer.records.count(),
            "note_count": customer_notes(customer=customer).count(),
        }
        return TemplateResponse(request, "admin/profiles/customer/erase_confirmation.html", context)


# --- duplicate review queue --------------------------------------------------------------------


class DuplicateStatusFilter(admin.SimpleListFilter):
    """Open candidates unless asked otherwise: the queue is what still needs a decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*DuplicateStatus.choices, ("all", "All")]

    def choices(self, changelist):
        current = self.value() or DuplicateStatus.OPEN
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or DuplicateStatus.OPEN
        if value == "all":
            return queryset
        return queryset.filter(status=value)


def _comparison_rows(a: Customer, b: Customer, currency: str) -> list[dict[str, Any]]:
    def when(value: Any) -> str:
        return date_format(timezone.localtime(value), "j M Y, H:i") if value else "—"

    def day(value: Any) -> str:
        return date_format(value, "j M Y") if value else "—"

    def opt(value: bool) -> str:
        return "Opted in" if value else "Not opted in"

    fields: list[tuple[str, Any]] = [
        ("Name", lambda c: c.display_name or "—"),
        ("Email", lambda c: c.email or "—"),
        ("Phone", lambda c: c.phone_number or "—"),
        ("Date of birth", lambda c: day(c.date_of_birth)),
        ("SCL member id", lambda c: c.scl_member_id or "—"),
        ("TeeTime player id", lambda c: c.teetime_player_id or "—"),
        ("Messaging contact id", lambda c: c.messaging_contact_id or "—"),
        ("Membership tier", lambda c: code_label(c.membership_tier)),
        ("Membership status", lambda c: (c.membership_status or "Not a member").capitalize()),
        ("Member since", lambda c: day(c.member_since)),
        ("Lifecycle stage", lambda c: c.get_lifecycle_stage_display().capitalize()),
        ("Handicap index", lambda c: c.handicap if c.handicap is not None else "—"),
        ("Lifetime value", lambda c: _money(c.lifetime_value, currency)),
        ("Last activity", lambda c: when(c.last_activity_at)),
        ("Bookings (30 days)", lambda c: c.booking_count_30d),
        ("Email consent", lambda c: opt(c.email_opt_in)),
        ("SMS consent", lambda c: opt(c.sms_opt_in)),
        ("First seen", lambda c: when(c.created_at)),
    ]
    rows = []
    for label, read in fields:
        left, right = str(read(a)), str(read(b))
        rows.append(
            {
                "label": label,
                "a": left,
                "b": right,
                "same": left == right and left != "—",
                "differs": left != right and "—" not in (left, right),
            }
        )
    return rows


def duplicate_comparison(request: HttpRequest, candidate: DuplicateCandidate) -> dict[str, Any]:
    """What the side-by-side page shows of a candidate pair."""
    a, b = candidate.customer_a, candidate.customer_b
    currency = tenant_of_request(request).currency
    identities = customer_identities(customers=[a, b])
    values = {
        side: {identity["value"] for identity in identities[customer.id]}
        for side, customer in (("a", a), ("b", b))
    }
    shared = values["a"] & values["b"]

    def labelled(customer: Customer) -> list[dict[str, Any]]:
        return [
            {
                **identity,
                "type_label": _IDENTITY_TYPES.get(identity["type"], identity["type"]),
                "source_label": _SOURCES.get(identity["source"], identity["source"]),
                "matched_by_text": _MATCHED_BY.get(identity["matchedBy"], identity["matchedBy"]),
                "shared": identity["value"] in shared,
            }
            for identity in identities[customer.id]
        ]

    activity_counts = dict(
        Activity.objects.filter(customer__in=[a, b])
        .values_list("customer")
        .annotate(n=Count("id"))
        .order_by()
    )
    sides = [
        {
            "key": key,
            "customer": customer,
            "name": customer.display_name or _nameless(customer),
            "url": _customer_url(customer.pk),
            "identities": labelled(customer),
            "activities": activity_counts.get(customer.pk, 0),
            "mergeable": customer.status not in (CustomerStatus.MERGED, CustomerStatus.DELETED),
        }
        for key, customer in (("a", a), ("b", b))
    ]
    return {
        "candidate": candidate,
        "sides": sides,
        "rows": _comparison_rows(a, b, currency),
        "reason_text": _DUPLICATE_REASONS.get(candidate.reason, code_label(candidate.reason)),
        "shared": sorted(shared),
        "status_label": candidate.get_status_display(),
    }


@admin.register(DuplicateCandidate, site=club_admin_site)
class DuplicateCandidateAdmin(ReadOnlyAdmin):
    """Pairs that may be one person: decided through the merge and dismiss actions only."""

    list_display = (
        "review", "first_customer", "second_customer", "why", "status",
    )  # fmt: skip
    # Newest first; no date column, so the list fits a 1280 px screen (the comparison says
    # when the pair was found).
    list_display_links = None
    list_filter = (DuplicateStatusFilter, "reason")
    list_select_related = ("customer_a", "customer_b")
    ordering = ("-created_at", "-id")
    actions = ("merge_candidates", "dismiss_candidates")
    show_full_result_count = False
    fields = (
        "first_customer", "second_customer", "reason", "detail", "status", "created_at",
        "decided_at", "decided_by",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="First customer (kept on merge)", ordering="customer_a")
    def first_customer(self, obj: DuplicateCandidate) -> str:
        return _customer_link(obj.customer_a)

    @admin.display(description="Second customer")
    def second_customer(self, obj: DuplicateCandidate) -> str:
        return _customer_link(obj.customer_b)

    @admin.display(description="")
    def review(self, obj: DuplicateCandidate) -> str:
        url = reverse(f"{self.admin_site.name}:profiles_duplicatecandidate_change", args=[obj.pk])
        label = "Compare" if obj.status == DuplicateStatus.OPEN else "See"
        return format_html(
            '<a href="{}" class="dup-review" title="{} side by side">{}</a>', url, label, label
        )

    @admin.display(description="Why they were matched", ordering="reason")
    def why(self, obj: DuplicateCandidate) -> str:
        reason = _DUPLICATE_REASONS.get(obj.reason, code_label(obj.reason))
        return f"{reason}: {obj.detail}" if obj.detail else reason

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The pair side by side: field by field, identity by identity, with why they were
        matched and the buttons that decide it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        candidate = self.get_object(request, unquote(object_id))
        if candidate is None:
            raise Http404("No such duplicate candidate.")
        context = {
            **self.admin_site.each_context(request),
            **duplicate_comparison(request, candidate),
            "opts": self.opts,
            "original": candidate,
            "title": "Are these the same person?",
            "can_merge": self.has_merge_permission(request)
            and candidate.status == DuplicateStatus.OPEN,
            "can_dismiss": self.has_dismiss_permission(request)
            and candidate.status == DuplicateStatus.OPEN,
            "merge_url": reverse(
                f"{self.admin_site.name}:profiles_duplicatecandidate_merge", args=[candidate.pk]
            ),
            "dismiss_url": reverse(
                f"{self.admin_site.name}:profiles_duplicatecandidate_dismiss",
                args=[candidate.pk],
            ),
            "queue_url": reverse(f"{self.admin_site.name}:profiles_duplicatecandidate_changelist"),
        }
        return TemplateResponse(request, "admin/profiles/duplicatecandidate/compare.html", context)

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_CUSTOMER)

    def has_dismiss_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_DUPLICATE)

    @admin.action(description="Merge (keep the first)", permissions=["merge"])
    def merge_candidates(self, request, queryset) -> None:
        merged = [c for c in queryset.order_by("id") if _merge_candidate(request, c) is not None]
        if merged:
            messages.success(request, f"Merged {len(merged)} pair(s).")

    @admin.action(description="Dismiss (not the same person)", permissions=["dismiss"])
    def dismiss_candidates(self, request, queryset) -> None:
        dismissed = sum(_dismiss_candidate(request, c) for c in queryset.order_by("id"))
        if dismissed:
            messages.success(request, f"Dismissed {dismissed} candidate(s).")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/merge/", wrap(self.merge_view),
                 name="profiles_duplicatecandidate_merge"),
            path("<path:object_id>/dismiss/", wrap(self.dismiss_view),
                 name="profiles_duplicatecandidate_dismiss"),
            *super().get_urls(),
        ]  # fmt: skip

    def _candidate(self, request: HttpRequest, object_id: str) -> DuplicateCandidate:
        candidate = self.get_object(request, unquote(object_id))
        if candidate is None:
            raise Http404("No such duplicate candidate.")
        return candidate

    def merge_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._merge)(request, object_id)

    def _merge(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_merge_permission(request):
            raise PermissionDenied
        candidate = self._candidate(request, object_id)
        keep = request.POST.get("keep") or "a"
        if keep not in ("a", "b"):
            messages.error(request, "Choose which customer to keep: the first or the second.")
            return HttpResponseRedirect(_safe_next(request, _customer_url(candidate.customer_a_id)))
        winner = _merge_candidate(request, candidate, keep=keep)
        if winner is not None:
            messages.success(request, f"Merged; {winner} is the customer that stays.")
            return HttpResponseRedirect(_customer_url(winner.pk))
        return HttpResponseRedirect(_safe_next(request, _customer_url(candidate.customer_a_id)))

    def dismiss_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._dismiss)(request, object_id)

    def _dismiss(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_dismiss_permission(request):
            raise PermissionDenied
        candidate = self._candidate(request, object_id)
        if _dismiss_candidate(request, candidate):
            messages.success(request, "Dismissed: they stay two customers.")
        return HttpResponseRedirect(_safe_next(request, _customer_url(candidate.customer_a_id)))


# --- event log and dead letters ----------------------------------------------------------------


class EventSourceFilter(_FixedChoicesFilter):
    title = "source"
    parameter_name = "source"
    field = "source"
    values = tuple((source, _SOURCES[source]) for source in SOURCES)


class TransportFilter(_FixedChoicesFilter):
    title = "transport"
    parameter_name = "transport"
    field = "transport"
    # What profiles.ingestion is called with (the REST API, signed webhooks, replay_events).
    values = (("rest", "REST API"), ("webhook", "Signed webhook"), ("replay", "Replay"))


REPLAYABLE = (EventStatus.PARKED, EventStatus.UNKNOWN)


@admin.register(RawEvent, site=club_admin_site)
class RawEventAdmin(ReadOnlyAdmin):
    """The event log as received: replay is the one write."""

    list_display = (
        "source", "type", "event_id", "occurred_at", "received_at", "status", "attempts",
        "transport",
    )  # fmt: skip
    list_display_links = ("type",)
    list_filter = ("status", EventSourceFilter, TransportFilter)
    search_fields = ("=event_id", "type")
    search_help_text = "Exact event id, or part of an event type."
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("replay_events",)
    fieldsets = (
        ("Event", {"fields": ("source", "type", "received_type", "version", "event_id",
                              "occurred_at", "received_at", "transport", "customer")}),
        ("Processing", {"fields": ("status", "attempts", "applied_at", "error")}),
        ("Envelope, as received", {"fields": ("pretty_envelope",)}),
    )  # fmt: skip
    readonly_fields = (
        "source", "type", "received_type", "version", "event_id", "occurred_at", "received_at",
        "transport", "customer", "status", "attempts", "applied_at", "error", "pretty_envelope",
    )  # fmt: skip

    class Media:
        css = {"all": ("profiles/admin.css",)}

    @admin.display(description="Envelope")
    def pretty_envelope(self, obj: RawEvent) -> str:
        text = json.dumps(obj.envelope, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre class="c360-pre">{}</pre>', text)

    @admin.display(description="Last error")
    def error(self, obj: RawEvent) -> str:
        if not obj.last_error:
            return "—"
        return format_html('<pre class="c360-pre">{}</pre>', obj.last_error)

    @admin.display(description="Customer")
    def customer(self, obj: RawEvent) -> str:
        record = obj.record  # no query when record_id is None
        if record is None or record.customer_id is None:
            return "—"
        return _customer_link(record.customer)

    def get_queryset(self, request):
        # The list never shows the envelope; leave the big JSON column out of it.
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("envelope")
        return queryset

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_EVENT)

    @admin.action(description="Replay selected parked or unknown events", permissions=["replay"])
    def replay_events(self, request, queryset) -> None:
        """Back to PENDING in one UPDATE, then one apply task once that commits. To replay every
        parked event, filter by status Parked and select all."""
        count = queryset.filter(status__in=REPLAYABLE).update(
            status=EventStatus.PENDING, attempts=0, last_error=""
        )
        if not count:
            messages.warning(request, "Only parked or unknown events can be replayed.")
            return
        transaction.on_commit(lambda: apply_pending_events.delay())
        messages.success(request, f"Queued {count} event(s) to be applied again.")


# --- notes -------------------------------------------------------------------------------------


@admin.register(CustomerNote, site=club_admin_site)
class CustomerNoteAdmin(ReadOnlyAdmin):
    """Notes are added on the customer's page; this is the club-wide list."""

    list_display = ("created_at", "customer_name", "excerpt", "author_label")
    list_select_related = ("customer",)
    search_fields = ("body", "author_label")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    fields = ("customer_name", "body", "author_label", "created_at")
    readonly_fields = fields

    @admin.display(description="Customer", ordering="customer__last_name")
    def customer_name(self, obj: CustomerNote) -> str:
        return _customer_link(obj.customer)

    @admin.display(description="Note")
    def excerpt(self, obj: CustomerNote) -> str:
        return obj.body if len(obj.body) <= 100 else obj.body[:99] + "…"


# --- scores --------------------------------------------------------------------------------------


def _scores_context(customer: Customer) -> dict[str, Any]:
    """The 360° page's scores panel: engagement and its parts, churn risk with its reasons and
    which score produced it (the model's version and quality, or the rules and why), and the
    paying-but-not-playing flag with its numbers."""
    score = customer_scores(customer_ids=[customer.pk])[customer.pk]
    if score is None:
        return {"scores": None}
    weights = scoring_params().engagement_weights
    components = [
        {
            "label": label,
            "points": (score.engagement_components or {}).get(name),
            "weight": weights[name],
        }
        for name, label in (
            ("recency", "Recency"),
            ("frequency", "Frequency"),
            ("monetary", "Spend"),
            ("breadth", "Breadth"),
            ("depth", "Email depth"),
        )
    ]
    if score.churn_method == "MODEL":
        version = score.churn_model_version  # None matches no model: versions are never null
        used = ChurnModel.objects.filter(version=version).first() if version is not None else None
        method = churn_method_summary(used)
    else:
        method = churn_method_summary(churn_model_current())
    return {
        "scores": score,
        "score_components": components,
        "score_band": score.get_engagement_band_display(),
        "score_reasons": score.churn_risk_reasons or [],
        "churn_band": churn_band_label(score.churn_risk_score),
        "score_method": method if score.churn_method else None,
        "score_pnp_text": pnp_text(score.pnp_details or {}),
    }


@admin.register(ChurnModel, site=club_admin_site)
class ChurnModelAdmin(ReadOnlyAdmin):
    """Every training run of the club's churn model (weekly), newest first: the newest decides
    whether churn risk comes from the model or from the rules."""

    list_display = (
        "version", "status", "trained_at", "cutoff", "roc_auc_shown", "top_decile_shown",
        "train_lapses", "test_positives",
    )  # fmt: skip
    list_filter = ("status",)
    ordering = ("-version",)
    fields = (
        "version", "status", "notes", "trained_at", "cutoff", "horizon_days", "test_snapshot",
        "roc_auc", "precision_top_decile", "base_rate", "train_rows", "train_positives",
        "train_lapses", "test_rows", "test_positives", "algorithm", "coefficients_shown",
        "seconds",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="ROC AUC", ordering="roc_auc")
    def roc_auc_shown(self, obj: ChurnModel) -> str:
        return f"{obj.roc_auc:.3f}" if obj.roc_auc is not None else "—"

    @admin.display(description="Precision, top 10%", ordering="precision_top_decile")
    def top_decile_shown(self, obj: ChurnModel) -> str:
        if obj.precision_top_decile is None:
            return "—"
        return f"{obj.precision_top_decile:.0%} (base rate {obj.base_rate or 0:.0%})"

    @admin.display(description="Coefficients (standardised features)")
    def coefficients_shown(self, obj: ChurnModel) -> str:
        parameters = obj.parameters or {}
        pairs = zip(
            parameters.get("features", []), parameters.get("coefficients", []), strict=False
        )
        lines = "".join(
            format_html("<tr><td>{}</td><td>{}</td></tr>", name, f"{value:+.3f}")
            for name, value in sorted(pairs, key=lambda item: -abs(item[1]))
        )
        return format_html("<table>{}</table>", mark_safe(lines)) if lines else "—"  # noqa: S308


class ScoringConfigForm(forms.ModelForm):
    overrides = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text='Only the parameters to change, e.g. {"recency_zero_days": 90, '
        '"churn_horizon_days": 60}. The others keep the defaults listed below.',
    )

    class Meta:
        model = ScoringConfig
        fields = ("overrides",)

    def clean_overrides(self) -> dict:
        overrides = self.cleaned_data.get("overrides") or {}
        errors = scoring_params_validate(overrides)
        if errors:
            raise ValidationError([f"{key}: {message}" for key, message in errors.items()])
        return overrides


@admin.register(ScoringConfig, site=club_admin_site)
class ScoringConfigAdmin(SettingsAdmin):
    """The club's scoring settings: overrides of profiles.scoring.ScoringParams (ADMIN). One
    row; to go back to the defaults, clear the overrides."""

    form = ScoringConfigForm
    fields = ("overrides", "parameters", "updated_at", "updated_by")
    readonly_fields = ("parameters", "updated_at", "updated_by")
    list_display = ("__str__", "updated_at", "updated_by")

    @admin.display(description="Every parameter (default → in use)")
    def parameters(self, obj: ScoringConfig | None) -> str:
        current = scoring_params()
        rows = "".join(
            format_html(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                item["name"], item["default"], getattr(current, item["name"]), item["doc"],
            )
            for item in scoring_param_docs()
        )  # fmt: skip
        head = "<tr><th>name</th><th>default</th><th>in use</th><th>meaning</th></tr>"
        return format_html("<table>{}{}</table>", mark_safe(head), mark_safe(rows))  # noqa: S308

    def save_model(self, request, obj, form, change) -> None:
        saved = scoring_config_update(
            overrides=form.cleaned_data.get("overrides") or {}, actor_label=_actor(request)
        )
        obj.pk, obj.updated_at, obj.updated_by = saved.pk, saved.updated_at, saved.updated_by


def _partners_context(customer: Customer) -> dict[str, Any]:
    """The four-ball on the 360° page: rounds as a guest and whose, who they play with most,
    and, for a guest the club cannot name yet, "Guest of <booker>" (profiles.rounds)."""
    from profiles.rounds import customer_guest_summary, guest_label

    summary = customer_guest_summary(customer=customer)
    partners = {
        "rounds_as_guest": summary["roundsAsGuest"],
        "last_as_guest": summary["lastPlayedAsGuestAt"],
        "hosts": [
            {**host, "link": _customer_url(host["customerId"])}
            for host in summary["playedAsGuestOf"]
        ],
        "plays_with": [
            {**p, "link": _customer_url(p["customerId"])} for p in summary["playsWithMost"]
        ],
    }
    anonymous = not customer.display_name and summary["roundsAsGuest"]
    return {
        "partners": partners,
        "guest_label": guest_label(customer=customer) if anonymous else "",
    }


@admin.register(TeeSlot, site=club_admin_site)
class TeeSlotAdmin(ReadOnlyAdmin):
    """The tee sheet as TeeTime last described it (teetime.slot.availability; read-only). The
    gap filler's work on it is under Campaigns → tee-sheet gaps."""

    list_display = ("tee_time", "course_name", "holes", "capacity", "booked", "free",
                    "member_only", "max_handicap")  # fmt: skip
    list_filter = ("course_name", "member_only")
    date_hierarchy = "tee_time"
    ordering = ("tee_time",)

    @admin.display(description="Free places")
    def free(self, obj: TeeSlot) -> int:
        return obj.free_places
