"""A parsed rule (segments.rules) becomes ONE SQL query over the club's tables: a Django `Q`
over customers, with timeline conditions as EXISTS / IN sub-queries PostgreSQL turns into
semi- and anti-joins. Nothing loops over customers in Python.

How each kind of field compiles:
- a customer or score column: a plain comparison;
- a count or sum over the timeline (`bookingCount`, `totalSpend`, …) with its window: "at least
  one" is `EXISTS`, "none" is `NOT EXISTS`; any other comparison, ANDed to other conditions, is
  on the customer's own total, a correlated sub-query served by the (customer, type,
  occurred_at) index and run only for the customers the other conditions leave (no rows is 0,
  so `bookingCount lt 3` includes people who never booked); alone, it is the set of customers
  whose total is in the interval, one grouped scan of the (type, occurred_at) index;
- a latest date on the timeline (`lastBookingAt`): "the newest is after X" is "one exists after
  X"; "the newest is before X" is "one exists, and none at or after X";
- a day-part share: without a window (or with one that holds every booking) a comparison on
  the customer's all-time bookings by day part, which apply keeps; with a window, the bookings
  in it grouped by customer from the (type, occurred_at) index, which carries each booking's
  day part;
- `inSegment` of a dynamic segment inlines that segment's rule (cycles refused); of a static
  one, its member list.

Under OR or NOT an EXISTS or a correlated total is evaluated once per customer (PostgreSQL only
turns them into semi- and anti-joins when they are ANDed to the root), so there every timeline
condition is a set instead: `pk IN (SELECT DISTINCT customer_id …)` or a grouped `HAVING`,
which PostgreSQL computes once and hashes. Four levels of OR/NOT over five timeline conditions
went from seconds to one scan of each condition's index range.

A customer with no value for a field fails every comparison on it but `isNull`, `neq` and
`notIn` (segments.md); every compiled condition is two-valued, so `not` on a group is exactly
"everyone the group does not match".
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db.models import (
    BigIntegerField,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, NullIf
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual
from django.utils import timezone

from profiles.models import Activity, Customer, CustomerStatus, DayPart
from segments.fields import BOOKING, FieldType, Source
from segments.models import Segment, SegmentMembership, SegmentType
from segments.rules import Condition, Group, Rule, RuleError, Window, rules_parse

# Tier codes are codes (SCL sends FULL, SENIOR) and the builder offers the club's own values, so
# they compare exactly (and cheaply); gender comes spelt every way.
CASE_INSENSITIVE = {"gender"}
MAX_SEGMENT_NESTING = 5

# Day parts of the booking's tee time in the club's time zone (fields.py documents them): set on
# each booking when it is applied (Activity.day_part) and counted per customer by apply.
_DAY_PART_OF_FIELD = {
    "weekday_morning": DayPart.WEEKDAY_MORNING.value,
    "weekday_afternoon": DayPart.WEEKDAY_AFTERNOON.value,
    "weekday_evening": DayPart.WEEKDAY_EVENING.value,
    "weekend": DayPart.WEEKEND.value,
}
_DAY_PART_COLUMNS = {
    DayPart.WEEKDAY_MORNING.value: "weekday_morning_bookings",
    DayPart.WEEKDAY_AFTERNOON.value: "weekday_afternoon_bookings",
    DayPart.WEEKDAY_EVENING.value: "weekday_evening_bookings",
    DayPart.WEEKEND.value: "weekend_bookings",
}
_SQL_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def base_customers() -> QuerySet[Customer]:
    """Everyone a segment may hold: merged-away and erased customers never."""
    return Customer.objects.filter(status__in=(CustomerStatus.ACTIVE, CustomerStatus.INACTIVE))


@dataclass(frozen=True)
class Bounds:
    """A comparison as an interval: `lo`/`hi` None are open ends; `negate` for neq."""

    lo: Any = None
    lo_inclusive: bool = True
    hi: Any = None
    hi_inclusive: bool = True
    negate: bool = False

    def lookups(self, path: str) -> Q:
        q = Q()
        if self.lo is not None:
            q &= Q(**{f"{path}__{'gte' if self.lo_inclusive else 'gt'}": self.lo})
        if self.hi is not None:
            q &= Q(**{f"{path}__{'lte' if self.hi_inclusive else 'lt'}": self.hi})
        return q

    def on(self, expression: Any) -> Q:
        """The interval (without `negate`) as conditions on an expression."""
        q = Q()
        if self.lo is not None:
            q &= Q((GreaterThanOrEqual if self.lo_inclusive else GreaterThan)(expression, self.lo))
        if self.hi is not None:
            q &= Q((LessThanOrEqual if self.hi_inclusive else LessThan)(expression, self.hi))
        return q

    def on_value(self, value: Any) -> bool:
        """Whether a plain value is in the interval (without `negate`)."""
        above_lo = self.lo is None or value > self.lo or (value == self.lo and self.lo_inclusive)
        below_hi = self.hi is None or value < self.hi or (value == self.hi and self.hi_inclusive)
        return above_lo and below_hi

    def sql(self, expression: str) -> tuple[str, list[Any]]:
        parts, params = [], []
        if self.lo is not None:
            parts.append(f"{expression} {'>=' if self.lo_inclusive else '>'} %s")
            params.append(self.lo)
        if self.hi is not None:
            parts.append(f"{expression} {'<=' if self.hi_inclusive else '<'} %s")
            params.append(self.hi)
        body = " AND ".join(parts) or "TRUE"
        return (f"NOT ({body})" if self.negate else body), params


def _conjunct_size(rule: Rule) -> int:
    """How many parts are ANDed at the root: conditions and OR/NOT groups each count one."""
    if isinstance(rule, Group) and rule.combinator == "AND" and not rule.negate:
        return sum(_conjunct_size(child) for child in rule.children)
    return 1


def _nobody() -> Q:
    return Q(pk__in=[])


class _CustomerId(TypedDict):
    customer_id: uuid.UUID


class Compiler:
    """Compiles rules for one club at one moment (`now`, in the club's time zone)."""

    def __init__(self, *, tz: str, now: dt.datetime | None = None) -> None:
        self.tz = ZoneInfo(tz or "UTC")
        self.tz_name = tz or "UTC"
        self.now = now or timezone.now()
        self.today = self.now.astimezone(self.tz).date()
        self._segments: dict[uuid.UUID, Segment] = {}
        self._stack: list[uuid.UUID] = []
        # True while compiling a condition joined to the root by AND alone (no OR, no NOT on
        # the way): PostgreSQL turns its EXISTS into a semi- or anti-join. Elsewhere an EXISTS
        # runs once per customer, so timeline conditions there become sets (`_set_q`).
        self._conjunct = True
        self._bookings_span: tuple[Any, Any] | None = None
        self._conjuncts = 2  # conditions ANDed at the root (queryset() counts them)

    # -- entry points --------------------------------------------------------------------------

    def queryset(self, rule: Rule) -> QuerySet[Customer]:
        self._conjuncts = _conjunct_size(rule)
        return base_customers().filter(self.q(rule))

    def q(self, rule: Rule) -> Q:
        if isinstance(rule, Group):
            return self.group(rule)
        return self.condition(rule)

    # -- groups ------------------------------------------------------------------------------

    def group(self, group: Group) -> Q:
        if not group.children:
            matched = Q() if group.combinator == "AND" else _nobody()
            if group.negate:
                return _nobody() if group.combinator == "AND" else Q()
            return matched
        outer = self._conjunct
        self._conjunct = outer and group.combinator == "AND" and not group.negate
        try:
            parts = [self.q(child) for child in group.children]
        finally:
            self._conjunct = outer
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if group.combinator == "AND" else combined | part
        return ~combined if group.negate else combined

    # -- conditions --------------------------------------------------------------------------

    def condition(self, c: Condition) -> Q:
        source = c.spec.source
        if source in (Source.COLUMN, Source.SCORE):
            path = c.spec.column if source == Source.COLUMN else f"score__{c.spec.column}"
            return self.column(c, path)
        if source == Source.AGE:
            return self.age(c)
        if source == Source.BIRTH_MONTH:
            return self.column(c, "date_of_birth__month", nullable_text=False)
        if source in (Source.ACTIVITY_COUNT, Source.ACTIVITY_SUM):
            return self.activity_total(c)
        if source == Source.ACTIVITY_LATEST:
            return self.activity_latest(c)
        if source == Source.DAY_PART_SHARE:
            return self.day_part_share(c)
        if source == Source.LATEST_VALUE:
            return self.latest_value(c)
        if source == Source.SEGMENT:
            return self.in_segment(c)
        raise AssertionError(source)  # pragma: no cover

    def column(self, c: Condition, path: str, *, nullable_text: bool | None = None) -> Q:
        op, value, kind = c.operator, c.value, c.spec.type
        text = (
            kind in (FieldType.STRING, FieldType.ENUM) if nullable_text is None else nullable_text
        )
        is_null = Q(**{f"{path}__isnull": True})
        if text:
            is_null |= Q(**{path: ""})
        if kind == FieldType.TAGS:
            is_null = Q(**{path: []})
            if op == "contains":
                return Q(**{f"{path}__contains": [value]})
            if op == "in":
                return Q(**{f"{path}__overlap": list(value)})
            if op == "notIn":
                return ~Q(**{f"{path}__overlap": list(value)})
        if op == "isNull":
            return is_null
        if op == "isNotNull":
            return ~is_null
        if op == "contains":
            return Q(**{f"{path}__icontains": value})
        exact = f"{path}__iexact" if c.spec.name in CASE_INSENSITIVE else path
        if op in ("in", "notIn"):
            if c.spec.name in CASE_INSENSITIVE:
                matched = Q()
                for item in value:
                    matched |= Q(**{exact: item})
            else:
                matched = Q(**{f"{path}__in": list(value)})
            return matched if op == "in" else ~matched
        if kind in (FieldType.STRING, FieldType.ENUM, FieldType.BOOLEAN) and op in ("eq", "neq"):
            matched = Q(**{exact: value})
            return matched if op == "eq" else ~matched
        bounds = self.bounds(c)
        matched = bounds.lookups(path)
        return ~matched if bounds.negate else matched

    def age(self, c: Condition) -> Q:
        """Age in whole years, as date-of-birth intervals (so an index on it could serve)."""

        def born_for_age(low: int | None, high: int | None) -> Q:
            q = Q(date_of_birth__isnull=False)
            if low is not None:  # age >= low
                q &= Q(date_of_birth__lte=self.today - relativedelta(years=low))
            if high is not None:  # age <= high
                q &= Q(date_of_birth__gt=self.today - relativedelta(years=high + 1))
            return q

        op, value = c.operator, c.value
        if op == "isNull":
            return Q(date_of_birth__isnull=True)
        if op == "isNotNull":
            return Q(date_of_birth__isnull=False)
        if op in ("in", "notIn"):
            matched = _nobody()
            for age in value:
                matched |= born_for_age(age, age)
            return matched if op == "in" else ~matched
        if op == "between":
            low, high = value
        elif op in ("eq", "neq"):
            low, high = value, value
        elif op in ("gt", "gte"):
            low, high = (value + 1 if op == "gt" else value), None
        else:  # lt, lte
            low, high = None, (value - 1 if op == "lt" else value)
        matched = born_for_age(low, high)
        return ~matched if op == "neq" else matched

    # -- the timeline ------------------------------------------------------------------------

    def window_q(self, window: Window | None) -> Q:
        if window is None:
            return Q()
        if window.last_days is not None:
            return Q(occurred_at__gte=self.now - dt.timedelta(days=window.last_days))
        q = Q()
        if window.start:
            q &= Q(occurred_at__gte=self.day_start(window.start))
        if window.end:
            q &= Q(occurred_at__lt=self.day_start(window.end + dt.timedelta(days=1)))
        return q

    def activities(self, c: Condition, extra: Q | None = None) -> QuerySet[Activity]:
        q = Q(type__in=c.spec.activity_types) & self.window_q(c.window)
        return Activity.objects.filter(q & (extra or Q()))

    def activity_total(self, c: Condition) -> Q:
        bounds = self.bounds(c)
        is_count = c.spec.source == Source.ACTIVITY_COUNT
        if not self._conjunct:
            return self.activity_total_set(c, bounds, is_count)
        if is_count:
            # "at least one" and "none": a semi- or anti-join, the cheapest plans there are.
            if bounds == Bounds(lo=1) or bounds == Bounds(lo=0, lo_inclusive=False):
                return Q(Exists(self.activities(c).filter(customer=OuterRef("pk"))))
            if bounds in (Bounds(lo=0, hi=0), Bounds(hi=0), Bounds(hi=1, hi_inclusive=False)):
                return ~Q(Exists(self.activities(c).filter(customer=OuterRef("pk"))))
            if bounds == Bounds(lo=0, hi=0, negate=True):
                return Q(Exists(self.activities(c).filter(customer=OuterRef("pk"))))
        if self._conjuncts == 1:
            # The rule is this condition alone: the set of customers whose total is (or is
            # not) in the interval, one grouped range scan of the (type, occurred_at) index. A
            # total per customer cost an index probe (and for sums a heap fetch) for each of
            # 100,000 customers: 3.9 s for `totalSpend` over a year, against 0.25 s.
            return self.activity_total_set(c, bounds, is_count)
        # ANDed to other conditions: the customer's own total, from the (customer, type,
        # occurred_at) index, the form a hand-written query takes; PostgreSQL runs it only for
        # the customers the cheaper conditions leave (33 probes instead of a scan of every
        # booking in the window, in the benchmark's second rule). No rows counts as 0, so
        # "fewer than 3" includes them.
        aggregate = Count("id") if is_count else Sum("amount_cents")
        per_customer = (
            self.activities(c)
            .filter(customer=OuterRef("pk"))
            .order_by()
            .values("customer_id")
            .annotate(total=aggregate)
            .values("total")
        )
        total = Coalesce(Subquery(per_customer, output_field=BigIntegerField()), Value(0))
        matched = bounds.on(total)
        return ~matched if bounds.negate else matched

    def _who(self, c: Condition, extra: Q | None = None) -> QuerySet[Activity, _CustomerId]:
        """The customers with a matching timeline entry, as a set (one scan, then hashed).
        DISTINCT so PostgreSQL sizes the hash by customers, not entries: a set it thinks
        outgrows `work_mem` is scanned again for every customer instead of hashed."""
        return (
            self.activities(c, extra)
            .filter(customer__isnull=False)
            .order_by()
            .values("customer_id")
            .distinct()
        )

    def activity_total_set(self, c: Condition, bounds: Bounds, is_count: bool) -> Q:
        """A count or sum under OR or NOT: the customers whose total is in (or out of) the
        interval, as `pk IN (one grouped scan)`. PostgreSQL hashes the set once, where an
        EXISTS or a correlated count would run an index probe for every customer."""
        positive = Bounds(bounds.lo, bounds.lo_inclusive, bounds.hi, bounds.hi_inclusive)
        zero_inside = positive.on_value(0)
        if is_count and positive.lo == 1 and positive.lo_inclusive and positive.hi is None:
            matched = Q(pk__in=self._who(c))
        elif is_count and positive == Bounds(lo=0, hi=0):
            matched = ~Q(pk__in=self._who(c))
        else:
            aggregate = Count("*") if is_count else Coalesce(Sum("amount_cents"), Value(0))
            totals = (
                self.activities(c)
                .filter(customer__isnull=False)
                .order_by()
                .values("customer_id")
                .annotate(total=aggregate)
            )
            if zero_inside:
                # No entries is 0, inside: everyone but those whose total is outside.
                outside = ~positive.on(F("total")) if positive.on(F("total")) else _nobody()
                matched = ~Q(pk__in=totals.filter(outside).values("customer_id"))
            else:
                inside = positive.on(F("total"))
                matched = Q(pk__in=totals.filter(inside).values("customer_id"))
        return ~matched if bounds.negate else matched

    def activity_latest(self, c: Condition) -> Q:
        def exists(extra: Q | None = None) -> Q:
            if not self._conjunct:
                return Q(pk__in=self._who(c, extra))
            return Q(Exists(self.activities(c, extra).filter(customer=OuterRef("pk"))))

        def ever() -> Q:
            # Bookings: the all-time count apply keeps on the customer row; nothing to scan.
            if tuple(c.spec.activity_types) == (BOOKING,):
                return Q(booking_count__gt=0)
            return exists()

        if c.operator == "isNull":
            return ~ever()
        if c.operator == "isNotNull":
            return ever()
        bounds = self.bounds(c)
        positive = Bounds(bounds.lo, bounds.lo_inclusive, bounds.hi, bounds.hi_inclusive)
        if positive.hi is None:
            matched = exists(positive.lookups("occurred_at"))
        else:
            # The newest is in [lo, hi] when one is at or after lo (or any at all, without lo)
            # and none is beyond hi: both ranges end at the newest entries, the small end of
            # the timeline ("more than 60 days ago" no longer reads every older booking).
            beyond = "gt" if positive.hi_inclusive else "gte"
            since = Bounds(positive.lo, positive.lo_inclusive)
            matched = exists(since.lookups("occurred_at")) if since.lo is not None else ever()
            matched &= ~exists(Q(**{f"occurred_at__{beyond}": positive.hi}))
        return ~matched if bounds.negate else matched

    def day_part_share(self, c: Condition) -> Q:
        """Without a window: the customer's all-time bookings and their day parts, counters
        apply keeps on the customer row. With one: the bookings in the window, from the
        `(type, occurred_at) INCLUDE (customer, amount_cents, day_part)` index (each booking's
        day part was fixed when it was applied), grouped by customer: one scan whatever the
        context."""
        part = _DAY_PART_OF_FIELD[c.spec.day_part]
        if c.window is None or self.window_holds_every_booking(c.window):
            has_bookings = Q(booking_count__gt=0)
            if c.operator == "isNull":
                return ~has_bookings
            if c.operator == "isNotNull":
                return has_bookings
            share = ExpressionWrapper(
                Value(Decimal(100)) * F(_DAY_PART_COLUMNS[part]) / NullIf(F("booking_count"), 0),
                output_field=DecimalField(),
            )
            bounds = self.bounds(c)
            positive = Bounds(bounds.lo, bounds.lo_inclusive, bounds.hi, bounds.hi_inclusive)
            matched = has_bookings & positive.on(share)
            return ~matched if bounds.negate else matched
        # The SQL below is assembled from this module's constant fragments only; every value
        # (window, part, threshold) is a bound parameter.
        window_sql, window_params = self.window_sql(c.window)
        grouped = (
            "SELECT a.customer_id FROM profiles_activity AS a"  # noqa: S608
            " WHERE a.type = %s AND a.customer_id IS NOT NULL"
            f" {window_sql} GROUP BY a.customer_id"
        )
        window_params = [BOOKING, *window_params]
        if c.operator == "isNull":
            return ~Q(pk__in=RawSQL(grouped, window_params))  # noqa: S611
        if c.operator == "isNotNull":
            return Q(pk__in=RawSQL(grouped, window_params))  # noqa: S611
        bounds = self.bounds(c)
        positive = Bounds(bounds.lo, bounds.lo_inclusive, bounds.hi, bounds.hi_inclusive)
        share_sql = "(100.0 * count(*) FILTER (WHERE a.day_part = %s) / count(*))"
        having, having_params = positive.sql(share_sql)
        sql = f"{grouped} HAVING {having}"
        # Each occurrence of the share expression takes the part as its own parameter.
        params = [*window_params]
        for value in having_params:
            params += [part, value]
        matched = Q(pk__in=RawSQL(sql, params))  # noqa: S611
        return ~matched if bounds.negate else matched

    def latest_value(self, c: Condition) -> Q:
        """A value of the customer's newest timeline entry of these types (`lastNps`): no
        entry, no value (only isNull, neq and notIn match, as for the other fields)."""
        latest = (
            "SELECT DISTINCT ON (a.customer_id) a.customer_id, a.data->>%s AS v"
            " FROM profiles_activity AS a"
            " WHERE a.customer_id IS NOT NULL AND a.type = ANY(%s)"
            " ORDER BY a.customer_id, a.occurred_at DESC, a.id DESC"
        )
        params: list[Any] = [c.spec.column, list(c.spec.activity_types)]
        every = f"SELECT t.customer_id FROM ({latest}) AS t"  # noqa: S608 - constants only
        has = Q(pk__in=RawSQL(every, params))  # noqa: S611
        if c.operator == "isNull":
            return ~has
        if c.operator == "isNotNull":
            return has
        if c.spec.type == FieldType.ENUM or c.operator in ("in", "notIn"):
            values = [str(v) for v in (c.value if isinstance(c.value, tuple | list) else [c.value])]
            sql = f"SELECT t.customer_id FROM ({latest}) AS t WHERE t.v = ANY(%s)"  # noqa: S608
            matched = Q(pk__in=RawSQL(sql, [*params, values]))  # noqa: S611
            return ~matched if c.operator in ("neq", "notIn") else matched
        bounds = self.bounds(c)
        positive = Bounds(bounds.lo, bounds.lo_inclusive, bounds.hi, bounds.hi_inclusive)
        where, where_params = positive.sql("(t.v)::numeric")
        sql = f"SELECT t.customer_id FROM ({latest}) AS t WHERE {where}"  # noqa: S608
        matched = Q(pk__in=RawSQL(sql, [*params, *where_params]))  # noqa: S611
        return ~matched if bounds.negate else matched

    def window_holds_every_booking(self, window: Window) -> bool:
        """Whether a window holds every booking the club has (from its first to its last): then
        its shares are the all-time ones, kept per customer, and nothing needs scanning. (A
        year's window at a year of data otherwise groups every booking of the club.) Two index
        probes when the rule is compiled."""
        start: dt.datetime | None
        end: dt.datetime | None
        if window.last_days is not None:
            start, end = self.now - dt.timedelta(days=window.last_days), None
        else:
            start = self.day_start(window.start) if window.start else None
            end = self.day_start(window.end + dt.timedelta(days=1)) if window.end else None
        if self._bookings_span is None:
            span = Activity.objects.filter(type=BOOKING).aggregate(
                first=Min("occurred_at"), last=Max("occurred_at")
            )
            self._bookings_span = (span["first"], span["last"])
        first, last = self._bookings_span
        if first is None:
            return True  # no bookings at all: every share is empty either way
        return (start is None or start <= first) and (end is None or end > last)

    def window_sql(self, window: Window | None) -> tuple[str, list[Any]]:
        if window is None:
            return "", []
        if window.last_days is not None:
            return "AND a.occurred_at >= %s", [self.now - dt.timedelta(days=window.last_days)]
        sql, params = "", []
        if window.start:
            sql += " AND a.occurred_at >= %s"
            params.append(self.day_start(window.start))
        if window.end:
            sql += " AND a.occurred_at < %s"
            params.append(self.day_start(window.end + dt.timedelta(days=1)))
        return sql, params

    # -- other segments ----------------------------------------------------------------------

    def in_segment(self, c: Condition) -> Q:
        ids = list(c.value) if isinstance(c.value, tuple) else [c.value]
        matched = _nobody()
        for segment_id in ids:
            matched |= self.segment_q(segment_id, c.path)
        return ~matched if c.operator in ("neq", "notIn") else matched

    def segment_q(self, segment_id: uuid.UUID, path: str) -> Q:
        path = f"{path}.value" if path else "value"
        segment = self._segments.get(segment_id) or Segment.objects.filter(id=segment_id).first()
        if segment is None:
            raise RuleError({path: ["No segment with this id in this club."]})
        self._segments[segment_id] = segment
        if segment.type == SegmentType.STATIC or not segment.rules:
            members = SegmentMembership.objects.filter(
                segment_id=segment_id, customer=OuterRef("pk")
            )
            return Q(Exists(members))
        if segment_id in self._stack:
            raise RuleError({path: [f"Segment {segment.name!r} includes itself."]})
        if len(self._stack) >= MAX_SEGMENT_NESTING:
            raise RuleError(
                {path: [f"Segments nest in each other at most {MAX_SEGMENT_NESTING} deep."]}
            )
        self._stack.append(segment_id)
        try:
            return self.q(rules_parse(segment.rules))
        finally:
            self._stack.pop()

    # -- values ------------------------------------------------------------------------------

    def day_start(self, day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, tzinfo=self.tz)

    def bounds(self, c: Condition) -> Bounds:
        """The condition's comparison as an interval over the field's values."""
        op, value = c.operator, c.value
        is_datetime = c.spec.type == FieldType.DATETIME
        if op == "withinLastDays":
            if is_datetime:
                return Bounds(lo=self.now - dt.timedelta(days=value), hi=self.now)
            return Bounds(lo=self.today - dt.timedelta(days=value), hi=self.today)
        if op == "moreThanDaysAgo":
            if is_datetime:
                return Bounds(hi=self.now - dt.timedelta(days=value), hi_inclusive=False)
            return Bounds(hi=self.today - dt.timedelta(days=value), hi_inclusive=False)
        if op == "withinNextDays":
            if is_datetime:
                return Bounds(lo=self.now, hi=self.now + dt.timedelta(days=value))
            return Bounds(lo=self.today, hi=self.today + dt.timedelta(days=value))
        if op == "between":
            low, high = value
            lo = self.interval(low, is_datetime)
            hi = self.interval(high, is_datetime)
            return Bounds(lo=lo[0], hi=hi[1], hi_inclusive=hi[2])
        start, end, end_inclusive = self.interval(value, is_datetime)
        if op in ("eq", "neq"):
            return Bounds(lo=start, hi=end, hi_inclusive=end_inclusive, negate=op == "neq")
        if op == "gt":
            return Bounds(lo=end, lo_inclusive=not end_inclusive)
        if op == "gte":
            return Bounds(lo=start)
        if op == "lt":
            return Bounds(hi=start, hi_inclusive=False)
        if op == "lte":
            return Bounds(hi=end, hi_inclusive=end_inclusive)
        raise AssertionError(op)  # pragma: no cover

    def interval(self, value: Any, is_datetime: bool) -> tuple[Any, Any, bool]:
        """A value as (first, last, last inclusive): a date on a date-and-time field is its
        whole day in the club's time zone."""
        if is_datetime and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return self.day_start(value), self.day_start(value + dt.timedelta(days=1)), False
        if isinstance(value, Decimal) and value == value.to_integral_value():
            value = int(value)
        return value, value, True


def segment_compile(*, rules: Any, tz: str, now: dt.datetime | None = None) -> QuerySet[Customer]:
    """The customers a rule matches, as one lazy query. Raises RuleError."""
    compiler = Compiler(tz=tz, now=now)
    return compiler.queryset(rules_parse(rules))
