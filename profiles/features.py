"""A club's timeline as numbers, and the features the scores are made of at any moment.

`timeline_load` reads the timeline once: one query (a binary COPY straight into numpy arrays)
for every activity of the customers concerned in a time range, each reduced to who (an index
into the customers), what (a small code: booked, played, cancelled, paid, payment failed,
tier down, lapsed, opened …), when (days since 1970 as a float), how much, and which kind and
channel of activity it was. Nothing else is read from the database.

`snapshot(timeline, at)` then computes every feature as of the moment `at` with numpy, using
only events strictly before `at` (and, for training labels only, the `horizon` days after it).
Engagement, the churn model, the rule-based score and "paying but not playing" all read the
same snapshot, so the nightly scores and the training data cannot drift apart, and a
snapshot taken in the past is exactly what the timeline said then: events after `at` are never
looked at, whatever arrived since.

Two facts come from the customer row rather than the timeline, both fixed for a member: the
day they joined (`member_since`, for tenure) and their renewal anniversary (the day and month
of `renewal_due_on`, else of `member_since`). The current membership status is only used for
scoring now (who is a member today), never in training.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
from django.db import connection

from profiles.models import ActivityCategory

DAY = 86400.0
YEAR = 365.2425
# How far back a snapshot looks: a year of play, and for "paying but not playing" the same
# weeks last year (52 weeks back, up to 26 weeks long).
LOOKBACK_DAYS = 364 + 26 * 7 + 7

# What each activity is, for the scores.
K_OTHER = 0
K_BOOKED = 1
K_PLAYED = 2
K_CANCELLED = 3
K_NO_SHOW = 4
K_COMPETITION = 5
K_PAID = 6
K_FAILED_SUBSCRIPTION = 7
K_FAILED_OTHER = 8
K_REFUNDED = 9
K_TIER_DOWN = 10
K_TIER_OTHER = 11
K_LAPSED = 12  # membership status changed to LAPSED or RESIGNED: churn
K_REACTIVATED = 13  # … back to ACTIVE
K_LEFT_OTHER = 14  # … to DECEASED: no longer a member, but not churn
K_OPENED = 15
K_CLICKED = 16
K_SENT = 17
K_COMPLAINED = 18

_TYPES = {
    "teetime.booking.created": K_BOOKED,
    "teetime.booking.completed": K_PLAYED,
    "teetime.booking.cancelled": K_CANCELLED,
    "teetime.booking.no_show": K_NO_SHOW,
    "teetime.competition.entry.created": K_COMPETITION,
    "scl.payment.received": K_PAID,
    "scl.payment.refunded": K_REFUNDED,
    "messaging.email.opened": K_OPENED,
    "messaging.email.clicked": K_CLICKED,
    "messaging.message.sent": K_SENT,
    "messaging.message.complained": K_COMPLAINED,
}
# Types whose code depends on the event's data, handled in the CASE below.
_SPECIAL_TYPES = ("scl.payment.failed", "scl.member.tier.changed", "scl.member.status.changed")
_MONETARY_TYPES = ("scl.payment.received", "scl.payment.refunded", "teetime.booking.created")

# Breadth: one bit per kind of activity and per channel.
_CATEGORY_BITS = {category: 1 << n for n, category in enumerate(ActivityCategory.values)}
_CHANNEL_BITS = {
    channel: 1 << (16 + n)
    for n, channel in enumerate(
        ("EMAIL", "SMS", "PUSH", "WHATSAPP", "ONLINE", "APP", "PHONE", "WALK_IN")
    )
}


def _case(column: str, mapping: dict[str, int], default: str = "0") -> str:
    # Literals from the constants above, never from input.
    arms = " ".join(f"WHEN '{key}' THEN {value}" for key, value in mapping.items())
    return f"(CASE {column} {arms} ELSE {default} END)"


_POPULATION_SQL = """
DROP TABLE IF EXISTS pg_temp._score_population;
CREATE TEMPORARY TABLE _score_population ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY c.id) - 1)::int4 AS i, c.id, c.membership_status,
       coalesce((c.member_since - date '1970-01-01')::float8, 'NaN') AS member_since,
       coalesce((c.renewal_due_on - date '1970-01-01')::float8, 'NaN') AS renewal_due
FROM profiles_customer AS c
WHERE c.status IN ('ACTIVE', 'INACTIVE') {only};
CREATE UNIQUE INDEX ON pg_temp._score_population (id);
ANALYZE pg_temp._score_population;
"""

_EVENTS_SQL = f"""
COPY (
SELECT p.i,
       (CASE
          WHEN a.type = 'scl.payment.failed' THEN
            CASE WHEN a.data ->> 'purpose' = 'SUBSCRIPTION' THEN {K_FAILED_SUBSCRIPTION}
                 ELSE {K_FAILED_OTHER} END
          WHEN a.type = 'scl.member.tier.changed' THEN
            CASE WHEN (r.ranks ->> (a.data ->> 'to'))::int > (r.ranks ->> (a.data ->> 'from'))::int
                 THEN {K_TIER_DOWN} ELSE {K_TIER_OTHER} END
          WHEN a.type = 'scl.member.status.changed' THEN
            CASE a.data ->> 'to' WHEN 'LAPSED' THEN {K_LAPSED} WHEN 'RESIGNED' THEN {K_LAPSED}
                 WHEN 'ACTIVE' THEN {K_REACTIVATED} WHEN 'DECEASED' THEN {K_LEFT_OTHER}
                 ELSE {K_OTHER} END
          ELSE {_case("a.type", _TYPES)}
        END)::int2 AS k,
       (extract(epoch FROM a.occurred_at) / {DAY})::float8 AS d,
       (CASE WHEN a.type IN {_MONETARY_TYPES!r} THEN coalesce(a.amount_cents, 0) ELSE 0 END)::int8
           AS amount,
       (CASE WHEN a.counts_as_activity
             THEN {_case("a.category", _CATEGORY_BITS)} | {_case("a.channel", _CHANNEL_BITS)}
             ELSE 0 END)::int4 AS bits,
       a.counts_as_activity::int::int2 AS act
FROM profiles_activity AS a
JOIN pg_temp._score_population AS p ON p.id = a.customer_id
CROSS JOIN (SELECT %(ranks)s::jsonb AS ranks) AS r
WHERE a.occurred_at < %(until)s
  AND (a.occurred_at >= %(since)s OR a.type = 'scl.member.status.changed')
  AND (a.counts_as_activity OR a.type = ANY(%(types)s))
) TO STDOUT (FORMAT BINARY)
"""  # noqa: S608 - literals from this module's constants; values are parameters

# The binary COPY of the rows above: a field count, then each field's length and value,
# big-endian. No column is ever NULL, so every row has this fixed layout and numpy reads the
# whole stream in one call. (Measured against aggregating the columns into a few arrays in
# the query: that saves the Python side a million small reads, about a second of CPU, but
# costs PostgreSQL more than it saves.)
_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("l_i", ">i4"), ("i", ">i4"),
        ("l_k", ">i4"), ("k", ">i2"),
        ("l_d", ">i4"), ("d", ">f8"),
        ("l_amount", ">i4"), ("amount", ">i8"),
        ("l_bits", ">i4"), ("bits", ">i4"),
        ("l_act", ">i4"), ("act", ">i2"),
    ]
)  # fmt: skip
_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)


@dataclass
class Timeline:
    """The customers (index order) and their activities as parallel numpy arrays."""

    ids: list[UUID]
    membership_status: np.ndarray  # str objects
    member_since: np.ndarray  # days since 1970, NaN if unknown
    renewal_due: np.ndarray
    i: np.ndarray  # customer index of each activity
    k: np.ndarray  # its code (K_*)
    d: np.ndarray  # when, in days since 1970
    amount: np.ndarray  # cents, for spend
    bits: np.ndarray  # kind and channel bits, for breadth
    act: np.ndarray  # something the person did
    until: float  # nothing at or after this moment was read

    @property
    def n(self) -> int:
        return len(self.ids)


def to_days(moment: dt.datetime) -> float:
    return moment.timestamp() / DAY


def from_days(days: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(days * DAY, tz=dt.UTC)


def _decode(raw: bytes) -> np.ndarray:
    header_extension = int.from_bytes(raw[15:19], "big")
    body = memoryview(raw)[_COPY_HEADER + header_extension : -2]  # trailer: -1 as int16
    rows = np.frombuffer(body, dtype=_ROW)
    if len(rows) and not (rows["n"] == 6).all():
        raise ValueError("Unexpected COPY layout")
    return rows


def timeline_load(
    *,
    until: dt.datetime,
    since: dt.datetime,
    tier_order: Sequence[str],
    customer_ids: Sequence[UUID] | None = None,
) -> Timeline:
    """Every customer (not merged or erased; or just `customer_ids`) and their activities in
    [since, until), plus every membership status change before `until` (a lapse years ago
    still means they were not a member since). Runs inside the caller's transaction."""
    only = "AND c.id = ANY(%(ids)s)" if customer_ids is not None else ""
    ranks = {code: rank for rank, code in enumerate(tier_order)}
    types = sorted({*_TYPES, *_SPECIAL_TYPES})

    with connection.cursor() as cursor:
        cursor.execute(
            _POPULATION_SQL.format(only=only),
            {"ids": [str(x) for x in customer_ids or []]},
        )
        cursor.execute(
            "SELECT id, membership_status, member_since, renewal_due "
            "FROM pg_temp._score_population ORDER BY i"
        )
        people = cursor.fetchall()
        chunks: list[bytes] = []
        # psycopg's own cursor: Django's debug wrapper (DEBUG=1) defines copy(sql) without
        # params, and would raise TypeError here in development only.
        with cursor.cursor.copy(
            _EVENTS_SQL,
            {"ranks": json.dumps(ranks), "until": until, "since": since, "types": types},
        ) as copy:
            while chunk := copy.read():
                chunks.append(bytes(chunk))
        cursor.execute("DROP TABLE pg_temp._score_population")
    rows = _decode(b"".join(chunks))
    return Timeline(
        ids=[row[0] for row in people],
        membership_status=np.array([row[1] for row in people], dtype=object),
        member_since=np.array([row[2] for row in people], dtype=np.float64),
        renewal_due=np.array([row[3] for row in people], dtype=np.float64),
        i=rows["i"].astype(np.int64),
        k=rows["k"].astype(np.int16),
        d=rows["d"].astype(np.float64),
        amount=rows["amount"].astype(np.float64),
        bits=rows["bits"].astype(np.int64),
        act=rows["act"].astype(bool),
        until=to_days(until),
    )


class _Window:
    """Counting helpers over one snapshot's events (those strictly before `at`)."""

    def __init__(self, tl: Timeline, at: float) -> None:
        self.tl, self.at, self.n = tl, at, tl.n
        self.before = tl.d < at
        self._kind_masks: dict[tuple[int, ...], np.ndarray] = {}

    def kinds(self, *codes: int) -> np.ndarray:
        if codes not in self._kind_masks:
            self._kind_masks[codes] = np.isin(self.tl.k, codes)
        return self._kind_masks[codes]

    def count(self, codes: tuple[int, ...], days: float, skip: float = 0.0) -> np.ndarray:
        """Events of these kinds in [at - days, at - skip)."""
        d = self.tl.d
        mask = self.kinds(*codes) & (d >= self.at - days) & (d < self.at - skip)
        return np.bincount(self.tl.i[mask], minlength=self.n).astype(np.float64)

    def last(self, mask: np.ndarray) -> np.ndarray:
        """When each customer's latest event in `mask` (and before `at`) was; -inf if none."""
        mask = mask & self.before
        out = np.full(self.n, -np.inf)
        np.maximum.at(out, self.tl.i[mask], self.tl.d[mask])
        return out

    def first(self, mask: np.ndarray) -> np.ndarray:
        mask = mask & self.before
        out = np.full(self.n, np.inf)
        np.minimum.at(out, self.tl.i[mask], self.tl.d[mask])
        return out


def snapshot(tl: Timeline, at: float, *, horizon: float | None = None) -> dict[str, np.ndarray]:
    """Every feature of every customer as of `at` (days since 1970), from events before `at`
    only. With `horizon`, also the training label: `lapsed_within` (a LAPSED or RESIGNED
    status change in (at, at + horizon]), which needs `at + horizon <= tl.until`."""
    if horizon is not None and at + horizon > tl.until + 1e-9:
        raise ValueError("The label window ends after the events read.")
    w = _Window(tl, at)
    d, n = tl.d, tl.n
    f: dict[str, np.ndarray] = {}

    booked_or_played = w.kinds(K_BOOKED, K_PLAYED)
    f["days_since_booking"] = at - w.last(booked_or_played)  # inf: never
    f["days_since_activity"] = at - w.last(tl.act)
    f["bookings_30"] = w.count((K_BOOKED,), 30)
    f["bookings_90"] = w.count((K_BOOKED,), 90)
    first_seen = w.first(np.ones(len(d), dtype=bool))
    start = np.fmin(tl.member_since, np.where(np.isfinite(first_seen), first_seen, np.nan))
    f["start"] = start
    # The customer's own baseline: bookings a week in the 275 days before the last 90, over
    # the part of it they were around for (at least four weeks of it, else no baseline).
    base_from = np.maximum(at - 365, np.nan_to_num(start, nan=at - 365))
    exposure = (at - 90) - base_from
    base = w.count((K_BOOKED,), 365, skip=90)
    with np.errstate(divide="ignore", invalid="ignore"):
        f["base_weekly"] = np.where(exposure >= 28, base / (exposure / 7), np.nan)
        recent_from = np.maximum(at - 90, np.nan_to_num(start, nan=at - 90))
        recent_exposure = np.clip(at - recent_from, 7, 90)
        f["recent_weekly"] = f["bookings_90"] / (recent_exposure / 7)
    f["cancellations_90"] = w.count((K_CANCELLED,), 90)
    f["no_shows_90"] = w.count((K_NO_SHOW,), 90)
    f["competitions_365"] = w.count((K_COMPETITION,), 365)
    f["failed_180"] = w.count((K_FAILED_SUBSCRIPTION, K_FAILED_OTHER), 180)
    f["failed_subscription_180"] = w.count((K_FAILED_SUBSCRIPTION,), 180)
    recent = d >= at - 180
    last_failed = w.last(w.kinds(K_FAILED_SUBSCRIPTION, K_FAILED_OTHER) & recent)
    last_paid = w.last(w.kinds(K_PAID))
    f["payment_unresolved"] = (np.isfinite(last_failed) & (last_failed > last_paid)).astype(
        np.float64
    )
    f["tier_downgrades_365"] = w.count((K_TIER_DOWN,), 365)
    f["opens_90"] = w.count((K_OPENED,), 90)
    f["clicks_90"] = w.count((K_CLICKED,), 90)
    f["opens_prev_90"] = w.count((K_OPENED,), 180, skip=90)
    f["clicks_prev_90"] = w.count((K_CLICKED,), 180, skip=90)
    f["opens_180"] = f["opens_90"] + f["opens_prev_90"]
    f["clicks_180"] = f["clicks_90"] + f["clicks_prev_90"]
    f["sent_180"] = w.count((K_SENT,), 180)
    f["complaints_365"] = w.count((K_COMPLAINED,), 365)
    f["tenure_days"] = at - tl.member_since  # NaN: unknown
    anniversary = np.where(np.isnan(tl.renewal_due), tl.member_since, tl.renewal_due)
    # Days to the next renewal anniversary (day and month), to within a day over the years.
    f["days_to_renewal"] = np.mod(anniversary - at, YEAR)

    # Engagement inputs.
    active = tl.act & w.before & (d >= at - 90)
    day_keys = np.unique(tl.i[active] * 1_000_000 + np.floor(d[active]).astype(np.int64))
    f["active_days_90"] = np.bincount(day_keys // 1_000_000, minlength=n).astype(np.float64)
    spent = w.before & (d >= at - 365) & (tl.amount != 0)
    f["spend_365"] = np.bincount(tl.i[spent], weights=tl.amount[spent], minlength=n)
    broad = w.before & (d >= at - 180) & (tl.bits != 0)
    bits = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(bits, tl.i[broad], tl.bits[broad])
    f["breadth_kinds"] = np.bitwise_count(bits).astype(np.float64)

    # Membership as of `at`, from the timeline: joined by then, and not left since the last
    # reactivation.
    last_left = w.last(w.kinds(K_LAPSED, K_LEFT_OTHER))
    last_back = w.last(w.kinds(K_REACTIVATED))
    joined = np.nan_to_num(tl.member_since, nan=np.inf) <= at
    f["member_at"] = joined & ~(last_left > last_back)
    if horizon is not None:
        future = w.kinds(K_LAPSED) & (d > at) & (d <= at + horizon)
        f["lapsed_within"] = np.bincount(tl.i[future], minlength=n) > 0
    return f


def usual_play(weekly: float) -> str:
    """How often someone plays, in words, from their baseline bookings a week."""
    if not math.isfinite(weekly) or weekly <= 0:
        return ""
    if weekly >= 1.75:
        return "usually plays several times a week"
    if weekly >= 0.75:
        return "usually plays weekly"
    if weekly >= 0.35:
        return "usually plays every couple of weeks"
    if weekly >= 0.15:
        return "usually plays monthly"
    return "usually plays a few times a year"
