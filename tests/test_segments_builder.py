"""The segment rule builder in a real browser: Debian's Chromium, driven by Playwright, against
the platform served by a real server process on the test database.

A marketing manager builds "members in tier Full or Senior, no booking in the last 60 days,
opened an email in the last 30 days" by clicking (no JSON typed), sees the right count and
sample as they build, saves, and the saved rule is the contract's example to the letter; a bad
value shows the server's message under its own condition.

The server is another process, so what it must see is committed, and removed again at the end
(the per-test rollback cannot reach it; a flush would wipe the session's clubs). `python3
dev.py test` installs Chromium when it is missing; in CI a missing browser fails this file
rather than skipping it. Set SEGMENT_BUILDER_SCREENSHOT=/path.png to keep a picture of the
built example.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.browser import (
    CHROMIUM,
    admin_page,
    browser_missing_message,
    chromium,
    live_server,
    read_in_thread,
    require_chromium,
    run_all,
)

# django_db: without a test asking for the database, pytest-django creates no test database
# and a module run on its own would seed the development database instead.
pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SCHEMA = "club_alpha_old"
CLUB = "alpha-golf"
EMAIL = "builder.marketing@alpha-golf.example"
PASSWORD = "Fairway-Bunker-2026"
SEGMENT_NAME = "Lapsed Full and Senior readers"
EXAMPLE = {"combinator": "AND", "rules": [
    {"field": "membershipTier", "operator": "in", "value": ["FULL", "SENIOR"]},
    {"field": "bookingCount", "operator": "eq", "value": 0, "window": {"lastDays": 60}},
    {"field": "emailOpenCount", "operator": "gte", "value": 1, "window": {"lastDays": 30}},
]}  # fmt: skip

FIRST = [
    "Aoife",
    "Brian",
    "Ciara",
    "Declan",
    "Eimear",
    "Fionn",
    "Gráinne",
    "Hugh",
    "Íde",
    "Jack",
    "Kate",
    "Liam",
    "Maeve",
    "Niall",
    "Orla",
    "Pádraig",
    "Róisín",
    "Seán",
]
LAST = ["Byrne", "Murphy", "Kelly", "Walsh", "Ryan", "O'Brien", "Doyle", "Nolan", "Quinn",
        "Brennan", "Kavanagh", "Lynch"]  # fmt: skip
TIERS = ["FULL", "SENIOR", "JUNIOR", "COUNTRY", "FULL", "SENIOR", "FULL"]
# Days since the last booking / email open (None: never), kept away from the 30 and 60 edges.
BOOKED = [None, 5, 20, 45, 75, 120, 200, None, 90]
OPENED = [None, 2, 9, 15, 25, 40, 75, 3, None, 11]


@dataclass(frozen=True)
class Club:
    base_url: str
    everyone: int  # customers in the club
    full_or_senior: int
    expected: list[str]  # the names the example rule matches, as the sample orders them


def _seed(now: dt.datetime) -> tuple[list, list]:
    """A small club: 72 customers across four tiers with bookings and email opens at known
    distances from today; returns them and who the example rule must match."""
    from profiles.models import Activity, ActivityCategory, Customer

    customers, activities, expected = [], [], []
    for n in range(72):
        first, last = FIRST[n % len(FIRST)], LAST[(n * 5) % len(LAST)]
        tier = TIERS[n % len(TIERS)]
        booked, opened = BOOKED[n % len(BOOKED)], OPENED[(n * 3) % len(OPENED)]
        customer = Customer(
            first_name=first, last_name=f"{last}{'' if n < 36 else ' Jr'}",
            email=f"{first.lower()}.{n}@example.ie", membership_tier=tier,
            membership_status="ACTIVE",
        )  # fmt: skip
        customers.append(customer)
        for days, type_ in (
            (booked, "teetime.booking.created"),
            (opened, "messaging.email.opened"),
        ):
            if days is not None:
                activities.append((customer, type_, now - dt.timedelta(days=days, hours=1)))
        no_recent_booking = booked is None or booked > 60
        recent_open = opened is not None and opened <= 30
        if tier in ("FULL", "SENIOR") and no_recent_booking and recent_open:
            expected.append(customer)
    Customer.objects.bulk_create(customers)
    Activity.objects.bulk_create(
        Activity(
            customer=customer,
            type=type_,
            category=ActivityCategory.OTHER,
            title=type_,
            source=type_.split(".")[0],
            occurred_at=when,
        )
        for customer, type_, when in activities
    )
    return customers, expected


def _cleanup(customer_ids: list, started: dt.datetime) -> None:
    """Remove what this module committed; every step is tried, so one failure cannot leave
    the rest behind for later tests."""
    from django.contrib.sessions.models import Session

    from crm.accounts.models import AuditEntry, User
    from profiles.models import Activity, Customer
    from segments.models import Segment

    steps = [
        lambda: Segment.objects.filter(created_by=EMAIL).delete(),
        lambda: Activity.objects.filter(customer_id__in=customer_ids).delete(),
        lambda: Customer.objects.filter(pk__in=customer_ids).delete(),
        lambda: User.objects.filter(email=EMAIL).delete(),  # and its admin log entries
        lambda: AuditEntry.objects.filter(created_at__gte=started).delete(),
        lambda: Session.objects.all().delete(),
    ]
    run_all(steps)


@pytest.fixture(scope="module")
def club(django_db_setup, django_db_blocker) -> Iterator[Club]:
    """The data, committed in alpha's schema, and a real server on a free port."""
    require_chromium()
    from crm.accounts.services import staff_user_upsert
    from profiles.models import Customer
    from segments.compiler import base_customers

    started = timezone.now()
    customer_ids: list = []
    with django_db_blocker.unblock():
        with schema_context(SCHEMA):
            try:
                staff_user_upsert(email=EMAIL, role="MARKETING", password=PASSWORD)
                customers, expected = _seed(started)
                customer_ids = [customer.pk for customer in customers]
                everyone = base_customers().count()
                full_or_senior = (
                    base_customers().filter(membership_tier__in=("FULL", "SENIOR")).count()
                )
                # The sample is the first ten by name, in the database's own collation.
                expected_names = [
                    customer.display_name
                    for customer in Customer.objects.filter(
                        pk__in=[c.pk for c in expected]
                    ).order_by("last_name", "first_name", "id")
                ]
            except BaseException:
                _cleanup(customer_ids, started)
                raise
        try:
            with live_server(name="builder") as base_url:
                yield Club(base_url=base_url, everyone=everyone, full_or_senior=full_or_senior,
                           expected=expected_names)  # fmt: skip
        finally:
            with schema_context(SCHEMA):
                _cleanup(customer_ids, started)


@pytest.fixture
def browser(club) -> Iterator:
    """One per test, started after the test's database transaction, stopped before its rollback."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, club):
    """A fresh browser context, signed in to alpha's admin as the MARKETING user."""
    with admin_page(
        browser, base_url=club.base_url, club=CLUB, email=EMAIL, password=PASSWORD
    ) as page:
        yield page


def _add_condition(page, field_label: str):
    """Click "+ Condition" on the top group, choose the field; the new condition's locator."""
    before = page.locator(".rb-condition").count()
    page.locator(".rb-group-actions").last.get_by_role("button", name="+ Condition").click()
    condition = page.locator(".rb-condition").nth(before)
    condition.get_by_label("Field").select_option(label=field_label)
    return page.locator(".rb-condition").nth(before)


def _saved(name: str):
    from segments.models import Segment

    return read_in_thread(lambda: Segment.objects.get(name=name), schema=SCHEMA)


def test_a_marketing_manager_builds_the_example_by_clicking_and_saves_it(
    page, club, django_db_blocker
):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page.goto(f"{club.base_url}/t/{CLUB}/admin/segments/segment/add/")
    page.locator("#id_name").fill(SEGMENT_NAME)
    count = page.locator("#preview-count")
    # Nothing chosen yet: everyone matches.
    expect(count).to_have_text(str(club.everyone))
    expect(page.locator("#preview-sample tbody tr")).to_have_count(10)

    tier = _add_condition(page, "Membership tier")
    expect(tier.get_by_label("Operator")).to_have_value("in")  # "is any of"
    tier.get_by_role("checkbox", name="Full").check()
    tier.get_by_role("checkbox", name="Senior").check()
    expect(count).to_have_text(str(club.full_or_senior))

    bookings = _add_condition(page, "Bookings")
    bookings.get_by_label("Operator").select_option(label="is")
    bookings.get_by_label("Value").fill("0")
    expect(bookings.get_by_label("Period")).to_have_value("last")
    bookings.get_by_label("Days").fill("60")

    opens = _add_condition(page, "Email opens")
    expect(opens.get_by_label("Operator")).to_have_value("gte")  # "at least"
    opens.get_by_label("Value").fill("1")
    opens.get_by_label("Days").fill("30")

    expect(count).to_have_text(str(len(club.expected)))
    sample = page.locator("#preview-sample tbody tr td:first-child")
    expect(sample).to_have_text(club.expected[:10])
    expect(page.locator(".rb-errors li")).to_have_count(0)
    # The JSON panel followed every click.
    page.get_by_text("Rule as JSON (for power users)").click()
    assert json.loads(page.locator("#id_rules").input_value()) == EXAMPLE

    if target := os.environ.get("SEGMENT_BUILDER_SCREENSHOT"):
        page.get_by_text("Rule as JSON (for power users)").click()  # closed again
        page.locator("#rule-section").scroll_into_view_if_needed()
        page.screenshot(path=target, full_page=True)

    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"**/t/{CLUB}/admin/segments/segment/")
    expect(page.locator(".messagelist")).to_contain_text(SEGMENT_NAME)
    with django_db_blocker.unblock():
        assert _saved(SEGMENT_NAME).rules == EXAMPLE


def test_a_bad_value_shows_the_servers_error_under_its_condition(page, club):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page.goto(f"{club.base_url}/t/{CLUB}/admin/segments/segment/add/")
    tier = _add_condition(page, "Membership tier")
    tier.get_by_role("checkbox", name="Full").check()
    age = _add_condition(page, "Age")
    age.get_by_label("Operator").select_option(label="is")
    age.get_by_label("Value").fill("200")

    expect(age.locator(".rb-errors li")).to_have_text(["Value: Must be at most 130."])
    expect(age).to_have_class(re.compile(r"\brb-has-error\b"))
    expect(tier.locator(".rb-errors li")).to_have_count(0)  # the other condition is fine
    expect(page.locator("#preview-status")).to_contain_text("Fix the conditions marked in red")
    expect(page.locator("#preview-count")).to_have_text("\N{EN DASH}")

    age.get_by_label("Value").fill("45")
    expect(age.locator(".rb-errors li")).to_have_count(0)
    expect(page.locator("#preview-count")).to_have_text("0")  # nobody has a date of birth


def test_the_browser_is_there_in_ci():
    """In CI the browser test must run, never skip: dev.py installs Chromium first."""
    if os.environ.get("CI"):
        assert shutil.which("chromium") or os.path.exists(CHROMIUM), browser_missing_message()


def test_starting_from_a_template_and_editing_the_json_keep_builder_and_json_in_step(
    page, club, django_db_blocker
):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page.goto(f"{club.base_url}/t/{CLUB}/admin/segments/segment/add/")
    page.get_by_label("Start from a template").select_option(label="Lapsed golfers")
    expect(page.locator("#rule-template-about")).to_contain_text("not in the last 60 days")
    page.get_by_role("button", name="Use template").click()
    conditions = page.locator(".rb-condition")
    expect(conditions).to_have_count(2)
    expect(page.locator("#id_name")).to_have_value("Lapsed golfers")
    expect(conditions.nth(0).get_by_label("Period")).to_have_value("all")  # no window: all time
    expect(conditions.nth(1).get_by_label("Days")).to_have_value("60")

    # A power user changes the period in the JSON; the builder follows.
    page.get_by_text("Rule as JSON (for power users)").click()
    rules = json.loads(page.locator("#id_rules").input_value())
    rules["rules"][1]["window"]["lastDays"] = 90
    page.locator("#id_rules").fill(json.dumps(rules, indent=2))
    expect(conditions.nth(1).get_by_label("Days")).to_have_value("90")
    lapsed = sum(1 for n in range(72) if (BOOKED[n % len(BOOKED)] or 0) >= 90)
    expect(page.locator("#preview-count")).to_have_text(str(lapsed))

    page.locator("#id_name").fill("Lapsed golfers (90 days)")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"**/t/{CLUB}/admin/segments/segment/")
    with django_db_blocker.unblock():
        saved = _saved("Lapsed golfers (90 days)")
    assert saved.template_key == "lapsed_golfers"
    assert saved.rules == rules
