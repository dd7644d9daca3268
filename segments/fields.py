"""The fields a segment rule can name (segments.md), in one catalogue: what each means, its
type, the operators it takes, and where its value comes from. The validator, the compiler, the
published JSON Schema and the admin's rule builder all read this table, so a field is added in
one place.

Fields beyond the contract (documented here and in the builder):

- `weekdayMorningShare`, `weekdayAfternoonShare`, `weekdayEveningShare`, `weekendShare`: the
  percentage (0-100) of the customer's tee-time bookings whose tee time falls in that day part,
  in the club's time zone (morning before 12:00, afternoon 12:00-16:59, evening from 17:00;
  weekend is Saturday and Sunday at any hour). They take a `window` like the counts. A customer
  with no bookings in the window has no value (only `isNull`, `neq`, `notIn` match). Each
  booking's day part is fixed when it is applied (in the club's zone then; the nightly recount
  follows a change of zone) and apply keeps every customer's all-time bookings by day part, so
  a share without a window is read off the customer row; with a window, the bookings in it are
  grouped from an index that carries their day part.

Choices made where the contract is silent:

- `bookingCount` counts bookings made (`teetime.booking.created`), cancelled ones included;
  `roundsPlayed` counts completed bookings (`teetime.booking.completed`); `lastBookingAt` is
  when the newest booking was made. `competitionEntryCount` counts entries made (withdrawals
  are not subtracted).
- `totalSpend` is in cents like `lifetimeValue`: payments received minus refunds.
- `age` is in whole years on today's date in the club's time zone; `birthMonth` is 1-12.
- `status` is the customer's CRM status; merged-away and erased customers are never in a
  segment, whatever the rule says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from profiles.models import CustomerStatus, EngagementBand, LifecycleStage


class FieldType(StrEnum):
    STRING = "string"
    ENUM = "enum"
    INTEGER = "integer"
    NUMBER = "number"
    COUNT = "count"  # a windowed count or sum over the timeline: never null
    SHARE = "share"  # a windowed percentage over the timeline: null without bookings
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    TAGS = "tags"
    SEGMENT = "segment"


class Source(StrEnum):
    """Where the compiler finds a field's value."""

    COLUMN = "column"  # a column of the customer row
    SCORE = "score"  # a column of the customer's scores row
    AGE = "age"
    BIRTH_MONTH = "birth_month"
    ACTIVITY_COUNT = "activity_count"
    ACTIVITY_SUM = "activity_sum"
    ACTIVITY_LATEST = "activity_latest"
    DAY_PART_SHARE = "day_part_share"
    LATEST_VALUE = "latest_value"  # a value (`column`: its data key) of the newest timeline entry
    SEGMENT = "segment"


COMPARE = ("eq", "neq", "gt", "gte", "lt", "lte", "between")
NULLS = ("isNull", "isNotNull")
RELATIVE_DATES = ("withinLastDays", "moreThanDaysAgo", "withinNextDays")

OPERATORS: dict[FieldType, tuple[str, ...]] = {
    FieldType.STRING: ("eq", "neq", "in", "notIn", "contains", *NULLS),
    FieldType.ENUM: ("eq", "neq", "in", "notIn", *NULLS),
    FieldType.INTEGER: (*COMPARE, "in", "notIn", *NULLS),
    FieldType.NUMBER: (*COMPARE, *NULLS),
    FieldType.COUNT: COMPARE,
    FieldType.SHARE: (*COMPARE, *NULLS),
    FieldType.DATE: (*COMPARE, *NULLS, *RELATIVE_DATES),
    FieldType.DATETIME: (*COMPARE, *NULLS, *RELATIVE_DATES),
    FieldType.BOOLEAN: ("eq", "neq"),
    FieldType.TAGS: ("contains", "in", "notIn", *NULLS),
    FieldType.SEGMENT: ("eq", "neq", "in", "notIn"),
}

OPERATOR_LABELS: dict[str, str] = {
    "eq": "is",
    "neq": "is not",
    "gt": "more than",
    "gte": "at least",
    "lt": "less than",
    "lte": "at most",
    "between": "between",
    "in": "is any of",
    "notIn": "is none of",
    "contains": "contains",
    "isNull": "is empty",
    "isNotNull": "is not empty",
    "withinLastDays": "in the last … days",
    "moreThanDaysAgo": "more than … days ago",
    "withinNextDays": "in the next … days",
}

BOOKING = "teetime.booking.created"
GUEST_ROUND = "teetime.booking.guest"  # profiles.apply: a guest's entry for a booking
SURVEY = "crm.survey.answered"  # journeys.surveys


@dataclass(frozen=True)
class FieldSpec:
    name: str
    group: str
    type: FieldType
    source: Source
    label: str
    description: str
    column: str = ""  # COLUMN/SCORE: the model field
    activity_types: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    # The builder offers the club's own values (its tiers, home clubs) as a picker.
    picker: str = ""
    day_part: str = ""
    minimum: float | None = None
    maximum: float | None = None
    windowed: bool = field(init=False)

    def __post_init__(self) -> None:
        windowed = self.source in (
            Source.ACTIVITY_COUNT,
            Source.ACTIVITY_SUM,
            Source.DAY_PART_SHARE,
        )
        object.__setattr__(self, "windowed", windowed)

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS[self.type]


def _f(name, group, type_, source, label, description, **kwargs) -> FieldSpec:
    return FieldSpec(name, group, type_, source, label, description, **kwargs)


T, S = FieldType, Source
FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        # customer
        _f("status", "customer", T.ENUM, S.COLUMN, "CRM status", "ACTIVE or INACTIVE.",
           column="status", choices=(CustomerStatus.ACTIVE, CustomerStatus.INACTIVE)),
        _f("lifecycleStage", "customer", T.ENUM, S.COLUMN, "Lifecycle stage",
           "SUBSCRIBER to ADVOCATE, or CHURNED.", column="lifecycle_stage",
           choices=tuple(LifecycleStage.values)),
        _f("tags", "customer", T.TAGS, S.COLUMN, "Tags", "Staff tags.", column="tags",
           picker="tags"),
        _f("gender", "customer", T.STRING, S.COLUMN, "Gender", "As SCL or TeeTime sent it.",
           column="gender", picker="genders"),
        _f("age", "customer", T.INTEGER, S.AGE, "Age", "Whole years today.", minimum=0,
           maximum=130),
        _f("birthMonth", "customer", T.INTEGER, S.BIRTH_MONTH, "Birth month", "1 to 12.",
           minimum=1, maximum=12),
        _f("createdAt", "customer", T.DATETIME, S.COLUMN, "Known to the CRM since",
           "When the customer was first seen.", column="created_at"),
        _f("lastActivityAt", "customer", T.DATETIME, S.COLUMN, "Last activity",
           "The newest thing the person did.", column="last_activity_at"),
        _f("email", "customer", T.STRING, S.COLUMN, "Email", "Lower case.", column="email"),
        _f("sclMemberId", "customer", T.INTEGER, S.COLUMN, "SCL member id", "",
           column="scl_member_id"),
        _f("teetimePlayerId", "customer", T.STRING, S.COLUMN, "TeeTime player id", "",
           column="teetime_player_id"),
        # scores
        _f("engagementScore", "scores", T.INTEGER, S.SCORE, "Engagement score", "0 to 100.",
           column="engagement_score", minimum=0, maximum=100),
        _f("engagementBand", "scores", T.ENUM, S.SCORE, "Engagement band",
           "EXCELLENT, GOOD, AVERAGE, LOW, AT_RISK.", column="engagement_band",
           choices=tuple(EngagementBand.values)),
        _f("churnRiskScore", "scores", T.INTEGER, S.SCORE, "Churn risk", "0 to 100.",
           column="churn_risk_score", minimum=0, maximum=100),
        _f("payingNotPlaying", "scores", T.BOOLEAN, S.SCORE, "Paying but not playing",
           "Paid up, playing well below their own baseline.", column="paying_not_playing"),
        _f("lifetimeValue", "scores", T.INTEGER, S.COLUMN, "Lifetime value (cents)",
           "Payments received minus refunds.", column="lifetime_value"),
        # membership
        _f("membershipStatus", "membership", T.ENUM, S.COLUMN, "Membership status", "",
           column="membership_status",
           choices=("ACTIVE", "LAPSED", "SUSPENDED", "RESIGNED", "DECEASED")),
        _f("membershipTier", "membership", T.STRING, S.COLUMN, "Membership tier",
           "The tier code SCL sent (FULL, SENIOR, …), exactly.", column="membership_tier",
           picker="tiers"),
        _f("memberSince", "membership", T.DATE, S.COLUMN, "Member since", "",
           column="member_since"),
        _f("renewalDueOn", "membership", T.DATE, S.COLUMN, "Renewal due", "",
           column="renewal_due_on"),
        # golf
        _f("handicap", "golf", T.NUMBER, S.COLUMN, "Handicap index", "", column="handicap"),
        _f("homeClubId", "golf", T.STRING, S.COLUMN, "Home club", "", column="home_club_id",
           picker="homeClubs"),
        _f("lastBookingAt", "golf", T.DATETIME, S.ACTIVITY_LATEST, "Last booking made", "",
           activity_types=(BOOKING,)),
        _f("bookingCount", "golf", T.COUNT, S.ACTIVITY_COUNT, "Bookings", "Bookings made.",
           activity_types=(BOOKING,)),
        _f("noShowCount", "golf", T.COUNT, S.ACTIVITY_COUNT, "No-shows", "",
           activity_types=("teetime.booking.no_show",)),
        _f("cancellationCount", "golf", T.COUNT, S.ACTIVITY_COUNT, "Cancellations", "",
           activity_types=("teetime.booking.cancelled",)),
        _f("competitionEntryCount", "golf", T.COUNT, S.ACTIVITY_COUNT, "Competition entries",
           "", activity_types=("teetime.competition.entry.created",)),
        _f("roundsPlayed", "golf", T.COUNT, S.ACTIVITY_COUNT, "Rounds played",
           "Completed bookings.", activity_types=("teetime.booking.completed",)),
        _f("weekdayMorningShare", "golf", T.SHARE, S.DAY_PART_SHARE, "Weekday morning share",
           "% of bookings Mon-Fri before 12:00.", activity_types=(BOOKING,),
           day_part="weekday_morning", minimum=0, maximum=100),
        _f("weekdayAfternoonShare", "golf", T.SHARE, S.DAY_PART_SHARE,
           "Weekday afternoon share", "% of bookings Mon-Fri 12:00-16:59.",
           activity_types=(BOOKING,), day_part="weekday_afternoon", minimum=0, maximum=100),
        _f("weekdayEveningShare", "golf", T.SHARE, S.DAY_PART_SHARE, "Weekday evening share",
           "% of bookings Mon-Fri from 17:00.", activity_types=(BOOKING,),
           day_part="weekday_evening", minimum=0, maximum=100),
        _f("weekendShare", "golf", T.SHARE, S.DAY_PART_SHARE, "Weekend share",
           "% of bookings on Saturday or Sunday.", activity_types=(BOOKING,),
           day_part="weekend", minimum=0, maximum=100),
        # the whole four-ball and the after-the-round survey (profiles.rounds, journeys.surveys)
        _f("guestRounds", "golf", T.COUNT, S.ACTIVITY_COUNT, "Rounds as a guest",
           "Bookings they played in as someone's guest.",
           activity_types=(GUEST_ROUND,)),
        _f("lastPlayedAsGuestAt", "golf", T.DATETIME, S.ACTIVITY_LATEST,
           "Last played as a guest", "", activity_types=(GUEST_ROUND,)),
        _f("lastNps", "feedback", T.INTEGER, S.LATEST_VALUE, "Last survey score (0-10)",
           "Their newest answer to the after-the-round survey.", column="score",
           activity_types=(SURVEY,), minimum=0, maximum=10),
        _f("npsBand", "feedback", T.ENUM, S.LATEST_VALUE, "NPS band",
           "Promoter (9-10), passive (7-8) or detractor (0-6), from their newest answer.",
           column="band", activity_types=(SURVEY,),
           choices=("PROMOTER", "PASSIVE", "DETRACTOR")),
        # payments
        _f("totalSpend", "payments", T.COUNT, S.ACTIVITY_SUM, "Total spend (cents)",
           "Payments received minus refunds.",
           activity_types=("scl.payment.received", "scl.payment.refunded")),
        _f("paymentFailedCount", "payments", T.COUNT, S.ACTIVITY_COUNT, "Failed payments", "",
           activity_types=("scl.payment.failed",)),
        # engagement
        _f("emailOptIn", "engagement", T.BOOLEAN, S.COLUMN, "Email opt-in", "",
           column="email_opt_in"),
        _f("smsOptIn", "engagement", T.BOOLEAN, S.COLUMN, "SMS opt-in", "",
           column="sms_opt_in"),
        _f("pushOptIn", "engagement", T.BOOLEAN, S.COLUMN, "Push opt-in", "",
           column="push_opt_in"),
        _f("lastEmailOpenAt", "engagement", T.DATETIME, S.ACTIVITY_LATEST, "Last email open",
           "", activity_types=("messaging.email.opened",)),
        _f("lastEmailClickAt", "engagement", T.DATETIME, S.ACTIVITY_LATEST,
           "Last email click", "", activity_types=("messaging.email.clicked",)),
        _f("emailOpenCount", "engagement", T.COUNT, S.ACTIVITY_COUNT, "Email opens", "",
           activity_types=("messaging.email.opened",)),
        _f("emailClickCount", "engagement", T.COUNT, S.ACTIVITY_COUNT, "Email clicks", "",
           activity_types=("messaging.email.clicked",)),
        _f("hardBounced", "engagement", T.BOOLEAN, S.COLUMN, "Email hard-bounced", "",
           column="email_hard_bounced"),
        # other segments
        _f("inSegment", "segments", T.SEGMENT, S.SEGMENT, "In segment",
           "Member of another segment (value: its id).", picker="segments"),
    )
}  # fmt: skip

GROUPS: tuple[tuple[str, str], ...] = (
    ("customer", "Customer"),
    ("scores", "Scores"),
    ("membership", "Membership (SCL)"),
    ("golf", "Golf (TeeTime)"),
    ("payments", "Payments (SCL)"),
    ("engagement", "Engagement (Messaging)"),
    ("feedback", "Feedback (after-the-round survey)"),
    ("segments", "Other segments"),
)


def activity_types_of(field_names: set[str]) -> set[str]:
    """The event types whose arrival can change these fields' values."""
    types: set[str] = set()
    for name in field_names:
        spec = FIELDS.get(name)
        if spec and spec.activity_types:
            types |= set(spec.activity_types)
    return types


def catalogue_for_builder() -> list[dict]:
    """The catalogue as the admin's builder and `GET segments/fields` show it."""
    return [
        {
            "name": spec.name,
            "group": spec.group,
            "type": spec.type.value,
            "label": spec.label,
            "description": spec.description,
            "operators": list(spec.operators),
            "choices": list(spec.choices),
            "picker": spec.picker,
            "windowed": spec.windowed,
            "minimum": spec.minimum,
            "maximum": spec.maximum,
        }
        for spec in FIELDS.values()
    ]
