"""The composer in Debian's Chromium for a club with no Messaging Service (messaging.md, "The
fallback"): a marketing manager clicks through the steps picking the club's own `newsletter`
starter (MJML, rendered by MRML), an A/B subject and "Send now"; a test send to their own
address goes through the server's email backend; the review's counts then equal the emails
Django's email framework sent, each the starter rendered for its person (club name, first
name, the send's own unsubscribe link, matching its RFC 8058 headers) under its variant's
subject.

The club is a tenant of its own, made and dropped here (its committed data goes with it);
the server's test email is written to a temporary folder removed after. Quiet hours and the
frequency cap are off in the club, so nothing depends on the hour."""

from __future__ import annotations

import email
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from tests.browser import admin_page, chromium, live_server, read_in_thread, require_chromium

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SLUG = "composer-standalone"
CLUB = "Standalone Golf Club"
EMAIL = "marketing@composer-standalone.example"
PASSWORD = "Fairway-Bunker-2026"
NAMES = ("Aoife", "Ciaran", "Niamh", "Sean", "Orla")
SUBJECT_A = "Club news for {{ firstName }}"
SUBJECT_B = "What's on at {{ clubName }}"
# What the fallback's sends must not depend on: the test process's own settings.
NO_MESSAGING = {"MESSAGING_URL": "", "MESSAGING_TOKEN": "", "CAMPAIGN_TRANSPORT": ""}


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

    outbox = tempfile.mkdtemp(prefix="composer-standalone-mail-")
    saved = {k: os.environ.get(k) for k in (*NO_MESSAGING, "EMAIL_BACKEND", "EMAIL_FILE_PATH")}
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        tenant, _ = tenant_create(slug=SLUG, name=CLUB, timezone="Europe/Dublin")
        try:
            with schema_context(tenant.schema_name):
                staff_user_upsert(email=EMAIL, role="MARKETING", password=PASSWORD)
                rules = campaign_settings()
                rules.quiet_hours_enabled = False
                rules.frequency_cap = 0
                rules.save()
                people = [
                    Customer.objects.create(
                        first_name=name, last_name="Walsh", email=f"{name.lower()}@ex.ie",
                        email_opt_in=True,
                    )
                    for name in NAMES
                ]  # fmt: skip
                people.append(
                    Customer.objects.create(first_name="Nuala", email="n@ex.ie", email_opt_in=False)
                )
                members = Segment.objects.create(name="Members", type="STATIC")
                now = timezone.now()
                SegmentMembership.objects.bulk_create(
                    [SegmentMembership(segment=members, customer=c, entered_at=now) for c in people]
                )
            # The server: no Messaging Service, its email written to files (the test send).
            for key in NO_MESSAGING:
                os.environ.pop(key, None)
            os.environ.update(
                EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                EMAIL_FILE_PATH=outbox,
            )
            with live_server(name="composer-standalone") as base_url:
                yield {"url": base_url, "schema": tenant.schema_name, "outbox": Path(outbox)}
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            shutil.rmtree(outbox, ignore_errors=True)
            connection.set_schema_to_public()
            Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)


def _server_emails(folder: Path) -> list[email.message.Message]:
    return [email.message_from_bytes(f.read_bytes()) for f in sorted(folder.glob("*.log"))]


@override_settings(**NO_MESSAGING)
def test_send_a_starter_mjml_email_through_the_fallback(club, mailoutbox):
    from campaigns.delivery.email import EmailAdapter
    from campaigns.email_templates.selectors import (
        club_template_get,
        club_template_render,
        customer_values,
    )
    from campaigns.models import CampaignRun, Send
    from campaigns.sending import run_deliver, run_plan

    base, schema = club["url"], club["schema"]

    # The worker's part, done here: plan the run and send it through Django's email framework
    # (the test's locmem backend: `mailoutbox`).
    def deliver() -> dict:
        run = CampaignRun.objects.get(campaign__name="December news")
        run_plan(run_id=run.id)
        run_deliver(run_id=run.id, adapter=EmailAdapter())
        sends = Send.objects.filter(run=run).select_related("customer")
        accepted = [s for s in sends if s.status == "ACCEPTED"]
        template = club_template_get(key="newsletter")
        return {
            "accepted": len(accepted),
            "suppressed": sum(s.status == "SUPPRESSED" for s in sends),
            "variants": Counter(s.variant for s in accepted),
            # What each person's email must be: the starter rendered for them, by the send's
            # own key (the email's Message-ID).
            "by_key": {
                str(s.id): (s.customer.first_name, s.variant, template, customer_values(s.customer))
                for s in accepted
            },
        }

    with (
        chromium() as browser,
        admin_page(browser, base_url=base, club=SLUG, email=EMAIL, password=PASSWORD) as page,
    ):
        page.goto(f"{base}/t/{SLUG}/admin/campaigns/campaign/")
        page.locator("#compose-campaign").click()
        page.wait_for_selector("#step-audience")
        page.get_by_label("Campaign name").fill("December news")
        page.locator("#include-choices").get_by_label("Members").check()
        page.wait_for_function(
            "() => /6 people/.test(document.getElementById('audience-count').textContent)"
        )
        page.locator("#next").click()

        page.wait_for_selector("#step-content")
        # The club's own templates, the three starters among them, and the built-in one.
        options = page.locator("#id_email_template option").all_inner_texts()
        assert "Newsletter — News from {{ clubName }}" in options, options
        assert any(o.startswith("Competition invite") for o in options), options
        assert any(o.startswith("Renewal reminder") for o in options), options
        assert any(o.startswith("Club email (built-in") for o in options), options
        page.get_by_label("Email template").select_option("newsletter")
        # The text box feeds only the built-in template: hidden with a designed one picked.
        assert page.locator("#field-body").is_hidden()
        # Its own subject fills the empty subject A, to keep or change.
        assert page.locator("#id_subject").input_value() == "News from {{ clubName }}"
        page.locator("#id_subject").fill(SUBJECT_A)
        page.locator("#id_subject_b").fill(SUBJECT_B)
        assert "only the subject" in page.locator("#field-subject_b").inner_text().lower()
        _shot(page, "fallback-2-content")
        page.locator("#next").click()

        page.wait_for_selector("#step-schedule")
        page.locator("#next").click()  # "Send now" is the schedule's default
        page.wait_for_selector("#step-review")
        recipients = int(page.locator("#review-recipients").inner_text())
        held = int(page.locator("#review-held").inner_text())
        assert (recipients, held) == (5, 1)
        what = page.locator("#review-what").inner_text()
        # The template by its name, not its raw subject with codes in it.
        assert "Email: Newsletter" in what and "News from {{ clubName }}" not in what, what
        # The email as a real person of the audience will get it, each subject rendered.
        preview = page.locator("#review-preview")
        assert "As Aoife Walsh will see it" in preview.inner_text()
        assert page.locator(".review-preview-subject").all_inner_texts() == [
            "Club news for Aoife", f"What's on at {CLUB}",
        ]  # fmt: skip
        page.frame_locator("#review-preview iframe").get_by_text("Hello Aoife,").wait_for()
        _shot(page, "fallback-4-review")

        # A test to the manager's own address, through the server's email backend.
        with page.expect_navigation():
            page.locator("#test-send-me button").click()
        page.wait_for_selector("#step-review")
        assert f"Test to {EMAIL}: accepted" in page.locator("body").inner_text()
        (test,) = _server_emails(club["outbox"])
        assert test["To"] == f'"Test send" <{EMAIL}>'
        assert test["Subject"] == "[TEST] Club news for Golfer"

        page.locator("#confirm").click()
        page.wait_for_selector("#campaign-status")
        assert f"Sending to {recipients} people" in page.locator("body").inner_text()
        _shot(page, "fallback-5-sending")

        sent = read_in_thread(deliver, schema=schema)

    # The review said it; Django's email framework sent exactly that, and the ledger agrees.
    assert len(mailoutbox) == sent["accepted"] == recipients
    assert sent["suppressed"] == held
    assert {m.to[0] for m in mailoutbox} == {f'"{n} Walsh" <{n.lower()}@ex.ie>' for n in NAMES}
    assert Counter(
        sent["by_key"][m.extra_headers["Message-ID"][1:].split("@")[0]][1] for m in mailoutbox
    ) == sent["variants"]  # fmt: skip
    assert not any(EMAIL in m.to[0] for m in mailoutbox)  # the test send is not in the run

    for message in mailoutbox:
        key = message.extra_headers["Message-ID"][1:].split("@")[0]
        first_name, variant, template, values = sent["by_key"][key]
        link = message.extra_headers["List-Unsubscribe"][1:-1]
        assert f"/unsubscribe/{key}." in link
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.subject == (
            f"Club news for {first_name}" if variant == "A" else f"What's on at {CLUB}"
        )
        ((html, mimetype),) = message.alternatives
        assert mimetype == "text/html"
        # The starter, rendered by MJML (MRML) for this person: responsive, inlined HTML with
        # the club's name, their first name and their own unsubscribe link.
        expected = read_in_thread(
            lambda t=template, v=values, u=link, s=message.subject: club_template_render(
                t, values=v, unsubscribe_url=u, subject=s
            ),
            schema=schema,
        )
        assert html == expected.html
        assert html.lower().startswith("<!doctype html>") and "<!--[if mso" in html
        assert f"Hello {first_name}," in html and CLUB in html
        assert f'href="{link}"' in html and "{{" not in html
        assert f"Hello {first_name}," in message.body and link in message.body
