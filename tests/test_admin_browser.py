"""The club admin in a real browser (Debian's Chromium under Playwright, a real server process):
STAFF, MARKETING and ADMIN each sign in and find the sidebar of their job; STAFF opening an
ADMIN page gets the "not allowed" page inside the admin; the customer list, a customer's page
and the duplicate comparison render in the theme; GraphiQL starts from the platform's own
files with every request staying on the platform.

What the server must see is committed and removed again at the end (see
test_segments_builder). Set ADMIN_SCREENSHOTS=/some/dir to keep pictures of the pages.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.browser import admin_page, chromium, live_server, require_chromium, run_all

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SCHEMA = "club_alpha_old"
CLUB = "alpha-golf"
PASSWORD = "Fairway-Bunker-2026"
EMAILS = {role: f"front-door.{role.lower()}@alpha-golf.example" for role in ("STAFF", "MARKETING", "ADMIN")}  # fmt: skip
SHOTS = os.environ.get("ADMIN_SCREENSHOTS", "")

# Sidebar sections each role finds (in order), and a link each must not see.
SECTIONS = {
    "STAFF": ["Home", "Customers"],
    "MARKETING": ["Home", "Customers", "Audiences", "Campaigns", "Journeys", "Social", "Reports",
                  "Settings"],
    "ADMIN": ["Home", "Customers", "Audiences", "Campaigns", "Journeys", "Social", "Reports",
              "Settings", "System"],
}  # fmt: skip
HIDDEN = {"STAFF": "Segments", "MARKETING": "API keys", "ADMIN": "Event transport"}


@dataclass(frozen=True)
class Club:
    base_url: str
    aoife: str
    twin: str
    candidate: int


def _seed() -> tuple[list, int]:
    """Two records of one golfer (a member and a player sharing an email), as identity
    resolution leaves them when it may not join them, and the candidate pair to review."""
    from profiles.models import (
        Customer,
        CustomerScore,
        DuplicateCandidate,
        LifecycleStage,
        SourceRecord,
    )

    aoife = Customer.objects.create(
        first_name="Aoife", last_name="Byrne", email="aoife.byrne@example.ie",
        phone_number="+353871234567", scl_member_id=990001, membership_tier="FIVE_DAY",
        membership_status="ACTIVE", lifecycle_stage=LifecycleStage.MEMBER, lifetime_value=129500,
        member_since=dt.date(2019, 3, 1), handicap=12.4, home_club_id=CLUB,
        last_activity_at=timezone.now() - dt.timedelta(days=3),
    )  # fmt: skip
    twin = Customer.objects.create(
        first_name="A.", last_name="Byrne", email="aoife.byrne@example.ie",
        teetime_player_id="tt-990001", lifecycle_stage=LifecycleStage.CUSTOMER,
        handicap=12.4, last_activity_at=timezone.now() - dt.timedelta(days=30),
    )  # fmt: skip
    SourceRecord.objects.create(
        kind="scl", key="990001", customer=aoife, first_customer=aoife,
        email="aoife.byrne@example.ie", phone="+353871234567",
    )  # fmt: skip
    SourceRecord.objects.create(
        kind="teetime", key="tt-990001", customer=twin, first_customer=twin,
        email="aoife.byrne@example.ie",
    )  # fmt: skip
    CustomerScore.objects.create(
        customer=aoife, engagement_score=34, engagement_band="LOW", churn_risk_score=82,
        churn_risk_reasons=["No round in 60 days"], paying_not_playing=True,
    )  # fmt: skip
    candidate = DuplicateCandidate.objects.create(
        customer_a=aoife, customer_b=twin, reason="shared email", detail="aoife.byrne@example.ie"
    )
    return [aoife.pk, twin.pk], candidate.pk


def _cleanup(customer_ids: list, started: dt.datetime) -> None:
    from django.contrib.sessions.models import Session

    from crm.accounts.models import AuditEntry, User
    from crm.outbox.models import OutboundEvent
    from profiles.models import Activity, Customer, DuplicateCandidate, SourceRecord

    run_all(
        [
            # The merge and its undo publish crm.profile.* events and write timeline entries:
            # committed by the live server, so removed here, or later tests count them.
            lambda: OutboundEvent.objects.filter(created_at__gte=started).delete(),
            lambda: Activity.objects.filter(customer_id__in=customer_ids).delete(),
            lambda: DuplicateCandidate.objects.filter(customer_a_id__in=customer_ids).delete(),
            lambda: DuplicateCandidate.objects.filter(customer_b_id__in=customer_ids).delete(),
            lambda: SourceRecord.objects.filter(customer_id__in=customer_ids).delete(),
            lambda: Customer.objects.filter(pk__in=customer_ids).delete(),
            lambda: User.objects.filter(email__in=EMAILS.values()).delete(),
            lambda: AuditEntry.objects.filter(created_at__gte=started).delete(),
            lambda: Session.objects.all().delete(),
        ]
    )


@pytest.fixture(scope="module")
def club(django_db_setup, django_db_blocker) -> Iterator[Club]:
    require_chromium()
    from crm.accounts.services import staff_user_upsert

    started = timezone.now()
    customer_ids: list = []
    with django_db_blocker.unblock():
        with schema_context(SCHEMA):
            try:
                for role, email in EMAILS.items():
                    staff_user_upsert(email=email, role=role, password=PASSWORD)
                customer_ids, candidate = _seed()
            except BaseException:
                _cleanup(customer_ids, started)
                raise
        try:
            with live_server(name="front-door") as base_url:
                yield Club(base_url, str(customer_ids[0]), str(customer_ids[1]), candidate)
        finally:
            with schema_context(SCHEMA):
                _cleanup(customer_ids, started)


@pytest.fixture
def browser(club) -> Iterator:
    with chromium() as browser:
        yield browser


def _signed_in(browser, club: Club, role: str, width: int = 1440):
    return admin_page(
        browser, base_url=club.base_url, club=CLUB, email=EMAILS[role], password=PASSWORD,
        width=width,
    )  # fmt: skip


def _shot(page, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.mark.parametrize("role", ["STAFF", "MARKETING", "ADMIN"])
def test_each_role_finds_the_sidebar_of_its_job(browser, club, role):
    from playwright.sync_api import expect

    with _signed_in(browser, club, role) as page:
        sidebar = page.locator("#nav-sidebar-apps")
        expect(sidebar.locator("h2")).to_have_text(SECTIONS[role])
        expect(sidebar.get_by_role("link", name=re.compile("All customers"))).to_be_visible()
        expect(sidebar.get_by_text(HIDDEN[role], exact=True)).to_have_count(0)
        # The club's name heads the admin, not its schema.
        expect(page.locator("#nav-sidebar-inner")).to_contain_text("Alpha Golf Club")
        expect(page.locator("body")).not_to_contain_text(SCHEMA)
        links = sidebar.get_by_role("link").evaluate_all("els => els.map(e => e.href)")
        # Every link in the sidebar opens (none answers "not allowed"), and so does every
        # "add" link on the pages they lead to.
        for href in links:
            answer = page.request.get(href)
            assert answer.status == 200, (role, href, answer.status)
            for add in set(re.findall(r'href="([^"]*/add/)"', answer.text())):
                added = page.request.get(f"{club.base_url}{add}")
                assert added.status == 200, (role, href, add, added.status)


def test_staff_opening_an_admin_page_gets_the_not_allowed_page(browser, club):
    from playwright.sync_api import expect

    with _signed_in(browser, club, "STAFF") as page:
        response = page.goto(f"{club.base_url}/t/{CLUB}/admin/accounts/apikey/")
        assert response.status == 403
        expect(page.locator("#not-allowed h1")).to_have_text("Not allowed")
        expect(page.locator("#not-allowed")).to_contain_text("(Staff)")
        expect(page.locator("#nav-sidebar-apps")).to_be_visible()  # still inside the admin
        page.locator("#not-allowed").get_by_role("link", name="Back to the home page").click()
        page.wait_for_url(f"**/t/{CLUB}/admin/")


def test_the_customer_pages_read_as_a_club_reads_them(browser, club):
    from playwright.sync_api import expect

    with _signed_in(browser, club, "ADMIN", width=1280) as page:
        # Found from the top bar by phone number, as the club writes it.
        page.locator("#customer-search").fill("087 123 4567")
        page.locator("#customer-search").press("Enter")
        page.wait_for_url(re.compile(r".*/profiles/customer/\?q="))
        row = page.locator("#result_list tbody tr").filter(has_text="Aoife Byrne")
        expect(row).to_contain_text("Five day (active)")
        expect(row).to_contain_text("82 · Critical · paying, not playing")
        # The list fits a 1280 px screen: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.goto(f"{club.base_url}/t/{CLUB}/admin/profiles/customer/")
        _shot(page, "customer-list")

        page.goto(f"{club.base_url}/t/{CLUB}/admin/profiles/customer/{club.aoife}/change/")
        expect(page.locator("h1.c360-name")).to_have_text("Aoife Byrne")
        expect(page.locator("#membership")).to_contain_text("Five day")
        expect(page.locator("#payments")).to_contain_text("€1,295.00")
        expect(page.locator("#golf")).to_contain_text("Alpha Golf Club")
        expect(page.locator("#duplicates")).to_contain_text("They share an email address")
        _shot(page, "customer-page")

        page.locator("#duplicates").get_by_role("link", name="Compare side by side").click()
        expect(page.locator("h1.page-title")).to_have_text("Are these the same person?")
        expect(page.locator("#dup-why")).to_contain_text("They share an email address")
        expect(page.locator("#dup-identities-a")).to_contain_text("SCL member id")
        expect(page.locator("#dup-identities-b")).to_contain_text("TeeTime player id")
        expect(page.locator(".dup-keep")).to_have_count(2)
        _shot(page, "duplicate-comparison")

        # Keep the member; the undo is on her page afterwards.
        page.locator("#keep-a").click()
        page.wait_for_url(f"**/profiles/customer/{club.aoife}/change/")
        expect(page.locator("#merges")).to_contain_text("was merged into this customer")
        _shot(page, "customer-page-after-merge")
        page.locator("#merges").get_by_role("button", name="Undo merge").click()
        expect(page.locator(".messagelist")).to_contain_text("are two customers again")
        expect(page.locator("#merges")).to_have_count(0)


def test_graphiql_starts_from_the_platforms_own_files(browser, club):
    from playwright.sync_api import expect

    with _signed_in(browser, club, "MARKETING") as page:
        hosts: set[str] = set()
        page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))
        page.goto(f"{club.base_url}/t/{CLUB}/graphql")
        expect(page.locator(".graphiql-container")).to_be_visible()
        page.locator(".graphiql-query-editor .CodeMirror").first.click()
        page.keyboard.press("Control+a")
        page.keyboard.type("{ __typename }")
        page.locator(".graphiql-execute-button").click()
        expect(page.locator(".graphiql-response")).to_contain_text('"__typename": "Query"')
        assert hosts == {"127.0.0.1"}, hosts
        favicon = page.request.get(f"{club.base_url}/static/crm/favicon.svg")
        assert favicon.status == 200
