"""Demo data: a year in the life of a golf club, told the way its three services tell it.

`generate_club()` returns the inbound events (envelopes exactly as
`shared/contracts/events.md` describes them, camelCase, `version` 1) that the club's membership
(`scl`), golf (`teetime`) and delivery (`messaging`) services would have sent the CRM over the
twelve months up to `today`, for a club of `members` members plus the visitors and newsletter
subscribers around it. It is pure and deterministic: the same `seed` and `today` give the same
list, ids included (every id comes from one `random.Random(seed)`), so loading it twice only
produces duplicates. `build_club()` returns the same events with the people behind them, for tests
that need to know who is who. Nothing here touches Django or the database.

What a club looks like, and why
-------------------------------
- Members (`scl.member.created`) in tiers FULL ~50%, SENIOR ~15%, FIVE_DAY ~15%, JUNIOR ~10%,
  SOCIAL ~10%, with ages that fit the tier. Most joined years ago and arrive in an initial sync
  in the window's first hours; ~12% join during the year (a third of those in the last 90 days)
  and pay a JOINING_FEE. Member ids and membership numbers rise with the joining date.
  Each renewal date is the joining anniversary: a SUBSCRIPTION payment of the tier's fee, then an
  `scl.member.updated` moving `renewalDueOn` a year on. Some first attempts fail
  (`scl.payment.failed` with `failureReason`) and are retried; some members also pay a BAR_LEVY or
  a LOCKER, buy in the SHOP or book LESSONs, and a couple of payments are refunded.
- Story endings: ~3% LAPSED (renewal failed and never paid), ~3% RESIGNED (some of them drifters;
  in clubs of 100+ one later asks for GDPR erasure: `scl.member.deleted` with `gdpr_erasure`, and
  Messaging deletes the contact), one DECEASED (clubs of 100+; staff then opt them out of every
  channel). Members who leave stop booking. Each is an
  `scl.member.status.changed` followed by an `scl.member.updated` snapshot. A few tier changes
  (junior to full, full to senior, full to five-day) at renewal.
- Golfers: most members are also TeeTime players (`teetime.player.created`), ~80% of them linked
  by `sclMemberId`; the rest have `sclMemberId: null` and share only an email or only a phone with
  their member record, so identity resolution has to link them (a few are linked later by a
  `teetime.player.updated`). A few linked players give TeeTime a different (work) email than
  SCL: the strong id must win over the email. A member who changes phone in SCL keeps the old
  one in TeeTime and Messaging. Visitors (~15% of the member count) are players who
  are not members and pay green fees. Handicap indexes from 0.8 to 36.0; some move after
  competitions (`teetime.handicap.updated`, overnight as WHS does).
- Bookings: regulars play one to three times a week, occasional golfers a few times a month, rare
  ones a handful of times a year, with Irish seasonality (busy June, quiet January), weekends and
  weekday mornings (five-day members never on weekends, seniors on weekday mornings, working
  members early or after work in summer). "Drifting" members play like regulars until three months
  ago and then taper off to nothing (and open fewer emails): the churn signal. About one member in
  50 (at least two) stopped altogether six to ten weeks ago and left a payment unpaid (churn
  risk High or Critical), and as many joined four to ten months ago and drifted away after
  their first weeks (paying but not playing): `_plan_warning_signs`. Most bookings are
  completed; ~5% are no-shows and ~8% cancelled, including every booking on a few winter days when
  the course closed (frost), which the club also announces by SMS. A handful of bookings are
  still in the future. Members play for `0.00` (guest fees aside), visitors pay per player.
- Competitions: ~10 a year on Saturdays (one cancelled because the course was waterlogged, one
  still open for entries), with entries, a few withdrawals, a `teetime.competition.updated`
  carrying the final `entriesCount` when entries close, and `teetime.score.posted` on the day.
  A few general-play rounds also post a score (`competitionId: null`).
- Messaging: most members, some visitors and a few newsletter-only subscribers are contacts
  (`contactId` like `c_1a2b3c4d`). Consent comes only from `contactPreference.updated` (IMPORT at
  the initial sync, PREFERENCE_CENTRE later): EMAIL ~85%, SMS ~40%; a few opt out through the
  newsletter's UNSUBSCRIBE_LINK. A newsletter on the second Thursday of each month but December
  and January (`message.sent`, `delivered`, `opened` ~40-45%, `clicked` ~10%), with ~1.5% of
  addresses hard-bouncing (no further sends), the odd soft bounce and one complaint. No
  preference event follows a hard bounce or a complaint: the CRM must stop marketing on its own.
  `sendId` is always null (the CRM did not send these).

Quirks on purpose (what each one exercises in ingestion and identity resolution)
--------------------------------------------------------------------------------
- Emails as people typed them: some SCL emails come with odd case and spaces
  (`" Aoife.Byrne@Example.IE "`); names with fadas and apostrophes (Siobhán O'Sullivan).
- Phones in four spellings of the same Irish mobile: `087 123 4567`, `+353 87 123 4567`,
  `0871234567`, `+353871234567`; a member's unlinked player often uses another spelling than SCL.
- Households: a husband and wife (two members, two member ids) share ONE email address and an
  address, and a visitor player knows only that shared email. An email is not a person.
- Players with `sclMemberId: null`; members without an email (some seniors); members with no
  phone; new joiners with no handicap yet.
- Alias type names (events.md "Names the producers also use"): a handful of `teetime.booked`,
  `teetime.completed`, `email.opened`, `contactPreference.updated`, `message.delivered`, one
  `teetime.tournament.published`, one `scl.tier.changed` and one `scl.member.status_changed`.
- Timestamps: SCL and TeeTime write seconds (`2026-05-02T09:15:03Z`), Messaging writes
  milliseconds (`2026-05-02T09:15:03.123Z`); payload datetimes such as `teeTime` and `startsAt`
  are club-local with their offset (`+01:00` in summer, `+00:00` in winter).
- Identity hints are what each producer knows: SCL `{sclMemberId, email, phoneNumber}` (plus
  `authUserId` on member records of members who use the app), TeeTime `{teetimePlayerId, email}`
  (plus `phoneNumber` on player records), Messaging `{messagingContactId, email or phoneNumber}`.

The list is sorted by timestamp (ties keep each person's story order). Delivery quirks (the same
event twice, out of order, over several transports) are the transports' business, not this
module's: replay the list in another order to test them.
"""

from __future__ import annotations

import functools
import json
import math
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

CURRENCY = "EUR"
WINDOW_DAYS = 365
BOOKING_HORIZON_DAYS = 14  # bookings already made for the next two weeks


# ---------------------------------------------------------------------------------------------
# The club's fixed world: tiers, names, places, courses, competitions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    annual_fee: str
    share: float
    ages: tuple[int, int]
    joining_fee: str | None

    def ref(self) -> dict:
        return {"code": self.code, "name": self.name}

    def payload(self) -> dict:
        return {**self.ref(), "annualFee": self.annual_fee, "currency": CURRENCY}


FULL = Tier("FULL", "Full", "1450.00", 0.50, (24, 64), "1000.00")
SENIOR = Tier("SENIOR", "Senior", "980.00", 0.15, (65, 88), "500.00")
FIVE_DAY = Tier("FIVE_DAY", "Five-Day", "1050.00", 0.15, (30, 75), "750.00")
JUNIOR = Tier("JUNIOR", "Junior", "250.00", 0.10, (11, 18), None)
SOCIAL = Tier("SOCIAL", "Social", "150.00", 0.10, (28, 80), "100.00")
TIERS = (FULL, SENIOR, FIVE_DAY, JUNIOR, SOCIAL)

MALE_NAMES = (
    "Seán", "Conor", "Patrick", "Michael", "John", "Declan", "Ciarán", "Eoin", "Darragh", "Cian",
    "Liam", "Niall", "Brendan", "Gerard", "Kevin", "Dónal", "Fergal", "Colm", "Pádraig", "Tadhg",
    "Oisín", "Ronan", "Barry", "Dermot", "Shane", "Éamon", "Brian", "Aidan", "Cathal", "Diarmuid",
    "Paul", "Mark", "David", "Fionn", "Tom", "Noel", "Séamus", "Killian", "Rory", "Jack",
)  # fmt: skip
FEMALE_NAMES = (
    "Aoife", "Siobhán", "Niamh", "Ciara", "Sinéad", "Róisín", "Orla", "Máire", "Gráinne",
    "Deirdre", "Aisling", "Caoimhe", "Clodagh", "Éabha", "Emer", "Fiona", "Mary", "Catherine",
    "Bríd", "Áine", "Sorcha", "Louise", "Sarah", "Anne", "Eileen", "Margaret", "Maeve", "Saoirse",
    "Laura", "Nuala", "Úna", "Patricia", "Joan", "Helen", "Kate", "Ailbhe",
)  # fmt: skip
SURNAMES = (
    "Murphy", "Kelly", "O'Sullivan", "Walsh", "Smith", "O'Brien", "Byrne", "Ryan", "O'Connor",
    "O'Neill", "O'Reilly", "Doyle", "McCarthy", "Gallagher", "O'Doherty", "Kennedy", "Lynch",
    "Murray", "Quinn", "Moore", "McLoughlin", "O'Carroll", "Connolly", "Daly", "O'Connell",
    "Dunne", "Brennan", "Burke", "Collins", "Clarke", "Hughes", "Fitzgerald", "Maguire", "Nolan",
    "Flynn", "O'Callaghan", "O'Donnell", "Duffy", "O'Mahony", "Boyle", "Healy", "O'Shea",
    "Sweeney", "Hayes", "Kavanagh", "Power", "McGrath", "Moran", "Brady", "Casey", "Foley",
    "Fitzpatrick", "O'Leary", "MacMahon", "Donnelly", "Whelan", "Cullen", "Keane", "Maher",
    "McKenna", "Hogan", "O'Keeffe", "McNamara", "Moloney", "O'Rourke", "Buckley", "Ní Bhriain",
    "Mac Giolla Phádraig", "de Búrca",
)  # fmt: skip
TOWNS = (
    ("Naas", "W91"), ("Newbridge", "W12"), ("Kildare", "R51"), ("Maynooth", "W23"),
    ("Celbridge", "W23"), ("Sallins", "W91"), ("Clane", "W91"), ("Kilcullen", "R56"),
    ("Dublin 6", "D06"), ("Dublin 14", "D14"), ("Rathcoole", "D24"),
)  # fmt: skip
STREETS = (
    "Main Street", "Church Road", "The Paddocks", "Oak Park", "Ballymore Road", "Millbrook",
    "Castle View", "Abbey Road", "Green Lane", "Friary Court", "Newtown Avenue", "Fairways",
)  # fmt: skip
EIRCODE_CHARS = "ACDEFHKNPRTVWXY0123456789"
MOBILE_PREFIXES = ("83", "85", "86", "87", "89")
EMAIL_DOMAINS = ("example.ie", "example.com", "example.net")
OTHER_CLUBS = ("club_k-club", "club_carton-house", "club_portmarnock", "club_druids-glen", None)

# Seasonality of play in Ireland, by month (1.0 = an average week).
SEASON = dict(enumerate((0.45, 0.5, 0.7, 0.95, 1.2, 1.35, 1.35, 1.3, 1.1, 0.85, 0.6, 0.45), 1))

ACTIVITY_RATES = {  # rounds per average week
    "regular": (1.0, 3.0),
    "drifting": (1.0, 2.5),
    "occasional": (0.15, 0.4),
    "rare": (0.02, 0.12),
    "none": (0.0, 0.0),
}

CANCEL_REASONS = (
    "Weather",
    "Work commitment",
    "Injury",
    "Playing partner unavailable",
    "Booked the wrong day",
)
PAYMENT_FAILURES = ("card_declined", "insufficient_funds", "expired_card", "mandate_cancelled")
SHOP_ITEMS = ("6.50", "24.99", "39.00", "49.99", "54.00", "89.00", "129.00", "249.00")
LESSON_PRICES = ("45.00", "60.00", "160.00")

# (name, format, memberOnly, maxHandicap, gender, entry fee, maxEntries, description)
COMPETITIONS = (
    ("Captain's Prize", "STROKEPLAY", True, 36.0, None, "20.00", 144,
     "The Captain's Prize: 18 holes strokeplay, presentation in the clubhouse."),
    ("Lady Captain's Prize", "STROKEPLAY", True, 36.0, "FEMALE", "20.00", 72,
     "Lady Captain's Prize, strokeplay off full handicap."),
    ("President's Prize", "STABLEFORD", True, 28.0, None, "15.00", 120,
     "President's Prize Stableford, followed by dinner."),
    ("Open Stableford", "STABLEFORD", False, 28.0, None, "30.00", 120,
     "Open singles Stableford, visitors welcome (handicap certificate required)."),
    ("Seniors' Scramble", "SCRAMBLE", True, None, None, "10.00", 60,
     "Three-person scramble for senior members, tea and sandwiches after."),
    ("Club Matchplay Championship", "MATCHPLAY", True, 18.0, None, "10.00", 32,
     "Knockout matchplay for the club championship."),
    ("Mixed Foursomes Scramble", "SCRAMBLE", False, None, None, "25.00", 80,
     "Mixed teams, shotgun start, barbecue."),
    ("Past Captains' Prize", "STABLEFORD", True, 36.0, None, "15.00", 120,
     "Hosted by the past captains."),
    ("Members' Monthly Medal", "STROKEPLAY", True, 36.0, None, "5.00", 144,
     "Monthly medal, counts for the order of merit."),
    ("Open Fourball Classic", "STABLEFORD", False, 28.0, None, "50.00", 120,
     "Better-ball Stableford, open to visitors."),
    ("Turkey Stableford", "STABLEFORD", True, 36.0, None, "10.00", 100,
     "The festive Stableford: prizes are turkeys and hams."),
)  # fmt: skip

NEWSLETTER_LINKS = ("book", "competitions", "shop/offers", "news/course-update", "membership")

# (canonical type, alias the producers also send, how many to rename)
ALIASES = (
    ("teetime.booking.created", "teetime.booked", 5),
    ("teetime.booking.completed", "teetime.completed", 5),
    ("teetime.competition.published", "teetime.tournament.published", 1),
    ("scl.member.tier.changed", "scl.tier.changed", 1),
    ("scl.member.status.changed", "scl.member.status_changed", 1),
    ("messaging.email.opened", "email.opened", 6),
    ("messaging.contactPreference.updated", "contactPreference.updated", 3),
    ("messaging.message.delivered", "message.delivered", 3),
)


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------


@dataclass
class Person:
    """One human in the club's world, and what each service knows about them."""

    key: int
    kind: str  # MEMBER, VISITOR (a TeeTime player only) or SUBSCRIBER (a Messaging contact only)
    first_name: str
    last_name: str
    gender: str | None
    date_of_birth: date | None
    email: str | None  # as they typed it (SCL's spelling for members)
    mobile: str | None  # national significant number, e.g. "871234567"
    phone: str | None  # as typed, e.g. "087 123 4567"
    household: int | None = None

    # SCL
    member_id: int | None = None
    membership_number: str | None = None
    tier: Tier | None = None
    status: str = "ACTIVE"
    joined_on: date | None = None
    renewal_due_on: date | None = None
    address: dict | None = None
    auth_user_id: str | None = None
    member_created_at: datetime | None = None
    fate: str | None = None  # LAPSED, RESIGNED or DECEASED: how the membership ends this year
    fate_at: datetime | None = None
    erased_at: datetime | None = None  # GDPR erasure after resigning
    tier_change: tuple[Tier, Tier] | None = None  # (from, to) at the renewal
    tier_changed_at: datetime | None = None

    # TeeTime
    player_id: str | None = None
    player_linked: bool = False  # TeeTime carries sclMemberId
    player_linked_later_at: datetime | None = None
    player_email: str | None = None
    player_phone: str | None = None
    player_created_at: datetime | None = None
    home_club_id: str | None = None
    handicap: float | None = None
    # None until a player without a handicap gets one
    handicap_history: list[tuple[datetime, float | None]] = field(default_factory=list)
    activity: str = "none"  # regular, drifting, occasional, rare, none
    weekly_rounds: float = 0.0
    stopped_days: int | None = None  # a drifter who has not played at all for this many days
    unpaid_at: datetime | None = None  # a failed payment nobody has settled since

    # Messaging
    contact_id: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    contact_created_at: datetime | None = None
    contact_deleted_at: datetime | None = None
    email_opt_in_at: datetime | None = None
    email_opt_out_at: datetime | None = None
    sms_opt_in_at: datetime | None = None
    sms_opt_out_at: datetime | None = None
    open_rate: float = 0.0
    email_suppressed: bool = False  # hard bounce or complaint: the Messaging Service stops

    @property
    def is_member(self) -> bool:
        return self.kind == "MEMBER"

    # A member's tier (_make_members) and dates (_plan_joining), set for every member before
    # anything reads them.
    @property
    def member_joined_on(self) -> date:
        assert self.joined_on is not None, f"person {self.key} is not a member"
        return self.joined_on

    @property
    def member_renewal_due_on(self) -> date:
        assert self.renewal_due_on is not None, f"person {self.key} is not a member"
        return self.renewal_due_on

    @property
    def member_tier(self) -> Tier:
        assert self.tier is not None, f"person {self.key} is not a member"
        return self.tier

    @property
    def scl_created_at(self) -> datetime:
        assert self.member_created_at is not None, f"person {self.key} is not a member"
        return self.member_created_at

    # Set by _plan_player for every player, by _plan_contact for every contact, and with `fate`
    # for everyone who has one, before anything reads them.
    @property
    def teetime_created_at(self) -> datetime:
        assert self.player_created_at is not None, f"person {self.key} is not a player"
        return self.player_created_at

    @property
    def messaging_created_at(self) -> datetime:
        assert self.contact_created_at is not None, f"person {self.key} is not a contact"
        return self.contact_created_at

    @property
    def fate_moment(self) -> datetime:
        assert self.fate_at is not None, f"person {self.key} has no fate"
        return self.fate_at

    def age_on(self, day: date) -> int:
        if self.date_of_birth is None:
            return 40
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def tier_on(self, moment: datetime) -> Tier | None:
        if self.tier_change and self.tier_changed_at and moment >= self.tier_changed_at:
            return self.tier_change[1]
        return self.tier_change[0] if self.tier_change else self.tier

    def member_tier_on(self, moment: datetime) -> Tier:
        tier = self.tier_on(moment)
        assert tier is not None, f"person {self.key} is not a member"
        return tier

    def handicap_at(self, moment: datetime) -> float | None:
        value = self.handicap_history[0][1] if self.handicap_history else None
        for at, index in self.handicap_history:
            if at <= moment:
                value = index
        return value

    def plays_until(self) -> datetime | None:
        """When this person stops playing (their membership ended), if they do."""
        return self.fate_at if self.fate else None


@dataclass
class Competition:
    id: str
    name: str
    format: str
    member_only: bool
    max_handicap: float | None
    gender: str | None
    fee: str
    max_entries: int
    description: str
    starts_at: datetime  # club-local, with its offset
    published_at: datetime
    opens_at: datetime
    closes_at: datetime
    cancelled_at: datetime | None = None
    entries: int = 0


@dataclass(frozen=True)
class DemoClub:
    people: list[Person]
    events: list[dict]


# ---------------------------------------------------------------------------------------------
# The generation context: one rng, the window, the emitted events
# ---------------------------------------------------------------------------------------------


class _Club:
    def __init__(self, *, tenant_id: str, tenant_slug: str, seed: int, today: date) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
        self.tenant_id = tenant_id
        self.tenant_slug = tenant_slug
        self.today = today
        self.end = datetime.combine(today, time(), UTC)  # nothing has happened at or after this
        self.start = self.end - timedelta(days=WINDOW_DAYS)
        self.start_day = self.start.date()
        self.used_emails: set[str] = set()
        self.used_mobiles: set[str] = set()
        self._events: list[tuple[datetime, int, dict]] = []
        self.teetime_club_id = f"club_{tenant_slug}"
        self.courses = (
            {"id": self.uuid(), "name": "Championship Course"},
            {"id": self.uuid(), "name": "Parkland Nine"},
        )
        self.closure_days: list[date] = []
        self.refundable: list[tuple[datetime, Person, str, str]] = []  # lesson payments
        self.complainer: Person | None = None  # marks a newsletter as spam

    # ids ------------------------------------------------------------------------------------
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(length * 4):0{length}x}"

    # time -----------------------------------------------------------------------------------
    def local(self, day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
        """A moment on the club's clock (Europe/Dublin), as an aware datetime."""
        return datetime.combine(day, time(hour, minute, second), _dublin_zone(day))

    def during(self, day: date, first_hour: int, last_hour: int) -> datetime:
        """A random moment between first_hour:00 and last_hour:59 local, on day."""
        return self.local(
            day,
            self.rng.randint(first_hour, last_hour),
            self.rng.randint(0, 59),
            self.rng.randint(0, 59),
        )

    def after(self, moment: datetime, low_seconds: float, high_seconds: float) -> datetime:
        return moment + timedelta(seconds=self.rng.uniform(low_seconds, high_seconds))

    def in_window(self, low: datetime, high: datetime) -> datetime:
        return low + (high - low) * self.rng.random()

    # events ---------------------------------------------------------------------------------
    def emit(
        self,
        type_: str,
        at: datetime,
        identity: dict,
        payload: dict,
        *,
        correlation_id: str | None = None,
        user_id: str | None = None,
    ) -> dict | None:
        """Record one event; one that would happen at or after `end` has not happened yet."""
        at = at.astimezone(UTC)
        source = type_.split(".", 1)[0]
        # The NestJS services differ: Messaging keeps milliseconds, the others whole seconds.
        if source == "messaging":
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        else:
            at = at.replace(microsecond=0)
            stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if at >= self.end:
            return None
        envelope = {
            "id": self.uuid(),
            "type": type_,
            "version": 1,
            "timestamp": stamp,
            "tenantId": self.tenant_id,
            "tenantSlug": self.tenant_slug,
            "source": source,
            "identity": {key: value for key, value in identity.items() if value is not None},
            "payload": payload,
            "metadata": {"correlationId": correlation_id or self.uuid(), "userId": user_id},
        }
        self._events.append((at, len(self._events), envelope))
        return envelope

    def of_type(self, type_: str) -> list[dict]:
        return [envelope for _, _, envelope in self._events if envelope["type"] == type_]

    def sorted_events(self) -> list[dict]:
        return [envelope for _, _, envelope in sorted(self._events, key=lambda e: e[:2])]


@functools.cache
def _dublin_offset(day: date) -> timedelta:
    """Irish Standard Time (UTC+1) from the last Sunday of March to the last Sunday of October.
    Good enough for tee times (the switch happens at 01:00 UTC); avoids needing tzdata."""

    def last_sunday(month: int) -> date:
        last = date(day.year, month, 31)
        return last - timedelta(days=(last.weekday() + 1) % 7)

    return timedelta(hours=1) if last_sunday(3) <= day < last_sunday(10) else timedelta(0)


@functools.cache
def _dublin_zone(day: date) -> timezone:
    return timezone(_dublin_offset(day))


def _days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _money(amount: str) -> dict:
    return {"amount": amount, "currency": CURRENCY}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _anniversary(of: date, year: int) -> date:
    try:
        return of.replace(year=year)
    except ValueError:  # 29 February
        return date(year, 2, 28)


# ---------------------------------------------------------------------------------------------
# Contact points: how people spell their email addresses and phone numbers
# ---------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """'Ó Súilleabháin' -> 'osuilleabhain': what people use in email addresses."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _new_email(club: _Club, first: str, last: str) -> str:
    rng = club.rng
    given, family = _plain(first), _plain(last)
    domain = rng.choices(EMAIL_DOMAINS, weights=(6, 3, 1))[0]
    style = rng.random()
    if style < 0.6:
        local = f"{given}.{family}"
    elif style < 0.75:
        local = f"{given}{family}{rng.randint(55, 99)}"
    elif style < 0.9:
        local = f"{given[0]}{family}"
    else:
        local = f"{given}.{family}{rng.randint(1, 9)}"
    return _unique_email(club, local, domain)


def _unique_email(club: _Club, local: str, domain: str) -> str:
    """Nobody shares an address by accident (households share one on purpose)."""
    email = f"{local}@{domain}"
    while email in club.used_emails:
        email = f"{local}{club.rng.randint(10, 999)}@{domain}"
    club.used_emails.add(email)
    return email


def _oddly_typed(club: _Club, email: str) -> str:
    """'aoife.byrne@example.ie' -> ' Aoife.Byrne@Example.IE ' (case and stray spaces)."""
    local, domain = email.split("@")
    name, _, tld = domain.rpartition(".")
    typed = ".".join(part.capitalize() for part in local.split("."))
    typed = f"{typed}@{name.capitalize()}.{tld.upper()}"
    return f" {typed} " if club.rng.random() < 0.6 else typed


def _new_mobile(club: _Club) -> str:
    while True:
        mobile = club.rng.choice(MOBILE_PREFIXES) + f"{club.rng.randint(1_000_000, 9_999_999)}"
        if mobile not in club.used_mobiles:
            club.used_mobiles.add(mobile)
            return mobile


PHONE_FORMS = ("local", "international", "local_compact", "international_compact")


def _spell_phone(mobile: str, form: str) -> str:
    prefix, first, rest = mobile[:2], mobile[2:5], mobile[5:]
    return {
        "local": f"0{prefix} {first} {rest}",  # 087 123 4567
        "international": f"+353 {prefix} {first} {rest}",  # +353 87 123 4567
        "local_compact": f"0{mobile}",  # 0871234567
        "international_compact": f"+353{mobile}",  # +353871234567
    }[form]


def _typed_phone(club: _Club, mobile: str, *, unlike: str | None = None) -> str:
    forms = [form for form in PHONE_FORMS if _spell_phone(mobile, form) != unlike]
    form = club.rng.choices(
        forms, weights=[{"local": 50, "international": 30}.get(f, 10) for f in forms]
    )[0]
    return _spell_phone(mobile, form)


def _address(club: _Club) -> dict:
    rng = club.rng
    town, routing_key = rng.choice(TOWNS)
    unique = "".join(rng.choice(EIRCODE_CHARS) for _ in range(4))
    return {
        "line1": f"{rng.randint(1, 140)} {rng.choice(STREETS)}",
        "city": town,
        "postcode": f"{routing_key} {unique}",
        "country": "IE",
    }


# ---------------------------------------------------------------------------------------------
# Building the cast
# ---------------------------------------------------------------------------------------------


def _make_people(club: _Club, members: int) -> list[Person]:
    people = _make_members(club, members)
    people += _make_households(club, people)
    visitors = round(members * 0.15)
    people += [_make_visitor(club, len(people) + i) for i in range(visitors)]
    subscribers = members // 40
    people += [_make_subscriber(club, len(people) + i) for i in range(subscribers)]
    _plan_fates(club, [p for p in people if p.is_member])
    _plan_tier_changes(club, [p for p in people if p.is_member])
    for person in people:
        _plan_player(club, person)
        _plan_contact(club, person)
    _plan_warning_signs(club, [p for p in people if p.is_member])
    return people


def _tier_list(club: _Club, members: int) -> list[Tier]:
    tiers: list[Tier] = []
    for tier in TIERS[1:]:
        tiers += [tier] * round(members * tier.share)
    tiers = tiers[:members]
    tiers += [FULL] * (members - len(tiers))
    club.rng.shuffle(tiers)
    return tiers


def _make_members(club: _Club, members: int) -> list[Person]:
    rng = club.rng
    people = []
    for key, tier in enumerate(_tier_list(club, members)):
        male_share = {"JUNIOR": 0.75, "SOCIAL": 0.5, "SENIOR": 0.72}.get(tier.code, 0.7)
        gender = "MALE" if rng.random() < male_share else "FEMALE"
        first = rng.choice(MALE_NAMES if gender == "MALE" else FEMALE_NAMES)
        last = rng.choice(SURNAMES)
        age = rng.randint(*tier.ages)
        born = club.today - timedelta(days=age * 365 + rng.randint(0, 364))
        has_email = not (tier is SENIOR and rng.random() < 0.08)
        mobile = _new_mobile(club) if (rng.random() < 0.96 or not has_email) else None
        email = _new_email(club, first, last) if has_email else None
        person = Person(
            key=key,
            kind="MEMBER",
            first_name=first,
            last_name=last,
            gender=gender if rng.random() > 0.01 else None,
            date_of_birth=born,
            email=_oddly_typed(club, email) if email and rng.random() < 0.07 else email,
            mobile=mobile,
            phone=_typed_phone(club, mobile) if mobile else None,
            tier=tier,
            address=_address(club),
        )
        _plan_joining(club, person, new=rng.random() < 0.12)
        if rng.random() < (0.5 if age < 50 else 0.2):
            person.auth_user_id = f"auth0|{club.hex(24)}"
        people.append(person)
    # Member ids and numbers follow the joining order, with the gaps of deleted records.
    member_id = 10000
    for person in sorted(people, key=lambda p: (p.joined_on, p.key)):
        member_id += rng.choice((1, 1, 1, 2, 3))
        person.member_id = member_id
        person.membership_number = f"{club.tenant_slug[:3].upper()}-{member_id:06d}"
    return people


def _plan_joining(club: _Club, person: Person, *, new: bool) -> None:
    rng = club.rng
    assert person.tier is not None and person.date_of_birth is not None
    if new:
        recent = rng.random() < 0.35
        low = (club.end - timedelta(days=90)) if recent else (club.start + timedelta(days=2))
        joined = club.in_window(low, club.end - timedelta(days=1)).date()
        person.joined_on = joined
        person.renewal_due_on = _anniversary(joined, joined.year + 1)
        person.member_created_at = club.during(joined, 9, 17)
        return
    earliest_age = 8 if person.tier is JUNIOR else 18
    earliest = max(
        date(1972, 1, 1),
        _anniversary(person.date_of_birth, person.date_of_birth.year + earliest_age),
    )
    span = max(1, (club.start_day - timedelta(days=1) - earliest).days)
    years_back = min(span, int(rng.expovariate(1 / (8 * 365))) + rng.randint(1, 200))
    person.joined_on = club.start_day - timedelta(days=years_back)
    due = _anniversary(person.joined_on, club.start_day.year)
    if due < club.start_day:
        due = _anniversary(person.joined_on, club.start_day.year + 1)
    person.renewal_due_on = due
    # The initial sync: every existing member arrives in the window's first hours.
    person.member_created_at = club.start + timedelta(seconds=rng.randint(60, 4 * 3600))


def _make_households(club: _Club, people: list[Person]) -> list[Person]:
    """Husband and wife members sharing one email (and an address); a visitor who knows only
    that email. Returns the visitors."""
    rng = club.rng
    count = max(1, len(people) // 100) if len(people) >= 10 else 0
    adults = [
        p
        for p in people
        if p.tier in (FULL, SENIOR, SOCIAL) and p.email and p.member_joined_on < club.start_day
    ]
    husbands = [p for p in adults if p.gender == "MALE"]
    wives = [p for p in adults if p.gender == "FEMALE"]
    visitors: list[Person] = []
    for household in range(min(count, len(husbands), len(wives))):
        husband, wife = husbands[household], wives[-1 - household]
        wife.last_name = husband.last_name
        assert husband.date_of_birth is not None  # every member has one (_make_members)
        wife.date_of_birth = husband.date_of_birth + timedelta(days=rng.randint(-1500, 1500))
        wife.address = husband.address
        shared = _new_email(
            club, f"{_plain(husband.first_name)}and{_plain(wife.first_name)}", husband.last_name
        )
        for spouse in (husband, wife):
            spouse.email = shared
            spouse.household = household
        guest = _make_visitor(club, len(people) + len(visitors))
        guest.last_name = husband.last_name
        guest.email, guest.mobile, guest.phone = shared, None, None
        guest.household = household
        visitors.append(guest)
    return visitors


def _make_visitor(club: _Club, key: int) -> Person:
    rng = club.rng
    gender = "MALE" if rng.random() < 0.75 else "FEMALE"
    first = rng.choice(MALE_NAMES if gender == "MALE" else FEMALE_NAMES)
    last = rng.choice(SURNAMES)
    mobile = _new_mobile(club) if rng.random() < 0.7 else None
    age = rng.randint(20, 75)
    return Person(
        key=key,
        kind="VISITOR",
        first_name=first,
        last_name=last,
        gender=gender,
        date_of_birth=(club.today - timedelta(days=age * 365 + rng.randint(0, 364)))
        if rng.random() < 0.5
        else None,
        email=_new_email(club, first, last),
        mobile=mobile,
        phone=_typed_phone(club, mobile) if mobile else None,
    )


def _make_subscriber(club: _Club, key: int) -> Person:
    """Signed up for the newsletter on the website; not a member, never played."""
    rng = club.rng
    gender = rng.choice(("MALE", "FEMALE"))
    first = rng.choice(MALE_NAMES if gender == "MALE" else FEMALE_NAMES)
    last = rng.choice(SURNAMES)
    return Person(
        key, "SUBSCRIBER", first, last, None, None, _new_email(club, first, last), None, None
    )


def _plan_fates(club: _Club, members: list[Person]) -> None:
    """Who lapses, resigns or dies this year (existing members only: new joiners stay)."""
    rng = club.rng
    settled = [p for p in members if p.member_joined_on < club.start_day and p.household is None]
    rng.shuffle(settled)
    last_usable = club.end - timedelta(days=3)

    lapsing = [
        p for p in settled if p.member_renewal_due_on <= (club.end - timedelta(days=50)).date()
    ]
    for person in lapsing[: round(len(members) * 0.03)]:
        person.fate = "LAPSED"
        person.fate_at = club.during(
            person.member_renewal_due_on + timedelta(days=rng.randint(30, 45)), 9, 16
        )

    resigning = [p for p in settled if p.fate is None]
    for person in resigning[: round(len(members) * 0.025)]:
        person.fate = "RESIGNED"
        due = club.local(person.member_renewal_due_on, 9)
        if due - timedelta(days=30) > club.start + timedelta(days=20) and rng.random() < 0.6:
            person.fate_at = club.after(due, -25 * 86400, -3 * 86400)  # rather than renew
        else:
            person.fate_at = club.in_window(club.start + timedelta(days=20), last_usable)
    erasing = [p for p in members if p.fate == "RESIGNED"]
    if len(members) >= 100 and erasing:
        erasing[0].erased_at = club.after(erasing[0].fate_moment, 20 * 86400, 40 * 86400)

    seniors = [p for p in settled if p.fate is None and p.tier is SENIOR]
    if len(members) >= 100 and seniors:
        seniors[0].fate = "DECEASED"
        seniors[0].fate_at = club.in_window(club.start + timedelta(days=60), last_usable)


def _plan_tier_changes(club: _Club, members: list[Person]) -> None:
    """A junior grows up, a full member turns senior, another goes five-day to save money."""
    if len(members) < 10:
        return
    wanted = max(2, len(members) // 100)
    candidates = []
    for person in members:
        if person.fate or person.member_joined_on >= club.start_day or person.household is not None:
            continue
        age = person.age_on(person.member_renewal_due_on)
        if person.tier is JUNIOR and age >= 18:
            candidates.append((person, FULL))
        elif person.tier is FULL and age >= 64:
            candidates.append((person, SENIOR))
        elif person.tier is FULL and age >= 45 and club.rng.random() < 0.02:
            candidates.append((person, FIVE_DAY))
    for person, new_tier in candidates[:wanted]:
        person.tier_change = (person.member_tier, new_tier)
        person.tier_changed_at = club.during(
            person.member_renewal_due_on - timedelta(days=5), 9, 16
        )


def _plan_player(club: _Club, person: Person) -> None:
    """Whether this person is a TeeTime player, how TeeTime knows them, and how much they play."""
    rng = club.rng
    if person.kind == "SUBSCRIBER":
        return
    if person.kind == "VISITOR":
        person.player_id = club.uuid()
        person.player_email = person.email
        person.player_phone = person.phone
        person.home_club_id = rng.choice(OTHER_CLUBS)
        person.handicap = _handicap(club, 17, 8) if rng.random() < 0.8 else None
        person.activity = "occasional" if rng.random() < 0.15 else "rare"
        person.weekly_rounds = (
            rng.uniform(0.15, 0.4) if person.activity == "occasional" else rng.uniform(0.02, 0.08)
        )
        existing = rng.random() < 0.4
        person.player_created_at = (
            club.start + timedelta(seconds=rng.randint(5 * 3600, 30 * 3600))
            if existing
            else club.in_window(club.start + timedelta(days=2), club.end)
        )
        return

    tier = person.member_tier
    if rng.random() > (0.3 if tier is SOCIAL else 1.0 if tier is JUNIOR else 0.93):
        return
    person.player_id = club.uuid()
    person.home_club_id = club.teetime_club_id
    new_joiner = person.member_joined_on >= club.start_day
    person.player_created_at = (
        club.after(person.scl_created_at, 86400, 10 * 86400)
        if new_joiner
        else club.start + timedelta(seconds=rng.randint(5 * 3600, 30 * 3600))
    )
    mean, spread = {
        "JUNIOR": (24, 9),
        "SENIOR": (20, 6),
        "FIVE_DAY": (18, 7),
        "SOCIAL": (28, 6),
    }.get(tier.code, (15, 7))
    person.handicap = None if new_joiner and rng.random() < 0.3 else _handicap(club, mean, spread)
    _plan_player_contact_points(club, person)
    _plan_activity(club, person)


def _plan_player_contact_points(club: _Club, person: Person) -> None:
    rng = club.rng
    lowered = person.email.strip().lower() if person.email else None
    linked = person.household is not None or rng.random() < 0.8
    person.player_linked = linked
    if linked:
        person.player_email = lowered if rng.random() < 0.7 else person.email
        if lowered and person.household is None and rng.random() < 0.05:  # a work address
            local = f"{_plain(person.first_name)}.{_plain(person.last_name)}"
            person.player_email = _unique_email(club, local, "work.example.com")
        person.player_phone = person.phone
        return
    # Not linked: TeeTime shares only an email or only a phone with SCL (in its own spelling).
    share = rng.choice(("email", "email", "phone", "both"))
    if person.email is None:
        share = "phone"
    if person.mobile is None:
        share = "email"
    if share in ("email", "both"):
        person.player_email = lowered if rng.random() < 0.5 else person.email
    if share in ("phone", "both"):
        assert person.mobile is not None  # share is "email" for anyone without a mobile
        person.player_phone = _typed_phone(club, person.mobile, unlike=person.phone)
    noticed = person.teetime_created_at + timedelta(days=20)
    if rng.random() < 0.25 and noticed < club.end:  # the club office links them later
        person.player_linked_later_at = club.in_window(noticed, club.end)


def _plan_activity(club: _Club, person: Person) -> None:
    rng = club.rng
    if person.tier is SOCIAL:
        options = {"rare": 70, "none": 30}
    elif person.tier is JUNIOR:
        options = {"regular": 25, "occasional": 40, "rare": 25, "none": 10}
    else:
        options = {"regular": 10, "drifting": 7, "occasional": 36, "rare": 31, "none": 16}
    if person.fate in ("LAPSED", "DECEASED") or person.member_joined_on >= club.start_day:
        options.pop("drifting", None)
    activity = rng.choices(list(options), weights=list(options.values()))[0]
    person.activity = activity
    low, high = ACTIVITY_RATES[activity]
    # Skewed towards the low end of the range: more people play once a week than three times.
    person.weekly_rounds = low + (high - low) * rng.random() ** 2
    if activity == "drifting" and person.fate is None and rng.random() < 0.3:
        person.fate = "RESIGNED"  # some drifters end by resigning
        person.fate_at = club.in_window(club.end - timedelta(days=40), club.end - timedelta(days=2))


def _plan_warning_signs(club: _Club, members: list[Person]) -> None:
    """The members a club wants the CRM to catch, made sure of whatever the dice said, so the
    at-risk figures are never empty (about 1 member in 50, at least two of each):

    - members who stopped playing altogether six to ten weeks ago and have a payment that
      failed since and was never settled (churn risk High or Critical: no tee time in weeks,
      payment unpaid);
    - members who joined four to ten months ago, played from the start and then drifted away
      (paying but not playing: their first weeks are the baseline, the demo has no year before).
    """
    rng = club.rng
    golfers = [
        p
        for p in members
        if p.fate is None and p.player_id and p.tier not in (SOCIAL, JUNIOR) and p.household is None
    ]
    wanted = max(2, round(len(members) * 0.02))
    late = club.today - timedelta(days=80)  # a renewal from here on would settle the failure

    settled = [
        p
        for p in golfers
        if p.member_joined_on < club.start_day
        and not (late <= p.member_renewal_due_on < club.today)
    ]
    settled.sort(key=lambda p: (p.activity != "drifting", p.activity != "regular", p.key))
    for person in settled[:wanted]:
        person.activity = "drifting"
        person.weekly_rounds = max(person.weekly_rounds, rng.uniform(1.0, 2.0))
        person.stopped_days = rng.randint(45, 70)
        person.unpaid_at = club.during(club.today - timedelta(days=rng.randint(8, 30)), 9, 17)

    joined = [
        p
        for p in golfers
        if club.today - timedelta(days=300)
        <= p.member_joined_on
        <= club.today - timedelta(days=130)
    ]
    joined.sort(key=lambda p: (p.activity != "drifting", p.key))
    for person in joined[:wanted]:
        person.activity = "drifting"
        person.weekly_rounds = max(person.weekly_rounds, rng.uniform(1.2, 2.2))


def _handicap(club: _Club, mean: float, spread: float) -> float:
    return round(min(36.0, max(0.8, club.rng.gauss(mean, spread))), 1)


def _plan_contact(club: _Club, person: Person) -> None:
    """Whether Messaging knows this person, by which address, and what they consented to."""
    rng = club.rng
    if person.kind == "SUBSCRIBER":
        person.contact_id = f"c_{club.hex(8)}"
        person.contact_email = person.email
        person.contact_created_at = club.in_window(club.start + timedelta(days=3), club.end)
        person.email_opt_in_at = club.after(person.messaging_created_at, 30, 600)
        person.open_rate = rng.uniform(0.2, 0.7)
        return
    if person.kind == "VISITOR":
        # Messaging keeps one contact per address: the household's belongs to the husband.
        if rng.random() > 0.4 or person.household is not None:
            return
        person.contact_created_at = club.after(person.teetime_created_at, 3600, 5 * 86400)
    else:
        if rng.random() > 0.92:
            return
        if person.member_joined_on >= club.start_day:
            person.contact_created_at = club.after(person.scl_created_at, 86400, 3 * 86400)
        else:
            person.contact_created_at = club.start + timedelta(seconds=rng.randint(8, 40) * 3600)
    person.contact_id = f"c_{club.hex(8)}"
    person.contact_email = person.email.strip().lower() if person.email else None
    person.contact_phone = person.phone
    if person.household is not None and person.gender == "FEMALE":
        person.contact_email = None  # Messaging keeps one contact per address: hers is SMS only
    if person.contact_email is None and person.contact_phone is None:
        person.contact_id = None
        return
    person.open_rate = min(0.95, max(0.02, rng.betavariate(2, 2.4)))
    if person.contact_email and rng.random() < 0.85:
        person.email_opt_in_at = club.after(person.messaging_created_at, 5, 900)
    elif person.contact_email and rng.random() < 0.3:  # opts in later in the year
        person.email_opt_in_at = club.in_window(person.messaging_created_at, club.end)
    if person.contact_phone and rng.random() < 0.42:
        person.sms_opt_in_at = club.after(person.messaging_created_at, 5, 900)
    if person.fate == "DECEASED":  # the office tells Messaging: never contact them again
        person.email_opt_out_at = person.sms_opt_out_at = club.after(
            person.fate_moment, 86400, 2 * 86400
        )
        if person.email_opt_in_at and person.email_opt_in_at >= person.email_opt_out_at:
            person.email_opt_in_at = None
    elif person.sms_opt_in_at and rng.random() < 0.04:
        person.sms_opt_out_at = club.in_window(person.sms_opt_in_at, club.end)
    if person.erased_at:
        person.contact_deleted_at = club.after(person.erased_at, 3600, 86400)


# ---------------------------------------------------------------------------------------------
# SCL: membership records, status, tiers, payments
# ---------------------------------------------------------------------------------------------


def _scl_identity(person: Person, *, with_auth: bool = False) -> dict:
    return {
        "sclMemberId": person.member_id,
        "email": person.email,
        "phoneNumber": person.phone,
        "authUserId": person.auth_user_id if with_auth else None,
    }


def _member_payload(person: Person, tier: Tier) -> dict:
    assert person.address is not None  # every member has one (_make_members)
    return {
        "memberId": person.member_id,
        "membershipNumber": person.membership_number,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "email": person.email,
        "phoneNumber": person.phone,
        "dateOfBirth": _iso(person.date_of_birth),
        "gender": person.gender,
        "tier": tier.payload(),
        "status": person.status,
        "joinedOn": _iso(person.joined_on),
        "renewalDueOn": _iso(person.renewal_due_on),
        "address": dict(person.address),
    }


def _member_event(club: _Club, type_: str, person: Person, at: datetime, **meta) -> None:
    club.emit(
        type_,
        at,
        _scl_identity(person, with_auth=True),
        _member_payload(person, person.member_tier_on(at)),
        **meta,
    )


def _payment(
    club: _Club,
    person: Person,
    at: datetime,
    purpose: str,
    amount: str,
    *,
    failure: str | None = None,
) -> str:
    payment_id = f"pay_{club.hex(16)}"
    payload = {
        "paymentId": payment_id,
        "memberId": person.member_id,
        "amount": amount,
        "currency": CURRENCY,
        "purpose": purpose,
    }
    if failure:
        payload["failureReason"] = failure
    club.emit(
        "scl.payment.failed" if failure else "scl.payment.received",
        at,
        _scl_identity(person),
        payload,
    )
    return payment_id


def _membership_story(club: _Club, person: Person) -> None:
    """One member's year in SCL, in order: joined or synced, renewal, changes, how it ends."""
    rng = club.rng
    tier_then = person.tier_change[0] if person.tier_change else person.member_tier
    person.tier = tier_then
    _member_event(club, "scl.member.created", person, person.scl_created_at)
    if person.member_joined_on >= club.start_day:
        moment = club.after(person.scl_created_at, 60, 1800)
        if tier_then.joining_fee:
            _payment(club, person, moment, "JOINING_FEE", tier_then.joining_fee)
        _payment(club, person, club.after(moment, 5, 60), "SUBSCRIPTION", tier_then.annual_fee)

    beats: list[tuple[datetime, str]] = []
    if person.tier_change and person.tier_changed_at:  # set together (_plan_tier_changes)
        beats.append((person.tier_changed_at, "tier"))
    due = club.local(person.member_renewal_due_on, 9)
    if person.member_joined_on < club.start_day and due < club.end:
        paid = club.after(due, -21 * 86400, 20 * 86400)  # early birds, and stragglers
        beats.append((max(paid, club.after(person.scl_created_at, 86400, 3 * 86400)), "renewal"))
    settled_in = max(club.start + timedelta(days=10), person.scl_created_at + timedelta(days=7))
    if rng.random() < 0.06 and settled_in < club.end:
        beats.append((club.in_window(settled_in, club.end), "moved"))
    if person.fate:
        beats.append((person.fate_moment, "fate"))
    if person.erased_at:
        beats.append((person.erased_at, "erased"))
    beats.sort(key=lambda beat: beat[0])

    for at, beat in beats:
        if person.status != "ACTIVE" and beat not in ("erased",):
            continue
        if beat == "tier":
            _tier_change(club, person, at)
        elif beat == "renewal":
            _renewal(club, person, at)
        elif beat == "moved":
            _contact_details_change(club, person, at)
        elif beat == "fate":
            _status_change(club, person, at)
        elif beat == "erased":
            club.emit(
                "scl.member.deleted",
                at,
                {"sclMemberId": person.member_id},
                {"memberId": person.member_id, "reason": "gdpr_erasure"},
            )
    _extra_payments(club, person)


def _tier_change(club: _Club, person: Person, at: datetime) -> None:
    assert person.tier_change is not None  # a "tier" beat is only planned with a tier change
    before, after = person.tier_change
    correlation = club.uuid()
    club.emit(
        "scl.member.tier.changed",
        at,
        _scl_identity(person),
        {"memberId": person.member_id, "fromTier": before.ref(), "toTier": after.ref()},
        correlation_id=correlation,
        user_id="scl-staff-2",
    )
    person.tier = after
    _member_event(
        club,
        "scl.member.updated",
        person,
        at + timedelta(seconds=2),
        correlation_id=correlation,
        user_id="scl-staff-2",
    )


def _renewal(club: _Club, person: Person, at: datetime) -> None:
    """The subscription: paid (perhaps after a failed attempt), or never paid if they lapse."""
    rng = club.rng
    fee = person.member_tier_on(at).annual_fee
    if person.fate == "LAPSED":
        _payment(club, person, at, "SUBSCRIPTION", fee, failure=rng.choice(PAYMENT_FAILURES))
        if rng.random() < 0.5:
            _payment(
                club,
                person,
                club.after(at, 5 * 86400, 9 * 86400),
                "SUBSCRIPTION",
                fee,
                failure="card_declined",
            )
        return
    if person.fate == "RESIGNED" and person.fate_moment > at - timedelta(days=30):
        return  # resigning rather than renewing
    if rng.random() < 0.07:
        _payment(club, person, at, "SUBSCRIPTION", fee, failure=rng.choice(PAYMENT_FAILURES))
        at = club.after(at, 3 * 86400, 10 * 86400)
    if at >= club.end:
        return
    _payment(club, person, at, "SUBSCRIPTION", fee)
    tier = person.tier_on(at)
    if tier in (FULL, SENIOR, FIVE_DAY) and rng.random() < 0.4:
        _payment(club, person, club.after(at, 5, 120), "BAR_LEVY", "150.00")
    if tier is not SOCIAL and rng.random() < 0.15:
        _payment(club, person, club.after(at, 5, 120), "LOCKER", "60.00")
    due = person.member_renewal_due_on
    person.renewal_due_on = _anniversary(due, due.year + 1)
    _member_event(club, "scl.member.updated", person, club.after(at, 60, 3600))


def _contact_details_change(club: _Club, person: Person, at: datetime) -> None:
    """A new phone number or a new address. Nobody tells Messaging or TeeTime: they keep the old
    number, so the services disagree from here on."""
    if person.household is None and club.rng.random() < 0.6:
        person.mobile = _new_mobile(club)
        person.phone = _typed_phone(club, person.mobile)
    else:
        person.address = _address(club)
    _member_event(club, "scl.member.updated", person, at, user_id="scl-staff-1")


STATUS_REASONS = {
    "LAPSED": ("Subscription unpaid",),
    "RESIGNED": ("Moving abroad", "Joining another club", "Health reasons", "Cost", "Not playing"),
    "DECEASED": ("Notified by family",),
}


def _status_change(club: _Club, person: Person, at: datetime) -> None:
    fate = person.fate
    assert fate is not None  # a "fate" beat is only planned for a person with one
    correlation = club.uuid()
    club.emit(
        "scl.member.status.changed",
        at,
        _scl_identity(person),
        {
            "memberId": person.member_id,
            "fromStatus": person.status,
            "toStatus": fate,
            "reason": club.rng.choice(STATUS_REASONS[fate]),
        },
        correlation_id=correlation,
        user_id="scl-staff-1",
    )
    person.status = fate
    _member_event(
        club,
        "scl.member.updated",
        person,
        at + timedelta(seconds=1),
        correlation_id=correlation,
        user_id="scl-staff-1",
    )


def _extra_payments(club: _Club, person: Person) -> None:
    """Shop purchases and lessons through the year; a refund now and then."""
    rng = club.rng
    active_from = max(person.scl_created_at, club.start) + timedelta(days=1)
    active_until = min(person.fate_at or club.end, club.end)
    if person.unpaid_at:
        # The last word on this member's account: a locker fee the card no longer covers.
        _payment(club, person, person.unpaid_at, "LOCKER", "60.00", failure="expired_card")
        active_until = min(active_until, person.unpaid_at - timedelta(days=1))
    if active_until <= active_from or person.erased_at:
        return
    purchases = 0 if person.tier is SOCIAL else int(rng.expovariate(1 / 0.9))
    for _ in range(purchases):
        at = club.in_window(active_from, active_until)
        _payment(club, person, at, "SHOP", rng.choice(SHOP_ITEMS))
    if rng.random() < 0.08:
        for _ in range(rng.randint(1, 4)):
            at = club.in_window(active_from, active_until)
            amount = rng.choice(LESSON_PRICES)
            payment_id = _payment(club, person, at, "LESSON", amount)
            club.refundable.append((at, person, payment_id, amount))


def _refunds(club: _Club, count: int = 2) -> None:
    """A couple of lessons rained off and refunded (while the payer is still a member)."""
    refundable = [
        lesson
        for lesson in club.refundable
        if lesson[0] + timedelta(days=20) < (lesson[1].fate_at or club.end)
    ]
    for at, person, payment_id, amount in club.rng.sample(refundable, min(count, len(refundable))):
        club.emit(
            "scl.payment.refunded",
            club.after(at, 2 * 86400, 20 * 86400),
            _scl_identity(person),
            {
                "paymentId": payment_id,
                "memberId": person.member_id,
                "amount": amount,
                "currency": CURRENCY,
                "purpose": "LESSON",
            },
        )


# ---------------------------------------------------------------------------------------------
# TeeTime: players, bookings, competitions, scores, handicaps
# ---------------------------------------------------------------------------------------------


def _player_identity(person: Person, *, with_phone: bool = False) -> dict:
    return {
        "teetimePlayerId": person.player_id,
        "email": person.player_email,
        "phoneNumber": person.player_phone if with_phone else None,
    }


def _player_payload(club: _Club, person: Person, at: datetime) -> dict:
    linked = person.player_linked or (
        person.player_linked_later_at is not None and at >= person.player_linked_later_at
    )
    return {
        "playerId": person.player_id,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "email": person.player_email,
        "phoneNumber": person.player_phone,
        "handicapIndex": person.handicap_at(at),
        "gender": person.gender,
        "dateOfBirth": _iso(person.date_of_birth),
        "homeClubId": person.home_club_id,
        "sclMemberId": person.member_id if linked else None,
    }


def _players(club: _Club, people: list[Person]) -> None:
    for person in people:
        if person.player_id is None:
            continue
        created = person.teetime_created_at
        person.handicap_history = [(created, person.handicap)]
        club.emit(
            "teetime.player.created",
            created,
            _player_identity(person, with_phone=True),
            _player_payload(club, person, created),
        )


def _player_links(club: _Club, people: list[Person]) -> None:
    """Run after the competitions, so each update carries the handicap of its moment."""
    for person in people:
        if person.player_id and person.player_linked_later_at:
            at = person.player_linked_later_at
            club.emit(
                "teetime.player.updated",
                at,
                _player_identity(person, with_phone=True),
                _player_payload(club, person, at),
                user_id="pro-shop-1",
            )


def _plan_closures(club: _Club) -> None:
    winter = [
        d
        for d in _days(club.start_day + timedelta(days=1), club.today - timedelta(days=1))
        if d.month in (12, 1, 2)
    ]
    club.closure_days = sorted(club.rng.sample(winter, min(3, len(winter))))


def _day_weight(person: Person, day: date, tier: Tier | None) -> float:
    """How likely this person plays on this weekday, relative to an average day (mean ~1)."""
    weekend = day.weekday() >= 5
    if tier is FIVE_DAY:
        return 0.0 if weekend else 1.4
    if tier is SENIOR or person.age_on(day) >= 66:
        return 0.6 if weekend else 1.16
    if tier is JUNIOR:
        if day.month in (6, 7, 8):
            return 1.0
        return 2.5 if weekend else 0.4
    return 2.0 if weekend else 0.6


def _drift(person: Person, club: _Club, day: date) -> float:
    """Drifting members taper from their usual rate to nothing over the last three months."""
    if person.activity != "drifting":
        return 1.0
    left = (club.today - day).days
    if person.stopped_days is not None and left < person.stopped_days:
        return 0.0
    return 1.0 if left >= 90 else max(0.0, left / 90) ** 2


def _tee_time(club: _Club, person: Person, day: date, tier: Tier | None) -> datetime:
    rng = club.rng
    weekend = day.weekday() >= 5
    if weekend:
        hour = rng.choices(range(7, 16), weights=(8, 10, 10, 9, 7, 5, 3, 2, 1))[0]
    elif tier in (SENIOR, FIVE_DAY) or person.age_on(day) >= 66:
        hour = rng.choices(range(8, 14), weights=(8, 10, 9, 6, 3, 2))[0]
    elif tier is JUNIOR:
        hour = rng.randint(10, 15)
    elif day.month in (5, 6, 7, 8) and rng.random() < 0.55:
        hour = rng.choice((16, 17, 17, 18, 18))  # after work, in the long evenings
    else:
        hour = rng.choice((7, 7, 8, 12, 13))
    return club.local(day, hour, rng.choice(range(0, 60, 10)))


def _bookings(club: _Club, people: list[Person]) -> None:
    last_day = club.today + timedelta(days=BOOKING_HORIZON_DAYS)
    for person in people:
        if person.player_id is None or person.weekly_rounds <= 0:
            continue
        first_day = person.teetime_created_at.date() + timedelta(days=1)
        stops = person.plays_until()
        for day in _days(first_day, last_day):
            moment = club.local(day, 12)
            if stops and moment >= stops:
                break
            tier = person.tier_on(moment) if person.is_member else None
            chance = (
                person.weekly_rounds
                / 7
                * SEASON[day.month]
                * _day_weight(person, day, tier)
                * _drift(person, club, day)
            )
            if club.rng.random() < chance:
                _booking(club, person, day, tier)


def _booking(club: _Club, person: Person, day: date, tier: Tier | None) -> None:
    rng = club.rng
    tee = _tee_time(club, person, day, tier)
    course = club.courses[1] if rng.random() < 0.15 else club.courses[0]
    holes = 9 if course is club.courses[1] or rng.random() < 0.08 else 18
    party = rng.choices((1, 2, 3, 4), weights=(15, 30, 20, 35))[0]
    retired = tier is SENIOR or person.age_on(day) >= 66
    channel = rng.choices(
        ("ONLINE", "APP", "PHONE", "WALK_IN"),
        weights=(60, 10, 25, 5)
        if not person.is_member
        else (35, 15, 35, 15)
        if retired
        else (35, 45, 12, 8),
    )[0]
    if channel == "WALK_IN":
        created = club.after(tee, -45 * 60, -10 * 60)
    else:
        lead_days = rng.randint(1, 7) if channel == "PHONE" else rng.randint(0, 10)
        created = club.during(day - timedelta(days=lead_days), 7, 21)
        if created >= tee - timedelta(minutes=30):
            created = club.after(tee, -5 * 3600, -3600)
    earliest = person.teetime_created_at + timedelta(minutes=5)
    if created < earliest:
        if earliest >= tee - timedelta(minutes=20):
            return
        created = club.in_window(earliest, tee - timedelta(minutes=20))
    if day in club.closure_days and created >= club.local(day, 6, 45):
        return  # nobody books on a day the course is closed
    booking_id = club.uuid()
    identity = _player_identity(person)
    correlation = club.uuid()
    club.emit(
        "teetime.booking.created",
        created,
        identity,
        {
            "bookingId": booking_id,
            "playerId": person.player_id,
            "course": dict(course),
            "teeTime": tee.isoformat(),
            "holes": holes,
            "partySize": party,
            "guestPlayerIds": [],
            "price": _money(_price(club, person, day, holes, party)),
            "channel": channel,
        },
        correlation_id=correlation,
        user_id="pro-shop-1" if channel in ("PHONE", "WALK_IN") else None,
    )
    ids = {"bookingId": booking_id, "playerId": person.player_id}
    if day in club.closure_days:
        club.emit(
            "teetime.booking.cancelled",
            club.local(day, 6, 45),
            identity,
            {**ids, "reason": "Course closed: frost"},
            correlation_id=correlation,
            user_id="pro-shop-1",
        )
        return
    outcome = rng.random()
    if outcome < 0.072 and channel != "WALK_IN":
        at = club.in_window(created + timedelta(minutes=5), tee - timedelta(minutes=15))
        club.emit(
            "teetime.booking.cancelled",
            at,
            identity,
            {**ids, "reason": rng.choice(CANCEL_REASONS)},
            correlation_id=correlation,
        )
    elif outcome < 0.125 and channel != "WALK_IN":
        club.emit(
            "teetime.booking.no_show",
            club.after(tee, 20 * 60, 50 * 60),
            identity,
            ids,
            correlation_id=correlation,
            user_id="pro-shop-1",
        )
    else:
        minutes = (250, 285) if holes == 18 else (120, 145)
        done = club.after(tee, minutes[0] * 60, minutes[1] * 60)
        club.emit("teetime.booking.completed", done, identity, ids, correlation_id=correlation)
        if person.handicap is not None and rng.random() < 0.03:  # a general-play score
            gross = _gross(club, person.handicap, holes)
            club.emit(
                "teetime.score.posted",
                club.after(done, 60, 1800),
                identity,
                {
                    "competitionId": None,
                    "playerId": person.player_id,
                    "gross": gross,
                    "net": gross - round(person.handicap * holes / 18),
                    "position": None,
                },
                correlation_id=correlation,
            )


def _price(club: _Club, person: Person, day: date, holes: int, party: int) -> str:
    if person.is_member:
        if party > 1 and club.rng.random() < 0.2:  # a guest or two, at the members' guest rate
            return f"{40 * club.rng.randint(1, party - 1)}.00"
        return "0.00"
    weekend = day.weekday() >= 5
    green_fee = (85 if weekend else 65) if holes == 18 else (45 if weekend else 35)
    return f"{green_fee * party}.00"


def _gross(club: _Club, handicap: float, holes: int = 18) -> int:
    full = 72 + handicap * 0.95 + club.rng.gauss(0, 3.5)
    return max(62 if holes == 18 else 31, round(full * holes / 18))


def _plan_competitions(club: _Club) -> list[Competition]:
    rng = club.rng
    competitions = []
    spacing = (WINDOW_DAYS - 30) / 10
    dates = [club.start_day + timedelta(days=round(20 + i * spacing)) for i in range(10)]
    dates.append(club.today + timedelta(days=9))  # entries are open for the next one
    for spec, day in zip(COMPETITIONS, dates, strict=False):
        name, fmt, member_only, max_hcp, gender, fee, max_entries, description = spec
        day += timedelta(days=(5 - day.weekday()) % 7)  # a Saturday
        starts = club.local(day, 8)
        published = max(
            club.after(starts, -30 * 86400, -24 * 86400), club.start + timedelta(hours=30)
        )
        published = published.astimezone(_dublin_zone(published.date())).replace(microsecond=0)
        competitions.append(
            Competition(
                id=club.uuid(),
                name=name,
                format=fmt,
                member_only=member_only,
                max_handicap=max_hcp,
                gender=gender,
                fee=fee,
                max_entries=max_entries,
                description=description,
                starts_at=starts,
                published_at=published,
                opens_at=published.replace(second=0) + timedelta(minutes=rng.randint(0, 120)),
                closes_at=club.local(day - timedelta(days=2), 18),
            )
        )
    played = [c for c in competitions[:-1] if c.starts_at.month in (11, 12, 1, 2)]
    washed_out = played[0] if played else competitions[min(3, len(competitions) - 2)]
    washed_out.cancelled_at = club.local(washed_out.starts_at.date() - timedelta(days=1), 16)
    return competitions


def _competition_payload(club: _Club, competition: Competition) -> dict:
    slug = _plain(competition.name)
    return {
        "competitionId": competition.id,
        "name": competition.name,
        "description": competition.description,
        "startsAt": competition.starts_at.isoformat(),
        "entryOpensAt": competition.opens_at.isoformat(),
        "entryClosesAt": competition.closes_at.isoformat(),
        "format": competition.format,
        "maxEntries": competition.max_entries,
        "entriesCount": competition.entries,
        "entryFee": _money(competition.fee),
        "eligibility": {
            "memberOnly": competition.member_only,
            "maxHandicap": competition.max_handicap,
            "gender": competition.gender,
        },
        "imageUrl": f"https://images.example.ie/{club.tenant_slug}/competitions/{slug}.jpg",
        "bookingUrl": f"https://teetime.example.ie/{club.tenant_slug}/competitions/"
        f"{competition.id}",
    }


ENTRY_APPETITE = {"regular": 0.5, "drifting": 0.4, "occasional": 0.18, "rare": 0.03, "none": 0}


def _competitions(club: _Club, people: list[Person], competitions: list[Competition]) -> None:
    rng = club.rng
    for competition in competitions:
        club.emit(
            "teetime.competition.published",
            competition.published_at,
            {},
            _competition_payload(club, competition),
            user_id="pro-shop-1",
        )
        entrants = []
        for person in people:
            if not _eligible(person, competition):
                continue
            appetite = ENTRY_APPETITE[person.activity] * (0.25 if not person.is_member else 1)
            appetite *= _drift(person, club, competition.starts_at.date())
            if rng.random() < appetite:
                low = max(competition.opens_at, person.teetime_created_at + timedelta(hours=1))
                high = competition.closes_at
                entered = low + (high - low) * rng.random() ** 2  # most enter early
                entrants.append((entered, person))
        entrants.sort(key=lambda entry: (entry[0], entry[1].key))
        playing = []
        for entered, person in entrants[: competition.max_entries]:
            ids = {"competitionId": competition.id, "playerId": person.player_id}
            if not club.emit(
                "teetime.competition.entry.created", entered, _player_identity(person), ids
            ):
                continue
            if rng.random() < 0.05:
                club.emit(
                    "teetime.competition.entry.withdrawn",
                    club.in_window(entered, competition.closes_at),
                    _player_identity(person),
                    ids,
                )
                continue
            playing.append(person)
        competition.entries = len(playing)
        if competition.closes_at < club.end:
            club.emit(
                "teetime.competition.updated",
                club.after(competition.closes_at, 60, 900),
                {},
                _competition_payload(club, competition),
            )
        if competition.cancelled_at:
            club.emit(
                "teetime.competition.cancelled",
                competition.cancelled_at,
                {},
                {"competitionId": competition.id, "reason": "Course waterlogged"},
                user_id="pro-shop-1",
            )
            continue
        _results(club, competition, [p for p in playing if rng.random() < 0.95])


def _eligible(person: Person, competition: Competition) -> bool:
    if person.player_id is None or person.teetime_created_at >= competition.closes_at:
        return False
    until = person.plays_until()
    if until and until <= competition.starts_at:
        return False
    if competition.member_only and not person.is_member:
        return False
    if competition.gender and person.gender != competition.gender:
        return False
    handicap = person.handicap_at(competition.opens_at)
    if handicap is None:
        return False
    if competition.name.startswith("Seniors") and (
        person.tier_on(competition.starts_at) is not SENIOR
    ):
        return False
    return competition.max_handicap is None or handicap <= competition.max_handicap


def _results(club: _Club, competition: Competition, players: list[Person]) -> None:
    """Scores the evening of the competition; WHS moves some handicaps overnight."""
    rng = club.rng
    cards = []
    for person in players:
        handicap = person.handicap_at(competition.starts_at)
        assert handicap is not None  # _eligible let in only players with a handicap
        gross = _gross(club, handicap)
        cards.append((gross - round(handicap), gross, person.key, person, handicap))
    cards.sort(key=lambda card: card[:3])
    day = competition.starts_at.date()
    for position, (net, gross, _, person, handicap) in enumerate(cards, start=1):
        posted = club.during(day, 17, 20)
        club.emit(
            "teetime.score.posted",
            posted,
            _player_identity(person),
            {
                "competitionId": competition.id,
                "playerId": person.player_id,
                "gross": gross,
                "net": net,
                "position": position,
            },
        )
        if rng.random() < 0.2:
            change = rng.uniform(0.1, 1.2) * (-1 if net < 70 else 1)
            new_index = round(min(36.0, max(0.8, handicap + change)), 1)
            if new_index != handicap:
                at = club.local(day + timedelta(days=1), 2, rng.randint(0, 59))
                if club.emit(
                    "teetime.handicap.updated",
                    at,
                    _player_identity(person),
                    {"playerId": person.player_id, "fromIndex": handicap, "toIndex": new_index},
                ):
                    person.handicap_history.append((at, new_index))


# ---------------------------------------------------------------------------------------------
# Messaging: contacts, consent, newsletters and SMS notices
# ---------------------------------------------------------------------------------------------


def _contact_identity(person: Person, *, channel: str = "EMAIL") -> dict:
    if channel == "EMAIL" and person.contact_email:
        return {"messagingContactId": person.contact_id, "email": person.contact_email}
    return {"messagingContactId": person.contact_id, "phoneNumber": person.contact_phone}


def _preference(
    club: _Club, person: Person, at: datetime, channel: str, opted_in: bool, source: str
) -> None:
    club.emit(
        "messaging.contactPreference.updated",
        at,
        _contact_identity(person, channel=channel),
        {"contactId": person.contact_id, "channel": channel, "optedIn": opted_in, "source": source},
    )


def _contacts(club: _Club, people: list[Person]) -> None:
    for person in people:
        if person.contact_id is None:
            continue
        created = person.messaging_created_at
        synced = created < club.start + timedelta(days=2)
        club.emit(
            "messaging.contact.created",
            created,
            _contact_identity(person),
            {
                "contactId": person.contact_id,
                "email": person.contact_email,
                "phoneNumber": person.contact_phone,
                "firstName": person.first_name,
                "lastName": person.last_name,
            },
        )
        source = "IMPORT" if synced else "PREFERENCE_CENTRE"
        if person.email_opt_in_at:
            late = person.email_opt_in_at > created + timedelta(hours=1)
            _preference(
                club,
                person,
                person.email_opt_in_at,
                "EMAIL",
                True,
                "PREFERENCE_CENTRE" if late else source,
            )
        if person.sms_opt_in_at:
            _preference(club, person, person.sms_opt_in_at, "SMS", True, source)
        # Opt-outs known in advance: staff for the deceased, a few SMS opt-outs in the preference
        # centre. (Unsubscribing from a newsletter happens in _newsletters.)
        staff = person.fate == "DECEASED"
        if person.email_opt_out_at and person.email_opt_in_at:
            _preference(club, person, person.email_opt_out_at, "EMAIL", False, "STAFF")
        if person.sms_opt_out_at and person.sms_opt_in_at:
            source = "STAFF" if staff else "PREFERENCE_CENTRE"
            _preference(club, person, person.sms_opt_out_at, "SMS", False, source)
        if person.contact_deleted_at:
            club.emit(
                "messaging.contact.deleted",
                person.contact_deleted_at,
                {"messagingContactId": person.contact_id},
                {
                    "contactId": person.contact_id,
                    "email": None,
                    "phoneNumber": None,
                    "firstName": None,
                    "lastName": None,
                },
            )


def _can_email(person: Person, at: datetime) -> bool:
    return (
        person.contact_email is not None
        and not person.email_suppressed
        and person.email_opt_in_at is not None
        and person.email_opt_in_at <= at
        and (person.email_opt_out_at is None or at < person.email_opt_out_at)
        and (person.contact_deleted_at is None or at < person.contact_deleted_at)
    )


def _can_text(person: Person, at: datetime) -> bool:
    return (
        person.contact_phone is not None
        and person.sms_opt_in_at is not None
        and person.sms_opt_in_at <= at
        and (person.sms_opt_out_at is None or at < person.sms_opt_out_at)
        and (person.contact_deleted_at is None or at < person.contact_deleted_at)
    )


def _newsletter_dates(club: _Club) -> list[date]:
    """The second Thursday of every month in the window, but for the quiet December and January."""
    days = []
    for day in _days(club.start_day + timedelta(days=3), club.today - timedelta(days=1)):
        if day.weekday() == 3 and 8 <= day.day <= 14 and day.month not in (12, 1):
            days.append(day)
    return days


def _newsletters(club: _Club, people: list[Person]) -> None:
    rng = club.rng
    contacts = [p for p in people if p.contact_id and p.contact_email]
    dates = _newsletter_dates(club)
    # Decided up front so that every club has them: ~1.5% of addresses no longer exist, and
    # one person marks a newsletter from the middle of the year as spam.
    subscribed = [p for p in contacts if p.email_opt_in_at]
    undeliverable = {p.key for p in rng.sample(subscribed, math.ceil(len(subscribed) * 0.015))}
    complaint_from = dates[len(dates) // 2] if dates else None
    staying = [
        p
        for p in subscribed
        if p.key not in undeliverable
        and not (p.email_opt_out_at or p.contact_deleted_at)
        and complaint_from
        and p.email_opt_in_at is not None  # every one subscribed
        and p.email_opt_in_at < club.local(complaint_from, 9)
    ]
    club.complainer = rng.choice(staying) if staying else None
    for day in dates:
        start = club.local(day, 10)
        correlation = club.uuid()
        for index, person in enumerate(contacts):
            sent = start + timedelta(seconds=index * 1.7 + rng.random())
            if not _can_email(person, sent):
                continue
            message = _message(club, person, "EMAIL")
            club.emit(
                "messaging.message.sent",
                sent,
                _contact_identity(person),
                message,
                correlation_id=correlation,
            )
            if person.key in undeliverable:
                _bounce(
                    club,
                    person,
                    sent,
                    message,
                    "HARD",
                    "550 5.1.1 mailbox does not exist",
                    correlation,
                )
                continue
            if rng.random() < 0.01:
                _bounce(club, person, sent, message, "SOFT", "452 4.2.2 mailbox full", correlation)
                continue
            delivered = club.after(sent, 1, 90)
            club.emit(
                "messaging.message.delivered",
                delivered,
                _contact_identity(person),
                message,
                correlation_id=correlation,
            )
            # complaint_from is None only when there are no newsletter dates (no loop).
            if person is club.complainer and complaint_from and day >= complaint_from:
                club.emit(
                    "messaging.message.complained",
                    club.after(delivered, 3600, 6 * 3600),
                    _contact_identity(person),
                    message,
                    correlation_id=correlation,
                )
                person.email_suppressed = True
                continue
            _engagement(club, person, day, delivered, message, correlation)


def _message(club: _Club, person: Person, channel: str) -> dict:
    recipient = (
        {"email": person.contact_email}
        if channel == "EMAIL"
        else {"phoneNumber": person.contact_phone}
    )
    return {
        "messageId": f"msg_{club.hex(16)}",
        "sendId": None,
        "contactId": person.contact_id,
        "channel": channel,
        "recipient": recipient,
    }


def _bounce(
    club: _Club,
    person: Person,
    sent: datetime,
    message: dict,
    kind: str,
    reason: str,
    correlation: str,
) -> None:
    club.emit(
        "messaging.message.bounced",
        club.after(sent, 20, 600),
        _contact_identity(person),
        {**message, "bounce": {"type": kind, "reason": reason}},
        correlation_id=correlation,
    )
    if kind == "HARD":
        person.email_suppressed = True


def _engagement(
    club: _Club, person: Person, day: date, delivered: datetime, message: dict, correlation: str
) -> None:
    """Opens (~45%), clicks (~10%) and the odd unsubscribe."""
    rng = club.rng
    rate = person.open_rate * (0.2 + 0.8 * _drift(person, club, day))
    if rng.random() >= rate:
        return
    opened = delivered + timedelta(seconds=min(5 * 86400, rng.expovariate(1 / (6 * 3600))))
    club.emit(
        "messaging.email.opened",
        opened,
        _contact_identity(person),
        message,
        correlation_id=correlation,
    )
    if rng.random() < 0.22:
        link = rng.choice(NEWSLETTER_LINKS)
        club.emit(
            "messaging.email.clicked",
            club.after(opened, 5, 300),
            _contact_identity(person),
            {
                **message,
                "url": f"https://{club.tenant_slug}.example.ie/{link}"
                f"?utm_source=newsletter&utm_campaign={day:%Y-%m}",
            },
            correlation_id=correlation,
        )
    elif rng.random() < 0.012 and person is not club.complainer:
        at = club.after(opened, 20, 240)
        if at < club.end:
            _preference(club, person, at, "EMAIL", False, "UNSUBSCRIBE_LINK")
            person.email_opt_out_at = at


def _sms_notices(club: _Club, people: list[Person]) -> None:
    """The course-closed texts on frost days, to everyone opted in to SMS."""
    rng = club.rng
    contacts = [p for p in people if p.contact_id and p.contact_phone]
    for day in club.closure_days:
        start = club.local(day, 6, 50)
        correlation = club.uuid()
        for index, person in enumerate(contacts):
            sent = start + timedelta(seconds=index * 0.5 + rng.random())
            if not _can_text(person, sent):
                continue
            message = _message(club, person, "SMS")
            identity = _contact_identity(person, channel="SMS")
            club.emit("messaging.message.sent", sent, identity, message, correlation_id=correlation)
            outcome = "failed" if rng.random() < 0.02 else "delivered"
            club.emit(
                f"messaging.message.{outcome}",
                club.after(sent, 2, 40),
                identity,
                message,
                correlation_id=correlation,
            )


# ---------------------------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------------------------


def _use_alias_names(club: _Club) -> None:
    """A handful of events go out under the other names the producers use (events.md)."""
    for canonical, alias, count in ALIASES:
        candidates = club.of_type(canonical)
        for envelope in club.rng.sample(candidates, min(count, len(candidates))):
            envelope["type"] = alias


def build_club(
    *,
    tenant_id: str,
    tenant_slug: str,
    members: int = 400,
    seed: int = 7,
    today: date | None = None,
) -> DemoClub:
    """The club's year: its people (for tests and curiosity) and the events they produced."""
    if members < 1:
        raise ValueError("a club needs at least one member")
    club = _Club(
        tenant_id=tenant_id, tenant_slug=tenant_slug, seed=seed, today=today or date.today()
    )
    people = _make_people(club, members)
    _plan_closures(club)
    competitions = _plan_competitions(club)
    for person in people:
        if person.is_member:
            _membership_story(club, person)
    _refunds(club)
    _players(club, people)
    _bookings(club, people)
    _competitions(club, people, competitions)
    _player_links(club, people)
    _contacts(club, people)
    _newsletters(club, people)
    _sms_notices(club, people)
    _use_alias_names(club)
    return DemoClub(people=people, events=club.sorted_events())


def generate_club(
    *,
    tenant_id: str,
    tenant_slug: str,
    members: int = 400,
    seed: int = 7,
    today: date | None = None,
) -> list[dict]:
    """The events a club of `members` members produced over the year up to `today`, sorted by
    timestamp (see the module docstring for what is in it)."""
    return build_club(
        tenant_id=tenant_id, tenant_slug=tenant_slug, members=members, seed=seed, today=today
    ).events


def write_jsonl(events: list[dict], path: str | Path) -> int:
    """One envelope per line (UTF-8); returns how many were written."""
    with Path(path).open("w", encoding="utf-8") as out:
        for envelope in events:
            out.write(json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n")
    return len(events)
