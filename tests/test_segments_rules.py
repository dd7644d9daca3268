"""Segment rules: validation that points at the bad part, and what each field and operator
matches, compiled to one query and run on the club's real tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import jsonschema
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from profiles.models import Activity, ActivityCategory, Customer, CustomerScore, CustomerStatus
from profiles.projection import counters_refresh_all
from segments.compiler import segment_compile
from segments.fields import FIELDS, OPERATORS, FieldType
from segments.models import SegmentType
from segments.presets import TEMPLATES, templates_for
from segments.rules import RuleError, rules_json_schema, rules_parse
from segments.services import segment_create, segment_members_add, segment_update

NOW = timezone.now()


def ago(days: float = 0, **kwargs) -> dt.datetime:
    return NOW - dt.timedelta(days=days, **kwargs)


def act(customer: Customer, type_: str, when: dt.datetime, **extra) -> Activity:
    return Activity.objects.create(
        customer=customer,
        type=type_,
        category=ActivityCategory.OTHER,
        title=type_,
        source=type_.split(".")[0],
        occurred_at=when,
        **extra,
    )


@pytest.fixture
def alpha(clubs) -> Iterator[None]:
    with schema_context(clubs.alpha.schema_name):
        yield


def names(rules) -> set[str]:
    return set(
        segment_compile(rules=rules, tz="Europe/Dublin").values_list("first_name", flat=True)
    )


def cond(field, operator, value=None, **extra):
    rule = {"field": field, "operator": operator, **extra}
    if value is not None:
        rule["value"] = value
    return rule


def AND(*rules, **extra):
    return {"combinator": "AND", "rules": list(rules), **extra}


def OR(*rules, **extra):
    return {"combinator": "OR", "rules": list(rules), **extra}


# --- validation --------------------------------------------------------------------------------


def test_errors_point_at_the_bad_part():
    rule = AND(
        cond("membershipTier", "in", ["FULL"]),
        OR(cond("bookingCount", "startsWith", 1), cond("nope", "eq", 1)),
        cond("bookingCount", "gte", "two"),
        cond("handicap", "lt", 10, window={"lastDays": 30}),
        cond("emailOpenCount", "gte", 1, window={"lastDays": 0}),
        {"combinator": "XOR", "rules": []},
        cond("renewalDueOn", "withinNextDays", -1),
        cond("membershipStatus", "eq", "GONE"),
        cond("tags", "contains", ""),
        cond("age", "between", [60, 18]),
        cond("lifecycleStage", "isNull", "x"),
        {"field": "email", "operator": "eq", "value": "a@b.ie", "operater": "x"},
    )
    with pytest.raises(RuleError) as caught:
        rules_parse(rule)
    errors = caught.value.errors
    assert set(errors) == {
        "rules[1].rules[0].operator",
        "rules[1].rules[1].field",
        "rules[2].value",
        "rules[3].window",
        "rules[4].window.lastDays",
        "rules[5].combinator",
        "rules[6].value",
        "rules[7].value",
        "rules[8].value",
        "rules[9].value",
        "rules[10].value",
        "rules[11].operater",
    }, errors
    assert (
        "bookingCount does not take the operator 'startsWith'"
        in errors["rules[1].rules[0].operator"][0]
    )
    assert "ACTIVE" in errors["rules[7].value"][0]


def test_a_rule_must_be_an_object():
    with pytest.raises(RuleError) as caught:
        rules_parse(["membershipTier"])
    assert set(caught.value.errors) == {"rules"}


def test_every_field_type_has_operators_and_every_template_is_valid(alpha):
    assert set(OPERATORS) == set(FieldType)
    for template in templates_for(month=3):
        rules_parse(template["rules"])
    assert len(TEMPLATES) == 13


def test_the_json_schema_accepts_the_contract_example_and_templates_and_refuses_bad_rules():
    schema = rules_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    example = AND(
        cond("membershipTier", "in", ["FULL", "SENIOR"]),
        cond("bookingCount", "eq", 0, window={"lastDays": 60}),
        cond("emailOpenCount", "gte", 1, window={"lastDays": 30}),
    )
    validator.validate(example)
    for template in templates_for(month=5):
        validator.validate(template["rules"])
    assert not validator.is_valid(cond("bookingCount", "contains", 1))
    assert not validator.is_valid(cond("nope", "eq", 1))
    assert not validator.is_valid(cond("membershipTier", "in", "FULL"))
    assert set(FIELDS) == {
        c["properties"]["field"]["const"] for c in schema["$defs"]["condition"]["oneOf"]
    }


# --- what matches ---------------------------------------------------------------------------------


@pytest.fixture
def people(alpha) -> dict[str, Customer]:
    """A small club: each person differs in what the tests below look at."""
    today = timezone.localdate()
    made = {
        "Aoife": Customer.objects.create(
            first_name="Aoife", membership_tier="FULL", membership_status="ACTIVE",
            date_of_birth=today.replace(year=today.year - 40), tags=["vip", "seniors-team"],
            email="aoife@example.ie", renewal_due_on=today + dt.timedelta(days=10),
            member_since=today - dt.timedelta(days=3000), handicap=12.4, gender="FEMALE",
        ),
        "Brian": Customer.objects.create(
            first_name="Brian", membership_tier="SENIOR", membership_status="ACTIVE",
            date_of_birth=dt.date(1950, 1, 15), email="brian@example.ie", gender="male",
            member_since=today - dt.timedelta(days=30), handicap=20,
        ),
        "Cara": Customer.objects.create(
            first_name="Cara", membership_tier="JUNIOR", membership_status="LAPSED",
            email_opt_in=True, tags=["vip"],
        ),
        "Dara": Customer.objects.create(first_name="Dara"),  # knows nothing
        "Gone": Customer.objects.create(first_name="Gone", status=CustomerStatus.MERGED),
    }  # fmt: skip
    a, b, c = made["Aoife"], made["Brian"], made["Cara"]
    booking = "teetime.booking.created"
    # Aoife: weekly golfer, weekday mornings (09:00 Dublin), opened an email last week.
    for week in range(8):
        when = ago(7 * week + 1)
        local = when.astimezone(dt.UTC).replace(hour=9, minute=0)
        while local.weekday() >= 5:
            local -= dt.timedelta(days=1)
        act(a, booking, when, data={"teeTime": local.isoformat()})
    act(a, "messaging.email.opened", ago(6))
    act(a, "scl.payment.received", ago(100), amount_cents=120000)
    act(a, "scl.payment.refunded", ago(90), amount_cents=-20000)
    # Brian: booked twice long ago (Saturdays), opened an email 3 weeks ago.
    for days in (120, 200):
        when = ago(days)
        saturday = when + dt.timedelta(days=(5 - when.weekday()) % 7)
        act(b, booking, when, data={"teeTime": saturday.replace(hour=14).isoformat()})
    act(b, "messaging.email.opened", ago(21))
    act(b, "scl.payment.failed", ago(5))
    act(b, "scl.payment.failed", ago(4))
    # Cara: one no-show, nothing else.
    act(c, "teetime.booking.no_show", ago(2))
    CustomerScore.objects.create(customer=a, engagement_score=85, engagement_band="EXCELLENT")
    CustomerScore.objects.create(
        customer=b, engagement_score=30, engagement_band="LOW", churn_risk_score=82,
        paying_not_playing=True,
    )  # fmt: skip
    # The timeline rows above are written directly: derive what apply keeps with them (each
    # booking's day part, the customers' all-time bookings by day part), as the nightly
    # recount does.
    counters_refresh_all()
    return made


def test_the_contract_example(people):
    rule = AND(
        cond("membershipTier", "in", ["FULL", "SENIOR"]),
        cond("bookingCount", "eq", 0, window={"lastDays": 60}),
        cond("emailOpenCount", "gte", 1, window={"lastDays": 30}),
    )
    assert names(rule) == {"Brian"}


def test_merged_away_customers_are_never_in_a_segment(people):
    assert "Gone" not in names(AND())
    assert names(AND()) == {"Aoife", "Brian", "Cara", "Dara"}
    assert names(OR()) == set()


def test_no_value_fails_every_comparison_but_isnull_neq_and_notin(people):
    assert names(cond("membershipTier", "eq", "FULL")) == {"Aoife"}
    assert names(cond("membershipTier", "neq", "FULL")) == {"Brian", "Cara", "Dara"}
    assert names(cond("membershipTier", "notIn", ["FULL", "SENIOR"])) == {"Cara", "Dara"}
    assert names(cond("membershipTier", "isNull")) == {"Dara"}
    assert names(cond("handicap", "lt", 100)) == {"Aoife", "Brian"}
    assert names(cond("handicap", "neq", 20)) == {"Aoife", "Cara", "Dara"}
    assert names(cond("churnRiskScore", "gte", 80)) == {"Brian"}
    assert names(cond("churnRiskScore", "neq", 82)) == {"Aoife", "Cara", "Dara"}
    assert names(cond("engagementBand", "isNull")) == {"Cara", "Dara"}
    assert names(cond("payingNotPlaying", "eq", False)) == {"Aoife"}  # scored, and not flagged
    assert names(cond("payingNotPlaying", "neq", True)) == {"Aoife", "Cara", "Dara"}


def test_text_enum_boolean_and_tags(people):
    assert names(cond("gender", "eq", "MALE")) == {"Brian"}  # case-insensitive
    assert names(cond("email", "contains", "EXAMPLE.ie")) == {"Aoife", "Brian"}
    assert names(cond("email", "eq", "Aoife@Example.ie")) == {"Aoife"}
    assert names(cond("membershipStatus", "in", ["LAPSED", "RESIGNED"])) == {"Cara"}
    assert names(cond("emailOptIn", "eq", True)) == {"Cara"}
    assert names(cond("emailOptIn", "neq", True)) == {"Aoife", "Brian", "Dara"}
    assert names(cond("tags", "contains", "vip")) == {"Aoife", "Cara"}
    assert names(cond("tags", "in", ["seniors-team", "nope"])) == {"Aoife"}
    assert names(cond("tags", "notIn", ["seniors-team"])) == {"Brian", "Cara", "Dara"}
    assert names(cond("tags", "isNull")) == {"Brian", "Dara"}


def test_dates_ages_and_relative_days(people):
    assert names(cond("age", "gte", 70)) == {"Brian"}
    assert names(cond("age", "eq", 40)) == {"Aoife"}
    assert names(cond("age", "between", [30, 50])) == {"Aoife"}
    assert names(cond("age", "neq", 40)) == {"Brian", "Cara", "Dara"}
    assert names(cond("birthMonth", "eq", 1)) == {"Brian"}
    assert names(cond("renewalDueOn", "withinNextDays", 30)) == {"Aoife"}
    assert names(cond("memberSince", "moreThanDaysAgo", 5 * 365)) == {"Aoife"}
    assert names(cond("memberSince", "withinLastDays", 90)) == {"Brian"}
    assert names(
        cond("memberSince", "gt", (timezone.localdate() - dt.timedelta(days=31)).isoformat())
    ) == {"Brian"}


def test_counts_and_sums_over_windows(people):
    assert names(cond("bookingCount", "gte", 2)) == {"Aoife", "Brian"}
    assert names(cond("bookingCount", "gte", 2, window={"lastDays": 30})) == {"Aoife"}
    # 0 matches "fewer than 3": people with no bookings at all are in.
    assert names(cond("bookingCount", "lt", 3)) == {"Brian", "Cara", "Dara"}
    assert names(cond("bookingCount", "between", [1, 2])) == {"Brian"}
    assert names(cond("bookingCount", "neq", 2)) == {"Aoife", "Cara", "Dara"}
    assert names(cond("noShowCount", "gt", 0)) == {"Cara"}
    assert names(cond("paymentFailedCount", "gte", 2, window={"lastDays": 7})) == {"Brian"}
    assert names(cond("totalSpend", "eq", 100000)) == {"Aoife"}  # received minus refunded
    assert names(cond("totalSpend", "lt", 1)) == {"Brian", "Cara", "Dara"}
    window = {"from": ago(95).date().isoformat(), "to": ago(80).date().isoformat()}
    assert names(cond("totalSpend", "lt", 0, window=window)) == {"Aoife"}


def test_latest_dates_on_the_timeline(people):
    assert names(cond("lastBookingAt", "withinLastDays", 14)) == {"Aoife"}
    assert names(cond("lastBookingAt", "moreThanDaysAgo", 60)) == {"Brian"}
    assert names(cond("lastBookingAt", "isNull")) == {"Cara", "Dara"}
    assert names(cond("lastEmailOpenAt", "withinLastDays", 30)) == {"Aoife", "Brian"}
    assert names(cond("lastEmailOpenAt", "lt", ago(10).date().isoformat())) == {"Brian"}
    assert names(cond("lastEmailOpenAt", "neq", ago(6).date().isoformat())) == {
        "Brian",
        "Cara",
        "Dara",
    }


def test_share_of_bookings_by_day_part(people):
    assert names(cond("weekdayMorningShare", "gte", 50)) == {"Aoife"}
    assert names(cond("weekendShare", "eq", 100)) == {"Brian"}
    assert names(cond("weekendShare", "isNull")) == {"Cara", "Dara"}
    assert names(cond("weekdayMorningShare", "gte", 50, window={"lastDays": 1})) == set()


def test_groups_nest_and_negate(people):
    rule = OR(
        AND(cond("tags", "contains", "vip"), cond("membershipStatus", "eq", "LAPSED")),
        AND(cond("age", "gte", 70), negate := {"combinator": "AND", "not": True, "rules": [
            cond("paymentFailedCount", "gte", 1)]}),
    )  # fmt: skip
    assert names(rule) == {"Cara"}
    negate["not"] = False
    assert names(rule) == {"Cara", "Brian"}
    assert names(
        {"combinator": "AND", "not": True, "rules": [cond("tags", "contains", "vip")]}
    ) == {"Brian", "Dara"}


def test_in_segment_dynamic_inline_static_list_and_cycles(people):
    seniors = segment_create(name="Seniors", rules=cond("age", "gte", 65))
    listed = segment_create(name="Hand-picked", type=SegmentType.STATIC)
    segment_members_add(segment=listed, customer_ids=[people["Cara"].id])
    assert names(cond("inSegment", "eq", str(seniors.id))) == {"Brian"}
    assert names(cond("inSegment", "in", [str(seniors.id), str(listed.id)])) == {"Brian", "Cara"}
    assert names(cond("inSegment", "notIn", [str(seniors.id), str(listed.id)])) == {"Aoife", "Dara"}
    outer = segment_create(name="Outer", rules=cond("inSegment", "eq", str(seniors.id)))
    with pytest.raises(ValidationError) as caught:
        segment_update(segment=seniors, data={"rules": cond("inSegment", "eq", str(outer.id))})
    assert caught.value.message_dict == {"value": ["Segment 'Seniors' includes itself."]}


def test_a_segment_is_one_query(people):
    rule = AND(
        cond("membershipTier", "in", ["FULL", "SENIOR"]),
        cond("bookingCount", "gte", 2, window={"lastDays": 90}),
        cond("weekendShare", "lt", 50),
        cond("totalSpend", "gt", 10),
        cond("lastEmailOpenAt", "withinLastDays", 30),
        cond("churnRiskScore", "isNull"),
    )
    queryset = segment_compile(rules=rule, tz="UTC")
    with CaptureQueriesContext(connection) as queries:
        count = queryset.count()
    assert count == 1
    statements = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
    assert len(statements) == 1, statements
