"""After the demo club's year is applied (load_demo_data): the golf-only features working, so
the dashboard's "Tee sheet and players" section is full on first sight. Everything goes through
the real paths: TeeTime's events (ingested and applied like any others) and the services staff,
golfers and the filler's beat task use. Each step checks first, so re-runs add nothing.

- The gap filler turned on (holdout 20%, so its lift can be measured).
- A few slots released over the last two days, offered by the filler at the time (its real
  run, given that moment), some offered golfers booking them, the slot then filling: recovered
  green fees and the holdout's bookings.
- The next 7 days' tee sheet as TeeTime's availability events describe it (fuller at weekends
  and in the mornings), and one filler run now (gaps it opens are offered outside quiet hours).
- Bookings with guests (one known to TeeTime, the rest by id only), half of them named by their
  booker through the guest form: the capture rate and "guests not named yet".
- Answers to the after-round survey for rounds of the last eight weeks: NPS by week and day
  part, detractors' staff tasks.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

ACTOR = "demo data"
CAPACITY = 4
# Hours before now at which a slot was released (the filler offered it then): within the
# filler's 48-hour horizon of a tee time that is still ahead.
RELEASED_HOURS_AGO = (44, 41, 38, 31, 28, 25, 20, 17, 8, 6, 4)
GUEST_BOOKINGS = 10
SURVEY_EVERY = 3  # one completed round in three answers the survey
# How likely golfers are to recommend the club, 0 to 10: mostly happy, a few not.
SCORE_WEIGHTS = (1, 1, 1, 2, 3, 4, 6, 12, 17, 21, 30)
COMMENTS = {
    0: "Booked a tee time that was given to another group",
    1: "Course was closed and nobody texted us",
    2: "Rude welcome at the pro shop",
    3: "Waited 25 minutes on the 1st tee, no marshal",
    4: "Temporary greens on six holes, full price",
    5: "Greens were sanded and nobody told us",
    6: "Bunkers need raking",
    7: "Pace of play on the back nine",
}
GUEST_NAMES = (
    ("Niamh", "Doyle"), ("Cian", "Brennan"), ("Orla", "Nolan"), ("Darragh", "Quinn"),
    ("Saoirse", "Healy"), ("Eoin", "Foley"), ("Aisling", "Moran"), ("Fionn", "Daly"),
)  # fmt: skip


def _id(tenant: Any, key: str) -> str:
    """The same event id on every run: a re-run's events are duplicates, never new."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crm-demo-golf:{tenant.id}:{key}"))


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(tenant: Any, key: str, type_: str, at: dt.datetime, payload: dict, **identity):
    return {
        "id": _id(tenant, key), "type": type_, "version": 1, "timestamp": _stamp(at),
        "tenantId": str(tenant.id), "tenantSlug": tenant.slug, "source": type_.split(".")[0],
        "identity": identity, "payload": payload,
        "metadata": {"correlationId": _id(tenant, f"corr:{key}"), "userId": None},
    }  # fmt: skip


def _ingest(tenant: Any, envelopes: list[dict]) -> int:
    """TeeTime's events through ingestion and the applier, like any feed. Returns how many
    were new."""
    from profiles.apply import events_apply_pending
    from profiles.ingestion import MAX_BATCH, events_ingest

    accepted = 0
    for first in range(0, len(envelopes), MAX_BATCH):
        results = events_ingest(
            tenant=tenant, envelopes=envelopes[first : first + MAX_BATCH], transport="replay"
        )
        rejected = [r for r in results if r["status"] == "rejected"]
        if rejected:
            raise ValueError(f"Demo golf events refused: {rejected[:3]}")
        accepted += sum(r["status"] == "accepted" for r in results)
    while events_apply_pending():
        pass
    return accepted


def _courses() -> list[dict[str, str]]:
    """The club's courses as TeeTime names them in its bookings, busiest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT envelope->'payload'->'course'->>'id', envelope->'payload'->'course'->>'name'
            FROM profiles_rawevent WHERE type = 'teetime.booking.created'
              AND envelope->'payload'->'course'->>'id' IS NOT NULL
            GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 2
            """
        )
        return [{"id": cid, "name": name or ""} for cid, name in cursor.fetchall()]


def _green_fee(local: dt.datetime, holes: int) -> str:
    weekend = local.isoweekday() >= 6
    return f"{(85 if weekend else 65) if holes == 18 else (45 if weekend else 35)}.00"


def _slot_payload(slot_id: str, course: dict, local: dt.datetime, booked: int, holes: int,
                  currency: str) -> dict:  # fmt: skip
    return {
        "slotId": slot_id, "course": course, "teeTime": _stamp(local), "holes": holes,
        "capacity": CAPACITY, "booked": booked,
        "price": {"amount": _green_fee(local, holes), "currency": currency},
        "rules": {"memberOnly": False, "maxHandicap": 36},
        "bookingUrl": f"https://teetime.example/book/{slot_id}",
    }  # fmt: skip


def _slot_id(course: dict, local: dt.datetime) -> str:
    return f"demo-{course['id'][:8]}-{local:%Y%m%d%H%M}"


# --- the gap filler ------------------------------------------------------------------------------


def demo_filler_on() -> bool:
    """Turn the filler on with the demo's settings, unless the club has set it already."""
    from campaigns.models import TeeSheetOffer
    from campaigns.tee_sheet import tee_sheet_settings, tee_sheet_settings_update

    rules = tee_sheet_settings()
    if rules.enabled or rules.updated_by or TeeSheetOffer.objects.exists():
        return False
    tee_sheet_settings_update(
        data={"enabled": True, "holdoutPercent": 20, "golfersPerPlace": 4, "weeklyLimit": 3},
        actor_label=ACTOR,
    )
    return True


def _fill(now: dt.datetime) -> None:
    """The filler's tick at `now`; if a worker's tick (each applied slot event asks for one)
    holds the club's filler lock, wait for it rather than skip the demo's moment."""
    from campaigns.tee_sheet import tee_sheet_fill

    for _attempt in range(100):
        if not tee_sheet_fill(now=now).locked_out:
            return
        time.sleep(0.1)


def _quiet(moment: dt.datetime, tz: ZoneInfo) -> bool:
    from campaigns.sending import campaign_settings, quiet_until

    return quiet_until(now=moment, rules=campaign_settings(), tz=str(tz)) is not None


def demo_filled_gaps(*, tenant: Any, now: dt.datetime, tz: ZoneInfo, course: dict) -> dict:
    """Slots released over the last two days, each offered by the filler when it was released
    (its real run at that moment); a third of the offered golfers (at least one) book, now and
    then a held-out golfer too, then the slot fills. Only for a club the filler never served."""
    from campaigns.models import TeeSheetGap, TeeSheetOffer
    from profiles.models import Customer

    if TeeSheetOffer.objects.exists():
        return {"gaps": 0, "offers": 0, "bookings": 0}
    rng = random.Random(7)  # noqa: S311 - a demo's repeatable dice
    made = {"gaps": 0, "offers": 0, "bookings": 0}
    for n, hours in enumerate(RELEASED_HOURS_AGO):
        released = (now - dt.timedelta(hours=hours)).replace(second=0, microsecond=0)
        if _quiet(released, tz):
            continue
        tee = (released + dt.timedelta(hours=46)).astimezone(tz)
        tee = tee.replace(minute=tee.minute - tee.minute % 10, second=0, microsecond=0)
        if not 7 <= tee.hour <= 16:
            tee = tee.replace(hour=min(max(tee.hour, 7), 16))
        if not released + dt.timedelta(hours=2) < tee <= released + dt.timedelta(hours=48):
            continue
        if tee <= now + dt.timedelta(minutes=30):
            continue
        slot_id = _slot_id(course, tee)
        free = (1, 2, 2, 3)[n % 4]
        currency = tenant.currency
        _ingest(tenant, [_envelope(
            tenant, f"{slot_id}:released", "teetime.slot.availability",
            released - dt.timedelta(minutes=1),
            _slot_payload(slot_id, course, tee, CAPACITY - free, 18, currency),
        )])  # fmt: skip
        _fill(released)
        gap = TeeSheetGap.objects.filter(slot__slot_id=slot_id).first()
        if gap is None:
            continue
        made["gaps"] += 1
        offers = list(TeeSheetOffer.objects.filter(gap=gap).order_by("id"))
        offered = [o for o in offers if not o.holdout]
        held = [o for o in offers if o.holdout]
        made["offers"] += len(offered)
        bookers = offered[: min(free, max(1, round(len(offered) / 3)))] if offered else []
        if held and len(bookers) < free and n % 3 == 0:
            bookers.append(held[0])  # some would have booked anyway: the holdout shows it
        players = dict(
            Customer.objects.filter(id__in=[o.customer_id for o in bookers]).values_list(
                "id", "teetime_player_id"
            )
        )
        events, at = [], released
        for k, offer in enumerate(bookers):
            player = players.get(offer.customer_id)
            if not player:
                continue
            at = released + dt.timedelta(minutes=rng.randint(20, 50) + 30 * k)
            events.append(_envelope(
                tenant, f"{slot_id}:booking:{k}", "teetime.booking.created", at,
                {"bookingId": _id(tenant, f"{slot_id}:booking:{k}"), "playerId": player,
                 "course": course, "teeTime": _stamp(tee), "holes": 18, "partySize": 1,
                 "guestPlayerIds": [], "channel": "ONLINE",
                 "price": {"amount": _green_fee(tee, 18), "currency": currency}},
                teetimePlayerId=player,
            ))  # fmt: skip
        full = at + dt.timedelta(minutes=5)
        events.append(_envelope(
            tenant, f"{slot_id}:full", "teetime.slot.availability", full,
            _slot_payload(slot_id, course, tee, CAPACITY, 18, currency),
        ))  # fmt: skip
        _ingest(tenant, events)
        made["bookings"] += len(events) - 1
        _fill(full + dt.timedelta(minutes=1))
    return made


def demo_sheet(*, tenant: Any, now: dt.datetime, tz: ZoneInfo, courses: list[dict]) -> int:
    """The next 7 days' tee sheet as TeeTime describes it: the main course every 10 minutes
    from 07:30 to 16:00, the nine every 20 minutes from 08:00 to 15:00 (a December day's
    light), fuller at weekends and in the mornings. Only when the club has no sheet ahead."""
    from profiles.models import TeeSlot

    if TeeSlot.objects.filter(tee_time__gt=now).exclude(gap__isnull=False).exists():
        return 0
    known = set(TeeSlot.objects.filter(tee_time__gt=now).values_list("slot_id", flat=True))
    rng = random.Random(11)  # noqa: S311 - a demo's repeatable dice
    at = now - dt.timedelta(minutes=1)
    today = now.astimezone(tz).date()
    events = []
    for offset in range(8):
        day = today + dt.timedelta(days=offset)
        for c, course in enumerate(courses[:2]):
            first, last, step, holes = (
                ((7, 30), (16, 0), 10, 18) if c == 0 else ((8, 0), (15, 0), 20, 9)
            )
            local = dt.datetime.combine(day, dt.time(*first), tzinfo=tz)
            end = dt.datetime.combine(day, dt.time(*last), tzinfo=tz)
            while local <= end:
                if now + dt.timedelta(minutes=30) < local <= now + dt.timedelta(days=7):
                    slot_id = _slot_id(course, local)
                    if slot_id not in known:
                        weekend = day.isoweekday() >= 6
                        busy = 0.95 if weekend else 0.85 if local.hour < 12 else 0.6
                        busy -= 0.12 * (offset >= 2) + 0.2 * (offset >= 4)  # booked later
                        if c == 1:
                            busy -= 0.15
                        booked = sum(rng.random() < busy for _ in range(CAPACITY))
                        events.append(_envelope(
                            tenant, f"{slot_id}:sheet", "teetime.slot.availability", at,
                            _slot_payload(slot_id, course, local, booked, holes,
                                          tenant.currency),
                        ))  # fmt: skip
                local += dt.timedelta(minutes=step)
    return _ingest(tenant, events)


# --- the four-ball ------------------------------------------------------------------------------


def demo_guest_rounds(*, tenant: Any, now: dt.datetime, tz: ZoneInfo, course: dict) -> dict:
    """Members' bookings with guests over the last five weeks; every third guest is known to
    TeeTime, the others are ids only until their booker names one through the guest form
    (every other booking)."""
    from profiles.models import Customer, SourceRecord
    from profiles.rounds import GuestEntry, booking_booker, booking_guests, guest_form_submit

    bookers = list(
        Customer.objects.filter(teetime_player_id__isnull=False, membership_status="ACTIVE")
        .exclude(first_name="")
        .order_by("teetime_player_id")
        .values_list("teetime_player_id", flat=True)[:GUEST_BOOKINGS]
    )
    events: list[dict] = []
    bookings: list[tuple[str, dt.datetime]] = []
    for n, player in enumerate(bookers):
        day = (now - dt.timedelta(days=3 + 3 * n)).astimezone(tz).date()
        tee = dt.datetime.combine(day, dt.time(9 + n % 5, 10 * (n % 6)), tzinfo=tz)
        booked_at = tee - dt.timedelta(days=2)
        booking_id = _id(tenant, f"guests:{n}")
        guests = [f"demo-guest-{n}-{g}" for g in range(1 + n % 3)]
        if n % 3 == 0:
            first, last = GUEST_NAMES[n % len(GUEST_NAMES)]
            events.append(_envelope(
                tenant, f"guests:{n}:known", "teetime.player.created", booked_at,
                {"playerId": guests[0], "firstName": first, "lastName": last},
                teetimePlayerId=guests[0],
            ))  # fmt: skip
        events.append(_envelope(
            tenant, f"guests:{n}:created", "teetime.booking.created",
            booked_at + dt.timedelta(minutes=1),
            {"bookingId": booking_id, "playerId": player, "course": course,
             "teeTime": _stamp(tee), "holes": 18, "partySize": 1 + len(guests),
             "guestPlayerIds": guests, "channel": "ONLINE",
             "price": {"amount": f"{40 * len(guests)}.00", "currency": tenant.currency}},
            teetimePlayerId=player,
        ))  # fmt: skip
        events.append(_envelope(
            tenant, f"guests:{n}:completed", "teetime.booking.completed",
            tee + dt.timedelta(hours=4, minutes=20),
            {"bookingId": booking_id, "playerId": player}, teetimePlayerId=player,
        ))  # fmt: skip
        bookings.append((booking_id, tee + dt.timedelta(hours=20)))
    rounds = _ingest(tenant, events)
    named = 0
    for n, (booking_id, answered_at) in enumerate(bookings):
        if n % 2 or answered_at > now:
            continue
        if SourceRecord.objects.filter(
            kind="guest_form", key__startswith=f"{booking_id}:"
        ).exists():
            continue  # this booker has named a partner already (an earlier run)
        unnamed = [g for g in booking_guests(booking_id=booking_id) if not g.named]
        booker = booking_booker(booking_id=booking_id)
        if not unnamed or booker is None:
            continue
        guest = unnamed[0]
        first, last = GUEST_NAMES[(n + 3) % len(GUEST_NAMES)]
        entry = GuestEntry(
            player_id=guest.player_id,
            first_name=first,
            last_name=last,
            email=f"{first}.{last}.{n}@example.ie".lower(),
            phone="",
            wants_news=n % 4 == 0,
        )
        guest_form_submit(booking_id=booking_id, booker=booker, entries=[entry], now=answered_at)
        named += 1
    return {"guestBookings": len(bookings) if rounds else 0, "guestsNamed": named}


# --- the after-round survey ---------------------------------------------------------------------


def demo_survey_answers(*, now: dt.datetime) -> int:
    """One completed round in three of the last eight weeks answers the survey the next
    morning (the journey's link), most of them happy. Only for a club with no answer yet."""
    from journeys.models import RoundSurveyAnswer
    from journeys.surveys import round_survey_answer
    from profiles.models import Activity, Customer

    if RoundSurveyAnswer.objects.exists():
        return 0
    rounds = list(
        Activity.objects.filter(
            type="teetime.booking.completed",
            occurred_at__gte=now - dt.timedelta(weeks=8),
            occurred_at__lte=now - dt.timedelta(hours=16),
            customer__isnull=False,
        )
        .order_by("occurred_at", "id")
        .values_list("customer_id", "data__bookingId", "occurred_at")
    )
    rng = random.Random(13)  # noqa: S311 - a demo's repeatable dice
    answered = 0
    seen: set[str] = set()
    customers = {c.id: c for c in Customer.objects.filter(id__in={r[0] for r in rounds})}
    for n, (customer_id, booking_id, finished) in enumerate(rounds):
        if n % SURVEY_EVERY or not booking_id or booking_id in seen:
            continue
        seen.add(booking_id)
        # Some weeks are better than others (the greens, the weather, a busy competition).
        mood = 1.0 + 0.6 * ((finished.isocalendar()[1] * 7) % 5 - 2) / 2
        weights = [w * (mood if k >= 9 else 1) for k, w in enumerate(SCORE_WEIGHTS)]
        score = rng.choices(range(11), weights=weights)[0]
        round_survey_answer(
            booking_id=booking_id,
            customer=customers[customer_id],
            score=score,
            comment=COMMENTS.get(score, ""),
            now=min(finished + dt.timedelta(hours=16), now),
        )
        answered += 1
    return answered


def demo_golf(*, tenant: Any) -> dict[str, Any]:
    """Every step; each adds only what is missing. Returns what it made."""
    now = timezone.now()
    tz = ZoneInfo(tenant.timezone or "UTC")
    courses = _courses()
    if not courses:
        return {}
    made: dict[str, Any] = {"fillerTurnedOn": demo_filler_on()}
    made.update(demo_filled_gaps(tenant=tenant, now=now, tz=tz, course=courses[0]))
    made["sheetSlots"] = demo_sheet(tenant=tenant, now=now, tz=tz, courses=courses)
    if made["sheetSlots"]:
        _fill(now)
    made.update(demo_guest_rounds(tenant=tenant, now=now, tz=tz, course=courses[0]))
    made["surveyAnswers"] = demo_survey_answers(now=now)
    return made
