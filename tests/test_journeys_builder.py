"""The journey builder in a real browser: Debian's Chromium, driven by Playwright, against the
platform served by a real server process on the test database (the pattern of
tests/test_segments_builder.py, whose launch flags and helpers this module reuses).

A marketing manager builds the issue's example by clicking, no JSON typed ("new member: welcome
email, wait 3 days, opened it? tips email : SMS reminder, wait 7 days, end"), saves it, and the
saved draft is the expected definition to the letter; a wait of nothing is marked on its own
card and under its own field, as the server's check and then the refused save say; and a
journey customers have walked through (enrolled and run by the services and the engine) shows
journey_stats' numbers on its cards, the branches' counts and the conversion rate.

The server is another process, so what it must see is committed, and removed again at the end.
Set JOURNEY_BUILDER_SCREENSHOT=/path.png to keep a picture of the built example.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.browser import (
    admin_page,
    chromium,
    live_server,
    read_in_thread,
    require_chromium,
    run_all,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SCHEMA = "club_alpha_old"
CLUB = "alpha-golf"
EMAIL = "journey.builder@alpha-golf.example"
PASSWORD = "Fairway-Bunker-2026"
ADMIN = f"/t/{CLUB}/admin/journeys/journey"
EXAMPLE_NAME = "New member welcome (built by clicking)"
EXAMPLE = {
    "trigger": {"type": "event", "eventType": "scl.member.created"},
    "entryRule": None,
    "exitRule": None,
    "goal": None,
    "reentry": {"policy": "ONCE"},
    "maxEnrolments": None,
    "start": "welcome",
    "steps": {
        "end": {"type": "end"},
        "welcome": {
            "type": "send", "channel": "EMAIL", "template": "welcome_member",
            "content": {"subject": "Welcome to the club"}, "next": "wait",
        },
        "wait": {"type": "wait", "duration": {"days": 3}, "next": "condition"},
        "condition": {
            "type": "condition", "label": "Opened it?",
            "rule": {"combinator": "AND", "rules": [
                {"field": "emailOpenCount", "operator": "gte", "value": 1,
                 "window": {"lastDays": 3}},
            ]},
            "yes": "tips", "no": "sms_reminder",
        },
        "tips": {"type": "send", "channel": "EMAIL", "template": "member_tips", "next": "wait_2"},
        "sms_reminder": {
            "type": "send", "channel": "SMS", "template": "welcome_reminder", "next": "wait_2",
        },
        "wait_2": {"type": "wait", "duration": {"days": 7}, "next": "end"},
    },
}  # fmt: skip
# Walked by six customers: FULL members are tagged, everyone then waits; one books (the goal).
ANALYTICS_NAME = "Tier check (with customers inside)"
ANALYTICS = {
    "trigger": {"type": "manual"},
    "entryRule": None,
    "exitRule": None,
    "goal": {"eventType": "teetime.booking.created"},
    "reentry": {"policy": "ONCE"},
    "maxEnrolments": None,
    "start": "check",
    "steps": {
        "check": {
            "type": "condition", "label": "Full member?",
            "rule": {"combinator": "AND", "rules": [
                {"field": "membershipTier", "operator": "in", "value": ["FULL"]}]},
            "yes": "tag", "no": "call",
        },
        "tag": {"type": "update", "addTags": ["full-welcome"], "next": "wait"},
        "call": {"type": "notify", "title": "Call about upgrading", "assignTo": "STAFF",
                 "next": "wait"},
        "wait": {"type": "wait", "duration": {"days": 5}, "next": "end"},
        "end": {"type": "end"},
    },
}  # fmt: skip
TIERS = ["FULL", "FULL", "FULL", "SENIOR", "JUNIOR", "JUNIOR"]


@dataclass(frozen=True)
class Club:
    base_url: str
    analytics_id: str
    stats: dict  # journey_stats of the analytics journey, as the page must show it


def _seed() -> tuple[list, str, dict]:
    """Six customers walked through ANALYTICS by the services and the engine: enrolled, the
    first steps run, one converted (a booking, the goal), one taken out by staff."""
    from journeys.engine import run_due
    from journeys.models import Enrolment
    from journeys.selectors import journey_stats
    from journeys.services import (
        JourneyInput,
        enrolment_exit,
        journey_create,
        journey_enrol,
        journey_publish,
    )
    from profiles.models import Activity, ActivityCategory, Customer

    customers = [
        Customer.objects.create(
            first_name=f"Walker{n}",
            last_name="Journey",
            email=f"walker{n}@example.ie",
            membership_tier=tier,
            membership_status="ACTIVE",
        )
        for n, tier in enumerate(TIERS)
    ]
    journey = journey_create(
        data=JourneyInput(name=ANALYTICS_NAME, definition=ANALYTICS), actor_label=EMAIL
    )
    journey_publish(journey=journey, actor_label=EMAIL)
    result = journey_enrol(
        journey=journey, customer_ids=[c.pk for c in customers], key="test", actor_label=EMAIL
    )
    assert len(result.enrolled) == len(customers), result.skipped
    # The second FULL member books a round after entering: the goal, checked before the step.
    Activity.objects.create(
        customer=customers[1], type="teetime.booking.created", category=ActivityCategory.OTHER,
        title="Booked", source="teetime", occurred_at=timezone.now() + dt.timedelta(seconds=1),
    )  # fmt: skip
    run_due(now=timezone.now() + dt.timedelta(minutes=1))
    waiting = Enrolment.objects.filter(journey=journey, customer=customers[5]).get()
    enrolment_exit(enrolment=waiting, reason="Moved away", actor_label=EMAIL)
    return customers, str(journey.pk), journey_stats(journey=journey)


def _cleanup(customer_ids: list, started: dt.datetime) -> None:
    """Remove what this module committed; every step is tried."""
    from django.contrib.sessions.models import Session

    from campaigns.models import Campaign
    from crm.accounts.models import AuditEntry, User
    from journeys.models import Enrolment, Journey
    from profiles.models import Activity, Customer

    journeys = list(Journey.objects.filter(created_at__gte=started).values_list("id", flat=True))
    steps = [
        lambda: Campaign.objects.filter(journey_id__in=journeys).delete(),
        lambda: Enrolment.objects.filter(journey_id__in=journeys).delete(),
        lambda: Journey.objects.filter(pk__in=journeys).update(published_version=None),
        lambda: Journey.objects.filter(pk__in=journeys).delete(),
        lambda: Activity.objects.filter(customer_id__in=customer_ids).delete(),
        lambda: Customer.objects.filter(pk__in=customer_ids).delete(),
        lambda: User.objects.filter(email=EMAIL).delete(),
        lambda: AuditEntry.objects.filter(created_at__gte=started).delete(),
        lambda: Session.objects.all().delete(),
    ]
    run_all(steps)


@pytest.fixture(scope="module")
def club(django_db_setup, django_db_blocker) -> Iterator[Club]:
    require_chromium()
    from crm.accounts.services import staff_user_upsert

    started = timezone.now()
    customer_ids: list = []
    with django_db_blocker.unblock():
        with schema_context(SCHEMA):
            try:
                staff_user_upsert(email=EMAIL, role="MARKETING", password=PASSWORD)
                customers, analytics_id, stats = _seed()
                customer_ids = [c.pk for c in customers]
            except BaseException:
                _cleanup(customer_ids, started)
                raise
        try:
            with live_server(name="journey") as base_url:
                yield Club(base_url=base_url, analytics_id=analytics_id, stats=stats)
        finally:
            with schema_context(SCHEMA):
                _cleanup(customer_ids, started)


@pytest.fixture
def browser(club) -> Iterator:
    """Started after the test's database transaction, stopped before its rollback."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, club):
    """A fresh browser context, signed in to alpha's admin as the MARKETING user."""
    with admin_page(
        browser, base_url=club.base_url, club=CLUB, email=EMAIL, password=PASSWORD, width=1500
    ) as page:
        yield page


def _add_step(page, where: str, kind: str):
    """Click the "+" named `Add a step <where>`, choose `kind`; the side panel, now the new
    step's."""
    page.get_by_role("button", name=f"Add a step {where}", exact=True).click()
    page.locator(f'.jb-menu .jb-menu-item[data-type="{kind}"]').click()
    return page.locator(".jb-panel")


def _rename(panel, key: str) -> None:
    field = panel.get_by_label("Step key", exact=True)
    field.fill(key)
    field.press("Enter")


def _card(page, key: str):
    return page.locator(f'.jb-card[data-key="{key}"]')


def test_a_marketing_manager_builds_the_issues_example_by_clicking(page, club, django_db_blocker):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page.goto(f"{club.base_url}{ADMIN}/add/")
    page.locator("#id_name").fill(EXAMPLE_NAME)
    # A new journey: the trigger on top and one end step.
    expect(page.locator(".jb-card")).to_have_count(2)

    # "new member": the trigger, in the settings panel.
    _card(page, "__trigger").click()
    panel = page.locator(".jb-panel")
    panel.get_by_label("Starts", exact=True).select_option("event")
    panel.get_by_label("Event", exact=True).fill("scl.member.created")
    expect(_card(page, "__trigger")).to_contain_text("scl.member.created")

    # "welcome email"
    panel = _add_step(page, "at the start", "send")
    _rename(panel, "welcome")
    expect(panel.get_by_label("Step key", exact=True)).to_have_value("welcome")
    panel.get_by_label("Template", exact=True).fill("welcome_member")
    panel.get_by_label("Subject", exact=True).fill("Welcome to the club")
    expect(_card(page, "welcome")).to_contain_text("Template welcome_member")

    # "wait 3 days"
    panel = _add_step(page, "after welcome", "wait")
    panel.get_by_label("Days", exact=True).fill("3")
    expect(_card(page, "wait")).to_contain_text("Wait 3 days")

    # "opened it?": a condition, its rule built with the segments' own rule builder.
    panel = _add_step(page, "after wait", "condition")
    panel.get_by_label("Label", exact=True).fill("Opened it?")
    panel.get_by_role("button", name="+ Condition").click()
    rule = panel.locator(".rb-condition").first
    rule.get_by_label("Field").select_option(label="Email opens")
    expect(rule.get_by_label("Operator")).to_have_value("gte")
    rule.get_by_label("Value").fill("1")
    rule.get_by_label("Days").fill("3")
    expect(_card(page, "condition")).to_contain_text("Opened it?")
    # Both branches carry on to the end for now, each with its own "+".
    expect(page.locator('.jb-edge-label[data-branch="yes"]')).to_have_text("yes")
    expect(page.locator('.jb-edge-label[data-branch="no"]')).to_have_text("no")

    # "tips email" on yes, "SMS reminder" on no.
    panel = _add_step(page, "after condition (yes)", "send")
    _rename(panel, "tips")
    panel.get_by_label("Template", exact=True).fill("member_tips")
    panel = _add_step(page, "after condition (no)", "send")
    _rename(panel, "sms_reminder")
    panel.get_by_label("Channel", exact=True).select_option("SMS")
    expect(panel.get_by_label("Subject", exact=True)).to_have_count(0)  # email only
    panel.get_by_label("Template", exact=True).fill("welcome_reminder")
    expect(_card(page, "sms_reminder")).to_contain_text("Send an SMS")

    # "wait 7 days, end": after the tips; the SMS branch is pointed at the same wait.
    panel = _add_step(page, "after tips", "wait")
    panel.get_by_label("Days", exact=True).fill("7")
    _card(page, "sms_reminder").click()
    page.locator(".jb-panel").get_by_label("Then", exact=True).select_option("wait_2")

    # The server's check agrees, nothing is marked, and the JSON followed every click.
    expect(page.locator("#journey-check-status")).to_have_text(
        "Checked: the journey can be published."
    )
    expect(page.locator(".jb-card.jb-has-error")).to_have_count(0)
    expect(page.locator(".jb-card")).to_have_count(8)  # the trigger and seven steps
    page.get_by_text("The journey as JSON").click()
    assert json.loads(page.locator("#id_definition").input_value()) == EXAMPLE
    # The step two branches meet at is drawn below both.
    tips, sms, wait_2 = (
        _card(page, key).bounding_box() for key in ("tips", "sms_reminder", "wait_2")
    )
    assert tips["y"] == sms["y"] < wait_2["y"]
    assert tips["x"] != sms["x"]

    if target := os.environ.get("JOURNEY_BUILDER_SCREENSHOT"):
        page.get_by_text("The journey as JSON").click()  # closed again
        page.locator("#builder-section").scroll_into_view_if_needed()
        page.screenshot(path=target, full_page=True)

    page.get_by_role("button", name="Save draft", exact=True).click()
    page.wait_for_url(re.compile(r".*/journeys/journey/[0-9a-f-]+/change/$"))
    expect(page.locator(".messagelist")).to_contain_text(EXAMPLE_NAME)
    expect(page.locator("#journey-status")).to_have_text("Draft")
    with django_db_blocker.unblock():
        from journeys.models import Journey

        saved = read_in_thread(lambda: Journey.objects.get(name=EXAMPLE_NAME), schema=SCHEMA)
    assert saved.definition == EXAMPLE
    assert saved.status == "DRAFT" and saved.published_version_id is None


def test_a_wait_of_nothing_is_marked_on_its_step_and_field_and_the_save_is_refused(page, club):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page.goto(f"{club.base_url}{ADMIN}/add/")
    page.locator("#id_name").fill("A journey with a mistake")
    panel = _add_step(page, "at the start", "wait")
    panel.get_by_label("Days", exact=True).fill("0")

    wait = _card(page, "wait")
    expect(wait).to_have_class(re.compile(r"\bjb-has-error\b"))
    expect(wait.locator(".jb-card-error")).to_have_text(
        "duration: A wait must be longer than nothing."
    )
    duration = panel.locator('.jb-field[data-path="steps.wait.duration"]')
    expect(duration.locator(".jb-field-errors li")).to_have_text(
        ["A wait must be longer than nothing."]
    )
    expect(_card(page, "end")).not_to_have_class(re.compile(r"\bjb-has-error\b"))
    expect(_card(page, "__trigger")).not_to_have_class(re.compile(r"\bjb-has-error\b"))
    expect(page.locator("#journey-check-status")).to_contain_text("1 problem to fix")

    # Saved anyway: the service refuses, and the page comes back with the mistake in place.
    page.get_by_role("button", name="Save draft", exact=True).click()
    expect(page.locator(".errornote")).to_be_visible()
    wait = _card(page, "wait")
    expect(wait.locator(".jb-card-error")).to_contain_text("A wait must be longer than nothing.")
    wait.click()
    panel = page.locator(".jb-panel")
    expect(panel.get_by_label("Days", exact=True)).to_have_value("0")  # what was typed is kept
    expect(
        panel.locator('.jb-field[data-path="steps.wait.duration"] .jb-field-errors li')
    ).to_have_text(["A wait must be longer than nothing."])

    # Fixed: the marks go as soon as the server agrees.
    panel.get_by_label("Days", exact=True).fill("2")
    expect(page.locator(".jb-card.jb-has-error")).to_have_count(0)
    expect(page.locator("#journey-check-status")).to_have_text(
        "Checked: the journey can be published."
    )


def test_the_cards_show_each_steps_numbers_and_the_journey_its_conversion_rate(page, club):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    stats = club.stats
    by_key = {row["key"]: row for row in stats["steps"]}
    # The walk the seed made: six in, the booker converted at the first step, FULL members
    # tagged, the others given a call, one taken out while waiting.
    assert stats["enrolled"] == 6 and stats["converted"] == 1 and stats["exited"] == 1
    assert by_key["check"]["entered"] == 6 and by_key["check"]["converted"] == 1
    assert by_key["wait"]["waiting"] == 4 and by_key["wait"]["exited"] == 1

    page.goto(f"{club.base_url}{ADMIN}/{club.analytics_id}/change/")
    expect(page.locator("#journey-conversion-rate")).to_have_text(
        f"{stats['conversionRate'] * 100:.1f}%"
    )
    for key, row in by_key.items():
        card = _card(page, key)
        for name in ("entered", "waiting", "completed", "exited", "converted"):
            expect(card.locator(f'[data-stat="{name}"] dd')).to_have_text(str(row[name]))
    trigger = _card(page, "__trigger")
    expect(trigger.locator('[data-stat="enrolled"] dd')).to_have_text("6")
    expect(trigger.locator('[data-stat="live"] dd')).to_have_text(str(stats["live"]))
    # The connectors say how many took each branch.
    taken = by_key["check"]["branches"]
    expect(page.locator('.jb-edge-label[data-branch="yes"]')).to_have_text(f"yes · {taken['yes']}")
    expect(page.locator('.jb-edge-label[data-branch="no"]')).to_have_text(f"no · {taken['no']}")
    # And the chart of customers per step is drawn.
    expect(page.locator("html")).to_have_attribute("data-journey-chart", "drawn")


def test_json_typed_in_is_drawn_and_deleting_a_branching_step_relinks_it(page, club):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page.goto(f"{club.base_url}{ADMIN}/add/")
    # A power user pastes the example as JSON; the builder follows.
    page.get_by_text("The journey as JSON").click()
    page.locator("#id_definition").fill(json.dumps(EXAMPLE, indent=2))
    expect(page.locator(".jb-card")).to_have_count(8)
    expect(_card(page, "condition")).to_contain_text("Opened it?")
    expect(page.locator("#journey-check-status")).to_have_text(
        "Checked: the journey can be published."
    )

    # Deleting the condition keeps its "yes" branch: what led to it now leads to the tips;
    # the SMS, which only "no" reached, goes too, after a confirmation naming it.
    dialogs: list[str] = []

    def answer(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    _card(page, "condition").click()
    page.locator(".jb-panel").get_by_role("button", name="Delete this step").click()
    expect(_card(page, "condition")).to_have_count(0)
    expect(_card(page, "sms_reminder")).to_have_count(0)
    assert dialogs and "sms_reminder" in dialogs[0]
    definition = json.loads(page.locator("#id_definition").input_value())
    assert definition["steps"]["wait"]["next"] == "tips"
    assert set(definition["steps"]) == {"end", "welcome", "wait", "tips", "wait_2"}

    # A plain step goes quietly, its predecessor linked past it; Undo brings it back.
    _card(page, "wait_2").click()
    page.locator(".jb-panel").get_by_role("button", name="Delete this step").click()
    expect(_card(page, "wait_2")).to_have_count(0)
    assert (
        json.loads(page.locator("#id_definition").input_value())["steps"]["tips"]["next"] == "end"
    )
    page.get_by_role("button", name="Undo").click()
    expect(_card(page, "wait_2")).to_have_count(1)
    page.get_by_role("button", name="Undo").click()
    expect(_card(page, "condition")).to_have_count(1)
    assert json.loads(page.locator("#id_definition").input_value()) == EXAMPLE
    assert len(dialogs) == 1
