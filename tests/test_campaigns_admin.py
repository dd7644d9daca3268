"""The club admin's Campaigns as staff use it (real logins per role, the real forms), and its
charts drawn in a real browser: Debian's Chromium driven by Playwright against a real server
process on the test database (the approach of tests/test_segments_builder.py)."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.models import Campaign, CampaignRun, Send
from campaigns.testing import MessagingPeer
from tests.browser import admin_page, chromium, live_server, require_chromium
from tests.conftest import STAFF_PASSWORD
from tests.test_campaigns_sending import customer, static_segment

ADMIN = "/t/alpha-golf/admin/campaigns/campaign/"


@pytest.fixture
def login(clubs, api, make_staff):
    def _login(role: str):
        client = api()
        response = client.post(
            "/t/alpha-golf/admin/login/",
            {"username": make_staff(clubs.alpha, role), "password": STAFF_PASSWORD,
             "next": "/t/alpha-golf/admin/"},
        )  # fmt: skip
        assert response.status_code == 302, response.content
        return client

    return _login


@pytest.fixture
def segment(clubs):
    with schema_context(clubs.alpha.schema_name):
        return static_segment("Members", [customer(first_name="Aoife"), customer()])


def form(segment, **extra) -> dict:
    return {
        "name": "Club night", "description": "", "type": "ONE_TIME", "channels": ["EMAIL"],
        "priority_name": "NORMAL", "include": [str(segment.pk)], "holdout_percent": "0",
        "email_template": "newsletter", "subject": "See you there, {{ firstName }}",
        "body": "Friday at 8.", "scheduled": "", "recurrence": "", "ends": "",
        "trigger_event": "", **extra,
    }  # fmt: skip


def test_marketing_creates_sends_previews_and_tests_a_campaign(clubs, login, segment):
    client = login("MARKETING")
    response = client.post(f"{ADMIN}add/", form(segment))
    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context(clubs.alpha.schema_name):
        campaign = Campaign.objects.get(name="Club night")
        assert campaign.templates == {"EMAIL": "newsletter"}
        assert list(campaign.include_segments.all()) == [segment]
    page = client.get(f"{ADMIN}{campaign.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="campaign-status"' in html and "chart-funnel" in html
    assert "chart.umd.min.js" in html
    assert f"{ADMIN}{campaign.pk}/state/send/" in html

    with schema_context(clubs.alpha.schema_name):
        aoife = segment.memberships.filter(customer__first_name="Aoife").first().customer
    preview = client.get(f"{ADMIN}{campaign.pk}/change/?preview={aoife.email}")
    assert "See you there, Aoife" in preview.content.decode()

    with MessagingPeer() as peer, override_settings(MESSAGING_URL=peer.url):
        sent = client.post(
            f"{ADMIN}{campaign.pk}/test-send/", {"addresses": "pro@alpha.example"}, follow=True
        )
        assert "Test to pro@alpha.example: accepted" in sent.content.decode()
        assert [r["to"]["email"] for r in peer.state.accepted.values()] == ["pro@alpha.example"]

    done = client.post(f"{ADMIN}{campaign.pk}/state/send/", follow=True)
    # What will really happen, from the review: how many, and when (club time).
    assert re.search(r"Sending to 2 people: 2 (now|at \d\d:\d\d)", done.content.decode())
    refused = client.post(f"{ADMIN}{campaign.pk}/state/resume/", follow=True)
    assert "Cannot resume a SENDING campaign" in refused.content.decode()
    with schema_context(clubs.alpha.schema_name):
        assert Campaign.objects.get(pk=campaign.pk).status == "SENDING"


def test_service_refusals_show_on_the_form(clubs, login, segment):
    client = login("MARKETING")
    response = client.post(
        f"{ADMIN}add/", form(segment, recurrence="every day", scheduled="tomorrow")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "recurrence" in errors and "scheduled" in errors
    with schema_context(clubs.alpha.schema_name):
        assert not Campaign.objects.exists()


def test_staff_read_but_cannot_change_or_send(clubs, login, segment):
    with schema_context(clubs.alpha.schema_name):
        campaign = Campaign.objects.create(name="Read only", channels=["EMAIL"])
    client = login("STAFF")
    page = client.get(f"{ADMIN}{campaign.pk}/change/")
    assert page.status_code == 200
    assert "/state/send/" not in page.content.decode()
    assert client.post(f"{ADMIN}{campaign.pk}/state/send/").status_code == 404
    assert client.get(f"{ADMIN}add/").status_code == 403


# --- the charts in a real browser ------------------------------------------------------------

SCHEMA = "club_alpha_old"
EMAIL = "charts.marketing@alpha-golf.example"


def _seed_results() -> tuple[str, list]:
    """A finished campaign with two variants, sends spread over three hours and engagement."""
    from crm.accounts.services import staff_user_upsert
    from profiles.models import Activity

    staff_user_upsert(email=EMAIL, role="MARKETING", password=STAFF_PASSWORD)
    people = [customer(first_name=f"Chart{n}", email=f"chart{n}@ex.ie") for n in range(40)]
    campaign = Campaign.objects.create(
        name="Charted", channels=["EMAIL"], status="COMPLETED", templates={"EMAIL": "x"}
    )
    run = CampaignRun.objects.create(campaign=campaign, key="once", status="DONE", targeted=40)
    start = timezone.now() - dt.timedelta(hours=3)
    sends = Send.objects.bulk_create(
        Send(run=run, campaign=campaign, customer=p, channel="EMAIL", status="ACCEPTED",
             variant="AB"[n % 2], handed_at=start + dt.timedelta(hours=n % 3), created_at=start)
        for n, p in enumerate(people)
    )  # fmt: skip
    Activity.objects.bulk_create(
        Activity(customer_id=s.customer_id, type="messaging.email.opened", category="messaging",
                 title="Opened", source="messaging", occurred_at=timezone.now(),
                 data={"sendId": str(s.id)})
        for n, s in enumerate(sends) if n % 2 == 0 or n % 5 == 0
    )  # fmt: skip
    return str(campaign.id), [p.id for p in people]


def _cleanup(customer_ids: list) -> None:
    from django.contrib.sessions.models import Session

    from crm.accounts.models import User
    from profiles.models import Activity, Customer

    Campaign.objects.filter(name="Charted").delete()
    Activity.objects.filter(customer_id__in=customer_ids).delete()
    Customer.objects.filter(pk__in=customer_ids).delete()
    User.objects.filter(email=EMAIL).delete()
    Session.objects.all().delete()


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker) -> Iterator[tuple[str, str]]:
    require_chromium()
    with django_db_blocker.unblock():
        with schema_context(SCHEMA):
            campaign_id, customer_ids = _seed_results()
        try:
            with live_server(name="charts") as base:
                yield base, campaign_id
        finally:
            with schema_context(SCHEMA):
                _cleanup(customer_ids)


@pytest.mark.integration
@pytest.mark.django_db
def test_the_charts_are_drawn_in_a_real_browser(served):
    base, campaign_id = served
    with chromium() as browser, admin_page(
        browser, base_url=base, club="alpha-golf", email=EMAIL, password=STAFF_PASSWORD,
        width=1400,
    ) as page:  # fmt: skip
        page.goto(f"{base}/t/alpha-golf/admin/campaigns/campaign/{campaign_id}/change/")
        page.wait_for_function("document.documentElement.dataset.campaignCharts === 'drawn'")
        charts = page.evaluate(
            """() => ['chart-series', 'chart-funnel', 'chart-variants'].map((id) => {
                const canvas = document.getElementById(id);
                const chart = Chart.getChart(canvas);
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let painted = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
                const scales = Object.fromEntries(Object.entries(chart.scales)
                    .map(([key, scale]) => [key, [scale.min, scale.max]]));
                return {id, type: chart.config.type, labels: chart.data.labels,
                        data: chart.data.datasets.map((d) => d.data), painted, scales};
            })"""
        )
        if os.environ.get("CAMPAIGN_CHARTS_SCREENSHOT"):
            page.screenshot(path=os.environ["CAMPAIGN_CHARTS_SCREENSHOT"], full_page=True)
    series, funnel, variants = charts
    assert series["type"] == "line" and len(series["labels"]) == 3
    assert sorted(series["data"][0]) == [13, 13, 14]  # 40 sends over three hours
    assert funnel["type"] == "bar" and funnel["labels"][:2] == ["Targeted", "Sent"]
    assert funnel["data"][0][:2] == [40, 40] and funnel["data"][0][3] == 24  # opened
    assert variants["labels"] == ["A", "B"]
    assert variants["data"][0] == [1.0, 0.2]  # open rates: A every one, B every fifth
    # Each value axis starts at zero and reaches the largest value (the bars are drawn).
    assert series["scales"]["y"][0] == 0 and series["scales"]["y"][1] >= 14
    assert funnel["scales"]["x"][0] == 0 and funnel["scales"]["x"][1] >= 40
    assert variants["scales"]["y"][0] == 0 and variants["scales"]["y"][1] >= 1.0
    assert all(chart["painted"] > 500 for chart in charts), charts
