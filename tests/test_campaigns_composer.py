"""The composer's steps through the real admin (a MARKETING login): each step saved through the
campaign services; bad input refused on the field where it was entered, with nothing
half-made left behind; schedules said in words translated to the crontab underneath."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django_tenants.utils import schema_context

from campaigns.composer import recurrence_cron, recurrence_label, recurrence_parts
from campaigns.models import Campaign
from tests.conftest import STAFF_PASSWORD
from tests.test_campaigns_sending import customer, static_segment

ADMIN = "/t/alpha-golf/admin/campaigns/campaign/"


@pytest.fixture
def marketing(clubs, api, make_staff):
    client = api()
    response = client.post(
        "/t/alpha-golf/admin/login/",
        {"username": make_staff(clubs.alpha, "MARKETING"), "password": STAFF_PASSWORD,
         "next": "/t/alpha-golf/admin/"},
    )  # fmt: skip
    assert response.status_code == 302
    return client


@pytest.fixture
def segment(clubs):
    with schema_context(clubs.alpha.schema_name):
        return static_segment("Members", [customer(first_name="Aoife"), customer()])


def _campaigns(clubs) -> list[Campaign]:
    with schema_context(clubs.alpha.schema_name):
        return list(Campaign.objects.all())


def test_words_to_crontab_and_back():
    nine = dt.time(9, 0)
    assert recurrence_cron(repeat="weekly", at=nine, weekday=0) == "0 9 * * 1"
    assert recurrence_cron(repeat="weekly", at=nine, weekday=6) == "0 9 * * 0"
    assert recurrence_cron(repeat="monthly", at=dt.time(7, 30)) == "30 7 1 * *"
    assert recurrence_label("0 9 * * 1") == "every Monday at 09:00"
    assert recurrence_label("0 9 * * 0") == "every Sunday at 09:00"
    assert recurrence_label("30 7 1 * *") == "on the first day of every month at 07:30"
    assert recurrence_parts("0 9 * * 1") == {"repeat": "weekly", "at": nine, "weekday": 0}


def test_the_steps_save_a_draft_and_refuse_bad_input_on_its_field(clubs, marketing, segment):
    # Audience with no segment: refused on its field, no campaign made.
    refused = marketing.post(f"{ADMIN}compose/", {"name": "Club night"})
    assert refused.status_code == 200
    assert "Pick at least one segment" in refused.content.decode()
    assert _campaigns(clubs) == []
    done = marketing.post(f"{ADMIN}compose/", {"name": "Club night", "include": [segment.pk]})
    (campaign,) = _campaigns(clubs)
    assert done.status_code == 302 and done["Location"].endswith(f"{campaign.pk}/compose/content/")
    count = marketing.get(f"{ADMIN}compose/count/", {"include": [segment.pk]}).json()
    assert count["count"] == 2

    # Content: a channel without its template is refused on the template field.
    content = f"{ADMIN}{campaign.pk}/compose/content/"
    refused = marketing.post(content, {"channels": ["EMAIL"], "subject": "Hi"})
    assert 'id="field-email_template"' in refused.content.decode()
    assert "Choose the email template." in refused.content.decode()
    marketing.post(content, {"channels": ["EMAIL"], "email_template": "default",
                             "subject": "Hi {{ firstName }}", "subject_b": "Friday at 8"})  # fmt: skip

    schedule = f"{ADMIN}{campaign.pk}/compose/schedule/"
    # A repeat with no end: refused on "Until", and the campaign is left as it was.
    refused = marketing.post(schedule, {"when": "repeat", "repeat": "weekly", "weekday": "0",
                                        "repeat_time": "09:00"})  # fmt: skip
    assert "A repeating campaign needs a last day." in refused.content.decode()
    with schema_context(clubs.alpha.schema_name):
        campaign.refresh_from_db()
        assert (campaign.type, campaign.recurrence) == ("ONE_TIME", "")
    # A time in the past: refused on the date.
    refused = marketing.post(schedule, {"when": "at", "at_date": "2020-01-01", "at_time": "09:00"})
    assert "That time has passed" in refused.content.decode()
    # Every Monday at 09:00 until a day next year: the crontab underneath.
    last = dt.date.today() + dt.timedelta(days=60)
    saved = marketing.post(schedule, {"when": "repeat", "repeat": "weekly", "weekday": "0",
                                      "repeat_time": "09:00", "ends_on": last.isoformat()})  # fmt: skip
    assert saved.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        campaign.refresh_from_db()
        zone = ZoneInfo(clubs.alpha.timezone)
        assert (campaign.type, campaign.recurrence) == ("RECURRING", "0 9 * * 1")
        assert campaign.ends_at.astimezone(zone).date() == last + dt.timedelta(days=1)
        assert [v.key for v in campaign.variants.all()] == ["A", "B"]
    answer = marketing.get(f"{ADMIN}{campaign.pk}/compose/review/")
    review = answer.content.decode()
    assert "Every Monday at 09:00, until" in review
    assert 'id="review-recipients">2<' in review


def test_a_campaign_past_draft_is_not_composed(clubs, marketing, segment):
    with schema_context(clubs.alpha.schema_name):
        campaign = Campaign.objects.create(name="Old", channels=["EMAIL"], status="COMPLETED")
    response = marketing.get(f"{ADMIN}{campaign.pk}/compose/audience/")
    assert response.status_code == 302 and response["Location"].endswith(f"{campaign.pk}/change/")


def test_staff_without_the_campaigns_role_cannot_compose(clubs, api, make_staff):
    client = api()
    with schema_context(clubs.alpha.schema_name):
        assert client.login(username=make_staff(clubs.alpha, "STAFF"), password=STAFF_PASSWORD)
    assert client.get(f"{ADMIN}compose/").status_code in (403, 404)


def test_the_review_step_says_per_channel_who_is_held_back(clubs, marketing):
    with schema_context(clubs.alpha.schema_name):
        people = [customer(first_name="Aoife", phone_number="+353871234567", sms_opt_in=True),
                  customer(first_name="Ciaran")]  # fmt: skip
        segment = static_segment("Both", people)
        from tests.test_campaigns_sending import make_campaign

        campaign = make_campaign([segment], channels=["EMAIL", "SMS"])
    page = marketing.get(f"{ADMIN}{campaign.pk}/compose/review/").content.decode()
    assert 'id="review-channels"' in page
    assert "Not opted in on this channel: 1" in page
    assert 'id="review-recipients">2<' in page


def test_the_template_picker_offers_what_the_sending_side_holds(clubs, marketing, segment):
    """With a Messaging Service, only its templates for the channel (not the fallback's built-in
    `default`, which it does not hold); with a service that has no template API yet, a typed id
    and the reason; with none, the club's own templates and the built-in one."""
    from django.test import override_settings

    from campaigns.testing import MessagingPeer

    marketing.post(f"{ADMIN}compose/", {"name": "Club night", "include": [segment.pk]})
    (campaign,) = _campaigns(clubs)
    content = f"{ADMIN}{campaign.pk}/compose/content/"

    own = marketing.get(content).content.decode()
    assert 'value="newsletter"' in own and 'value="default"' in own

    with MessagingPeer(token="t") as peer:
        peer.state.templates["club_night"] = {
            "channel": "email", "name": "Club night", "subject": "Club night, {{firstName}}",
            "variables": ["firstName"],
        }  # fmt: skip
        peer.state.templates["reminder_sms"] = {"channel": "sms", "name": "Reminder"}
        with override_settings(MESSAGING_URL=peer.url, MESSAGING_TOKEN="t"):
            page = marketing.get(content).content.decode()
            assert 'value="club_night"' in page and "Club night — Club night, {{firstName}}" in page
            assert 'value="default"' not in page and 'value="newsletter"' not in page
            assert "The Messaging Service&#x27;s templates for this channel." in page
            # The fallback's built-in template is not one the service holds: refused on its field.
            refused = marketing.post(content, {"channels": ["EMAIL"], "email_template": "default",
                                               "subject": "Hi"})  # fmt: skip
            assert refused.status_code == 200
            assert "Select a valid choice" in refused.content.decode()

            peer.state.templates_api = False
            typed = marketing.get(content).content.decode()
            assert re.search(r'<input type="text" name="email_template"', typed)
            assert "The Messaging Service has no template list yet: type the template id." in typed


def test_every_trigger_event_the_composer_offers_is_one_the_service_accepts():
    from campaigns.composer import TRIGGER_EVENTS
    from profiles.envelope import PAYLOADS

    assert {event for event, _label in TRIGGER_EVENTS} <= set(PAYLOADS)


def test_the_review_says_when_send_now_really_sends_in_quiet_hours(clubs, marketing):
    """ "Send now" inside quiet hours: the plan says when they go, not "now". The quiet hours
    are set around the current club time, so this holds whatever the hour."""
    from django.utils import timezone

    from campaigns.sending import campaign_settings
    from tests.test_campaigns_sending import make_campaign

    with schema_context(clubs.alpha.schema_name):
        zone = ZoneInfo(clubs.alpha.timezone or "UTC")
        here = timezone.now().astimezone(zone)
        rules = campaign_settings()
        rules.quiet_hours_enabled, rules.frequency_cap = True, 0
        rules.quiet_hours_start = (
            (here - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
        )
        rules.quiet_hours_end = (
            (here + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
        )
        rules.save()
        segment = static_segment("Night owls", [customer(first_name="Aoife")])
        campaign = make_campaign([segment])
    page = marketing.get(f"{ADMIN}{campaign.pk}/compose/review/").content.decode()
    plan = re.search(r'id="review-plan">([^<]*)<', page)[1]
    assert plan.startswith("When you press Send now: 1 at ") and "(quiet hours)" in plan, plan
