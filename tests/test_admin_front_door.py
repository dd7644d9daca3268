"""The club admin as its users read it (issue 17): the sidebar per role, the "not allowed" page,
labels instead of codes on the customer list and its filters, times in the club's zone, and the
duplicate review done side by side, with its undo on the customer page."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from profiles.models import Customer, CustomerScore, CustomerStatus, DuplicateStatus
from segments.models import Segment, SegmentMembership
from tests import test_admin_customers
from tests.events import member
from tests.test_admin_customers import (
    ADMIN,
    CUSTOMERS,
    DUPLICATES,
    _candidate,
    _customer,
    _customer_id,
    _page,
)

# The customer tests' fixtures: signed-in clients per role, and a household of duplicates.
login = test_admin_customers.login
household = test_admin_customers.household

NAV = {
    # sidebar link -> the roles that see it
    "All customers": {"STAFF", "MARKETING", "ADMIN"},
    "Duplicates to review": {"ADMIN"},
    "Segments": {"MARKETING", "ADMIN"},
    "Campaigns": {"MARKETING", "ADMIN"},
    "Journeys": {"MARKETING", "ADMIN"},
    "Posts": {"MARKETING", "ADMIN"},
    "API keys": {"ADMIN"},
    "Scoring": {"ADMIN"},
    "Raw events": {"ADMIN"},
    "Dead letters": {"ADMIN"},
    "Churn model versions": {"ADMIN"},
}


def _sidebar(html: str) -> str:
    return html[html.index('id="nav-sidebar-apps"') : html.index('id="main"')]


@pytest.mark.parametrize("role", ["STAFF", "MARKETING", "ADMIN"])
def test_each_role_sees_the_sidebar_it_may_use(clubs, login, role):
    sidebar = _sidebar(_page(login(role), f"{ADMIN}/profiles/customer/"))
    for title, roles in NAV.items():
        assert (f"<span>{title}</span>" in sidebar) is (role in roles), (role, title)
    sections = re.findall(r"<h2[^>]*>\s*(\w+)", sidebar)
    assert ("System" in sections) is (role == "ADMIN"), sections
    assert ("Settings" in sections) is (role != "STAFF"), sections
    # The header names the club, never its schema.
    page = _page(login(role), f"{ADMIN}/")
    assert "Alpha Golf Club" in page and clubs.alpha.schema_name not in page


def test_a_staff_member_on_a_marketing_page_gets_the_not_allowed_page(clubs, login):
    staff = login("STAFF")
    for url in (f"{ADMIN}/accounts/apikey/", f"{ADMIN}/segments/segment/add/"):
        response = staff.get(url)
        assert response.status_code == 403, url
        html = response.content.decode()
        assert "Not allowed" in html and "(Staff)" in html
        assert 'id="nav-sidebar-apps"' in html  # inside the admin, sidebar and all
    # MARKETING lists campaigns with an "add" link that opens; STAFF has neither.
    marketing = login("MARKETING")
    listing = _page(marketing, f"{ADMIN}/campaigns/campaign/")
    assert "/campaigns/campaign/add/" in listing
    assert marketing.get(f"{ADMIN}/campaigns/campaign/add/").status_code == 200
    assert "/profiles/customer/add/" not in _page(marketing, f"{CUSTOMERS}/")


def test_the_customer_list_reads_in_labels_and_filters_by_score_tier_and_segment(
    clubs, ingest, login
):
    ingest(
        [
            member(31, firstName="Niamh", email="niamh@example.ie",
                   tier={"code": "FIVE_DAY", "name": "Five day"}),
            member(32, firstName="Sean", email="sean@example.ie"),
        ]
    )  # fmt: skip
    niamh, sean = _customer_id(clubs, "scl", "31"), _customer_id(clubs, "scl", "32")
    with schema_context(clubs.alpha.schema_name):
        CustomerScore.objects.create(
            customer_id=niamh, engagement_score=15, engagement_band="AT_RISK",
            churn_risk_score=85, paying_not_playing=True,
        )  # fmt: skip
        CustomerScore.objects.create(
            customer_id=sean, engagement_score=70, engagement_band="GOOD", churn_risk_score=20
        )
        segment = Segment.objects.create(name="Five-day members", type="STATIC", rules=None)
        SegmentMembership.objects.create(
            segment=segment, customer_id=niamh, entered_at="2026-01-01T00:00Z"
        )
    client = login("STAFF")
    html = _page(client, f"{CUSTOMERS}/")
    assert "Five day" in html and "FIVE_DAY</td>" not in html
    assert "85 · Critical · paying, not playing" in html and "70 · Good" in html

    def listed(**params) -> set[str]:
        page = _page(client, f"{CUSTOMERS}/", **params)
        return set(re.findall(r"/admin/profiles/customer/([0-9a-f-]{36})/change/", page))

    assert listed(tier="FIVE_DAY") == {niamh}
    assert listed(churn_risk="critical") == {niamh}
    assert listed(churn_risk="low") == {sean}
    assert listed(engagement="GOOD") == {sean}
    assert listed(pnp="yes") == {niamh}
    assert listed(segment=str(segment.pk)) == {niamh}
    assert listed(lifecycle_stage__exact="MEMBER") >= {niamh, sean}
    # A segment id that is no id finds nobody; it is not an error.
    assert listed(segment="not-a-uuid") == set()
    # The top bar's search goes to this list.
    assert f'action="{CUSTOMERS}/"' in html and 'name="q"' in html


def test_admin_pages_show_times_in_the_clubs_zone(clubs, ingest, login):
    with schema_context("public"):
        clubs.alpha.timezone = "America/New_York"
        clubs.alpha.save(update_fields=["timezone"])
    ingest([member(41, firstName="Orla", email="orla@example.ie")])
    orla = _customer_id(clubs, "scl", "41")
    with schema_context(clubs.alpha.schema_name):
        Customer.objects.filter(pk=orla).update(last_activity_at="2026-07-01T12:00:00Z")
    html = _page(login("STAFF"), f"{CUSTOMERS}/", q="orla@example.ie")
    assert "1 Jul 2026, 8 a.m." in html  # 12:00 UTC is 08:00 in New York in July


def test_duplicates_compared_side_by_side_merged_keeping_the_second_then_undone(
    clubs, household, login
):
    candidate = _candidate(clubs, household["aoife"], household["player"])
    url = f"{DUPLICATES}/{candidate.id}/change/"

    staff_view = _page(login("STAFF"), url)
    assert "Are these the same person?" in staff_view and "Merge, keep this one" not in staff_view

    admin = login("ADMIN")
    html = _page(admin, url)
    assert "They share an email address" in html
    assert "home@example.ie" in html  # the identity they share
    assert 'id="dup-identities-a"' in html and "SCL member id" in html
    assert "TeeTime player id" in html
    assert html.count("Merge, keep this one") == 2 and "Not the same person" in html
    assert f"{DUPLICATES}/{candidate.id}/change/" in _page(admin, f"{DUPLICATES}/")

    # A side that is neither is refused, and nothing is merged.
    refused = admin.post(f"{DUPLICATES}/{candidate.id}/merge/", {"keep": "c"}, follow=True)
    assert "Choose which customer to keep" in refused.content.decode()
    assert _customer(clubs, household["aoife"]).status == CustomerStatus.ACTIVE

    # Keep the second (the player): the first is merged into them.
    keep_b = candidate.customer_b_id
    lose_a = candidate.customer_a_id
    merged = admin.post(f"{DUPLICATES}/{candidate.id}/merge/", {"keep": "b"}, follow=True)
    assert merged.redirect_chain[-1][0] == f"{CUSTOMERS}/{keep_b}/change/"
    page = merged.content.decode()
    assert "was merged into this customer" in page and "Undo merge" in page
    assert _customer(clubs, str(lose_a)).status == CustomerStatus.MERGED
    with schema_context(clubs.alpha.schema_name):
        candidate.refresh_from_db()
        assert candidate.status == DuplicateStatus.MERGED

    # STAFF may not undo it; a made-up pair is refused; the real undo brings both back.
    staff_undo = login("STAFF").post(
        f"{CUSTOMERS}/{keep_b}/unmerge/", {"winner": str(keep_b), "loser": str(lose_a)}
    )
    assert staff_undo.status_code == 403
    wrong = admin.post(
        f"{CUSTOMERS}/{keep_b}/unmerge/", {"winner": str(lose_a), "loser": str(keep_b)},
        follow=True,
    )  # fmt: skip
    assert "no such merge" in wrong.content.decode()
    undone = admin.post(
        f"{CUSTOMERS}/{keep_b}/unmerge/", {"winner": str(keep_b), "loser": str(lose_a)},
        follow=True,
    )  # fmt: skip
    assert "are two customers again" in undone.content.decode()
    assert _customer(clubs, str(lose_a)).status == CustomerStatus.ACTIVE
    assert "Undo merge" not in undone.content.decode()
    with schema_context(clubs.alpha.schema_name):
        assert AuditEntry.objects.filter(action="customer.unmerged").count() == 1


def test_another_clubs_staff_cannot_open_the_comparison(clubs, household, login):
    candidate = _candidate(clubs, household["aoife"], household["player"])
    bravo = login("ADMIN", "bravo-golf")
    response = bravo.get(f"/t/bravo-golf/admin/profiles/duplicatecandidate/{candidate.id}/change/")
    assert response.status_code in (302, 404)
    assert "home@example.ie" not in response.content.decode()


def test_signing_in_on_the_bare_login_page_lands_on_the_clubs_home(clubs, make_staff):
    """The theme's login form has no `next` field: the page adds it, so a person who opens the
    login page directly ends on the club's home, not on /accounts/profile/ (a 404)."""
    from django.test import Client

    from tests.conftest import STAFF_PASSWORD

    email = make_staff(clubs.alpha, "MARKETING")
    client = Client()
    first = client.get("/t/alpha-golf/admin/login/")
    assert first.status_code == 302
    assert first["Location"] == "/t/alpha-golf/admin/login/?next=%2Ft%2Falpha-golf%2Fadmin%2F"
    page = client.get(first["Location"])
    assert page.status_code == 200
    signed_in = client.post(first["Location"], {"username": email, "password": STAFF_PASSWORD})
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/t/alpha-golf/admin/"
