"""Competition auto-promotion: reading a competition, rendering the club's texts, and the
dates of a plan. Pure functions, no database (social.promotion_services does the writing).

Choices where the issue is silent (the README's "Competition auto-promotion" says the same):

- The announcement goes out when the plan is made, or when entries open if that is later.
- Reminders go out `reminder_days` (7, 3, 1) days before entries close, on that day at the
  club's `reminder_time` (10:00, club time). One that has passed, falls less than 24 hours
  after the announcement, or at or after the close is skipped.
- Nothing asks people to enter once entries have closed or the competition is full.
- "Few places left" is posted once, when entries reach `few_places_percent` (80 %) of
  `maxEntries`; entries are the larger of TeeTime's `entriesCount` and the entries the CRM
  counted from `competition.entry.created/withdrawn`.
- Results: the post goes out once no new score has arrived for `results_delay_minutes` (120),
  and at the latest 24 hours after the first score, naming the player in position 1 (the
  lowest position posted). Scores first seen more than 2 days after they were posted (a
  replay of history) never make a results post.
- Gender eligibility: `MALE`/`FEMALE` (and their usual spellings) match customers case-
  insensitively; `MIXED`, `ANY`, `OPEN` or nothing mean no restriction. Members only means
  membership status ACTIVE. A handicap limit leaves out customers with no handicap.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime
from twitter_text import parse_tweet

from social.models import ItemChannel, ItemKind, Network
from social.rules import text_as_posted

# A reminder this close after the announcement adds nothing but noise.
MIN_GAP_AFTER_ANNOUNCEMENT = timedelta(hours=24)
# Results go out at the latest this long after the first score.
RESULTS_LATEST_AFTER_FIRST_SCORE = timedelta(hours=24)
# Scores older than this when first seen are history being replayed: no results post.
RESULTS_MAX_AGE = timedelta(days=2)

PLACEHOLDERS = {
    "name": "The competition's name",
    "description": "Its description",
    "startsAt": "When it starts, club time (Sat 14 Mar, 09:00)",
    "startsOn": "The day it starts (Sat 14 Mar)",
    "entryOpensAt": "When entries open, club time",
    "entryClosesAt": "When entries close, club time",
    "format": "Stableford, Strokeplay, Matchplay or Scramble",
    "entryFee": "€20.00, or 'free'",
    "eligibility": "Members only, handicap index up to 28 … or 'Open to all golfers'",
    "maxEntries": "The number of places",
    "entries": "Entries so far",
    "placesLeft": "Places left",
    "daysLeft": "'7 days', '1 day' (reminders)",
    "bookingUrl": "Where to enter",
    "winner": "The winner's name (results)",
    "winnerNet": "The winner's net score (results)",
    "winnerGross": "The winner's gross score (results)",
    "reason": "Why it was cancelled (cancellation)",
    "clubName": "The club's name",
}

FORMATS = {
    "STABLEFORD": "Stableford",
    "STROKEPLAY": "Strokeplay",
    "MATCHPLAY": "Matchplay",
    "SCRAMBLE": "Scramble",
}
CURRENCY_SIGNS = {"EUR": "€", "GBP": "£", "USD": "$"}
GENDERS = {
    "MALE": ("MALE", "M", "MAN", "MEN", "GENTS"),
    "FEMALE": ("FEMALE", "F", "WOMAN", "WOMEN", "LADY", "LADIES"),
}
GENDER_ALIASES = {alias: key for key, aliases in GENDERS.items() for alias in aliases}
NO_GENDER_LIMIT = {"", "MIXED", "ANY", "OPEN", "ALL", "NONE"}


@dataclass(frozen=True)
class Competition:
    """A competition as its newest `published`/`updated` payload describes it; any field may
    be missing (the payload is read leniently: a bad value is treated as absent)."""

    id: str
    name: str = ""
    description: str = ""
    starts_at: datetime | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    format: str = ""
    max_entries: int | None = None
    entries_count: int | None = None
    fee_amount: Decimal | None = None
    fee_currency: str = ""
    member_only: bool = False
    max_handicap: Decimal | None = None
    gender: str = ""
    image_url: str = ""
    booking_url: str = ""

    @property
    def deadline(self) -> datetime | None:
        """When it stops making sense to ask people to enter."""
        return self.closes_at or self.starts_at


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _url(value: Any) -> str:
    if isinstance(value, str) and re.match(r"^https?://\S+$", value) and len(value) <= 1000:
        return value
    return ""


def competition_from(competition_id: str, payload: dict[str, Any]) -> Competition:
    fee = payload.get("entryFee") if isinstance(payload.get("entryFee"), dict) else {}
    rules = payload.get("eligibility") if isinstance(payload.get("eligibility"), dict) else {}
    gender = rules.get("gender")
    return Competition(
        id=competition_id,
        name=str(payload.get("name") or "")[:200],
        description=str(payload.get("description") or ""),
        starts_at=_when(payload.get("startsAt")),
        opens_at=_when(payload.get("entryOpensAt")),
        closes_at=_when(payload.get("entryClosesAt")),
        format=str(payload.get("format") or "").upper(),
        max_entries=_int(payload.get("maxEntries")),
        entries_count=_int(payload.get("entriesCount")),
        fee_amount=_decimal(fee.get("amount")),
        fee_currency=str(fee.get("currency") or "").upper(),
        member_only=rules.get("memberOnly") is True,
        max_handicap=_decimal(rules.get("maxHandicap")),
        gender=str(gender).strip().upper() if isinstance(gender, str) else "",
        image_url=_url(payload.get("imageUrl")),
        booking_url=_url(payload.get("bookingUrl")),
    )


# --- Who may enter ----------------------------------------------------------------------------


def eligibility_rules(competition: Competition) -> dict[str, Any]:
    """The segment rule (segments.md) of the customers who may enter."""
    rules: list[dict[str, Any]] = []
    if competition.max_handicap is not None:
        rules.append(
            {"field": "handicap", "operator": "lte", "value": float(competition.max_handicap)}
        )
    if competition.member_only:
        rules.append({"field": "membershipStatus", "operator": "eq", "value": "ACTIVE"})
    gender = GENDER_ALIASES.get(competition.gender)
    if gender:
        rules.append({"field": "gender", "operator": "in", "value": list(GENDERS[gender])})
    elif competition.gender not in NO_GENDER_LIMIT:
        rules.append({"field": "gender", "operator": "eq", "value": competition.gender})
    return {"combinator": "AND", "rules": rules}


def eligibility_text(competition: Competition) -> str:
    parts = []
    if competition.member_only:
        parts.append("members only")
    gender = GENDER_ALIASES.get(competition.gender)
    if gender == "FEMALE":
        parts.append("ladies")
    elif gender == "MALE":
        parts.append("men")
    elif competition.gender not in NO_GENDER_LIMIT:
        parts.append(competition.gender.lower())
    if competition.max_handicap is not None:
        parts.append(f"handicap index up to {competition.max_handicap.normalize():f}")
    text = ", ".join(parts) if parts else "open to all golfers"
    return text[0].upper() + text[1:]


# --- Texts ------------------------------------------------------------------------------------


def local_text(moment: datetime | None, tz: ZoneInfo, *, with_time: bool = True) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    day = f"{local:%a} {local.day} {local:%b}"
    return f"{day}, {local:%H:%M}" if with_time else day


def fee_text(competition: Competition) -> str:
    if competition.fee_amount is None:
        return ""
    if competition.fee_amount == 0:
        return "free"
    amount = f"{competition.fee_amount:.2f}"
    sign = CURRENCY_SIGNS.get(competition.fee_currency)
    return f"{sign}{amount}" if sign else f"{amount} {competition.fee_currency}".strip()


def days_text(days: int | None) -> str:
    if days is None:
        return ""
    return "1 day" if days == 1 else f"{days} days"


def values_for(
    competition: Competition,
    *,
    tz: ZoneInfo,
    club_name: str = "",
    entries: int | None = None,
    days_left: int | None = None,
    winner: dict[str, Any] | None = None,
    reason: str = "",
) -> dict[str, str]:
    """Every placeholder's value for this competition (empty where unknown)."""
    places_left = ""
    if competition.max_entries is not None and entries is not None:
        places_left = str(max(0, competition.max_entries - entries))
    winner = winner or {}
    reason = reason.strip()
    if reason and reason[-1] not in ".!?":
        reason += "."
    return {
        "name": competition.name,
        "description": competition.description,
        "startsAt": local_text(competition.starts_at, tz),
        "startsOn": local_text(competition.starts_at, tz, with_time=False),
        "entryOpensAt": local_text(competition.opens_at, tz),
        "entryClosesAt": local_text(competition.closes_at, tz),
        "format": FORMATS.get(competition.format, competition.format.title()),
        "entryFee": fee_text(competition),
        "eligibility": eligibility_text(competition),
        "maxEntries": "" if competition.max_entries is None else str(competition.max_entries),
        "entries": "" if entries is None else str(entries),
        "placesLeft": places_left,
        "daysLeft": days_text(days_left),
        "bookingUrl": competition.booking_url,
        "winner": winner.get("name", ""),
        "winnerNet": winner.get("net", ""),
        "winnerGross": winner.get("gross", ""),
        "reason": reason,
        "clubName": club_name,
    }


# `{name}` but not `{{ name }}` (the Messaging/Django variables of a campaign's own text).
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z]+)\}(?!\})")


def render(template: str, values: dict[str, str]) -> str:
    """Fill the known placeholders; unknown ones stay as they are (so a typo shows)."""

    def fill(match: re.Match) -> str:
        name = match.group(1)
        return values[name] if name in values else match.group(0)

    text = _PLACEHOLDER.sub(fill, template or "")
    lines = [re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.splitlines()]
    return "\n".join(lines).strip()


def unknown_placeholders(template: str) -> list[str]:
    found = set(_PLACEHOLDER.findall(template or ""))
    return sorted(found - set(PLACEHOLDERS))


def fit_text(*, network: str, text: str, link: str) -> str:
    """The text shortened (at a word, with an ellipsis) so that the network takes it with the
    link; only X is short enough to need it."""
    if network != Network.X:
        return text

    def fits(candidate: str) -> bool:
        posted = text_as_posted(network=network, text=candidate, link=link)
        return parse_tweet(posted).weightedLength <= 280

    if fits(text):
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits
        middle = (low + high + 1) // 2
        if fits(text[:middle].rstrip() + "…"):
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    if " " in cut and not text[low : low + 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:-") + "…"


# --- Dates ------------------------------------------------------------------------------------


def reminder_at(*, closes_at: datetime, days: int, at: time, tz: ZoneInfo) -> datetime:
    """`days` before entries close, on that day at `at`, club time."""
    day = (closes_at.astimezone(tz) - timedelta(days=days)).date()
    # A round trip through UTC moves a time in a DST gap to a real one.
    return datetime.combine(day, at, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def announcement_at(*, planned_at: datetime, competition: Competition) -> datetime:
    if competition.opens_at and competition.opens_at > planned_at:
        return competition.opens_at
    return planned_at


def results_at(*, first_score: datetime, last_score: datetime, delay: timedelta) -> datetime:
    return min(last_score + delay, first_score + RESULTS_LATEST_AFTER_FIRST_SCORE)


def few_places_threshold(*, max_entries: int, percent: int) -> int:
    return max(1, math.ceil(max_entries * percent / 100))


# --- Keys -------------------------------------------------------------------------------------


def item_key(kind: str, channel: str, days_before: int | None = None) -> str:
    base = {
        ItemKind.ANNOUNCEMENT: "announcement",
        ItemKind.REMINDER: f"reminder-{days_before}",
        ItemKind.FEW_PLACES: "few-places",
        ItemKind.RESULTS: "results",
        ItemKind.CANCELLATION: "cancellation",
    }[kind]
    return f"{base}.{'post' if channel == ItemChannel.POST else 'campaign'}"


def origin_key(competition_id: str, key: str) -> str:
    """The post's `origin_key`: one post per competition and item, however often it is made."""
    return f"competition:{competition_id}:{key}"[:200]
