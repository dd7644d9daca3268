"""The club's home dashboard in Debian's Chromium: a club loaded by `load_demo_data` (the real
ingestion path and services). STAFF, MARKETING and ADMIN each sign in and land on the
dashboard with the sidebar of their job; every number on it equals the same figure in
`GET api/v1/dashboard`; every link on it opens for that role (none answers "not allowed"); a
tile's link opens the list of exactly that many customers; no tile is empty on the demo club
(the week's posts aside); the page loads nothing from outside the platform.

The club is a tenant of its own, made and dropped here, so the committed demo data never
meets the other tests' clubs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.browser import admin_page, chromium, live_server, require_chromium

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SLUG = "dashboard-browser"
ROLES = ("STAFF", "MARKETING", "ADMIN")
EMAILS = {role: f"{role.lower()}@dashboard-browser.example" for role in ROLES}
PASSWORD = "Fairway-Bunker-2026"
# The sidebar's sections per role (tests/test_admin_browser.py checks their links open).
SECTIONS = {
    "STAFF": ["Home", "Customers"],
    "MARKETING": ["Home", "Customers", "Audiences", "Campaigns", "Journeys", "Social", "Reports",
                  "Settings"],
    "ADMIN": ["Home", "Customers", "Audiences", "Campaigns", "Journeys", "Social", "Reports",
              "Settings", "System"],
}  # fmt: skip


@pytest.fixture(scope="module")
def club(django_db_setup, django_db_blocker) -> Iterator[str]:
    require_chromium()
    import io

    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import schema_context

    from crm.accounts.services import staff_user_upsert
    from crm.tenants.models import Tenant
    from crm.tenants.services import tenant_create

    with django_db_blocker.unblock():
        connection.set_schema_to_public()  # an earlier test may have left a club's schema on
        tenant, _ = tenant_create(slug=SLUG, name="Dashboard Golf Club")
        try:
            call_command("load_demo_data", SLUG, "--members", "40", stdout=io.StringIO())
            with schema_context(tenant.schema_name):
                for role, email in EMAILS.items():
                    staff_user_upsert(email=email, role=role, password=PASSWORD)
            with live_server(name="dashboard") as base_url:
                yield base_url
        finally:
            connection.set_schema_to_public()
            Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)


def _at(data: dict, path: str):
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


@pytest.mark.parametrize("role", ROLES)
def test_every_number_on_the_dashboard_is_the_api_s(club, role):
    from playwright.sync_api import expect

    outside: list[str] = []
    with (
        chromium() as browser,
        admin_page(
            browser, base_url=club, club=SLUG, email=EMAILS[role], password=PASSWORD, width=1280
        ) as page,
    ):
        page.on("request", lambda r: r.url.startswith(club) or outside.append(r.url))
        page.goto(f"{club}/t/{SLUG}/admin/")
        page.wait_for_function("() => document.querySelectorAll('canvas').length >= 2")
        expect(page.locator("#nav-sidebar-apps h2")).to_have_text(SECTIONS[role])
        shown = page.eval_on_selector_all(
            "[data-figure]", "nodes => nodes.map(n => [n.dataset.figure, n.textContent.trim()])"
        )
        api = page.request.get(f"{club}/t/{SLUG}/api/v1/dashboard")
        assert api.status == 200, api.text()
        data = api.json()["data"]
        assert len(shown) >= 15, shown
        for path, text in shown:
            expected = _at(data, path)
            if path.endswith("Cents"):
                assert text.endswith(f"{Decimal(expected) / 100:,.2f}"), (path, text, expected)
            else:
                assert int(text.replace(",", "")) == expected, (path, text, expected)
        # Every tile has something to show on the demo club: no "missing" sentence, at risk
        # included (members drifting away, with their reasons), and the marketing tile's last
        # campaign, running journeys and promoted competition.
        for tile in ("members", "atRisk", "golf", "marketing"):
            assert page.locator(f'[data-tile="{tile}"] .db-missing').count() == 0, tile
        assert data["atRisk"]["figures"]["highOrCriticalRisk"] > 0
        assert page.locator('[data-tile="atRisk"] table tbody tr').count() > 0
        assert data["marketing"]["campaigns"]["items"][0]["converted"] > 0
        sources = page.locator('[data-tile="dataHealth"] tr[data-source]')
        assert sources.count() == 3
        assert page.locator('[data-tile="dataHealth"] .db-missing').count() == 0

        if target := os.environ.get("DASHBOARD_SCREENSHOT"):
            page.screenshot(path=target.replace(".png", f"-{role.lower()}.png"), full_page=True)

        # Every link on the dashboard opens for this role: none answers "not allowed".
        links = page.locator("#club-dashboard a").evaluate_all("els => els.map(e => e.href)")
        assert links
        for href in sorted(set(links)):
            answer = page.request.get(href)
            assert answer.status == 200, (role, href, answer.status)

        # A tile's number opens the list of exactly those customers.
        renewals = data["members"]["figures"]["renewalsDue30d"]
        page.locator('[data-figure="members.figures.renewalsDue30d"]').click()
        page.wait_for_url(re.compile(r".*/profiles/customer/\?figure=renewalsDue30d$"))
        counter = re.sub(r"\s+", " ", page.locator("body").inner_text())
        assert re.search(rf"\b{renewals} customers?\b", counter), counter[-500:]
    assert not outside, outside


def test_the_tee_sheet_tiles_are_the_api_s(club):
    """The tee sheet and players section on the demo club (profiles/demo_golf.py): every part
    has figures, each number and percentage is the API's, and the detractors' number opens the
    list of exactly those answers."""
    with (
        chromium() as browser,
        admin_page(
            browser, base_url=club, club=SLUG, email=EMAILS["ADMIN"], password=PASSWORD, width=1280
        ) as page,
    ):
        page.goto(f"{club}/t/{SLUG}/admin/")
        tile = page.locator('[data-tile="teeSheet"]')
        assert tile.is_visible()
        data = page.request.get(f"{club}/t/{SLUG}/api/v1/dashboard").json()["data"]
        for part in ("health", "filler", "captureRate", "nps"):
            assert data["teeSheet"][part]["missing"] is None, (part, data["teeSheet"][part])
        assert tile.locator(".db-missing").count() == 0
        numbers = tile.locator("[data-figure]").evaluate_all(
            "nodes => nodes.map(n => [n.dataset.figure, n.textContent.trim()])"
        )
        assert len(numbers) >= 15, numbers
        for path, text in numbers:
            expected = _at(data, path)
            if path.endswith("Cents"):
                assert text.endswith(f"{Decimal(expected) / 100:,.2f}"), (path, text, expected)
            else:
                assert int(text.replace(",", "")) == expected, (path, text, expected)
        percents = tile.locator("[data-figure-percent]").evaluate_all(
            "nodes => nodes.map(n => [n.dataset.figurePercent, n.textContent.trim()])"
        )
        assert len(percents) >= 3, percents
        for path, text in percents:
            assert float(text) == _at(data, path), (path, text)
        assert "€" in tile.locator('[data-part="filler"]').inner_text()

        detractors = data["teeSheet"]["nps"]["detractors"]
        tile.locator('[data-figure="teeSheet.nps.detractors"]').click()
        page.wait_for_url(re.compile(r".*/journeys/roundsurveyanswer/\?band__exact=DETRACTOR$"))
        counter = re.sub(r"\s+", " ", page.locator("body").inner_text())
        assert re.search(rf"\b{detractors} round survey answers?\b", counter), counter[-500:]
