"""Reads of the Social Publisher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, Prefetch, QuerySet, Value
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay
from django.urls import reverse
from django.utils import timezone

from social.models import (
    AccountStatus,
    ApprovalStatus,
    CompetitionPromotion,
    ItemStatus,
    Network,
    Post,
    PostImage,
    PostVariant,
    PromotionItem,
    PromotionSettings,
    SocialAccount,
    VariantStatus,
)
from social.rules import RULES

MOVABLE = (VariantStatus.DRAFT, VariantStatus.PENDING_APPROVAL, VariantStatus.SCHEDULED)


def account_list() -> QuerySet[SocialAccount]:
    return SocialAccount.objects.order_by("network", "name")


def account_get(*, account_id: Any) -> SocialAccount | None:
    return SocialAccount.objects.filter(id=account_id).first()


def post_list(*, status: str | None = None, network: str | None = None) -> QuerySet[Post]:
    """Newest first, each with its variants in one extra query per page."""
    posts = Post.objects.order_by("-created_at")
    if status:
        posts = posts.filter(variants__status=status.upper())
    if network:
        posts = posts.filter(variants__network=network.lower())
    if status or network:
        posts = posts.distinct()
    return posts.prefetch_related(
        Prefetch("variants", queryset=PostVariant.objects.order_by("network"))
    )


def post_get(*, post_id: Any) -> Post | None:
    return post_list().filter(id=post_id).first()


def image_get(*, image_id: Any) -> PostImage | None:
    return PostImage.objects.filter(id=image_id).first()


# --- Competition auto-promotion ----------------------------------------------------------------


def promotion_list(*, status: str | None = None) -> QuerySet[CompetitionPromotion]:
    """Plans, newest first, each with its items (one extra query per page)."""
    plans = CompetitionPromotion.objects.order_by("-created_at")
    if status:
        plans = plans.filter(status=status.upper())
    return plans.prefetch_related(
        Prefetch("items", queryset=PromotionItem.objects.order_by("scheduled_for", "key"))
    )


def promotion_get(*, promotion_id: Any) -> CompetitionPromotion | None:
    return promotion_list().filter(id=promotion_id).first()


def promotion_item_get(*, promotion_id: Any, item_id: Any) -> PromotionItem | None:
    return PromotionItem.objects.filter(promotion_id=promotion_id, id=item_id).first()


def promotion_settings_get() -> PromotionSettings:
    """The club's settings; the defaults (unsaved) until an ADMIN first changes them."""
    return PromotionSettings.objects.filter(id=1).first() or PromotionSettings(id=1)


def promotion_settings_account_ids(*, settings: PromotionSettings) -> list[Any]:
    if settings._state.adding:
        return []
    return list(settings.accounts.order_by("network", "name").values_list("id", flat=True))


# --- Networks: configured (app credentials) and connected ---------------------------------------


@dataclass(frozen=True)
class NetworkState:
    """What the club can do with one network: `configured` when the platform has the app
    credentials (settings) to connect it, `connected` when the club has a connected account."""

    network: str
    label: str
    configured: bool
    connected: bool
    accounts: list[SocialAccount]
    how_to_connect: str


def network_configured(*, network: str) -> bool:
    from django.conf import settings

    if network == Network.X:
        return bool(settings.SOCIAL_X_CLIENT_ID)
    # Instagram Business accounts are connected through a Facebook login (the same Meta app).
    return bool(settings.SOCIAL_FACEBOOK_APP_ID and settings.SOCIAL_FACEBOOK_APP_SECRET)


def _how_to_connect(network: str, configured: bool) -> str:
    label = Network(network).label
    if not configured:
        settings_names = (
            "SOCIAL_X_CLIENT_ID and SOCIAL_X_CLIENT_SECRET"
            if network == Network.X
            else "SOCIAL_FACEBOOK_APP_ID and SOCIAL_FACEBOOK_APP_SECRET"
        )
        return (
            f"{label} is not set up on this platform yet: the platform's operator adds the "
            f"app credentials ({settings_names}). Until then posts for {label} can be written, "
            "planned and approved as drafts."
        )
    if network == Network.X:
        return (
            f"A club ADMIN opens Social accounts, chooses 'Connect {label}', signs in to X "
            "and allows the club's app to post."
        )
    return (
        f"A club ADMIN opens Social accounts, chooses 'Connect {label}', signs in with "
        "Facebook and picks the club's Page"
        + (" (with its Instagram Business account linked)." if network == "instagram" else ".")
    )


def network_states() -> list[NetworkState]:
    """Every network, in a fixed order, with its connected accounts (one query)."""
    connected: dict[str, list[SocialAccount]] = {}
    for account in SocialAccount.objects.filter(status=AccountStatus.CONNECTED).order_by("name"):
        connected.setdefault(account.network, []).append(account)
    states = []
    for network in Network:
        configured = network_configured(network=network.value)
        accounts = connected.get(network.value, [])
        states.append(
            NetworkState(
                network=network.value,
                label=network.label,
                configured=configured,
                connected=bool(accounts),
                accounts=accounts,
                how_to_connect=_how_to_connect(network.value, configured),
            )
        )
    return states


# --- The content calendar ------------------------------------------------------------------------

CALENDAR_MAX_DAYS = 92


class CalendarKind:
    POST = "post"
    PROMOTION_ITEM = "promotion_item"
    CAMPAIGN_SEND = "campaign_send"
    LABELS = {
        "post": "Social post",
        "promotion_item": "Competition promotion",
        "campaign_send": "Campaign send",
    }


@dataclass(frozen=True)
class CalendarEntry:
    """One thing on the content calendar. `id` is the post's, the promotion item's or the
    campaign's; `movable`: a post part that has not gone out (drag to reschedule)."""

    kind: str
    id: str
    title: str
    start: datetime
    status: str
    status_label: str
    link: str
    networks: tuple[str, ...] = ()
    movable: bool = False

    @property
    def kind_label(self) -> str:
        return CalendarKind.LABELS[self.kind]


def _post_status_label(variant: PostVariant) -> str:
    post = variant.post
    if variant.status == VariantStatus.DRAFT:
        if post.approval_status == ApprovalStatus.PENDING:
            label = "Draft, waiting for approval"
        elif post.approval_status == ApprovalStatus.APPROVED:
            label = "Draft, approved"
        else:
            label = "Draft"
        return label
    return variant.get_status_display()


def calendar_entries(*, start: datetime, end: datetime) -> list[CalendarEntry]:
    """Posts (planned, scheduled or published), competition promotion items not yet handed
    over (those that were show as their post or campaign) and campaign sends in
    [start, end), by time. Three queries plus the campaigns app's one."""
    from campaigns.selectors import campaign_sends_between

    now = timezone.now()
    entries: list[CalendarEntry] = []
    variants = (
        PostVariant.objects.select_related("post")
        .exclude(status=VariantStatus.CANCELLED)
        .annotate(at=Coalesce("published_at", "scheduled_at"))
        .filter(at__gte=start, at__lt=end)
        .order_by("at", "post_id", "network")
    )
    grouped: dict[tuple, list[PostVariant]] = {}
    for variant in variants:
        # One entry per post, time and state: a post going to three networks at once is one
        # thing on the calendar.
        label = _post_status_label(variant)
        grouped.setdefault((variant.post_id, variant.at, label), []).append(variant)
    for (post_id, at, label), parts in grouped.items():
        first = parts[0]
        missing = [RULES[v.network].label for v in parts if v.account_id is None]
        if missing:
            label = f"{label}; no account yet: {', '.join(missing)}"
        text = first.post.title or first.text[:60] or "Untitled post"
        entries.append(
            CalendarEntry(
                kind=CalendarKind.POST,
                id=str(post_id),
                title=f"{text} · {', '.join(RULES[v.network].label for v in parts)}",
                start=at,
                status=first.status,
                status_label=label,
                link=reverse("club_admin:social_post_change", args=[post_id]),
                networks=tuple(v.network for v in parts),
                movable=all(v.status in MOVABLE for v in parts) and at >= now,
            )
        )
    items = (
        PromotionItem.objects.select_related("promotion")
        .filter(scheduled_for__gte=start, scheduled_for__lt=end, post__isnull=True)
        .filter(campaign__isnull=True)
        .exclude(status__in=[ItemStatus.CANCELLED, ItemStatus.SKIPPED])
        .order_by("scheduled_for", "key")
    )
    for item in items:
        assert item.scheduled_for is not None  # the query keeps only items with a time
        entries.append(
            CalendarEntry(
                kind=CalendarKind.PROMOTION_ITEM,
                id=str(item.id),
                title=f"{item.promotion}: {item.get_kind_display()} ({item.get_channel_display()})",
                start=item.scheduled_for,
                status=item.status,
                status_label=item.get_status_display(),
                link=reverse(
                    "club_admin:social_competitionpromotion_change", args=[item.promotion_id]
                ),
            )
        )
    for row in campaign_sends_between(start=start, end=end):
        channels = ", ".join(c.title() if c != "SMS" else c for c in row["channels"])
        entries.append(
            CalendarEntry(
                kind=CalendarKind.CAMPAIGN_SEND,
                id=str(row["id"]),
                title=f"{row['name']} ({channels})" if channels else row["name"],
                start=row["at"],
                status=row["status"],
                status_label=row["status_label"],
                link=reverse("club_admin:campaigns_campaign_change", args=[row["id"]]),
            )
        )
    entries.sort(key=lambda e: (e.start, e.kind, e.id, e.networks))
    return entries


# --- Best posting times ---------------------------------------------------------------------------

BEST_TIMES_MIN_POSTS = 8
BEST_TIMES_MIN_PER_SLOT = 2
BEST_TIMES_LOOKBACK_DAYS = 365
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass(frozen=True)
class BestTimes:
    """The club's own best weekday/hour slots by average interactions (likes + comments +
    shares) of its published posts, or why there is too little to say (`message`)."""

    posts_measured: int
    slots: list[dict[str, Any]]
    message: str


def best_posting_times(*, tz: ZoneInfo, limit: int = 3) -> BestTimes:
    """One grouped query over published posts with engagement figures from the last year,
    by weekday and hour in the club's time zone."""
    since = timezone.now() - timedelta(days=BEST_TIMES_LOOKBACK_DAYS)
    measured = PostVariant.objects.filter(
        status=VariantStatus.PUBLISHED,
        published_at__gte=since,
        metrics_fetched_at__isnull=False,
    )
    interactions = (
        Coalesce("likes", Value(0)) + Coalesce("comments", Value(0)) + Coalesce("shares", Value(0))
    )
    grouped = list(
        measured.annotate(
            weekday=ExtractIsoWeekDay("published_at", tzinfo=tz),
            hour=ExtractHour("published_at", tzinfo=tz),
        )
        .values("weekday", "hour")
        .annotate(posts=Count("id"), average=Avg(interactions))
        .order_by()
    )
    total = sum(row["posts"] for row in grouped)
    if total < BEST_TIMES_MIN_POSTS:
        return BestTimes(
            posts_measured=total,
            slots=[],
            message=(
                "Not enough to go on yet: the club's best posting times show once "
                f"{BEST_TIMES_MIN_POSTS} published posts have engagement figures "
                f"(in the last year: {total})."
            ),
        )
    slots = sorted(
        (row for row in grouped if row["posts"] >= BEST_TIMES_MIN_PER_SLOT),
        key=lambda row: (-row["average"], row["weekday"], row["hour"]),
    )[:limit]
    if not slots:
        return BestTimes(
            posts_measured=total,
            slots=[],
            message="Your posts are spread too thinly over the week to compare times yet.",
        )
    return BestTimes(
        posts_measured=total,
        slots=[
            {
                "weekday": row["weekday"],
                "hour": row["hour"],
                "label": f"{WEEKDAYS[row['weekday'] - 1]} {row['hour']:02d}:00",
                "posts": row["posts"],
                "averageInteractions": round(float(row["average"]), 1),
            }
            for row in slots
        ],
        message=f"From {total} published posts with engagement figures in the last year.",
    )


def calendar_range(
    *, start: str | None, end: str | None, tz: ZoneInfo, names: tuple[str, str] = ("from", "to")
) -> tuple[datetime, datetime]:
    """Parse a calendar range: ISO dates or date-times; without an offset they are the
    club's wall time; a date `to` includes that day. Errors name the field."""
    from django.core.exceptions import ValidationError
    from django.utils.dateparse import parse_date, parse_datetime

    def parse(value: str | None, name: str, is_end: bool) -> datetime:
        if not value:
            raise ValidationError({name: "Give a date (YYYY-MM-DD) or a date and time (ISO 8601)."})
        try:
            moment = parse_datetime(value)
            day = None if moment else parse_date(value)
        except ValueError:
            moment = day = None
        if moment is None:
            if day is None:
                raise ValidationError({name: f"'{value[:40]}' is not a date or a date and time."})
            moment = datetime.combine(day, datetime.min.time()) + timedelta(days=is_end)
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=tz)
        return moment

    first = parse(start, names[0], False)
    last = parse(end, names[1], True)
    if last <= first:
        raise ValidationError({names[1]: f"'{names[1]}' must be after '{names[0]}'."})
    if last - first > timedelta(days=CALENDAR_MAX_DAYS):
        raise ValidationError(
            {names[1]: f"At most {CALENDAR_MAX_DAYS} days at a time; ask for a shorter range."}
        )
    return first, last
