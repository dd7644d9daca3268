"""Writes of competition auto-promotion: reading the competition events, keeping each plan in
step with them, and the staff's edits.

How it runs (beat, every minute per club: `social.promote_competitions`):

1. `promotion_events_read` reads the club's event log (`profiles_rawevent`) after its cursor,
   in id order, and stops before the first event not yet applied (entries need their customer)
   or received less than `SOCIAL_PROMOTION_SETTLE_SECONDS` ago (an insert committed late can
   then never fall behind the cursor). Competition events name no customer and leave no
   timeline row, so the log, not `profiles_activity`, is what is read. Entries and scores are
   upserted set-based (newest event per player wins, whatever the arrival order); published and
   updated competitions keep their newest payload; a club with auto-promotion on gets a plan
   for each new one. The cursor moves in the same transaction: a crash repeats nothing, and a
   repeated event changes nothing.
2. `promotion_sync` brings one plan to what it should be now (social.promotion decides the
   dates and texts): items not yet gone out are created, re-rendered, re-timed or withdrawn;
   posts go through social.services (validation, approval, publishing at most once), email
   and SMS through the campaign services (audience evaluated when each campaign starts, the
   ledger checks consent, caps and quiet hours). Each item's `fingerprint` records what was
   handed over, so running it again hands over nothing new. Plans marked `needs_sync`, and
   plans with an item due (a results post waiting for the scores, a post or campaign whose
   outcome is awaited), are synced.

Audience of the campaigns: a DYNAMIC segment per competition of the customers who may enter
(social.promotion.eligibility_rules), minus a STATIC segment of its entrants, kept in step
with the entry events. Each reminder is its own ONE_TIME campaign, so whoever entered by
the time it starts is left out.

Never from signals: only this cursor and the staff's own edits change a plan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time as monotonic_time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from campaigns.services import (
    AudienceInput,
    CampaignInput,
    CampaignStateError,
    campaign_cancel,
    campaign_create,
    campaign_schedule,
    campaign_send_now,
    campaign_update,
)
from crm.tenants.selectors import tenant_current
from profiles.models import (
    Customer,
    CustomerStatus,
    EventStatus,
    RawEvent,
    RecordKind,
    SourceRecord,
)
from segments.models import SegmentMembership, SegmentType
from segments.services import (
    segment_create,
    segment_members_add,
    segment_members_remove,
    segment_update,
)
from social.models import (
    EDITABLE_STATUSES,
    AccountStatus,
    CompetitionEntry,
    CompetitionPromotion,
    CompetitionScore,
    ItemChannel,
    ItemKind,
    ItemStatus,
    Network,
    Post,
    PostImage,
    PromotionEventCursor,
    PromotionItem,
    PromotionSettings,
    PromotionStatus,
    ScheduleMode,
    SocialAccount,
    VariantStatus,
)
from social.promotion import (
    MIN_GAP_AFTER_ANNOUNCEMENT,
    RESULTS_MAX_AGE,
    Competition,
    announcement_at,
    competition_from,
    eligibility_rules,
    few_places_threshold,
    fit_text,
    item_key,
    origin_key,
    reminder_at,
    render,
    results_at,
    unknown_placeholders,
    values_for,
)
from social.rules import RULES, ImageInfo, variant_errors
from social.services import (
    Actor,
    VariantInput,
    image_upload,
    post_cancel,
    post_create,
    post_schedule,
    post_update,
)

logger = logging.getLogger(__name__)

ACTOR_LABEL = "competition auto-promotion"
# Not an ADMIN: with the club's approval step on, its posts wait for an ADMIN like MARKETING's.
PROMOTER = Actor(label=ACTOR_LABEL, is_admin=False)

PUBLISHED = "teetime.competition.published"
UPDATED = "teetime.competition.updated"
CANCELLED = "teetime.competition.cancelled"
ENTERED = "teetime.competition.entry.created"
WITHDRAWN = "teetime.competition.entry.withdrawn"
SCORED = "teetime.score.posted"
WATCHED_TYPES = (PUBLISHED, UPDATED, CANCELLED, ENTERED, WITHDRAWN, SCORED)

# Raw events looked at per statement; a run reads windows until it is out of time.
WINDOW = 5_000
SYNC_BATCH = 50
TIME_BUDGET_SECONDS = 240
# How long an item's outcome (published? sent?) is waited for after its time.
OUTCOME_WAIT = timedelta(days=7)
IMAGE_TIMEOUT = (5, 20)
IMAGE_MAX_BYTES = 10 * 1024 * 1024

FINAL = (ItemStatus.DONE, ItemStatus.CANCELLED, ItemStatus.FAILED)
ASKS_TO_ENTER = (ItemKind.ANNOUNCEMENT, ItemKind.REMINDER, ItemKind.FEW_PLACES)
OPEN_VARIANT = (
    VariantStatus.DRAFT,
    VariantStatus.PENDING_APPROVAL,
    VariantStatus.SCHEDULED,
    VariantStatus.PUBLISHING,
    VariantStatus.NEEDS_REVIEW,
)
CAMPAIGN_EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)


def _settle() -> timedelta:
    return timedelta(seconds=getattr(django_settings, "SOCIAL_PROMOTION_SETTLE_SECONDS", 10))


def _tz() -> ZoneInfo:
    return ZoneInfo(tenant_current().timezone or "UTC")


def promotion_settings() -> PromotionSettings:
    row, _ = PromotionSettings.objects.get_or_create(id=1)
    return row


# --- Settings ---------------------------------------------------------------------------------

_BOOLEANS = {
    "enabled": "enabled",
    "postReminders": "post_reminders",
    "emailEnabled": "email_enabled",
    "smsEnabled": "sms_enabled",
}
_TEMPLATES = {
    "announcementText": ("announcement_text", 5000),
    "reminderText": ("reminder_text", 5000),
    "fewPlacesText": ("few_places_text", 5000),
    "resultsText": ("results_text", 5000),
    "cancellationText": ("cancellation_text", 5000),
    "announcementSubject": ("announcement_subject", 200),
    "reminderSubject": ("reminder_subject", 200),
}


@transaction.atomic
def promotion_settings_update(*, actor: Actor, data: dict[str, Any]) -> PromotionSettings:
    """Change the club's auto-promotion settings (camelCase names, as the API's). Only a club
    ADMIN may: turning it on makes posts and messages go out without anyone composing them."""
    if not actor.is_admin:
        raise ValidationError("Only a club ADMIN can change competition auto-promotion.")
    _cursor_ensure()
    row = promotion_settings()
    row = PromotionSettings.objects.select_for_update().get(id=row.id)
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, attr in _BOOLEANS.items():
        if name in data:
            if not isinstance(data[name], bool):
                fail(name, "true or false.")
            else:
                setattr(row, attr, data[name])
    for name, attr in (("emailTemplateId", "email_template_id"),
                       ("smsTemplateId", "sms_template_id")):  # fmt: skip
        if name in data:
            value = data[name]
            if not isinstance(value, str) or len(value.strip()) > 100:
                fail(name, "A Messaging template id (up to 100 characters).")
            else:
                setattr(row, attr, value.strip())
    for name, (attr, limit) in _TEMPLATES.items():
        if name in data:
            value = data[name]
            if not isinstance(value, str) or not value.strip():
                fail(name, "Write the text (placeholders such as {name} are filled in).")
            elif len(value) > limit:
                fail(name, f"At most {limit} characters.")
            elif unknown := unknown_placeholders(value):
                fail(name, f"Unknown placeholder(s): {', '.join('{' + n + '}' for n in unknown)}.")
            else:
                setattr(row, attr, value.strip())
    if "reminderDays" in data:
        days = data["reminderDays"]
        if (
            not isinstance(days, list)
            or len(days) > 6
            or not all(_whole(d) and 1 <= d <= 60 for d in days)
        ):
            fail("reminderDays", "Up to 6 whole numbers of days, 1 to 60 (e.g. [7, 3, 1]).")
        else:
            row.reminder_days = sorted(set(days), reverse=True)
    if "reminderTime" in data:
        value = data["reminderTime"]
        try:
            row.reminder_time = (
                value if hasattr(value, "hour") else datetime.strptime(value, "%H:%M").time()
            )
        except (TypeError, ValueError):
            fail("reminderTime", "A time of day, HH:MM (club time).")
    if "fewPlacesPercent" in data:
        value = data["fewPlacesPercent"]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 99:
            fail("fewPlacesPercent", "A whole percentage, 1 to 99.")
        else:
            row.few_places_percent = value
    if "resultsDelayMinutes" in data:
        value = data["resultsDelayMinutes"]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1440:
            fail("resultsDelayMinutes", "Whole minutes, 0 to 1440.")
        else:
            row.results_delay_minutes = value
    accounts = None
    if "accountIds" in data:
        ids = data["accountIds"]
        if not isinstance(ids, list):
            fail("accountIds", "Give a list of social account ids.")
        else:
            parsed = [_uuid(value) for value in ids]
            known = set(SocialAccount.objects.filter(id__in=[p for p in parsed if p])
                        .values_list("id", flat=True))  # fmt: skip
            for index, value in enumerate(parsed):
                if value not in known:
                    fail(f"accountIds[{index}]", "No social account with this id in this club.")
            accounts = [p for p in parsed if p in known]
    if "defaultImageId" in data:
        value = data["defaultImageId"]
        if value in (None, ""):
            row.default_image = None
        else:
            image = PostImage.objects.filter(id=_uuid(value)).first() if _uuid(value) else None
            if image is None:
                fail("defaultImageId", "No uploaded image with this id in this club.")
            else:
                row.default_image = image
    if row.email_enabled and not row.email_template_id:
        fail("emailTemplateId", "Email is on: name the Messaging template it uses.")
    if row.sms_enabled and not row.sms_template_id:
        fail("smsTemplateId", "SMS is on: name the Messaging template it uses.")
    if errors:
        raise ValidationError(errors)
    row.save()
    if accounts is not None:
        row.accounts.set(accounts)
    actor.audit(
        action="promotion_settings.changed", object_type="promotion_settings", object_id="1",
        details={"changed": sorted(data)},
    )  # fmt: skip
    return row


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


# --- Reading the event log --------------------------------------------------------------------


def _cursor_ensure() -> None:
    """A club's cursor starts at its newest event: competitions from before are history."""
    if PromotionEventCursor.objects.filter(id=1).exists():
        return
    newest = RawEvent.objects.aggregate(top=Max("id"))["top"] or 0
    PromotionEventCursor.objects.bulk_create(
        [PromotionEventCursor(id=1, last_raw_event_id=newest)], ignore_conflicts=True
    )


@dataclass
class EventsRead:
    events: int = 0
    competitions: int = 0
    plans_created: int = 0
    entries: int = 0
    scores: int = 0
    more: bool = False


@dataclass
class _Newest:
    at: datetime
    key: str
    payload: dict[str, Any] = field(default_factory=dict)

    def newer_than(self, at: datetime | None, key: str) -> bool:
        return at is None or (self.at, self.key) > (at, key)


_ENTRIES_UPSERT = """
INSERT INTO social_competitionentry (competition_id, player_id, entered, changed_at, event_key)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bool[], %s::timestamptz[], %s::text[])
ON CONFLICT (competition_id, player_id) DO UPDATE
SET entered = EXCLUDED.entered, changed_at = EXCLUDED.changed_at, event_key = EXCLUDED.event_key
WHERE (EXCLUDED.changed_at, EXCLUDED.event_key)
    > (social_competitionentry.changed_at, social_competitionentry.event_key)
"""

_SCORES_UPSERT = """
INSERT INTO social_competitionscore
    (competition_id, player_id, gross, net, position, posted_at, event_key)
SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::numeric[], %s::int[],
                     %s::timestamptz[], %s::text[])
ON CONFLICT (competition_id, player_id) DO UPDATE
SET gross = EXCLUDED.gross, net = EXCLUDED.net, position = EXCLUDED.position,
    posted_at = EXCLUDED.posted_at, event_key = EXCLUDED.event_key
WHERE (EXCLUDED.posted_at, EXCLUDED.event_key)
    > (social_competitionscore.posted_at, social_competitionscore.event_key)
"""


@transaction.atomic
def promotion_events_read(*, now: datetime | None = None, window: int = WINDOW) -> EventsRead:
    """Read one window of the event log after the cursor (see the module docstring)."""
    now = now or timezone.now()
    _cursor_ensure()
    cursor = PromotionEventCursor.objects.select_for_update(skip_locked=True).filter(id=1).first()
    if cursor is None:
        return EventsRead()  # another run is reading right now
    settled = now - _settle()
    rows = list(
        RawEvent.objects.filter(id__gt=cursor.last_raw_event_id)
        .order_by("id")
        .values_list("id", "type", "status", "received_at")[:window]
    )
    upper = cursor.last_raw_event_id
    wanted: list[int] = []
    for event_id, event_type, status, received_at in rows:
        if status == EventStatus.PENDING or received_at > settled:
            break  # later events wait for this one
        upper = event_id
        if event_type in WATCHED_TYPES and status in (EventStatus.APPLIED, EventStatus.PARKED):
            wanted.append(event_id)
    if upper == cursor.last_raw_event_id:
        return EventsRead()
    events = (
        RawEvent.objects.filter(id__in=wanted)
        .order_by("id")
        .values_list("source", "event_id", "type", "occurred_at", "envelope")
    )
    result = _events_apply(list(events), now=now)
    result.more = len(rows) == window and upper == rows[-1][0]
    cursor.last_raw_event_id = upper
    cursor.save(update_fields=["last_raw_event_id", "updated_at"])
    return result


def _events_apply(events: list[tuple], *, now: datetime) -> EventsRead:
    published: dict[str, _Newest] = {}
    cancelled: dict[str, _Newest] = {}
    entries: dict[tuple[str, str], tuple[datetime, str, bool]] = {}
    scores: dict[tuple[str, str], tuple[datetime, str, dict[str, Any]]] = {}
    for source, event_id, event_type, occurred_at, envelope in events:
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        if not isinstance(payload, dict) or payload.get("competitionId") in (None, ""):
            continue  # a general round's score, or a scrubbed event
        competition_id = str(payload["competitionId"])[:128]
        key = f"{source}:{event_id}"
        if event_type in (PUBLISHED, UPDATED, CANCELLED):
            target = cancelled if event_type == CANCELLED else published
            found = target.get(competition_id)
            if found is None or (occurred_at, key) > (found.at, found.key):
                target[competition_id] = _Newest(occurred_at, key, payload)
            continue
        player_id = payload.get("playerId")
        if not isinstance(player_id, str) or not player_id:
            continue
        slot = (competition_id, player_id[:128])
        if event_type in (ENTERED, WITHDRAWN):
            found_entry = entries.get(slot)
            if found_entry is None or (occurred_at, key) > found_entry[:2]:
                entries[slot] = (occurred_at, key, event_type == ENTERED)
        elif event_type == SCORED:
            found_score = scores.get(slot)
            if found_score is None or (occurred_at, key) > found_score[:2]:
                scores[slot] = (occurred_at, key, payload)

    with connection.cursor() as cursor:
        if entries:
            slots = sorted(entries)
            cursor.execute(
                _ENTRIES_UPSERT,
                [
                    [c for c, _p in slots],
                    [p for _c, p in slots],
                    [entries[s][2] for s in slots],
                    [entries[s][0] for s in slots],
                    [entries[s][1] for s in slots],
                ],
            )
        if scores:
            slots = sorted(scores)
            cursor.execute(
                _SCORES_UPSERT,
                [
                    [c for c, _p in slots],
                    [p for _c, p in slots],
                    [_int_or_none(scores[s][2].get("gross")) for s in slots],
                    [_number_or_none(scores[s][2].get("net")) for s in slots],
                    [_int_or_none(scores[s][2].get("position")) for s in slots],
                    [scores[s][0] for s in slots],
                    [scores[s][1] for s in slots],
                ],
            )
    created = _plans_apply(published, cancelled, now=now)
    touched = {c for c, _p in entries} | {c for c, _p in scores} | set(published) | set(cancelled)
    if touched:
        CompetitionPromotion.objects.filter(competition_id__in=touched).update(needs_sync=True)
    return EventsRead(
        events=len(events),
        competitions=len(set(published) | set(cancelled)),
        plans_created=created,
        entries=len(entries),
        scores=len(scores),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return str(value)


def _plans_apply(
    published: dict[str, _Newest], cancelled: dict[str, _Newest], *, now: datetime
) -> int:
    """Newest payloads onto existing plans; a plan for each new competition when the club has
    auto-promotion on; cancellations (final: a plan never comes back from one)."""
    names = set(published) | set(cancelled)
    if not names:
        return 0
    existing = CompetitionPromotion.objects.select_for_update().in_bulk(
        list(names), field_name="competition_id"
    )
    enabled = PromotionSettings.objects.filter(id=1, enabled=True).exists()
    new, changed = [], []
    for competition_id in sorted(names):
        plan = existing.get(competition_id)
        newest = published.get(competition_id)
        if plan is None:
            # A competition first seen by an update is still new to the club: plan it too.
            if not enabled or newest is None:
                continue
            plan = CompetitionPromotion(competition_id=competition_id, created_at=now)
            new.append(plan)
        else:
            changed.append(plan)
        if newest and newest.newer_than(plan.payload_at, plan.payload_event):
            plan.payload = newest.payload
            plan.payload_at = newest.at
            plan.payload_event = newest.key
            plan.name = str(newest.payload.get("name") or "")[:200]
        cancel = cancelled.get(competition_id)
        if cancel and plan.status in (PromotionStatus.ACTIVE, PromotionStatus.COMPLETED):
            plan.status = PromotionStatus.CANCELLED
            plan.cancelled_at = cancel.at
            plan.cancel_reason = str(cancel.payload.get("reason") or "")[:300]
        plan.needs_sync = True
        plan.updated_at = timezone.now()  # bulk_update does not fill auto_now
    CompetitionPromotion.objects.bulk_create(new)
    if changed:
        CompetitionPromotion.objects.bulk_update(
            changed,
            ["payload", "payload_at", "payload_event", "name", "status", "cancelled_at",
             "cancel_reason", "needs_sync", "updated_at"],
        )  # fmt: skip
    return len(new)


# --- The competition's image ------------------------------------------------------------------


def promotion_image_refresh(*, promotion_id: Any) -> None:
    """Fetch the competition's `imageUrl` once (Instagram needs an image, and the posts are
    better for it): outside any transaction, stored as the club's own image. A failure is kept
    on the plan (`image_error`) and tried again only when the URL changes."""
    plan = CompetitionPromotion.objects.filter(id=promotion_id).first()
    if plan is None:
        return
    url = competition_from(plan.competition_id, plan.payload).image_url
    if not url or url == plan.image_url:
        return
    content, error = _download(url)
    with transaction.atomic():
        plan = CompetitionPromotion.objects.select_for_update().get(id=promotion_id)
        if plan.image_url == url:
            return
        image = None
        if content is not None:
            try:
                image = image_upload(
                    actor=PROMOTER, filename=url.rsplit("/", 1)[-1][:100] or "competition",
                    content=content,
                )  # fmt: skip
            except ValidationError as exc:
                error = " ".join(exc.messages)
        plan.image, plan.image_url, plan.image_error = image, url, error[:500]
        plan.needs_sync = True
        plan.save(update_fields=["image", "image_url", "image_error", "needs_sync", "updated_at"])


def _download(url: str) -> tuple[bytes | None, str]:
    if not url.startswith("https://"):
        # Only public images over TLS: never a plain-HTTP (or internal) address from a payload.
        return None, "The competition image is not an https URL."
    try:
        with requests.get(url, timeout=IMAGE_TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                return None, f"The competition image answered HTTP {response.status_code}."
            content = b""
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > IMAGE_MAX_BYTES:
                    return None, "The competition image is larger than 10 MB."
            return content, ""
    except requests.RequestException as exc:
        return None, f"The competition image could not be fetched ({exc.__class__.__name__})."


# --- Keeping a plan in step -------------------------------------------------------------------


@dataclass
class _Spec:
    """What one item should be now."""

    key: str
    kind: str
    channel: str
    when: datetime | None
    text: str
    subject: str = ""
    days_before: int | None = None
    skip: str = ""  # not applicable now: withdrawn if it can be, SKIPPED (until it applies)
    error: str = ""  # cannot be handed over (no account, no channel): SKIPPED until staff act
    cancel: str = ""  # the plan ended: withdrawn, CANCELLED
    due_only: bool = False  # handed over only once due (results)


@dataclass
class _Context:
    plan: CompetitionPromotion
    competition: Competition
    config: PromotionSettings
    tz: ZoneInfo
    now: datetime
    accounts: list[SocialAccount]
    channels: list[str]
    templates: dict[str, str]
    entries: int
    items: dict[str, PromotionItem]


def promotions_due_ids(*, now: datetime | None = None, limit: int = SYNC_BATCH) -> list[Any]:
    """Plans to sync: changed ones, and ones with an item due or an outcome awaited."""
    now = now or timezone.now()
    dirty = list(
        CompetitionPromotion.objects.filter(needs_sync=True).values_list("id", flat=True)[:limit]
    )
    due = (
        PromotionItem.objects.filter(
            status__in=(ItemStatus.PLANNED, ItemStatus.SCHEDULED),
            scheduled_for__lte=now,
            scheduled_for__gte=now - OUTCOME_WAIT,
        )
        .order_by()
        .values_list("promotion_id", flat=True)
        .distinct()[:limit]
    )
    return list(dict.fromkeys([*dirty, *due]))[:limit]


def promotion_sync(*, promotion_id: Any, now: datetime | None = None) -> bool:
    """Bring one plan up to date (safe to repeat). False when another run holds it."""
    with transaction.atomic():
        plan = (
            CompetitionPromotion.objects.select_for_update(skip_locked=True)
            .filter(id=promotion_id)
            .first()
        )
        if plan is None:
            return False
        _sync(plan, now=now or timezone.now())
        return True


def promotions_run(*, now: datetime | None = None) -> dict[str, int]:
    """The beat task's work: read the new events, then sync what needs it, within a budget."""
    started = monotonic_time.monotonic()
    counts = {"events": 0, "plansCreated": 0, "synced": 0}
    while True:
        read = promotion_events_read(now=now)
        counts["events"] += read.events
        counts["plansCreated"] += read.plans_created
        if not read.more or monotonic_time.monotonic() - started > TIME_BUDGET_SECONDS:
            break
    for promotion_id in promotions_due_ids(now=now):
        if monotonic_time.monotonic() - started > TIME_BUDGET_SECONDS:
            break
        try:
            promotion_image_refresh(promotion_id=promotion_id)
            if promotion_sync(promotion_id=promotion_id, now=now):
                counts["synced"] += 1
        except Exception:
            # One plan that cannot be synced must not hold up the others; it stays marked
            # and is tried again next minute (the error is in the log with its traceback).
            logger.exception("Promotion plan %s could not be synced", promotion_id)
            counts["failed"] = counts.get("failed", 0) + 1
    return counts


def _sync(plan: CompetitionPromotion, *, now: datetime) -> None:
    """The plan's row is locked by the caller; every writer of a plan locks it first."""
    config = promotion_settings()
    competition = competition_from(plan.competition_id, plan.payload)
    items = {
        item.key: item
        for item in PromotionItem.objects.filter(promotion=plan).select_related("campaign", "post")
    }
    before = {key: _state(item) for key, item in items.items()}
    for item in items.values():
        _outcome_refresh(item)
    channels, templates = _campaign_channels(config)
    ctx = _Context(
        plan=plan,
        competition=competition,
        config=config,
        tz=_tz(),
        now=now,
        accounts=_accounts(config),
        channels=channels,
        templates=templates,
        entries=_entries_count(competition),
        items=items,
    )
    if plan.status in (PromotionStatus.ACTIVE, PromotionStatus.COMPLETED):
        if channels and competition.deadline and now < competition.deadline:
            _segments_ensure(plan, competition)
        specs = _specs_running(ctx)
    elif plan.status == PromotionStatus.CANCELLED:
        specs = _specs_cancelled(ctx)
    else:
        specs = []
    wanted = {spec.key for spec in specs}
    reason = {
        PromotionStatus.CANCELLED: "The competition was cancelled.",
        PromotionStatus.STOPPED: "The plan was stopped by staff.",
    }.get(plan.status, "No longer part of the plan.")
    for key, item in items.items():
        if key not in wanted and item.status not in FINAL:
            spec = _Spec(
                key=key, kind=item.kind, channel=item.channel, when=item.scheduled_for,
                text=item.text, subject=item.subject, days_before=item.days_before,
            )  # fmt: skip
            if plan.status in (PromotionStatus.CANCELLED, PromotionStatus.STOPPED):
                spec.cancel = reason
            else:
                spec.skip = reason
            specs.append(spec)
    for spec in specs:
        _reconcile(ctx, spec)
    for key, item in ctx.items.items():
        if item._state.adding or _state(item) != before.get(key):
            item.save()
    results = items.get(item_key(ItemKind.RESULTS, ItemChannel.POST))
    if (
        plan.status == PromotionStatus.ACTIVE
        and results is not None
        and results.status in (ItemStatus.DONE, ItemStatus.CANCELLED)
    ):
        plan.status = PromotionStatus.COMPLETED
    plan.needs_sync = False
    plan.synced_at = now
    plan.save(update_fields=["status", "needs_sync", "synced_at", "updated_at"])


def _accounts(config: PromotionSettings) -> list[SocialAccount]:
    chosen = config.accounts.all() if config.pk else SocialAccount.objects.none()
    accounts = chosen if chosen.exists() else SocialAccount.objects.all()
    return list(accounts.filter(status=AccountStatus.CONNECTED).order_by("network", "name"))


def _campaign_channels(config: PromotionSettings) -> tuple[list[str], dict[str, str]]:
    channels, templates = [], {}
    if config.email_enabled and config.email_template_id:
        channels.append("EMAIL")
        templates["EMAIL"] = config.email_template_id
    if config.sms_enabled and config.sms_template_id:
        channels.append("SMS")
        templates["SMS"] = config.sms_template_id
    return channels, templates


def _entries_count(competition: Competition) -> int:
    """The larger of TeeTime's own count (as of its last update) and the entries counted here."""
    counted = CompetitionEntry.objects.filter(competition_id=competition.id, entered=True).count()
    return max(counted, competition.entries_count or 0)


# --- The items a plan should have -------------------------------------------------------------


def _effective_when(ctx: _Context, key: str, computed: datetime | None) -> datetime | None:
    item = ctx.items.get(key)
    if item is not None and item.time_edited and item.scheduled_for is not None:
        return item.scheduled_for
    return computed


def _specs_running(ctx: _Context) -> list[_Spec]:
    c, config, now = ctx.competition, ctx.config, ctx.now
    deadline = c.deadline
    closed = deadline is not None and now >= deadline
    full = c.max_entries is not None and ctx.entries >= c.max_entries
    announce = announcement_at(planned_at=ctx.plan.created_at, competition=c)
    club = tenant_current().name

    def values(**extra: Any) -> dict[str, str]:
        return values_for(c, tz=ctx.tz, club_name=club, entries=ctx.entries, **extra)

    def asks_to_enter(when: datetime | None) -> str:
        """Why an item asking people to enter does not apply ('' when it does)."""
        if closed:
            return "Entries have closed."
        if full:
            return "The competition is full."
        if deadline is not None and when is not None and when >= deadline:
            return "Entries close before then."
        return ""

    specs: list[_Spec] = []
    # The announcement.
    base = values()
    for channel in (ItemChannel.POST, ItemChannel.CAMPAIGN):
        key = item_key(ItemKind.ANNOUNCEMENT, channel)
        when = _effective_when(ctx, key, announce)
        specs.append(
            _Spec(
                key=key, kind=ItemKind.ANNOUNCEMENT, channel=channel, when=when,
                text=render(config.announcement_text, base),
                subject=render(config.announcement_subject, base) if channel == "CAMPAIGN" else "",
                skip=asks_to_enter(when), error=_channel_missing(ctx, channel),
            )
        )  # fmt: skip
    # Reminders, 7, 3 and 1 days before entries close.
    for days in sorted(set(config.reminder_days), reverse=True):
        reminder_values = values(days_left=days)
        computed = (
            reminder_at(closes_at=c.closes_at, days=days, at=config.reminder_time, tz=ctx.tz)
            if c.closes_at
            else None
        )
        for channel in (ItemChannel.POST, ItemChannel.CAMPAIGN):
            key = item_key(ItemKind.REMINDER, channel, days)
            item = ctx.items.get(key)
            if channel == ItemChannel.POST and not config.post_reminders and item is None:
                continue
            when = _effective_when(ctx, key, computed)
            error = _channel_missing(ctx, channel)
            if channel == ItemChannel.POST and not config.post_reminders:
                error = "Reminder posts are off in the settings."
            if when is None:
                skip = "The competition has no entry closing time."
            elif when <= now and not _handed_over_for(item, when):
                skip = "That time has passed."
            elif when < announce + MIN_GAP_AFTER_ANNOUNCEMENT and not (item and item.time_edited):
                skip = "Too close to (or before) the announcement."
            else:
                skip = asks_to_enter(when)
            specs.append(
                _Spec(
                    key=key, kind=ItemKind.REMINDER, channel=channel, when=when,
                    days_before=days, text=render(config.reminder_text, reminder_values),
                    subject=(render(config.reminder_subject, reminder_values)
                             if channel == "CAMPAIGN" else ""),
                    skip=skip, error=error,
                )
            )  # fmt: skip
    # "Few places left", once entries pass the threshold.
    key = item_key(ItemKind.FEW_PLACES, ItemChannel.POST)
    item = ctx.items.get(key)
    reached = c.max_entries is not None and ctx.entries >= few_places_threshold(
        max_entries=c.max_entries, percent=config.few_places_percent
    )
    if item is not None or (reached and not closed):
        when = _effective_when(ctx, key, item.scheduled_for if item else now)
        specs.append(
            _Spec(
                key=key, kind=ItemKind.FEW_PLACES, channel=ItemChannel.POST, when=when,
                text=render(config.few_places_text, base), skip=asks_to_enter(when),
                error=_channel_missing(ctx, ItemChannel.POST),
            )
        )  # fmt: skip
    # Results, once the scores have settled.
    scores = CompetitionScore.objects.filter(competition_id=c.id).aggregate(
        first=Min("posted_at"), last=Max("posted_at")
    )
    if scores["first"] is not None:
        key = item_key(ItemKind.RESULTS, ItemChannel.POST)
        item = ctx.items.get(key)
        computed = results_at(
            first_score=scores["first"],
            last_score=scores["last"],
            delay=timedelta(minutes=config.results_delay_minutes),
        )
        when = _effective_when(ctx, key, computed)
        winner = _leader(c)
        seen = item.created_at if item is not None else now
        if seen - scores["first"] > RESULTS_MAX_AGE:
            skip = "The scores were posted more than 2 days before they reached the CRM."
        elif winner is None:
            skip = "No score with a position has been posted yet."
        elif not winner["name"]:
            skip = "The leader has no name in the CRM."
        else:
            skip = ""
        specs.append(
            _Spec(
                key=key, kind=ItemKind.RESULTS, channel=ItemChannel.POST, when=when,
                text=render(config.results_text, values(winner=winner or {})), skip=skip,
                error=_channel_missing(ctx, ItemChannel.POST), due_only=True,
            )
        )  # fmt: skip
    return specs


def _specs_cancelled(ctx: _Context) -> list[_Spec]:
    """Everything not gone out is cancelled; if anything asked people to enter, the
    cancellation is posted (once whatever was in flight has landed)."""
    announced = any(
        item.kind in ASKS_TO_ENTER and item.status == ItemStatus.DONE for item in ctx.items.values()
    )
    key = item_key(ItemKind.CANCELLATION, ItemChannel.POST)
    item = ctx.items.get(key)
    if not announced and item is None:
        return []
    values = values_for(
        ctx.competition, tz=ctx.tz, club_name=tenant_current().name, entries=ctx.entries,
        reason=ctx.plan.cancel_reason,
    )  # fmt: skip
    when = _effective_when(ctx, key, item.scheduled_for if item else ctx.now)
    return [
        _Spec(
            key=key, kind=ItemKind.CANCELLATION, channel=ItemChannel.POST, when=when,
            text=render(ctx.config.cancellation_text, values),
            error=_channel_missing(ctx, ItemChannel.POST),
        )
    ]  # fmt: skip


def _channel_missing(ctx: _Context, channel: str) -> str:
    if channel == ItemChannel.POST and not ctx.accounts:
        return "No connected social account to post to."
    if channel == ItemChannel.CAMPAIGN and not ctx.channels:
        return "Email and SMS are off (or have no Messaging template) in the settings."
    return ""


def _handed_over_for(item: PromotionItem | None, when: datetime) -> bool:
    """A post or campaign already waiting for exactly this time is left to go out, even if
    its time has just passed (its own sweep is about to send it)."""
    return (
        item is not None
        and item.status == ItemStatus.SCHEDULED
        and item.scheduled_for == when
        and (item.post_id or item.campaign_id) is not None
    )


def _leader(competition: Competition) -> dict[str, str] | None:
    """The player in position 1 (the lowest position posted), named as the CRM knows them."""
    score = (
        CompetitionScore.objects.filter(competition_id=competition.id, position__gte=1)
        .order_by("position", "posted_at", "player_id")
        .first()
    )
    if score is None:
        return None
    customer = (
        Customer.objects.filter(
            records__kind=RecordKind.TEETIME_PLAYER,
            records__key=score.player_id,
            status__in=(CustomerStatus.ACTIVE, CustomerStatus.INACTIVE),
        )
        .only("first_name", "last_name")
        .first()
    )
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p) if customer else ""
    return {
        "name": name,
        "net": "" if score.net is None else f"{score.net.normalize():f}",
        "gross": "" if score.gross is None else str(score.gross),
    }


# --- Segments ---------------------------------------------------------------------------------


def _segment_name(competition: Competition, suffix: str) -> str:
    """What a manager reads in segment lists: the competition's name and day (club time), not
    TeeTime's id; two competitions named alike on one day fall back to a short suffix
    (`_segment_new`)."""
    name = (competition.name or "Competition")[:150]
    if competition.starts_at is not None:
        day = competition.starts_at.astimezone(_tz())
        name = f"{name}, {day.day} {day:%b %Y}"
    return f"{name}: {suffix}"


def _segments_ensure(plan: CompetitionPromotion, competition: Competition) -> None:
    rules = eligibility_rules(competition)
    if plan.eligible_segment is None:
        plan.eligible_segment = _segment_new(
            competition, "may enter", type=SegmentType.DYNAMIC, rules=rules,
            description="Who may enter (auto-promotion): handicap, membership and gender "
            "as the competition says. Kept in step by the promotion plan.",
        )  # fmt: skip
    elif plan.eligible_segment.rules != rules:
        segment_update(segment=plan.eligible_segment, data={"rules": rules},
                       actor_label=ACTOR_LABEL)  # fmt: skip
    if plan.entrants_segment is None:
        plan.entrants_segment = _segment_new(
            competition, "entered", type=SegmentType.STATIC, rules=None,
            description="Who has entered (auto-promotion), from TeeTime's entry events; left "
            "out of the competition's campaigns.",
        )  # fmt: skip
    plan.save(update_fields=["eligible_segment", "entrants_segment", "updated_at"])
    _entrants_sync(plan)


def _segment_new(competition: Competition, suffix: str, **kwargs: Any):
    name = _segment_name(competition, suffix)
    try:
        with transaction.atomic():
            return segment_create(name=name, refresh="MANUAL", actor_label=ACTOR_LABEL, **kwargs)
    except ValidationError:
        # The name is taken (staff made one like it): the plan's own gets a distinct one.
        return segment_create(
            name=f"{name} · {uuid.uuid4().hex[:6]}", refresh="MANUAL", actor_label=ACTOR_LABEL,
            **kwargs,
        )  # fmt: skip


def _entrants_sync(plan: CompetitionPromotion) -> None:
    """The STATIC segment of entrants: the customers of the players whose newest entry event
    is `entry.created` (a withdrawal takes them out again)."""
    segment = plan.entrants_segment
    if segment is None:
        return
    players = CompetitionEntry.objects.filter(
        competition_id=plan.competition_id, entered=True
    ).values("player_id")
    wanted = set(
        SourceRecord.objects.filter(
            kind=RecordKind.TEETIME_PLAYER, key__in=players, customer__isnull=False
        ).values_list("customer_id", flat=True)
    )
    current = set(
        SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True)
    )
    if wanted - current:
        segment_members_add(
            segment=segment, customer_ids=sorted(wanted - current), actor_label=ACTOR_LABEL
        )
    if current - wanted:
        segment_members_remove(
            segment=segment, customer_ids=sorted(current - wanted), actor_label=ACTOR_LABEL
        )


# --- Items: handing over, following up, withdrawing -------------------------------------------


def _reconcile(ctx: _Context, spec: _Spec) -> None:
    item = ctx.items.get(spec.key)
    if item is None:
        if spec.cancel:
            return
        item = PromotionItem(
            promotion=ctx.plan, key=spec.key, kind=spec.kind, channel=spec.channel,
            days_before=spec.days_before, created_at=ctx.now,
        )  # fmt: skip
        ctx.items[spec.key] = item
    elif item.status in FINAL:
        return
    if not item.text_edited:
        item.text, item.subject = spec.text, spec.subject
    if not item.time_edited:
        item.scheduled_for = spec.when
    if spec.cancel or spec.skip or spec.error:
        if _withdraw(item, hard=bool(spec.cancel)):
            item.status = ItemStatus.CANCELLED if spec.cancel else ItemStatus.SKIPPED
            item.note = spec.cancel or spec.skip or spec.error
            if not spec.cancel and spec.error:
                item.error = spec.error
    elif item.status == ItemStatus.SKIPPED and item.error:
        pass  # refused when handed over: it waits for staff to change it
    elif spec.due_only and (item.scheduled_for is None or item.scheduled_for > ctx.now):
        if item.status == ItemStatus.SKIPPED:
            item.status, item.note = ItemStatus.PLANNED, ""
    elif item.channel == ItemChannel.POST:
        _hand_over_post(ctx, item)
    else:
        _hand_over_campaign(ctx, item)


def _state(item: PromotionItem) -> tuple:
    return (
        item.status, item.note, item.error, item.text, item.subject, item.scheduled_for,
        item.fingerprint, item.post_id, item.campaign_id,
    )  # fmt: skip


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _post_variants(ctx: _Context, item: PromotionItem) -> tuple[list[VariantInput], list[str]]:
    """One variant per chosen account that will take it; the others are named in the note."""
    link = ctx.competition.booking_url
    image = ctx.plan.image or ctx.config.default_image
    infos = (
        [ImageInfo(str(image.id), image.filename, image.content_type, image.size)] if image else []
    )
    variants, notes = [], []
    for account in ctx.accounts:
        text = fit_text(network=account.network, text=item.text, link=link)
        images = [i for i in infos if i.content_type in RULES[account.network].image_types]
        errors = variant_errors(network=account.network, text=text, link=link, images=images)
        if errors:
            message = " ".join(m for messages in errors.values() for m in messages)
            if account.network == Network.INSTAGRAM and not images:
                message += " (the competition has no JPEG image and no default image is set)"
            notes.append(message)
            continue
        variants.append(
            VariantInput(
                account_id=account.id, text=text, link=link, image_ids=[i.id for i in images]
            )
        )
    return variants, notes


def _hand_over_post(ctx: _Context, item: PromotionItem) -> None:
    variants, notes = _post_variants(ctx, item)
    if not variants:
        _withdraw(item, hard=False)
        item.status = ItemStatus.SKIPPED
        item.error = " ".join(notes) or "No connected social account to post to."
        item.note = item.error
        return
    when = item.scheduled_for or ctx.now
    mode = ScheduleMode.AT if when > ctx.now else ScheduleMode.NOW
    fingerprint = _fingerprint(
        ["post", [v.__dict__ for v in variants], when.isoformat() if mode == "at" else "now"]
    )
    post = item.post
    live = post is not None and post.variants.exclude(status=VariantStatus.CANCELLED).exists()
    if live and fingerprint == item.fingerprint:
        return  # already handed over as it is
    if (
        post is not None
        and post.variants.exclude(status__in=(*EDITABLE_STATUSES, VariantStatus.CANCELLED)).exists()
    ):
        _outcome_refresh(item)
        return  # it has started going out: what goes out stays as it was
    try:
        with transaction.atomic():
            key = origin_key(ctx.plan.competition_id, item.key)
            post = post or Post.objects.filter(origin_key=key).first()
            title = f"{ctx.competition.name or ctx.plan.competition_id}: {item.get_kind_display()}"
            if post is None:
                post = post_create(actor=PROMOTER, title=title, variants=variants,
                                   origin="competition", origin_key=key)  # fmt: skip
            else:
                post = post_update(actor=PROMOTER, post=post, title=title, variants=variants)
            post_schedule(actor=PROMOTER, post=post, mode=mode, at=when if mode == "at" else None)
    except ValidationError as exc:
        item.status = ItemStatus.SKIPPED
        item.error = _message(exc)
        item.note = f"Not scheduled: {item.error}"
        item.fingerprint = fingerprint
        return
    item.post = post
    item.fingerprint = fingerprint
    item.error = ""
    item.status = ItemStatus.SCHEDULED
    item.note = " ".join(notes)
    _outcome_refresh(item)


def _campaign_input(ctx: _Context, item: PromotionItem) -> CampaignInput:
    c = ctx.competition
    body = item.text
    if c.booking_url and c.booking_url not in body:
        body = f"{body}\n\nEnter online: {c.booking_url}"
    label = item.get_kind_display().lower()
    if item.days_before:
        label += f", {item.days_before} days before entries close"
    return CampaignInput(
        name=f"{c.name or c.id}: {label}"[:200],
        description=f"Made by the promotion plan of {c.name or 'a competition'}: edit it "
        "there (Social > Competition promotions).",
        channels=list(ctx.channels),
        audience=AudienceInput(
            include=[str(ctx.plan.eligible_segment_id)],
            exclude=[str(ctx.plan.entrants_segment_id)],
        ),
        templates=dict(ctx.templates),
        content={
            "subject": item.subject,
            "body": body,
            "kind": item.kind.lower(),
            "competitionId": c.id,
            "competitionName": c.name,
            "startsAt": c.starts_at.isoformat() if c.starts_at else None,
            "entryClosesAt": c.closes_at.isoformat() if c.closes_at else None,
            "bookingUrl": c.booking_url,
            "daysLeft": item.days_before,
        },
        scheduled_at=item.scheduled_for,
    )


def _hand_over_campaign(ctx: _Context, item: PromotionItem) -> None:
    if ctx.plan.eligible_segment_id is None or ctx.plan.entrants_segment_id is None:
        item.status = ItemStatus.SKIPPED
        item.note = "The audience segments could not be made."
        return
    data = _campaign_input(ctx, item)
    fingerprint = _fingerprint(dataclasses.asdict(data))
    campaign = item.campaign
    if campaign is not None and campaign.status != CampaignStatus.CANCELLED:
        if fingerprint == item.fingerprint:
            return
        if campaign.status not in CAMPAIGN_EDITABLE:
            return  # it has started: what went out stays as it was
    due = item.scheduled_for is None or item.scheduled_for <= ctx.now
    try:
        with transaction.atomic():
            if campaign is not None and campaign.status in CAMPAIGN_EDITABLE:
                # A SCHEDULED campaign whose time has come is started by the campaigns' tick.
                campaign = campaign_update(campaign=campaign, data=data, actor_label=ACTOR_LABEL)
            else:
                campaign = campaign_create(
                    data=dataclasses.replace(
                        data, type="ONE_TIME", scheduled_at=None if due else data.scheduled_at
                    ),
                    actor_label=ACTOR_LABEL,
                )
            if campaign.status == CampaignStatus.DRAFT:
                if due:
                    campaign = campaign_send_now(campaign=campaign, actor_label=ACTOR_LABEL)
                else:
                    campaign = campaign_schedule(campaign=campaign, actor_label=ACTOR_LABEL)
    except (ValidationError, CampaignStateError) as exc:
        item.status = ItemStatus.SKIPPED
        item.error = _message(exc)
        item.note = f"Not scheduled: {item.error}"
        item.fingerprint = fingerprint
        return
    item.campaign = Campaign.objects.get(pk=campaign.pk)
    item.fingerprint = fingerprint
    item.error = ""
    item.note = ""
    item.status = ItemStatus.SCHEDULED
    _outcome_refresh(item)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(m for messages in exc.message_dict.values() for m in messages)
        return " ".join(exc.messages)
    return str(exc)


def _outcome_refresh(item: PromotionItem) -> None:
    """What became of a handed-over item, from its post's variants or its campaign."""
    if item.status not in (ItemStatus.SCHEDULED, ItemStatus.FAILED):
        return
    if item.channel == ItemChannel.POST:
        if item.post is None:
            item.status, item.note = ItemStatus.CANCELLED, "The post was deleted."
            return
        variants = list(item.post.variants.all())
        statuses = {v.status for v in variants}
        notes = [f"{v.get_network_display()}: {v.error}" for v in variants if v.error]
        if statuses & set(OPEN_VARIANT):
            item.status = ItemStatus.SCHEDULED
            if VariantStatus.PENDING_APPROVAL in statuses:
                item.note = "Waiting for an ADMIN's approval."
            elif VariantStatus.NEEDS_REVIEW in statuses:
                item.note = "A network gave an unclear answer: see the post in the admin."
            elif item.note.startswith(("Waiting", "A network")):
                item.note = ""
        elif VariantStatus.PUBLISHED in statuses:
            item.status, item.note = ItemStatus.DONE, " ".join(notes)
        elif VariantStatus.FAILED in statuses:
            item.status, item.note = ItemStatus.FAILED, " ".join(notes)
        else:
            item.status, item.note = ItemStatus.CANCELLED, "Cancelled in the Social Publisher."
        return
    campaign = item.campaign
    if campaign is None:
        item.status, item.note = ItemStatus.CANCELLED, "The campaign was deleted."
    elif campaign.status in (CampaignStatus.SENDING, CampaignStatus.COMPLETED):
        item.status = ItemStatus.DONE
    elif campaign.status == CampaignStatus.CANCELLED:
        item.status, item.note = ItemStatus.CANCELLED, "Cancelled in Campaigns."
    else:
        item.status = ItemStatus.SCHEDULED


def _withdraw(item: PromotionItem, *, hard: bool) -> bool:
    """Take back what was handed over and has not gone out. `hard` also stops a campaign
    that is sending (what it has not handed to the Messaging Service yet). False when it has
    gone out, or is going out right now, so the item's outcome decides instead."""
    if item.post_id:
        if item.post.variants.filter(status__in=EDITABLE_STATUSES).exists():
            post_cancel(actor=PROMOTER, post=item.post)
        if item.post.variants.exclude(status=VariantStatus.CANCELLED).exists():
            item.status = ItemStatus.SCHEDULED
            _outcome_refresh(item)
            return False
        return True
    if item.campaign_id:
        campaign = Campaign.objects.get(pk=item.campaign_id)
        stoppable = (*CAMPAIGN_EDITABLE, CampaignStatus.SENDING) if hard else CAMPAIGN_EDITABLE
        if campaign.status in stoppable:
            campaign = campaign_cancel(campaign=campaign, actor_label=ACTOR_LABEL)
        item.campaign = campaign
        if campaign.status != CampaignStatus.CANCELLED:
            _outcome_refresh(item)
            return False
    return True


# --- Staff ------------------------------------------------------------------------------------


def _locked_plan(plan_id: Any) -> CompetitionPromotion:
    return CompetitionPromotion.objects.select_for_update().get(id=plan_id)


@transaction.atomic
def promotion_item_update(
    *,
    actor: Actor,
    item: PromotionItem,
    text: str | None = None,
    subject: str | None = None,
    scheduled_for: datetime | None = None,
) -> PromotionItem:
    """Staff change an item that has not gone out: its text, its subject (campaigns) or its
    time (no offset: the club's time zone). What they set is kept through later competition
    updates; the post or campaign is changed at once (and a refusal, e.g. X's length, is a
    400 naming the item)."""
    plan = _locked_plan(item.promotion_id)
    item = PromotionItem.objects.get(id=item.id)
    if plan.status in (PromotionStatus.CANCELLED, PromotionStatus.STOPPED) and (
        item.kind != ItemKind.CANCELLATION
    ):
        raise ValidationError(f"The plan is {plan.get_status_display().lower()}.")
    if item.status in FINAL:
        raise ValidationError(
            f"This item is {item.get_status_display().lower()}; it can no longer be changed."
        )
    errors: dict[str, list[str]] = {}
    if text is not None:
        if not text.strip():
            errors["text"] = ["Write the text."]
        elif len(text) > 5000:
            errors["text"] = ["At most 5000 characters."]
        else:
            item.text, item.text_edited = text.strip(), True
    if subject is not None:
        if item.channel != ItemChannel.CAMPAIGN:
            errors["subject"] = ["Only email/SMS campaigns have a subject."]
        elif not subject.strip() or len(subject) > 200:
            errors["subject"] = ["Write a subject of up to 200 characters."]
        else:
            item.subject, item.text_edited = subject.strip(), True
    if scheduled_for is not None:
        if timezone.is_naive(scheduled_for):
            scheduled_for = scheduled_for.replace(tzinfo=_tz())
        if scheduled_for < timezone.now() - timedelta(minutes=1):
            errors["scheduledAt"] = ["That time has passed."]
        else:
            item.scheduled_for, item.time_edited = scheduled_for, True
    if errors:
        raise ValidationError(errors)
    if item.status == ItemStatus.SKIPPED:
        item.status = ItemStatus.PLANNED
    item.error = ""
    item.save()
    actor.audit(
        action="promotion_item.updated", object_type="promotion_item", object_id=str(item.id),
        details={"text": text is not None, "subject": subject is not None,
                 "scheduledFor": scheduled_for.isoformat() if scheduled_for else None},
    )  # fmt: skip
    _sync(plan, now=timezone.now())
    item.refresh_from_db()
    if item.error:
        raise ValidationError({"item": [item.error]})
    return item


@transaction.atomic
def promotion_item_cancel(*, actor: Actor, item: PromotionItem) -> PromotionItem:
    """Staff cancel an item (its post or campaign is cancelled too). Cancelling it again
    changes nothing; one that has gone out cannot be cancelled."""
    _locked_plan(item.promotion_id)
    item = PromotionItem.objects.select_related("post", "campaign").get(id=item.id)
    if item.status == ItemStatus.CANCELLED:
        return item
    if item.status in (ItemStatus.DONE, ItemStatus.FAILED):
        raise ValidationError(f"This item is {item.get_status_display().lower()}.")
    if not _withdraw(item, hard=True):
        raise ValidationError("It is going out right now and can no longer be cancelled.")
    item.status = ItemStatus.CANCELLED
    item.note = f"Cancelled by {actor.label or 'staff'}."
    item.save()
    actor.audit(
        action="promotion_item.cancelled", object_type="promotion_item", object_id=str(item.id)
    )
    return item


@transaction.atomic
def promotion_stop(*, actor: Actor, promotion: CompetitionPromotion) -> CompetitionPromotion:
    """Staff stop a whole plan: everything not gone out is cancelled, nothing new is made."""
    plan = _locked_plan(promotion.id)
    if plan.status != PromotionStatus.STOPPED:
        plan.status = PromotionStatus.STOPPED
        plan.save(update_fields=["status", "updated_at"])
        actor.audit(
            action="promotion.stopped", object_type="promotion", object_id=str(plan.id),
            details={"competitionId": plan.competition_id},
        )  # fmt: skip
    _sync(plan, now=timezone.now())
    return plan


def promotion_customer_erase(customer: Customer, identifiers: dict[str, set[str]]) -> None:
    """Erasure hook (profiles/erasure.py): forget an erased person's competition entries and
    scores, which are kept by TeeTime player id. A results post already published stays: it
    is the club's public record, and the networks hold their own copy."""
    player_ids = identifiers.get(RecordKind.TEETIME_PLAYER, set())
    if customer.teetime_player_id:
        player_ids = player_ids | {customer.teetime_player_id}
    if player_ids:
        CompetitionEntry.objects.filter(player_id__in=player_ids).delete()
        CompetitionScore.objects.filter(player_id__in=player_ids).delete()
