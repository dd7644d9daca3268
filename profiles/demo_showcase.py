"""After the demo club's events are applied (load_demo_data): what a club that uses the
product would have, made through the same services staff and integrators use, so the first
look at the admin shows it working. Re-runs add nothing (each step checks first).

- Scores for everyone, and a churn model trained on the club's year; with too little history
  the model is recorded as such and the rule-based score is used (the admin and the dashboard
  say which).
- Five segments from the templates, materialised.
- A finished email campaign, sent through the built-in email fallback (the dev club has no
  Messaging Service) with the campaign services' clock set to 10:00 club time four days
  before the demo's last day, so the demo never depends on the hour it runs at (quiet hours at
  night would otherwise hold the send until morning). Its deliveries, opens and clicks arrive
  afterwards as the Messaging Service's events (`sendId` = the CRM's send), through the same
  ingestion as every event; conversions are the bookings the members made after opening.
  The emails go to Django's dummy email backend: the demo's addresses are made up.
- Two journeys from the presets (welcome a new member, win back a lapsing golfer), published,
  with customers enrolled by staff ten and two days ago (the journey services' and engine's
  clocks), so enrolments wait at several steps; their emails are handed over at each step's
  time like the campaign's.
- Competition auto-promotion switched on, and TeeTime's update of the competition still open
  for entries (its entries count) gives it a promotion plan.

Choices: the campaign's audience is the "Weekday morning players" segment; engagement and
bookings after a click come from one `random.Random(seed)`, dealt in the order of the
customers' emails (the generator's, not their random ids), so the same seed and day give the
same figures; however small the club, one golfer opens, clicks and books.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.utils import timezone

DEMO_SEGMENTS = (
    "at_risk_members",
    "renewal_due_30_days",
    "lapsed_golfers",
    "weekday_morning_players",
    "email_engaged",
)
ACTOR = "demo data"


def demo_scores() -> dict[str, Any]:
    from profiles.models import ChurnModel
    from profiles.scoring_services import churn_model_train, scores_recompute

    model = ChurnModel.objects.order_by("-version").first()
    if model is None:
        model = churn_model_train()
    result = scores_recompute()
    return {"scored": result["scored"], "churnModel": model.status, "modelNotes": model.notes}


def demo_segments() -> list[str]:
    from segments.models import Segment
    from segments.presets import templates_for
    from segments.services import segment_create, segment_refresh

    templates = {t["key"]: t for t in templates_for(month=timezone.now().month)}
    made = []
    for key in DEMO_SEGMENTS:
        template = templates[key]
        segment = (
            Segment.objects.filter(template_key=key).first()
            or Segment.objects.filter(name__iexact=template["name"]).first()
        )
        if segment is None:
            segment = segment_create(
                name=template["name"],
                rules=template["rules"],
                description=template.get("description", ""),
                template_key=key,
                actor_label=ACTOR,
            )
            made.append(segment.name)
        segment_refresh(segment_id=segment.id)
    return made


DEMO_CAMPAIGN = "Winter mornings: bring a friend for free"
DEMO_JOURNEYS = (
    ("welcome_new_member", "Welcome a new member"),
    ("win_back_lapsing_golfer", "Win back a lapsing golfer"),
)
DUMMY_EMAIL = "django.core.mail.backends.dummy.EmailBackend"
_IDS = uuid.UUID("0f3c6d1e-59a4-4d0b-9d55-6b1c2f0de517")  # namespace of the demo's event ids


class _Demo:
    """The club, its zone and the demo's last day; events made here go through ingestion."""

    def __init__(self, *, tenant: Any, today: dt.date, seed: int) -> None:
        self.tenant = tenant
        self.today = today
        self.zone = ZoneInfo(tenant.timezone or "UTC")
        self.rng = random.Random(seed)  # noqa: S311 (demo data)
        self.events: list[dict[str, Any]] = []

    def local(self, days_before: int, hour: int, minute: int = 0) -> dt.datetime:
        """hour:minute club time, `days_before` the demo's last day."""
        day = self.today - dt.timedelta(days=days_before)
        return dt.datetime.combine(day, dt.time(hour, minute), self.zone)

    def emit(self, key: str, type_: str, at: dt.datetime, identity: dict, payload: dict) -> None:
        source = type_.split(".", 1)[0]
        at = at.astimezone(dt.UTC)
        stamp = (
            at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
            if source == "messaging"
            else at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        self.events.append(
            {
                "id": str(uuid.uuid5(_IDS, f"{self.tenant.id}:{key}")),
                "type": type_,
                "version": 1,
                "timestamp": stamp,
                "tenantId": str(self.tenant.id),
                "tenantSlug": self.tenant.slug,
                "source": source,
                "identity": {k: v for k, v in identity.items() if v is not None},
                "payload": payload,
                "metadata": {"correlationId": str(uuid.uuid5(_IDS, key)), "userId": None},
            }
        )

    def flush(self) -> int:
        """Ingest and apply what was emitted, as the services' events are."""
        from profiles.apply import events_apply_pending
        from profiles.ingestion import events_ingest

        events, self.events = self.events, []
        for first in range(0, len(events), 1000):
            events_ingest(
                tenant=self.tenant, envelopes=events[first : first + 1000], transport="replay"
            )
        while events_apply_pending(limit=1000):
            pass
        return len(events)


def _deliver(run_id: Any, *, now: dt.datetime) -> None:
    """Hand a run's sends over at `now` through the email fallback (dummy backend), then close
    the run, as the delivery task would at that moment."""
    from campaigns.delivery.email import EmailAdapter
    from campaigns.sending import run_deliver
    from campaigns.services import run_finish_if_done

    adapter = EmailAdapter(backend=DUMMY_EMAIL)
    while run_deliver(run_id=run_id, adapter=adapter, now=now).more:
        pass
    run_finish_if_done(run_id=run_id, now=now + dt.timedelta(minutes=2))


def demo_campaign(demo: _Demo) -> str | None:
    """A finished campaign with its Messaging events; None when the club has one already."""
    from campaigns.models import Campaign, Send, SendStatus
    from campaigns.sending import run_plan
    from campaigns.services import (
        AudienceInput,
        CampaignInput,
        campaign_create,
        campaign_send_now,
    )
    from segments.models import Segment

    if Campaign.objects.filter(name=DEMO_CAMPAIGN).exists():
        return None
    audience = Segment.objects.get(template_key="weekday_morning_players")
    campaign = campaign_create(
        data=CampaignInput(
            name=DEMO_CAMPAIGN,
            description="Weekday morning players may bring a friend for free this winter.",
            type="ONE_TIME",
            channels=["EMAIL"],
            audience=AudienceInput(include=[str(audience.id)]),
            templates={"EMAIL": "winter_mornings"},
            content={
                "subject": "Bring a friend for free on winter mornings, {{ firstName }}",
                "body": "Until the end of February, a friend plays free with you on weekday "
                "mornings. Book your tee time online.",
            },
            conversion_window_days=7,
        ),
        actor_label=ACTOR,
    )
    sent_at = demo.local(4, 10)
    campaign_send_now(campaign=campaign, actor_label=ACTOR, now=sent_at)
    run = campaign.runs.get()
    run_plan(run_id=run.id, now=sent_at)
    _deliver(run.id, now=sent_at)

    rng, until = demo.rng, timezone.now() - dt.timedelta(minutes=5)
    sends = list(
        Send.objects.filter(run=run, status=SendStatus.ACCEPTED)
        .select_related("customer")
        .order_by("customer__email", "customer_id")  # the generator's order, not random ids
    )
    # However small the club, one golfer opened, clicked and booked (the first who can book).
    sure = next((send.id for send in sends if send.customer.teetime_player_id), None)
    for send in sends:
        c = send.customer
        identity = {"messagingContactId": c.messaging_contact_id, "email": c.email}
        message = {
            "messageId": send.message_id or f"m_{send.id.hex[:16]}",
            "sendId": str(send.id),
            "contactId": c.messaging_contact_id,
            "channel": "EMAIL",
            "recipient": {"email": c.email},
        }
        key = f"campaign:{send.id}"
        assert send.handed_at is not None  # ACCEPTED: handed over, and the time kept
        delivered = send.handed_at + dt.timedelta(seconds=rng.uniform(2, 90))
        demo.emit(f"{key}:delivered", "messaging.message.delivered", delivered, identity, message)
        if rng.random() >= 0.55 and send.id != sure:
            continue
        opened = delivered + dt.timedelta(seconds=min(3 * 86400, rng.expovariate(1 / 14400)))
        if opened >= until:
            continue
        demo.emit(f"{key}:opened", "messaging.email.opened", opened, identity, message)
        if rng.random() >= 0.4 and send.id != sure:
            continue
        clicked = opened + dt.timedelta(seconds=rng.uniform(5, 240))
        url = f"https://{demo.tenant.slug}.example.ie/book?utm_campaign=winter-mornings"
        demo.emit(f"{key}:clicked", "messaging.email.clicked", clicked, identity,
                  {**message, "url": url})  # fmt: skip
        if c.teetime_player_id and (rng.random() < 0.5 or send.id == sure):
            _booking_after_click(demo, key, c, clicked + dt.timedelta(minutes=rng.randint(3, 40)))
    demo.flush()
    return campaign.name


def _booking_after_click(demo: _Demo, key: str, customer: Any, at: dt.datetime) -> None:
    """A tee time booked from the email's link: TeeTime's event, as any booking."""
    day = demo.today + dt.timedelta(days=demo.rng.randint(1, 6))
    tee = dt.datetime.combine(day, dt.time(demo.rng.choice((8, 9, 10, 11, 13))), demo.zone)
    booking = str(uuid.uuid5(_IDS, f"{key}:booking"))
    demo.emit(
        f"{key}:booked",
        "teetime.booking.created",
        at,
        {"teetimePlayerId": customer.teetime_player_id, "email": customer.email},
        {
            "bookingId": booking,
            "playerId": customer.teetime_player_id,
            "course": {"id": "demo-championship", "name": "Championship Course"},
            "teeTime": tee.isoformat(),
            "holes": 18,
            "partySize": 2,
            "guestPlayerIds": [],
            "price": {"amount": "0.00", "currency": demo.tenant.currency or "EUR"},
            "channel": "ONLINE",
        },
    )


def _journey_runs_deliver(now: dt.datetime) -> None:
    from campaigns.models import CampaignRun, CampaignType, RunStatus

    runs = CampaignRun.objects.filter(
        campaign__type=CampaignType.JOURNEY, status=RunStatus.SENDING
    ).values_list("id", flat=True)
    for run_id in list(runs):
        _deliver(run_id, now=now)


def demo_journeys(demo: _Demo) -> list[str]:
    """Two preset journeys, published; staff enrolled customers ten and two days ago."""
    from journeys.engine import run_due
    from journeys.models import Journey
    from journeys.services import journey_enrol, journey_publish, journey_template_copy
    from profiles.models import Customer
    from segments.models import SegmentMembership

    made, journeys = [], {}
    for key, name in DEMO_JOURNEYS:
        journey = Journey.objects.filter(template_key=key).first()
        if journey is None:
            journey = journey_template_copy(key=key, name=name, actor_label=ACTOR)
            journey_publish(journey=journey, actor_label=ACTOR)
            made.append(name)
            journeys[key] = Journey.objects.get(pk=journey.pk)  # as published
    if not journeys:
        return made

    members = Customer.objects.filter(membership_status="ACTIVE")
    # member_since__gte leaves out customers without the date: the stubs cannot tell.
    newcomers = cast(
        list[tuple[uuid.UUID, dt.date]],
        list(
            members.filter(member_since__gte=demo.today - dt.timedelta(days=60))
            .order_by("member_since", "email", "id")
            .values_list("id", "member_since")
        ),
    )
    welcome = journeys.get("welcome_new_member")
    win_back = journeys.get("win_back_lapsing_golfer")
    lapsed = []
    if win_back is not None and win_back.trigger_segment_id is not None:
        lapsed = list(
            SegmentMembership.objects.filter(
                segment_id=win_back.trigger_segment_id, customer__in=members
            )
            .order_by("customer__email", "customer_id")
            .values_list("customer_id", flat=True)[:24]
        )
    for days_before in (10, 2):
        now = demo.local(days_before, 10)
        if welcome is not None:
            joined = [cid for cid, since in newcomers if since <= now.date()]
            newcomers = [(cid, since) for cid, since in newcomers if since > now.date()]
            if joined:
                journey_enrol(journey=welcome, customer_ids=joined, actor_label=ACTOR, now=now)
        if win_back is not None and lapsed:
            half, lapsed = lapsed[: max(1, len(lapsed) // 2)], lapsed[max(1, len(lapsed) // 2) :]
            journey_enrol(journey=win_back, customer_ids=half, actor_label=ACTOR, now=now)
        run_due(now=now)
        _journey_runs_deliver(now)
    return made


def demo_competition(demo: _Demo) -> str | None:
    """Auto-promotion on, and TeeTime's latest word on the competition open for entries."""
    from profiles.models import RawEvent
    from social.models import CompetitionPromotion
    from social.promotion_services import (
        _settle,
        promotion_events_read,
        promotion_settings_update,
        promotion_sync,
    )
    from social.services import Actor

    if CompetitionPromotion.objects.exists():
        return None
    now = timezone.now()
    published = (
        RawEvent.objects.filter(
            type__in=("teetime.competition.published", "teetime.tournament.published")
        )
        .order_by("-occurred_at")
        .values_list("envelope", flat=True)
        .first()
    )
    payload = dict(published["payload"]) if published else {}
    try:
        starts = dt.datetime.fromisoformat(payload["startsAt"])
    except (KeyError, TypeError, ValueError):
        return None
    if starts <= now:
        return None
    payload["entriesCount"] = RawEvent.objects.filter(
        type="teetime.competition.entry.created",
        envelope__payload__competitionId=payload["competitionId"],
    ).count()
    promotion_settings_update(
        actor=Actor(label=ACTOR, is_admin=True),
        data={
            "enabled": True,
            "emailEnabled": True,
            "emailTemplateId": "competition_invite",
            "reminderDays": [7, 3],
        },
    )
    demo.emit(
        f"competition:{payload['competitionId']}:updated",
        "teetime.competition.updated",
        demo.local(1, 9),
        {},
        payload,
    )
    demo.flush()
    # The reader leaves events received in the last few seconds for the next minute's run (a
    # commit that lands late must not be skipped); these are committed, so read past it. A
    # running worker may hold the reader's cursor for a moment (it skips, as ours would).
    plans = CompetitionPromotion.objects.filter(competition_id=payload["competitionId"])
    for _ in range(20):
        promotion_events_read(now=timezone.now() + _settle() + dt.timedelta(seconds=1))
        if plans.exists():
            break
        time.sleep(0.5)
    plan = plans.first()
    if plan is None:
        return None  # the worker's next run plans it within the minute
    promotion_sync(promotion_id=plan.id)
    return plan.name


def _segments_refresh(keys: tuple[str, ...]) -> None:
    """Segments whose members the showcase's events change (not the journeys' triggers: a
    refresh of those would enrol whoever enters, as it should, but the demo enrols by hand)."""
    from segments.models import Segment
    from segments.services import segment_refresh

    for segment in Segment.objects.filter(template_key__in=keys):
        segment_refresh(segment_id=segment.id)


def demo_showcase(*, tenant: Any, today: dt.date, seed: int = 7) -> dict[str, Any]:
    """Run every step; each adds only what is missing."""
    scores = demo_scores()
    segments = demo_segments()
    demo = _Demo(tenant=tenant, today=today, seed=seed)
    campaign = demo_campaign(demo)
    journeys = demo_journeys(demo)
    competition = demo_competition(demo)
    if campaign or journeys or competition:
        scores = demo_scores()  # the new events count in today's scores
        _segments_refresh(("email_engaged", "at_risk_members"))  # the opens, the new scores
    from social.demo import demo_social_week

    demo_social_week()  # a week of planned posts, so the content calendar is not empty
    return {
        **scores,
        "segmentsCreated": segments,
        "campaignCreated": campaign,
        "journeysCreated": journeys,
        "promotionCreated": competition,
    }
