"""The whole four-ball and the after-the-round survey, end to end: a booking with two guests
through the events API gives three linked customers; the booker's guest form (a signed page, no
login) names one of them, who resolves like any identity; the survey page's answer reaches the
timeline, the segment fields and a staff task; answering twice or after expiry changes nothing;
erasure and export include it all."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.test import Client
from django_tenants.utils import schema_context

from crm.outbox.models import OutboundEvent
from journeys.models import RoundSurveyAnswer, StaffTask
from journeys.presets import TEMPLATES
from journeys.surveys import club_nps, feedback_settings
from profiles.models import Activity, Customer, SourceRecord
from profiles.rounds import (
    booking_guests,
    capture_rate_weekly,
    customer_guest_summary,
    guest_label,
    round_link_url,
)
from profiles.services import customer_erase, customer_export
from segments.selectors import segment_audience
from tests.events import envelope


def booking(booking_id: str, booker: str, guests: list[str], *, at: int, event="created"):
    payload = {"bookingId": booking_id, "playerId": booker}
    if event == "created":
        payload |= {
            "course": {"id": "c1", "name": "Championship"},
            "teeTime": "2026-06-10T08:10:00Z", "holes": 18, "partySize": 1 + len(guests),
            "guestPlayerIds": guests, "price": {"amount": "45.00", "currency": "EUR"},
        }  # fmt: skip
    return envelope(
        f"teetime.booking.{event}", payload, identity={"teetimePlayerId": booker}, at=at
    )


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def four_ball(clubs, ingest):
    events = [
        envelope("teetime.player.created",
                 {"playerId": "p-aoife", "firstName": "Aoife", "lastName": "Byrne",
                  "email": "aoife@example.ie"}, identity={"teetimePlayerId": "p-aoife"}),
        # A guest TeeTime knows; and a person the club knows from Messaging only.
        envelope("teetime.player.created",
                 {"playerId": "p-ciara", "firstName": "Ciara", "lastName": "Walsh",
                  "email": "ciara@example.ie"}, identity={"teetimePlayerId": "p-ciara"}),
        envelope("messaging.contact.created",
                 {"contactId": "m-zoe", "email": "zoe@example.ie", "firstName": "Zoe"},
                 identity={"messagingContactId": "m-zoe"}),
        booking("bk-1", "p-aoife", ["p-guest-x", "p-ciara"], at=10),
        booking("bk-1", "p-aoife", [], at=300, event="completed"),
    ]  # fmt: skip
    results = ingest(events)
    assert {r["status"] for r in results} == {"accepted"}, results


def test_a_booking_with_two_guests_gives_three_linked_customers(clubs, four_ball):
    with schema_context(clubs.alpha.schema_name):
        booker = Customer.objects.get(teetime_player_id="p-aoife")
        anonymous = Customer.objects.get(teetime_player_id="p-guest-x")
        ciara = Customer.objects.get(teetime_player_id="p-ciara")
        assert len({booker.id, anonymous.id, ciara.id}) == 3
        assert anonymous.display_name == ""
        assert guest_label(customer=anonymous) == "Guest of Aoife Byrne"
        title = Activity.objects.get(customer=ciara, type="teetime.booking.guest").title
        assert title == "Played as a guest of Aoife Byrne at Championship"

        summary = customer_guest_summary(customer=ciara)
        assert summary["roundsAsGuest"] == 1
        assert summary["playedAsGuestOf"][0]["name"] == "Aoife Byrne"
        partners = customer_guest_summary(customer=booker)["playsWithMost"]
        assert {p["customerId"] for p in partners} == {str(anonymous.id), str(ciara.id)}

        capture = capture_rate_weekly(weeks=600)
        assert [(w["players"], w["named"]) for w in capture] == [(3, 2)]
        guests = {g.player_id: g.named for g in booking_guests(booking_id="bk-1")}
        assert guests == {"p-guest-x": False, "p-ciara": True}
        regulars = segment_audience(
            rules={"combinator": "AND", "rules": [
                {"field": "guestRounds", "operator": "gte", "value": 1}]}
        )  # fmt: skip
        assert set(regulars.values_list("id", flat=True)) == {anonymous.id, ciara.id}


def test_the_guest_form_names_a_guest_who_resolves_like_any_identity(clubs, four_ball):
    with schema_context(clubs.alpha.schema_name):
        booker = Customer.objects.get(teetime_player_id="p-aoife")
        url = round_link_url(kind="guests", booking_id="bk-1", customer_id=booker.id)
        before = Customer.objects.count()
        merged_before = OutboundEvent.objects.filter(type="crm.profile.merged").count()
    browser = Client()
    page = browser.get(path_of(url))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Alpha Golf Club" in body and "firstName-p-guest-x" in body
    assert "firstName-p-ciara" not in body  # the club knows Ciara already

    # No contact detail: refused, nothing changes.
    refused = browser.post(path_of(url), {"playerId": ["p-guest-x"], "firstName-p-guest-x": "Zoe"})
    assert refused.status_code == 400 and "email address or a phone" in refused.content.decode()
    with schema_context(clubs.alpha.schema_name):
        assert not SourceRecord.objects.filter(kind="guest_form").exists()

    done = browser.post(
        path_of(url),
        {"playerId": ["p-guest-x"], "firstName-p-guest-x": "Zoe", "lastName-p-guest-x": "Kelly",
         "email-p-guest-x": "Zoe@Example.ie", "wantsNews-p-guest-x": "yes"},
    )  # fmt: skip
    assert done.status_code == 200 and "1 playing partner added" in done.content.decode()
    with schema_context(clubs.alpha.schema_name):
        record = SourceRecord.objects.get(kind="guest_form", key="bk-1:p-guest-x")
        guest = Customer.objects.get(teetime_player_id="p-guest-x")
        # Zoe's email joins the guest to the customer the club knew from Messaging.
        assert record.customer_id == guest.id
        assert Customer.objects.get(messaging_contact_id="m-zoe").id == guest.id
        assert guest.email == "zoe@example.ie" and guest.last_name == "Kelly"
        assert Customer.objects.exclude(status="MERGED").count() == before - 1
        # Other services hear of it: Zoe's two customers became one.
        assert OutboundEvent.objects.filter(type="crm.profile.merged").count() == merged_before + 1
        # Her wish is recorded, not turned into consent (the Messaging Service owns that).
        assert guest.email_opt_in is False
        named = Activity.objects.get(customer=guest, type="crm.guest_form.named")
        assert named.data["wantsNews"] is True and "Aoife Byrne" in named.title
        export = customer_export(customer=guest, actor_label="tests")
        kinds = {r["kind"] for r in export["profiles"]["sourceRecords"]}
        assert {"guest_form", "teetime", "messaging"} <= kinds
        assert any(t["type"] == "teetime.booking.guest" for t in export["profiles"]["timeline"])

    # The same guest twice: refused.
    again = browser.post(
        path_of(url), {"playerId": ["p-guest-x"], "firstName-p-guest-x": "Z",
                       "email-p-guest-x": "z@example.ie"},
    )  # fmt: skip
    assert again.status_code in (200, 400)
    with schema_context(clubs.alpha.schema_name):
        assert SourceRecord.objects.filter(kind="guest_form").count() == 1

    # Erasing the booker takes her name off her guests' timelines.
    with schema_context(clubs.alpha.schema_name):
        customer_erase(customer=Customer.objects.get(pk=booker.pk), actor_label="tests")
        titles = set(
            Activity.objects.filter(type="teetime.booking.guest").values_list("title", flat=True)
        )
        assert titles == {"Played as a guest"}


def test_the_survey_answer_reaches_timeline_segment_and_a_staff_task(clubs, four_ball):
    with schema_context(clubs.alpha.schema_name):
        booker = Customer.objects.get(teetime_player_id="p-aoife")
        url = round_link_url(kind="survey", booking_id="bk-1", customer_id=booker.id)
        guests_url = round_link_url(kind="guests", booking_id="bk-1", customer_id=booker.id)
    browser = Client()
    assert browser.get(path_of(url)).status_code == 200
    # Another club's address, or a made-up token: not valid.
    elsewhere = path_of(url).replace(f"/t/{clubs.alpha.id}/", "/t/bravo-golf/")
    assert browser.get(elsewhere).status_code == 404
    assert browser.get(f"/t/{clubs.alpha.id}/round/survey/made-up").status_code == 404
    # A link of one kind does not open the other page.
    assert browser.get(path_of(guests_url).replace("/guests/", "/survey/")).status_code == 404
    bad = browser.post(path_of(url), {"score": "11"})
    assert bad.status_code == 400 and "0 to 10" in bad.content.decode()
    answered = browser.post(path_of(url), {"score": "4", "improve": "The greens were slow"})
    assert answered.status_code == 200
    with schema_context(clubs.alpha.schema_name):
        entry = Activity.objects.get(customer=booker, type="crm.survey.answered")
        assert entry.data["score"] == 4 and "4/10" in entry.title
        task = StaffTask.objects.get(customer=booker)
        assert "4/10" in task.title and task.body == "The greens were slow"
        for rule in (
            {"field": "lastNps", "operator": "lte", "value": 6},
            {"field": "npsBand", "operator": "eq", "value": "DETRACTOR"},
        ):
            audience = segment_audience(rules={"combinator": "AND", "rules": [rule]})
            assert list(audience.values_list("id", flat=True)) == [booker.id]
        nps = club_nps(tz="Europe/Dublin")
        assert nps["weeks"][0]["nps"] == -100 and nps["dayParts"][0]["dayPart"] == "weekday_morning"

    # Twice: a clear answer, nothing changes.
    twice = browser.post(path_of(url), {"score": "10"})
    assert twice.status_code == 409 and "already been answered" in twice.content.decode()
    with schema_context(clubs.alpha.schema_name):
        assert RoundSurveyAnswer.objects.get().score == 4
        assert StaffTask.objects.count() == 1


def test_a_promoter_gets_the_review_link_and_an_expired_link_changes_nothing(
    clubs, four_ball, monkeypatch
):
    with schema_context(clubs.alpha.schema_name):
        rules = feedback_settings()
        rules.review_url = "https://reviews.example/alpha"
        rules.save()
        ciara = Customer.objects.get(teetime_player_id="p-ciara")
        real = time.time()
        monkeypatch.setattr(signing.time, "time", lambda: real - 15 * 24 * 3600)
        old = round_link_url(kind="survey", booking_id="bk-1", customer_id=ciara.id)
        monkeypatch.undo()
        url = round_link_url(kind="survey", booking_id="bk-1", customer_id=ciara.id)
    browser = Client()
    expired = browser.post(path_of(old), {"score": "10"})
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    promoter = browser.post(path_of(url), {"score": "10"})
    assert promoter.status_code == 200
    assert "https://reviews.example/alpha" in promoter.content.decode()
    with schema_context(clubs.alpha.schema_name):
        assert RoundSurveyAnswer.objects.get().band == "PROMOTER"
        assert not StaffTask.objects.exists()


def test_the_ready_made_journeys_are_there():
    keys = {t["key"] for t in TEMPLATES}
    assert {"after_round_survey", "ask_booker_for_guests", "visitor_to_member"} <= keys


def test_the_customer_page_shows_the_four_ball(clubs, four_ball, api, make_staff):
    from tests.conftest import STAFF_PASSWORD

    client = api()
    response = client.post(
        "/t/alpha-golf/admin/login/",
        {"username": make_staff(clubs.alpha, "STAFF"), "password": STAFF_PASSWORD,
         "next": "/t/alpha-golf/admin/"},
    )  # fmt: skip
    assert response.status_code == 302
    with schema_context(clubs.alpha.schema_name):
        booker = Customer.objects.get(teetime_player_id="p-aoife")
        guest = Customer.objects.get(teetime_player_id="p-guest-x")
    page = client.get(f"/t/alpha-golf/admin/profiles/customer/{guest.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Guest of Aoife Byrne" in text and "Played as a guest of" in text
    page = client.get(f"/t/alpha-golf/admin/profiles/customer/{booker.pk}/change/")
    text = page.content.decode()
    assert "Plays with most" in text and "Ciara Walsh" in text


def test_the_new_admin_pages_open(clubs, ingest, api, make_staff):
    from tests.conftest import STAFF_PASSWORD

    client = api()
    client.post(
        "/t/alpha-golf/admin/login/",
        {"username": make_staff(clubs.alpha, "ADMIN"), "password": STAFF_PASSWORD,
         "next": "/t/alpha-golf/admin/"},
    )  # fmt: skip
    for page in ("campaigns/teesheetgap", "campaigns/teesheetsettings", "profiles/teeslot",
                 "journeys/roundsurveyanswer", "journeys/feedbacksettings"):  # fmt: skip
        response = client.get(f"/t/alpha-golf/admin/{page}/")
        assert response.status_code == 200, page
    assert client.get("/t/alpha-golf/admin/campaigns/teesheetsettings/add/").status_code == 200


def test_a_journey_send_about_a_booking_carries_the_rounds_links(clubs, four_ball):
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignRun, Send
    from campaigns.services import run_round_links

    with schema_context(clubs.alpha.schema_name):
        booker = Customer.objects.get(teetime_player_id="p-aoife")
        campaign = Campaign.objects.create(name="survey step", type="JOURNEY",
                                           channels=["EMAIL"], journey_step="survey")  # fmt: skip
        run = CampaignRun.objects.create(campaign=campaign, key="k", trigger_customers=[booker.id])
        send = Send.objects.create(
            run=run, campaign=campaign, customer=booker, channel="EMAIL", status="PENDING",
            variables={"event": {"bookingId": "bk-1", "playerId": "p-aoife"}},
            created_at=timezone.now(),
        )  # fmt: skip
        run_round_links(run.id)
        links = Send.objects.get(pk=send.pk).variables["links"]
    assert set(links) == {"guestFormUrl", "surveyUrl"}
    assert Client().get(path_of(links["surveyUrl"])).status_code == 200
    assert "firstName-p-guest-x" in Client().get(path_of(links["guestFormUrl"])).content.decode()
