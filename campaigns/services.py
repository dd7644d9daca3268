"""Writes of campaigns: each in one transaction with an audit row where staff or a key asked.

States: DRAFT → SCHEDULED → SENDING → COMPLETED, with PAUSED and CANCELLED.

- schedule: DRAFT -> SCHEDULED (ONE_TIME at `scheduledAt`; RECURRING on its crontab;
  TRIGGERED listening for its event);
- send: DRAFT or SCHEDULED ONE_TIME -> SENDING now;
- pause: SCHEDULED or SENDING -> PAUSED (nothing more is handed over);
- resume: PAUSED -> the state it was paused in;
- cancel: DRAFT, SCHEDULED, SENDING or PAUSED -> CANCELLED (what was not handed over yet is
  recorded as CANCELLED, never sent).

Any other change is refused with `CampaignStateError`, whose message says why (REST 409).
Editing is allowed in DRAFT, SCHEDULED and PAUSED (a run already planned keeps its ledger).

A ONE_TIME campaign completes when its run has nothing left to hand over; a RECURRING one
goes back to SCHEDULED after each firing and completes at its end date; a TRIGGERED one stays
SCHEDULED (listening) until cancelled or its end date. `crm.campaign.scheduled` is published
when a campaign is scheduled or sent now, `crm.campaign.sent` when a run is finished, both
through the outbox.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context

from campaigns.email_templates.selectors import campaign_template_problems
from campaigns.models import (
    HIDDEN_TYPES,
    PUBLIC_TYPES,
    Campaign,
    CampaignRun,
    CampaignStatus,
    CampaignType,
    Channel,
    Priority,
    RunStatus,
    Send,
    SendStatus,
    Variant,
    WinnerMetric,
)
from campaigns.sending import (
    BATCH_SIZE,
    BATCHES_PER_TASK,
    PARALLEL_DELIVERIES,
    RequestContext,
    audience_queryset,
    build_request,
    campaign_settings,
    run_cancel_pending,
    run_is_open,
)
from crm.accounts.services import audit_record
from crm.inputs import UNSET, Unset, fields_given
from crm.outbox.services import outbound_record_many
from crm.tenants.selectors import tenant_current
from profiles.models import Activity, Customer
from segments.models import Segment
from segments.rules import RuleError

MAX_VARIANTS = 4
VARIANT_KEYS = ("A", "B", "C", "D")
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)
TRIGGER_BATCH = 5_000


class CampaignStateError(Exception):
    """A state change the campaign's state does not allow; the message says why."""


# --- inputs ----------------------------------------------------------------------------------
# What `campaign_create` / `campaign_update` take: built by the API layers (REST, GraphQL, the
# admin's forms) from their validated data, and by other apps' services directly. A field left
# `UNSET` is not changed (an update names only what it changes); `None`, `""` and `[]` set it
# to empty. Errors are keyed by the API's field paths (`audience.include[0]`,
# `variants[1].weight`, `scheduledAt`), which every caller maps to its own fields.


@dataclass(frozen=True)
class AudienceInput:
    """Segment ids (as given: each is checked) to send to and to leave out; a part not given
    is empty."""

    include: list[Any] = field(default_factory=list)
    exclude: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class TriggerInput:
    """A TRIGGERED campaign's event type, and what its envelope must contain."""

    event_type: str = ""
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignVariantInput:
    """One A/B variant: `key` defaults to its place (A, B, …), `weight` to 50; `content` and
    `templates` override the campaign's; `send_at` an ISO 8601 text or a datetime (no offset:
    club time)."""

    key: str = ""
    weight: int = 50
    content: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    send_at: dt.datetime | str | None = None


@dataclass(frozen=True)
class CampaignInput:
    """A campaign's editable fields (segments.md, in snake_case). Times are datetimes or ISO
    8601 texts (no offset: club time); `priority` LOW, NORMAL or HIGH (or its number)."""

    name: str | Unset = UNSET
    description: str | Unset = UNSET
    type: str | Unset = UNSET
    channels: list[str] | Unset = UNSET
    audience: AudienceInput | Unset = UNSET
    templates: dict[str, str] | Unset = UNSET
    content: dict[str, Any] | Unset = UNSET
    fallbacks: dict[str, Any] | Unset = UNSET
    priority: str | int | Unset = UNSET
    scheduled_at: dt.datetime | str | Unset | None = UNSET
    ends_at: dt.datetime | str | Unset | None = UNSET
    expires_at: dt.datetime | str | Unset | None = UNSET
    topic: str | Unset = UNSET
    recurrence: str | Unset = UNSET
    trigger: TriggerInput | Unset | None = UNSET
    variants: list[CampaignVariantInput] | Unset = UNSET
    holdout_percent: Decimal | int | str | Unset | None = UNSET
    test_pool_percent: Decimal | int | str | Unset | None = UNSET
    winner_metric: str | Unset = UNSET
    winner_after_hours: int | Unset = UNSET
    conversion_window_days: int | Unset | None = UNSET


# --- validation ------------------------------------------------------------------------------


def _parse_when(value: Any, tz: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    when = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
    if when is None:
        raise ValueError("Use an ISO 8601 date and time (2026-12-01T09:00).")
    if timezone.is_naive(when):
        when = when.replace(tzinfo=ZoneInfo(tz or "UTC"))  # no offset: the club's own time
    return when


def cron_fields(expression: str) -> dict[str, str]:
    """A 5-field cron expression -> django-celery-beat CrontabSchedule fields (validated)."""
    parts = (expression or "").split()
    if len(parts) != 5:
        raise ValueError("Use 5 fields: minute hour day-of-month month day-of-week (0 9 1 * *).")
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    fields = dict(zip(names, parts, strict=True))
    try:
        crontab(**fields)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Not a valid cron expression: {exc}") from None
    return fields


def _percent(value: Any, *, low: int, high: int) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError("Give a number.") from None
    if not (low <= number <= high) or number.is_nan():
        raise ValueError(f"Between {low} and {high}.")
    return number.quantize(Decimal("0.01"))


def _priority(value: Any) -> int:
    if isinstance(value, str) and value.upper() in Priority.names:
        return Priority[value.upper()].value
    if isinstance(value, int) and value in Priority.values:
        return value
    raise ValueError("One of LOW, NORMAL, HIGH.")


def _validate(campaign: Campaign, data: CampaignInput, errors: dict[str, list[str]]) -> dict:
    """Apply the fields `data` gives to `campaign` in memory; collect errors by the API's field
    paths. Returns the many-to-many and variant parts to save after the row."""
    tz = tenant_current().timezone
    later: dict[str, Any] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if data.name is not UNSET:
        name = (data.name or "").strip()
        if not name:
            fail("name", "Give the campaign a name.")
        campaign.name = name[:200]
    if data.description is not UNSET:
        campaign.description = data.description or ""
    if data.type is not UNSET:
        if data.type not in PUBLIC_TYPES:
            fail("type", f"One of {', '.join(PUBLIC_TYPES)}.")
        else:
            campaign.type = data.type
    if data.channels is not UNSET:
        channels = data.channels
        if not isinstance(channels, list) or not channels:
            fail("channels", "Give at least one channel: EMAIL, SMS or PUSH.")
        else:
            bad = [c for c in channels if c not in Channel.values]
            if bad:
                fail("channels", f"Unknown channel(s) {bad}: use EMAIL, SMS or PUSH.")
            campaign.channels = list(dict.fromkeys(c for c in channels if c in Channel.values))
    if data.audience is not UNSET:
        known = set(Segment.objects.values_list("id", flat=True))
        for part, ids in (("include", data.audience.include), ("exclude", data.audience.exclude)):
            parsed = []
            for index, raw in enumerate(ids if isinstance(ids, list) else [ids]):
                try:
                    segment_id = uuid.UUID(str(raw))
                except ValueError:
                    fail(f"audience.{part}[{index}]", "Not a segment id.")
                    continue
                if segment_id not in known:
                    fail(f"audience.{part}[{index}]", "No segment with this id in this club.")
                parsed.append(segment_id)
            later[part] = parsed
    if data.templates is not UNSET:
        templates = data.templates or {}
        if not isinstance(templates, dict) or not all(
            isinstance(v, str) and v.strip() for v in templates.values()
        ):
            fail("templates", 'Give a template id per channel: {"EMAIL": "newsletter"}.')
        else:
            for channel in templates:
                if channel not in Channel.values:
                    fail(f"templates.{channel}", "Not a channel: use EMAIL, SMS or PUSH.")
            campaign.templates = {k: v.strip() for k, v in templates.items()}
    for key, given in (("content", data.content), ("fallbacks", data.fallbacks)):
        if given is not UNSET:
            value = given or {}
            if not isinstance(value, dict):
                fail(key, "Give an object.")
            else:
                setattr(campaign, key, value)
    if data.priority is not UNSET:
        try:
            campaign.priority = _priority(data.priority)
        except ValueError as exc:
            fail("priority", str(exc))
    for key, attr, when in (
        ("scheduledAt", "scheduled_at", data.scheduled_at), ("endsAt", "ends_at", data.ends_at),
        ("expiresAt", "expires_at", data.expires_at),
    ):  # fmt: skip
        if when is not UNSET:
            try:
                setattr(campaign, attr, _parse_when(when, tz))
            except ValueError as exc:
                fail(key, str(exc))
    if data.topic is not UNSET:
        topic = (data.topic or "").strip()
        if len(topic) > 120:
            fail("topic", "At most 120 characters (competition:<id>).")
        campaign.topic = topic[:120]
    if data.recurrence is not UNSET:
        recurrence = (data.recurrence or "").strip()
        if recurrence:
            try:
                cron_fields(recurrence)
            except ValueError as exc:
                fail("recurrence", str(exc))
        campaign.recurrence = recurrence
    if data.trigger is not UNSET:
        trigger = data.trigger or TriggerInput()
        event_type = trigger.event_type or ""
        if not isinstance(event_type, str):
            fail("trigger.eventType", "Give the event type as text.")
            event_type = ""
        event_type = _trigger_event_type(event_type)
        if event_type and event_type not in _trigger_event_types():
            fail(
                "trigger.eventType",
                f"{event_type!r} is not an event the club receives: use one of the event "
                "catalogue's types, such as teetime.booking.completed.",
            )
        campaign.trigger_event_type = event_type
        filters = trigger.filters or {}
        if not isinstance(filters, dict):
            fail("trigger.filters", "Give an object matched against the event envelope.")
        else:
            campaign.trigger_filters = filters
    for key, attr, high, percent in (
        ("holdoutPercent", "holdout_percent", 50, data.holdout_percent),
        ("testPoolPercent", "test_pool_percent", 100, data.test_pool_percent),
    ):  # fmt: skip
        if percent is not UNSET and percent is not None:
            try:
                setattr(campaign, attr, _percent(percent, low=0, high=high))
            except ValueError as exc:
                fail(key, str(exc))
    if data.winner_metric is not UNSET:
        if data.winner_metric not in WinnerMetric.values:
            fail("winnerMetric", f"One of {', '.join(WinnerMetric.values)}.")
        else:
            campaign.winner_metric = data.winner_metric
    if data.winner_after_hours is not UNSET:
        hours = data.winner_after_hours
        if not isinstance(hours, int) or not 1 <= hours <= 24 * 14:
            fail("winnerAfterHours", "Whole hours, 1 to 336.")
        else:
            campaign.winner_after_hours = hours
    if data.conversion_window_days is not UNSET:
        days = data.conversion_window_days
        if days is not None and (not isinstance(days, int) or not 1 <= days <= 90):
            fail("conversionWindowDays", "Whole days, 1 to 90.")
        else:
            campaign.conversion_window_days = days
    if data.variants is not UNSET:
        later["variants"] = _validate_variants(data.variants or [], tz, fail)
    return later


def _validate_variants(
    raw: list[CampaignVariantInput], tz: str, fail: Callable[[str, str], None]
) -> list[dict[str, Any]]:
    if len(raw) > MAX_VARIANTS:
        fail("variants", f"At most {MAX_VARIANTS} variants.")
    out, seen = [], set()
    for index, item in enumerate(raw[:MAX_VARIANTS]):
        path = f"variants[{index}]"
        key = str(item.key or VARIANT_KEYS[index]).upper()
        if key not in VARIANT_KEYS:
            fail(f"{path}.key", "One of A, B, C, D.")
        elif key in seen:
            fail(f"{path}.key", f"Variant {key} appears twice.")
        seen.add(key)
        weight = item.weight
        if not isinstance(weight, int) or not 1 <= weight <= 100:
            fail(f"{path}.weight", "A whole number from 1 to 100.")
            weight = 1
        content: Any = item.content or {}
        templates: Any = item.templates or {}
        if not isinstance(content, dict):
            fail(f"{path}.content", "Give an object.")
            content = {}
        if not isinstance(templates, dict):
            fail(f"{path}.templates", "Give an object.")
            templates = {}
        try:
            send_at = _parse_when(item.send_at, tz)
        except ValueError as exc:
            fail(f"{path}.sendAt", str(exc))
            send_at = None
        out.append(
            {"key": key, "weight": weight, "content": content, "templates": templates,
             "send_at": send_at}
        )  # fmt: skip
    return out


def _save_related(campaign: Campaign, later: dict[str, Any]) -> None:
    if "include" in later:
        campaign.include_segments.set(later["include"])
    if "exclude" in later:
        campaign.exclude_segments.set(later["exclude"])
    if "variants" in later:
        campaign.variants.all().delete()
        Variant.objects.bulk_create(Variant(campaign=campaign, **v) for v in later["variants"])


def _check_ready(campaign: Campaign) -> None:
    """What a campaign needs before it can be scheduled or sent (a 400 naming each field)."""
    errors: dict[str, list[str]] = {}
    if not campaign.channels:
        errors["channels"] = ["Give at least one channel."]
    for channel in campaign.channels:
        if not campaign.templates.get(channel):
            errors[f"templates.{channel}"] = [f"Give a template id for {channel}."]
    if not campaign.include_segments.exists():
        errors["audience.include"] = ["Include at least one segment."]
    variants = list(campaign.variants.all())
    if campaign.test_pool_percent and len(variants) < 2:
        errors["testPoolPercent"] = ["A test pool needs at least two variants."]
    if campaign.test_pool_percent and campaign.type != CampaignType.ONE_TIME:
        errors["testPoolPercent"] = ["A test pool with a winner is for ONE_TIME campaigns."]
    now = timezone.now()
    if campaign.type == CampaignType.RECURRING and not campaign.recurrence:
        errors["recurrence"] = ["A RECURRING campaign needs a cron schedule."]
    if campaign.type == CampaignType.TRIGGERED and not campaign.trigger_event_type:
        errors["trigger.eventType"] = ["A TRIGGERED campaign needs an event type."]
    if campaign.ends_at and campaign.ends_at <= now:
        errors["endsAt"] = ["The end date has passed."]
    # Unknown variables in its templates and subjects, by block and field (issue 18).
    errors.update(campaign_template_problems(campaign))
    if campaign.expires_at and campaign.expires_at <= now:
        errors["expiresAt"] = ["The expiry has passed: nothing would go out."]
    if not errors:
        try:
            audience_queryset(campaign=campaign).query.sql_with_params()
        except RuleError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)


def _publish(event_type: str, campaign: Campaign, **extra: Any) -> None:
    payload = {
        "campaignId": str(campaign.id),
        "name": campaign.name,
        "type": campaign.type,
        "channels": list(campaign.channels),
        **extra,
    }
    outbound_record_many(items=[(event_type, payload, {})])
    from crm.transport.outbound import outbound_relay_soon

    outbound_relay_soon()


def _audit(action: str, campaign: Campaign, actor_label: str, **details: Any) -> None:
    audit_record(
        action=f"campaign.{action}",
        actor_label=actor_label,
        object_type="campaign",
        object_id=str(campaign.id),
        details=details,
    )


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


# --- create and edit -------------------------------------------------------------------------


@transaction.atomic
def _trigger_event_types() -> set[str]:
    """The event types a campaign can be triggered by: those the club's timeline receives (the
    ingestion catalogue, events.md)."""
    from profiles.envelope import PAYLOADS

    return set(PAYLOADS)


def _trigger_event_type(raw: str) -> str:
    """An event type as the catalogue names it: the producers' aliases read as theirs."""
    from profiles.envelope import ALIASES

    value = raw.strip()
    return ALIASES.get(value, value)


def campaign_create(*, data: CampaignInput, actor_label: str = "") -> Campaign:
    """Create a DRAFT campaign (segments.md); `channels` defaults to EMAIL."""
    campaign = Campaign(created_by=actor_label)
    errors: dict[str, list[str]] = {}
    if data.channels is UNSET:
        data = replace(data, channels=["EMAIL"])
    if data.name is UNSET or not (data.name or "").strip():
        errors["name"] = ["Give the campaign a name."]
    later = _validate(campaign, data, errors)
    if errors:
        raise ValidationError(errors)
    campaign.save()
    _save_related(campaign, later)
    _audit("create", campaign, actor_label, name=campaign.name, type=campaign.type)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, data: CampaignInput, actor_label: str = "") -> Campaign:
    """Change the fields `data` gives (the others stay as they are)."""
    campaign = _locked(campaign)
    if campaign.status not in EDITABLE:
        raise CampaignStateError(
            f"A {campaign.status} campaign cannot be edited; only DRAFT, SCHEDULED and PAUSED "
            "ones can."
        )
    if data.type is not UNSET and data.type != campaign.type and campaign.status != "DRAFT":
        raise CampaignStateError("The type can only change while the campaign is a DRAFT.")
    errors: dict[str, list[str]] = {}
    later = _validate(campaign, data, errors)
    if (
        campaign.type == CampaignType.RECURRING
        and campaign.status != CampaignStatus.DRAFT
        and not campaign.recurrence
    ):
        errors.setdefault("recurrence", []).append("A scheduled RECURRING campaign needs one.")
    if errors:
        raise ValidationError(errors)
    campaign.save()
    _save_related(campaign, later)
    if campaign.type == CampaignType.RECURRING and campaign.periodic_task_name:
        _periodic_task_sync(campaign)
    _audit("update", campaign, actor_label, changed=fields_given(data))
    return campaign


# --- a journey's hidden step campaigns (journeys make and close them through here) ---------


def journey_step_campaign_ensure(
    *,
    journey_id: uuid.UUID,
    journey_name: str,
    version: int,
    step_key: str,
    channel: str,
    template: str,
    content: dict[str, Any],
    variables: dict[str, Any],
    priority: int,
) -> Campaign:
    """The hidden JOURNEY campaign of one send step of a journey's version, made once (a
    repeat returns the same row). It is SCHEDULED from the start: the journey's engine adds
    a run to it for each batch of customers reaching the step."""
    campaign, _ = Campaign.objects.get_or_create(
        journey_id=journey_id,
        journey_version=version,
        journey_step=step_key,
        defaults={
            "name": f"{journey_name} · v{version} · {step_key}"[:200],
            "description": f"Send step {step_key!r} of journey {journey_name!r}.",
            "type": CampaignType.JOURNEY,
            "status": CampaignStatus.SCHEDULED,
            "channels": [channel],
            "templates": {channel: template},
            "content": content,
            "variables": variables,
            "priority": priority,
            "created_by": f"journey:{journey_id}",
        },
    )
    return campaign


def journey_step_run_start(
    *,
    campaign: Campaign,
    customer_ids: list[uuid.UUID],
    event_payloads: dict[uuid.UUID, dict[str, Any]],
    now: dt.datetime,
) -> CampaignRun:
    """One batch of a journey's send step: a run of its hidden campaign for these customers,
    planned now; each send carries its trigger event's payload as `event` (and, for a booking,
    the round's links), then delivery is queued."""
    from campaigns.sending import run_plan

    run = CampaignRun.objects.create(
        campaign=campaign, key=f"journey:{uuid.uuid4().hex}", trigger_customers=customer_ids
    )
    run_plan(run_id=run.id, now=now)
    if event_payloads:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE campaigns_send AS s SET variables = jsonb_build_object('event', v.payload)
                FROM unnest(%s::uuid[], %s::jsonb[]) AS v(customer_id, payload)
                WHERE s.run_id = %s AND s.customer_id = v.customer_id
                """,
                [
                    [str(c) for c in event_payloads],
                    [json.dumps(p) for p in event_payloads.values()],
                    run.id,
                ],
            )
    run_round_links(run.id)
    queue_deliver(run.id, parallel=deliveries_for(len(customer_ids)))
    return run


def run_round_links(run_id: uuid.UUID) -> None:
    """A send whose trigger event was about a booking carries that round's own signed links
    (profiles.rounds): `links.surveyUrl` and `links.guestFormUrl`. Made here (an HMAC per
    recipient, no query each) and written in one statement."""
    from profiles.rounds import booking_links

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, customer_id, variables->'event'->>'bookingId' FROM campaigns_send"
            " WHERE run_id = %s AND variables->'event' ? 'bookingId'",
            [run_id],
        )
        rows = cursor.fetchall()
        if not rows:
            return
        links = [
            json.dumps(booking_links(booking_id=booking, customer_id=customer))
            for _id, customer, booking in rows
        ]
        cursor.execute(
            """
            UPDATE campaigns_send AS s SET variables = s.variables || jsonb_build_object(
                'links', v.links::jsonb)
            FROM unnest(%s::uuid[], %s::text[]) AS v(id, links) WHERE s.id = v.id
            """,
            [[str(r[0]) for r in rows], links],
        )


def journey_campaigns_complete(*, journey_id: uuid.UUID) -> int:
    """Close the hidden campaigns of an archived journey (nothing more will send from them).
    Returns how many were closed."""
    return (
        Campaign.objects.filter(journey_id=journey_id)
        .exclude(status__in=(CampaignStatus.COMPLETED, CampaignStatus.CANCELLED))
        .update(status=CampaignStatus.COMPLETED, completed_at=timezone.now())
    )


# --- state changes ---------------------------------------------------------------------------


def _refuse(campaign: Campaign, action: str, allowed: tuple[str, ...]) -> None:
    if campaign.status not in allowed:
        raise CampaignStateError(
            f"Cannot {action} a {campaign.status} campaign; {action} applies to "
            f"{' or '.join(allowed)} campaigns."
        )


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor_label: str = "") -> Campaign:
    campaign = _locked(campaign)
    _refuse(campaign, "schedule", (CampaignStatus.DRAFT,))
    _check_ready(campaign)
    if campaign.type == CampaignType.ONE_TIME:
        if not campaign.scheduled_at:
            raise ValidationError({"scheduledAt": ["Give the time to send (or use send)."]})
        if campaign.scheduled_at <= timezone.now():
            raise ValidationError({"scheduledAt": ["That time has passed; use send to send now."]})
    if campaign.type == CampaignType.TRIGGERED:
        # Listening starts now: earlier events do not trigger it.
        campaign.trigger_cursor = Activity.objects.aggregate(top=Max("id"))["top"] or 0
    campaign.status = CampaignStatus.SCHEDULED
    campaign.save()
    if campaign.type == CampaignType.RECURRING:
        _periodic_task_sync(campaign)
    _publish(
        "crm.campaign.scheduled",
        campaign,
        scheduledAt=campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
        recurrence=campaign.recurrence or None,
        triggerEventType=campaign.trigger_event_type or None,
    )
    _audit("schedule", campaign, actor_label)
    return campaign


@transaction.atomic
def campaign_send_now(
    *, campaign: Campaign, actor_label: str = "", now: dt.datetime | None = None
) -> Campaign:
    """Send a DRAFT or SCHEDULED ONE_TIME campaign now (`now`: the clock, for a club's history
    made through here, e.g. the demo's campaign sent earlier in the day)."""
    now = now or timezone.now()
    campaign = _locked(campaign)
    if campaign.type != CampaignType.ONE_TIME and campaign.status in (
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
    ):
        raise CampaignStateError(
            f"A {campaign.type} campaign sends on its "
            f"{'schedule' if campaign.type == CampaignType.RECURRING else 'trigger'}; "
            "schedule it instead."
        )
    _refuse(campaign, "send", (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED))
    _check_ready(campaign)
    _publish(
        "crm.campaign.scheduled", campaign, scheduledAt=now.isoformat(),
        recurrence=None, triggerEventType=None,
    )  # fmt: skip
    _start_run(campaign, key="once", now=now)
    _audit("send", campaign, actor_label)
    return campaign


def _start_run(
    campaign: Campaign,
    *,
    key: str,
    customer_ids: list[uuid.UUID] | None = None,
    now: dt.datetime | None = None,
) -> CampaignRun | None:
    """Create the run (once per key) and plan it after the commit."""
    run, created = CampaignRun.objects.get_or_create(
        campaign=campaign, key=key, defaults={"trigger_customers": customer_ids}
    )
    if campaign.type != CampaignType.TRIGGERED:
        campaign.status = CampaignStatus.SENDING
    campaign.started_at = campaign.started_at or now or timezone.now()
    campaign.save(update_fields=["status", "started_at", "updated_at"])
    if created:
        queue_plan(run.id)
    return run if created else None


def queue_plan(run_id: uuid.UUID) -> None:
    from campaigns.tasks import plan_run

    transaction.on_commit(lambda: plan_run.delay(str(run_id)))


def queue_deliver(run_id: uuid.UUID, *, parallel: int = 1, countdown: float | None = None) -> None:
    from campaigns.tasks import deliver_run

    def go() -> None:
        for _ in range(max(1, parallel)):
            deliver_run.apply_async(args=[str(run_id)], countdown=countdown)

    transaction.on_commit(go)


def deliveries_for(pending: int) -> int:
    """How many delivery tasks a run starts with: enough to keep a few workers busy."""
    per_task = BATCH_SIZE * BATCHES_PER_TASK
    return max(1, min(PARALLEL_DELIVERIES, -(-pending // per_task)))


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor_label: str = "") -> Campaign:
    campaign = _locked(campaign)
    _refuse(campaign, "pause", (CampaignStatus.SCHEDULED, CampaignStatus.SENDING))
    campaign.paused_from = campaign.status
    campaign.status = CampaignStatus.PAUSED
    campaign.save()
    if campaign.type == CampaignType.RECURRING:
        _periodic_task_sync(campaign)
    _audit("pause", campaign, actor_label)
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor_label: str = "") -> Campaign:
    campaign = _locked(campaign)
    _refuse(campaign, "resume", (CampaignStatus.PAUSED,))
    campaign.status = campaign.paused_from or CampaignStatus.SCHEDULED
    campaign.paused_from = ""
    campaign.save()
    if campaign.type == CampaignType.RECURRING:
        _periodic_task_sync(campaign)
    for run in campaign.runs.filter(status=RunStatus.SENDING):
        queue_deliver(run.id, parallel=deliveries_for(run.targeted))
    _audit("resume", campaign, actor_label)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, actor_label: str = "") -> Campaign:
    campaign = _locked(campaign)
    _refuse(
        campaign,
        "cancel",
        (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.SENDING,
         CampaignStatus.PAUSED),
    )  # fmt: skip
    cancelled = 0
    for run in campaign.runs.exclude(status__in=(RunStatus.DONE, RunStatus.CANCELLED)):
        cancelled += run_cancel_pending(run=run)
        run.status = RunStatus.CANCELLED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
    campaign.status = CampaignStatus.CANCELLED
    campaign.completed_at = timezone.now()
    campaign.save()
    if campaign.periodic_task_name:
        _periodic_task_delete(campaign)
    _audit("cancel", campaign, actor_label, unsent=cancelled)
    return campaign


# --- runs: finishing, recurring firings, triggers ------------------------------------------


@transaction.atomic
def run_finish_if_done(*, run_id: uuid.UUID | str, now: dt.datetime | None = None) -> bool:
    """Close a run with nothing left to hand over; publish `crm.campaign.sent`; complete a
    ONE_TIME campaign. Safe to repeat."""
    now = now or timezone.now()
    run = (
        CampaignRun.objects.select_for_update(of=("self",))
        .select_related("campaign")
        .get(pk=run_id)
    )
    if run.status != RunStatus.SENDING or run_is_open(run=run):
        return False
    run.status = RunStatus.DONE
    run.finished_at = now
    run.save(update_fields=["status", "finished_at"])
    if run.campaign.type in HIDDEN_TYPES:
        # A journey's runs are its batches (one a minute while customers flow through): the
        # journey is what other services follow, not each batch of its messages. Its campaign
        # row is left unlocked: the journey's engine adds runs to it all the time.
        return True
    campaign = _locked(run.campaign)
    counts = dict(
        Send.objects.filter(run=run)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    _publish(
        "crm.campaign.sent",
        campaign,
        runId=str(run.id),
        runKey=run.key,
        targeted=run.targeted,
        accepted=counts.get(SendStatus.ACCEPTED, 0),
        suppressed=counts.get(SendStatus.SUPPRESSED, 0),
        failed=counts.get(SendStatus.FAILED, 0),
        holdout=counts.get(SendStatus.HOLDOUT, 0),
    )
    if campaign.status == CampaignStatus.SENDING:
        if campaign.type == CampaignType.ONE_TIME:
            campaign.status = CampaignStatus.COMPLETED
            campaign.completed_at = now
        else:
            campaign.status = CampaignStatus.SCHEDULED
        campaign.save()
    return True


@transaction.atomic
def campaign_fire_recurring(*, campaign_id: uuid.UUID | str, now: dt.datetime | None = None):
    """One firing of a RECURRING campaign (beat's PeriodicTask). The run's key is the firing's
    minute in club time, so a repeated firing is the same run."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None or campaign.type != CampaignType.RECURRING:
        return None
    if campaign.ends_at and now >= campaign.ends_at:
        _complete_ended(campaign)
        return None
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        return None  # paused or cancelled: this firing sends nothing
    local = now.astimezone(ZoneInfo(tenant_current().timezone or "UTC"))
    return _start_run(campaign, key=local.strftime("%Y-%m-%dT%H:%M"))


def _complete_ended(campaign: Campaign) -> None:
    if campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
        return
    if campaign.runs.filter(status__in=(RunStatus.PLANNING, RunStatus.SENDING)).exists():
        return  # the last firing finishes first
    campaign.status = CampaignStatus.COMPLETED
    campaign.completed_at = timezone.now()
    campaign.save()
    if campaign.periodic_task_name:
        _periodic_task_delete(campaign)


def _envelope_matches(envelope: Any, filters: dict[str, Any]) -> bool:
    return True if not filters else _contains(envelope, filters)


def _contains(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and _contains(value[key], sub) for key, sub in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_contains(v, p) for v in value) for p in pattern)
    return value == pattern


@transaction.atomic
def campaign_process_triggers(*, campaign_id: uuid.UUID | str) -> CampaignRun | None:
    """Read the timeline rows added since the trigger's cursor; the customers of those whose
    event type matches (and whose envelope contains the filters, PostgreSQL `@>`) get this
    campaign in one run. The cursor moves in the same transaction, so a crash repeats nothing."""
    campaign = Campaign.objects.select_for_update(skip_locked=True).filter(pk=campaign_id).first()
    if (
        campaign is None
        or campaign.type != CampaignType.TRIGGERED
        or campaign.status != CampaignStatus.SCHEDULED
    ):
        return None
    if campaign.ends_at and timezone.now() >= campaign.ends_at:
        _complete_ended(campaign)
        return None
    window = Activity.objects.filter(id__gt=campaign.trigger_cursor).order_by("id")
    upper = (
        window.values_list("id", flat=True)[TRIGGER_BATCH - 1 : TRIGGER_BATCH].first()
        or window.aggregate(top=Max("id"))["top"]
    )
    if upper is None:
        return None
    matches = Activity.objects.filter(
        id__gt=campaign.trigger_cursor,
        id__lte=upper,
        type=campaign.trigger_event_type,
        customer__isnull=False,
    )
    if campaign.trigger_filters:
        matches = matches.filter(raw_event__envelope__contains=campaign.trigger_filters)
    customer_ids = sorted(set(matches.values_list("customer_id", flat=True)))
    key = f"trigger:{campaign.trigger_cursor + 1}-{upper}"
    campaign.trigger_cursor = upper
    campaign.save(update_fields=["trigger_cursor", "updated_at"])
    if not customer_ids:
        return None
    return _start_run(campaign, key=key, customer_ids=customer_ids)


# --- recurring: the PeriodicTask in the public schema ----------------------------------------


def _periodic_task_sync(campaign: Campaign) -> None:
    """Create or update the campaign's beat entry: its crontab in the club's time zone, the
    club's schema in the message headers (tenant-schemas-celery runs it there), disabled
    unless SCHEDULED, expiring at the end date."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    schema = connection.schema_name
    tenant = tenant_current()
    name = campaign.periodic_task_name or f"campaign:{schema}:{campaign.id}"
    fields = cron_fields(campaign.recurrence)
    with schema_context("public"):
        schedule, _ = CrontabSchedule.objects.get_or_create(
            **fields, timezone=tenant.timezone or "UTC"
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": "campaigns.fire_recurring",
                "crontab": schedule,
                "interval": None,
                "kwargs": json.dumps({"campaign_id": str(campaign.id)}),
                "headers": json.dumps({"_schema_name": schema}),
                "expires": campaign.ends_at,
                "enabled": campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING),
                "description": f"{tenant.name}: {campaign.name}",
            },
        )
    if campaign.periodic_task_name != name:
        campaign.periodic_task_name = name
        campaign.save(update_fields=["periodic_task_name"])


def _periodic_task_delete(campaign: Campaign) -> None:
    from django_celery_beat.models import PeriodicTask

    with schema_context("public"):
        PeriodicTask.objects.filter(name=campaign.periodic_task_name).delete()


# --- preview and test send -------------------------------------------------------------------


def campaign_preview(
    *, campaign: Campaign, customer: Customer, channel: str | None = None, variant: str = ""
) -> dict[str, Any]:
    """The request this customer would get (nothing is saved or sent), with the reason they
    would be skipped, if any, and the email as it will look: rendered by the Messaging Service
    when one is configured (it holds the template), else by the fallback. A service that cannot
    render it leaves `emailProblem` saying why instead."""
    from campaigns.delivery.email import render_email
    from campaigns.email_templates.messaging import (
        MessagingTemplateError,
        MessagingTemplatesClient,
    )
    from campaigns.email_templates.selectors import template_source
    from campaigns.selectors import suppression_reason

    channel = channel or (campaign.channels[0] if campaign.channels else "EMAIL")
    if channel not in Channel.values:
        raise ValidationError({"channel": ["One of EMAIL, SMS, PUSH."]})
    if variant and not campaign.variants.filter(key=variant).exists():
        raise ValidationError({"variant": [f"This campaign has no variant {variant}."]})
    ctx = RequestContext.of(campaign)
    row = _customer_row(customer)
    request = build_request(ctx, row, key=str(uuid.uuid4()), channel=channel, variant=variant)
    preview: dict[str, Any] = {
        "request": request,
        "suppressedBecause": suppression_reason(customer=customer, channel=channel),
    }
    if channel == Channel.EMAIL and template_source() == "messaging":
        try:
            with MessagingTemplatesClient.from_settings() as client:
                out = client.render(
                    template_id=request["templateId"],
                    tenant_id=request["tenantId"],
                    variables=request["variables"],
                    content=request["content"],
                )
        except MessagingTemplateError as exc:
            preview["emailProblem"] = str(exc)
        else:
            preview["email"] = {key: out.get(key, "") for key in ("subject", "text", "html")}
    elif channel == Channel.EMAIL:
        subject, text, html = render_email(request)
        preview["email"] = {"subject": subject, "text": text, "html": html}
    return preview


def _customer_row(customer: Customer) -> dict[str, Any]:
    """The same row the delivery reads, for one customer (no send row needed)."""
    names = (
        "email", "phone_number", "first_name", "last_name", "membership_tier", "handicap",
        "renewal_due_on", "messaging_contact_id", "auth_user_id",
    )  # fmt: skip
    row = {name: getattr(customer, name) for name in names}
    row["customer_id"] = customer.id
    row["tee_time"] = _next_tee_time(customer)
    return row


def _next_tee_time(customer: Customer) -> dt.datetime | None:
    """The customer's next booked tee time, read as the ledger's request builder reads it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT min((a.data->>'teeTime')::timestamptz) FROM profiles_activity AS a
            WHERE a.customer_id = %(c)s AND a.type = 'teetime.booking.created'
              AND (a.data->>'teeTime')::timestamptz > now()
              AND NOT EXISTS (SELECT 1 FROM profiles_activity AS x
                  WHERE x.customer_id = %(c)s AND x.type = 'teetime.booking.cancelled'
                    AND x.data->>'bookingId' = a.data->>'bookingId')
            """,
            {"c": customer.id},
        )
        return cursor.fetchone()[0]


def campaign_test_send(
    *,
    campaign: Campaign,
    addresses: list[str] | None = None,
    customer: Customer | None = None,
    variant: str = "",
    actor_label: str = "",
    adapter=None,
) -> list[dict[str, Any]]:
    """Send the campaign's EMAIL to staff addresses now (the club's test addresses when none
    are given), with a chosen customer's variables or the fallbacks. Each gets its own key and
    `metadata.test = true`; nothing enters the ledger or the statistics."""
    from django.core.validators import validate_email

    from campaigns.delivery import adapter_for_settings

    addresses = [a.strip() for a in (addresses or campaign_settings().test_addresses) if a]
    if not addresses:
        raise ValidationError({"addresses": ["Give at least one staff email address."]})
    for index, address in enumerate(addresses):
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({f"addresses[{index}]": ["Not an email address."]}) from None
    if not campaign.templates.get(Channel.EMAIL):
        raise ValidationError({"templates.EMAIL": ["Give the campaign an EMAIL template first."]})
    if variant and not campaign.variants.filter(key=variant).exists():
        raise ValidationError({"variant": [f"This campaign has no variant {variant}."]})
    ctx = RequestContext.of(campaign)
    base = _customer_row(customer) if customer else {"customer_id": None}
    requests = []
    for address in addresses:
        request = build_request(
            ctx, base, key=str(uuid.uuid4()), channel=Channel.EMAIL, variant=variant
        )
        request["to"] = {"email": address, "name": "Test send"}
        request["metadata"]["test"] = True
        request["metadata"]["customerId"] = str(customer.id) if customer else None
        request["content"] = {
            **request["content"],
            "subject": f"[TEST] {request['content'].get('subject') or campaign.name}",
        }
        requests.append(request)
    adapter = adapter or adapter_for_settings()
    try:
        results = adapter.deliver(requests)
    finally:
        adapter.close()
    _audit("test_send", campaign, actor_label, addresses=addresses)
    return [
        {"address": address, "outcome": result.outcome, "detail": result.detail}
        for address, result in zip(addresses, results, strict=True)
    ]


# --- one-click unsubscribe (the fallback's List-Unsubscribe) ---------------------------------


@transaction.atomic
def send_unsubscribe(*, send: Send) -> bool:
    """Honour an unsubscribe from a message at once: the customer is opted out of its channel
    by profiles' own service (their source records, profile and timeline, with the sendId),
    and an audit row is written. Returns False when they were already opted out (a second
    click changes nothing)."""
    from profiles.services import customer_channel_opt_out

    changed = customer_channel_opt_out(
        customer_id=send.customer_id,
        channel=send.channel,
        send_id=str(send.id),
        source="UNSUBSCRIBE_LINK",
        title=f"Opted out of {send.channel.lower()} (unsubscribe link)",
    )
    if not changed:
        return False
    audit_record(
        action="campaign.unsubscribe",
        actor_label=f"customer:{send.customer_id}",
        object_type="customer",
        object_id=str(send.customer_id),
        details={"sendId": str(send.id), "channel": send.channel},
    )
    return True
