"""The email template block editor as a club's marketing manager uses it, in Debian's
Chromium (Playwright) against a real server on the test database: start from a starter, pick a
customer field from the list into a block, watch the server-rendered preview follow, see an
unknown variable marked in its block, save, and find the template saved as built."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django_tenants.utils import schema_context

from tests.browser import admin_page, chromium, live_server, read_in_thread, require_chromium
from tests.conftest import STAFF_PASSWORD

SCHEMA = "club_alpha_old"
EMAIL = "templates.marketing@alpha-golf.example"
NAME = "Browser renewal reminder"


def _cleanup() -> None:
    from django.contrib.sessions.models import Session

    from campaigns.email_templates.models import EmailTemplate
    from crm.accounts.models import AuditEntry, User

    EmailTemplate.objects.filter(name=NAME).delete()
    AuditEntry.objects.filter(actor_label=EMAIL).delete()
    User.objects.filter(email=EMAIL).delete()
    Session.objects.all().delete()


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker) -> Iterator[str]:
    require_chromium()
    from crm.accounts.services import staff_user_upsert

    with django_db_blocker.unblock():
        with schema_context(SCHEMA):
            staff_user_upsert(email=EMAIL, role="MARKETING", password=STAFF_PASSWORD)
        try:
            with live_server(name="email-templates") as base:
                yield base
        finally:
            with schema_context(SCHEMA):
                _cleanup()


@pytest.mark.integration
@pytest.mark.django_db
def test_a_marketing_manager_builds_an_email_from_a_starter(served):
    base = served
    with chromium() as browser, admin_page(
        browser, base_url=base, club="alpha-golf", email=EMAIL, password=STAFF_PASSWORD,
        width=1500,
    ) as page:  # fmt: skip
        page.goto(f"{base}/t/alpha-golf/admin/campaigns/emailtemplate/add/")
        frame = page.frame_locator("iframe[data-ete-frame]")
        frame.get_by_text("Hello Aoife,").wait_for()  # the newsletter starter, sample values

        page.select_option("#id_start_from", "renewal_reminder")
        page.fill("#id_name", NAME)
        frame.get_by_text("Time to renew, Aoife").wait_for()
        assert page.locator(".ete-block").count() == 5

        # A customer field picked from the list into the second text block.
        text = page.locator("#ete-3-text")
        text.fill("See you at the club, ")
        text.evaluate("(el) => el.setSelectionRange(el.value.length, el.value.length)")
        page.locator(".ete-block").nth(3).locator("select.ete-pick").last.select_option(
            label="First name"
        )
        assert text.input_value() == "See you at the club, {{ firstName }}"
        frame.get_by_text("See you at the club, Aoife").wait_for()

        # A variable typed by hand is marked in its block, and shown where it stands.
        page.fill("#ete-3-text", "Thanks, {{ nickname }}")
        page.locator(".ete-block").nth(3).get_by_text("Unknown variable {{ nickname }}").wait_for()
        frame.get_by_text("Thanks, [nickname?]").wait_for()
        page.fill("#ete-3-text", "See you at the club, {{ firstName }}")
        frame.get_by_text("See you at the club, Aoife").wait_for()
        assert page.locator(".ete-has-error").count() == 0

        if os.environ.get("EMAIL_EDITOR_SCREENSHOT"):
            page.screenshot(path=os.environ["EMAIL_EDITOR_SCREENSHOT"], full_page=True)
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url("**/admin/campaigns/emailtemplate/")
        page.locator("#result_list").get_by_text(NAME).wait_for()

    def saved():
        from campaigns.email_templates.models import EmailTemplate

        template = EmailTemplate.objects.get(name=NAME)
        return template.key, template.subject, template.blocks, template.updated_by

    key, subject, blocks, updated_by = read_in_thread(saved, schema=SCHEMA)
    assert key == "browser_renewal_reminder" and updated_by == EMAIL
    assert subject == "Your membership renewal, {{ firstName }}"
    assert [b["type"] for b in blocks] == ["header", "text", "button", "text", "footer"]
    assert blocks[3]["text"] == "See you at the club, {{ firstName }}"
