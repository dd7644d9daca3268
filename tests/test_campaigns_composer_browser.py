"""The campaign composer in Debian's Chromium, as a club's marketing manager uses it: a campaign
built by clicking through the steps (audience with its live count, content with an A/B
subject, schedule "tomorrow 09:00" in club time, review), a schedule in the past refused on
its field; and a "Send now" whose review counts equal what a Messaging peer on 127.0.0.1 then
receives, after a test send to the manager's own address that the peer gets and the ledger
does not.

With a Messaging Service the template is one the service holds (messaging.md): the peer's
templates are what the picker lists, and the built-in fallback's `default` is not offered. The
club with no Messaging Service, sending a starter MJML email through Django's email framework,
is tests/test_campaigns_composer_email_browser.py.

The club is a tenant of its own, made and dropped here (its committed data goes with it).
Quiet hours and the frequency cap are off in it, so nothing depends on the hour. Screenshots
of each step go to $COMPOSER_SHOTS when set."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaigns.testing import MessagingPeer
from tests.browser import admin_page, chromium, live_server, read_in_thread, require_chromium

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SLUG = "composer-browser"
EMAIL = "marketing@composer-browser.example"
PASSWORD = "Fairway-Bunker-2026"
TOKEN = "composer-peer"
ZONE = ZoneInfo("Europe/Dublin")
# What the Messaging Service holds for this club (messaging.md, "Templates").
PEER_TEMPLATES = {
    "competition_news": {
        "channel": "email", "name": "Competition news", "subject": "Entries open: {{clubName}}",
        "variables": ["firstName", "clubName"],
        "html": "<p>Dear {{firstName}}, entries are open at {{clubName}}.</p>",
        "text": "Dear {{firstName}}, entries are open at {{clubName}}.",
    },
    "course_update": {
        "channel": "email", "name": "Course update", "subject": "Course news",
        "variables": ["firstName"], "html": "<p>Hello {{firstName}}</p>",
        "text": "Hello {{firstName}}",
    },
    "tee_time_sms": {
        "channel": "sms", "name": "Tee time reminder", "variables": ["firstName"],
        "text": "{{firstName}}, see you on the tee.",
    },
}  # fmt: skip


def _shot(page, name: str) -> None:
    if target := os.environ.get("COMPOSER_SHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{target}/{name}.png", full_page=True)


@pytest.fixture(scope="module")
def club(django_db_setup, django_db_blocker) -> Iterator[dict]:
    require_chromium()
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from campaigns.sending import campaign_settings
    from crm.accounts.services import staff_user_upsert
    from crm.tenants.models import Tenant
    from crm.tenants.services import tenant_create
    from profiles.models import Customer
    from segments.models import Segment, SegmentMembership

    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        tenant, _ = tenant_create(slug=SLUG, name="Composer Golf Club", timezone="Europe/Dublin")
        try:
            with schema_context(tenant.schema_name):
                staff_user_upsert(email=EMAIL, role="MARKETING", password=PASSWORD)
                rules = campaign_settings()
                rules.quiet_hours_enabled = False
                rules.frequency_cap = 0
                rules.save()
                people = [
                    Customer.objects.create(
                        first_name=name, last_name="Byrne", email=f"{name.lower()}@ex.ie",
                        email_opt_in=True,
                    )
                    for name in ("Aoife", "Ciaran", "Niamh", "Sean", "Orla", "Padraig", "Roisin")
                ]  # fmt: skip
                people.append(
                    Customer.objects.create(first_name="Nuala", email="n@ex.ie", email_opt_in=False)
                )
                people.append(
                    Customer.objects.create(
                        first_name="Dara", email="d@ex.ie", email_opt_in=True,
                        email_hard_bounced=True,
                    )
                )  # fmt: skip
                members = Segment.objects.create(name="Members", type="STATIC")
                staff = Segment.objects.create(name="Club staff", type="STATIC")
                now = timezone.now()
                SegmentMembership.objects.bulk_create(
                    [SegmentMembership(segment=members, customer=c, entered_at=now) for c in people]
                    + [SegmentMembership(segment=staff, customer=people[0], entered_at=now)]
                )
            with MessagingPeer(token=TOKEN) as peer:
                peer.state.templates.update(PEER_TEMPLATES)
                saved = {k: os.environ.get(k) for k in ("MESSAGING_URL", "MESSAGING_TOKEN")}
                os.environ.update(MESSAGING_URL=peer.url, MESSAGING_TOKEN=TOKEN)
                try:
                    with live_server(name="composer") as base_url:
                        yield {"url": base_url, "peer": peer, "schema": tenant.schema_name}
                finally:
                    for key, value in saved.items():
                        if value is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = value
        finally:
            connection.set_schema_to_public()
            Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)


def _campaign(schema: str, name: str):
    from campaigns.models import Campaign

    return read_in_thread(
        lambda: Campaign.objects.prefetch_related("variants").get(name=name), schema=schema
    )


def test_build_a_campaign_by_clicking_through_the_steps(club):
    base, schema = club["url"], club["schema"]
    with (
        chromium() as browser,
        admin_page(browser, base_url=base, club=SLUG, email=EMAIL, password=PASSWORD) as page,
    ):
        page.goto(f"{base}/t/{SLUG}/admin/campaigns/campaign/")
        page.locator("#compose-campaign").click()
        page.wait_for_selector("#step-audience")
        page.get_by_label("Campaign name").fill("Winter Stableford invite")
        page.locator("#include-choices").get_by_label("Members").check()
        page.wait_for_function(
            "() => /9 people/.test(document.getElementById('audience-count').textContent)"
        )
        page.locator("#exclude-choices").get_by_label("Club staff").check()
        page.wait_for_function(
            "() => /8 people/.test(document.getElementById('audience-count').textContent)"
        )
        _shot(page, "1-audience")
        page.locator("#next").click()

        page.wait_for_selector("#step-content")
        # The picker lists the Messaging Service's email templates by name and subject: not
        # its SMS ones, and not the fallback's built-in template, which the service lacks.
        options = page.locator("#id_email_template option").all_inner_texts()
        assert options == [
            "Choose a template", "Competition news — Entries open: {{clubName}}",
            "Course update — Course news",
        ], options  # fmt: skip
        page.get_by_label("Email template").select_option("competition_news")
        page.locator("#id_subject").fill("Entries open, {{ firstName }}")
        page.locator("#id_subject_b").fill("Last places in the Winter Stableford")
        page.get_by_label("Email text").fill("The Winter Stableford is on Saturday. Enter online.")
        _shot(page, "2-content")
        page.locator("#next").click()

        page.wait_for_selector("#step-schedule")
        page.get_by_label("On a date and time").check()
        # A time in the past is refused on its own field, and nothing is scheduled.
        today = dt.datetime.now(ZONE).date()
        page.locator("#id_at_date").fill((today - dt.timedelta(days=1)).isoformat())
        page.locator("#id_at_time").fill("09:00")
        page.locator("#next").click()
        error = page.locator("#field-at_date .cm-field-error")
        assert "passed" in error.inner_text()
        _shot(page, "3-schedule-refused")
        page.locator("#id_at_date").fill((today + dt.timedelta(days=1)).isoformat())
        page.locator("#id_at_time").fill("09:00")
        _shot(page, "3-schedule")
        page.locator("#next").click()

        page.wait_for_selector("#step-review")
        plan = page.locator("#review-plan").inner_text()
        assert "09:00" in plan and "club time" in plan, plan
        assert page.locator("#review-recipients").inner_text() == "6"
        held = page.locator("#review-held-back").inner_text()
        assert "Not opted in on this channel" in held and "Email hard-bounced" in held
        schedule = page.locator("#review-schedule").inner_text()
        assert "at 09:00 tomorrow, club time" in schedule, schedule
        _shot(page, "4-review")
        page.locator("#confirm").click()
        page.wait_for_selector("#campaign-status")
        assert "Scheduled" in page.locator("#campaign-status").inner_text()
        assert (
            "Scheduled for 6 people: 6 at 09:00 tomorrow, club time"
            in page.locator("body").inner_text()
        )
        _shot(page, "5-scheduled")

    campaign = _campaign(schema, "Winter Stableford invite")
    assert campaign.status == "SCHEDULED" and campaign.type == "ONE_TIME"
    local = campaign.scheduled_at.astimezone(ZONE)
    assert (local.date(), local.time()) == (today + dt.timedelta(days=1), dt.time(9, 0))
    assert campaign.templates == {"EMAIL": "competition_news"}
    assert [(v.key, v.content["subject"]) for v in campaign.variants.all()] == [
        ("A", "Entries open, {{ firstName }}"), ("B", "Last places in the Winter Stableford"),
    ]  # fmt: skip


def test_send_now_sends_what_the_review_said(club):
    from campaigns.delivery.http import HttpAdapter
    from campaigns.models import CampaignRun, Send
    from campaigns.sending import run_deliver, run_plan

    base, schema, peer = club["url"], club["schema"], club["peer"]

    # The worker's part, done here: plan the run and hand it over to the peer.
    def deliver() -> tuple[int, int, Counter]:
        run = CampaignRun.objects.get(campaign__name="Course news")
        run_plan(run_id=run.id)
        adapter = HttpAdapter(base_url=peer.url, token=TOKEN)
        try:
            run_deliver(run_id=run.id, adapter=adapter)
        finally:
            adapter.close()
        accepted = Send.objects.filter(run=run, status="ACCEPTED")
        return (
            accepted.count(),
            Send.objects.filter(run=run, status="SUPPRESSED").count(),
            Counter(accepted.values_list("variant", flat=True)),
        )

    with (
        chromium() as browser,
        admin_page(browser, base_url=base, club=SLUG, email=EMAIL, password=PASSWORD) as page,
    ):
        page.goto(f"{base}/t/{SLUG}/admin/campaigns/campaign/compose/")
        page.get_by_label("Campaign name").fill("Course news")
        page.locator("#include-choices").get_by_label("Members").check()
        page.locator("#next").click()
        page.get_by_label("Email template").select_option("course_update")
        page.locator("#id_subject").fill("Course news for {{ firstName }}")
        page.locator("#id_subject_b").fill("The greens are back")
        page.locator("#next").click()
        page.locator("#next").click()  # "Send now" is the schedule's default
        page.wait_for_selector("#step-review")
        recipients = int(page.locator("#review-recipients").inner_text())
        held = int(page.locator("#review-held").inner_text())
        assert (recipients, held) == (7, 2)
        assert "now" in page.locator("#review-plan").inner_text().lower()
        # The preview is the Messaging Service's rendering of its template, for a real person.
        assert page.locator(".review-preview-subject").all_inner_texts() == [
            "Course news for Aoife", "The greens are back",
        ]  # fmt: skip
        page.frame_locator("#review-preview iframe").get_by_text("Hello Aoife").wait_for()
        assert any(c.get("render") == "course_update" for c in peer.state.template_calls)

        with page.expect_navigation():
            page.locator("#test-send-me button").click()
        page.wait_for_selector("#step-review")
        tests = [r for r in peer.state.accepted.values() if r["metadata"].get("test")]
        assert [r["to"]["email"] for r in tests] == [EMAIL]

        assert f"Test to {EMAIL}: accepted" in page.locator("body").inner_text()
        assert int(page.locator("#review-recipients").inner_text()) == recipients
        page.locator("#confirm").click()
        page.wait_for_selector("#campaign-status")
        message = page.locator("body").inner_text()
        assert f"Sending to {recipients} people" in message, message[:2000]
        _shot(page, "6-sent")

        accepted, suppressed, by_variant = read_in_thread(deliver, schema=schema)
        # The campaign's results, labelled, with the CSV beside them.
        page.reload()
        results = page.locator("#campaign-results")
        # A row per subject (labelled by it, not "A"/"B"), by channel, and the total.
        shown = results.inner_text()
        assert "The greens are back" in shown and "Email" in shown, shown
        assert page.locator("#campaign-results tfoot th").nth(2).inner_text() == str(recipients)
        with page.expect_download() as download:
            page.locator("#results-csv").click()
        assert download.value.suggested_filename == "Course-news-results.csv"
        _shot(page, "7-results")

    real = [r for r in peer.state.accepted.values() if not r["metadata"].get("test")]
    assert len(real) == accepted == recipients
    assert suppressed == held
    # Each request names the peer's template and carries its variant's subject (the split is
    # by a hash of campaign and customer: which half each person is in is the ledger's).
    assert {r["templateId"] for r in real} == {"course_update"}
    expected = {"A": "Course news for {{ firstName }}", "B": "The greens are back"}
    for request in real:
        assert request["content"]["subject"] == expected[request["metadata"]["variant"]]
    assert Counter(r["metadata"]["variant"] for r in real) == by_variant
    assert {r["to"]["email"] for r in real} == {
        f"{n.lower()}@ex.ie" for n in ("Aoife", "Ciaran", "Niamh", "Sean", "Orla", "Padraig",
                                       "Roisin")
    }  # fmt: skip
