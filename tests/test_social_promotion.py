"""Competition auto-promotion: TeeTime's competition events ingested through the real path
(REST endpoint, apply), read by the beat task's service, turned into a plan of posts (published
through the real clients with the networks faked at the HTTP boundary) and campaigns (whose
audiences are evaluated by the campaign code itself). Updates, cancellations with and without
an announcement, results, idempotency, "off", isolation between clubs, and the staff's edits
through REST, GraphQL and the admin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
import responses
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.models import Campaign, CampaignRun, CampaignStatus, Send
from campaigns.sending import audience_queryset, run_plan
from crm.accounts.models import AuditEntry
from profiles.models import Customer
from segments.models import Segment
from social.clients.base import TokenSet
from social.models import (
    CompetitionEntry,
    CompetitionPromotion,
    ItemStatus,
    Post,
    PostVariant,
    PromotionItem,
    PromotionSettings,
    SocialSettings,
    VariantStatus,
)
from social.promotion_services import (
    promotion_item_cancel,
    promotion_item_update,
    promotion_settings_update,
    promotions_run,
)
from social.publishing import variant_publish
from social.services import Actor, account_connect, post_approve
from tests.conftest import STAFF_PASSWORD, error_of
from tests.events import envelope, member, player

GRAPH = "https://graph.facebook.com/v23.0"
X_API = "https://api.twitter.com/2"
X_MEDIA = "https://api.x.com/2/media/upload"
IMAGE_URL = "https://images.teetime.test/alpha-golf/captains-prize.jpg"
BOOKING_URL = "https://teetime.test/alpha-golf/competitions/c-100"
ADMIN = Actor(label="admin@test", is_admin=True)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 3000
DUBLIN = ZoneInfo("Europe/Dublin")  # alpha's time zone


@pytest.fixture(autouse=True)
def no_settle_delay(settings):
    # Events are read at once (in production they wait 10 s for late commits to land).
    settings.SOCIAL_PROMOTION_SETTLE_SECONDS = 0


@pytest.fixture
def alpha(clubs):
    with schema_context(clubs.alpha.schema_name):
        yield clubs.alpha


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(IMAGE_URL, body=JPEG, content_type="image/jpeg")
        yield rsps


def connect(*networks: str) -> dict:
    made = {}
    if "facebook" in networks:
        made["facebook"] = account_connect(
            actor=ADMIN, network="facebook", remote_id="1001", name="Alpha Golf Club",
            tokens=TokenSet(access_token="page-token-1"),
        )  # fmt: skip
    if "x" in networks:
        made["x"] = account_connect(
            actor=ADMIN, network="x", remote_id="2244994945", name="@alphagolf",
            username="alphagolf",
            tokens=TokenSet(access_token="x-access-1", refresh_token="x-refresh-1",
                            expires_at=timezone.now() + timedelta(hours=2)),
        )  # fmt: skip
    if "instagram" in networks:
        made["instagram"] = account_connect(
            actor=ADMIN, network="instagram", remote_id="17841400000000001", name="@alphagolf",
            username="alphagolf", linked_page_id="1001",
            tokens=TokenSet(access_token="page-token-1"),
        )  # fmt: skip
    return made


def enable(**data) -> PromotionSettings:
    return promotion_settings_update(actor=ADMIN, data={"enabled": True, **data})


def local(day_offset: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in the club's zone, `day_offset` days from today."""
    today = timezone.now().astimezone(DUBLIN).date()
    return datetime.combine(today + timedelta(days=day_offset), time(hour, minute), tzinfo=DUBLIN)


def shown(moment: datetime) -> str:
    at = moment.astimezone(DUBLIN)
    return f"{at:%a} {at.day} {at:%b}, {at:%H:%M}"


STARTS = lambda: local(14, 9)  # noqa: E731
CLOSES = lambda: local(10, 18)  # noqa: E731


def competition(event_type="teetime.competition.published", *, cid="c-100", at=None, **fields):
    payload = {
        "competitionId": cid,
        "name": "Captain's Prize",
        "description": "18 holes strokeplay, presentation in the clubhouse.",
        "startsAt": STARTS().isoformat(),
        "entryOpensAt": (timezone.now() - timedelta(hours=1)).isoformat(),
        "entryClosesAt": CLOSES().isoformat(),
        "format": "STROKEPLAY",
        "maxEntries": 10,
        "entriesCount": 0,
        "entryFee": {"amount": "20.00", "currency": "EUR"},
        "eligibility": {"memberOnly": True, "maxHandicap": 28, "gender": None},
        "imageUrl": IMAGE_URL,
        "bookingUrl": BOOKING_URL,
        **fields,
    }
    return envelope(event_type, payload, at=at or timezone.now())


def entry(player_id: str, *, withdrawn=False, cid="c-100", at=None):
    kind = "withdrawn" if withdrawn else "created"
    return envelope(
        f"teetime.competition.entry.{kind}", {"competitionId": cid, "playerId": player_id},
        identity={"teetimePlayerId": player_id}, at=at or timezone.now(),
    )  # fmt: skip


def golfers() -> list[dict]:
    """Aoife and Brian may enter the Captain's Prize; Ciara is no member, Declan's handicap is
    too high, Eve only reads the newsletter."""
    return [
        member(101, firstName="Aoife", lastName="Byrne", email="aoife@ex.ie"),
        player("p-aoife", firstName="Aoife", lastName="Byrne", handicapIndex=12.4,
               gender="FEMALE", sclMemberId=101, at=1),
        member(102, firstName="Brian", lastName="Walsh", email="brian@ex.ie", at=2),
        player("p-brian", firstName="Brian", lastName="Walsh", handicapIndex=20.1,
               gender="MALE", sclMemberId=102, at=3),
        player("p-ciara", firstName="Ciara", lastName="Nolan", handicapIndex=8.0,
               gender="FEMALE", email="ciara@ex.ie", at=4),
        member(104, firstName="Declan", lastName="Ryan", email="declan@ex.ie", at=5),
        player("p-declan", firstName="Declan", lastName="Ryan", handicapIndex=30.5,
               gender="MALE", sclMemberId=104, at=6),
        envelope("messaging.contact.created", {"contactId": "c-eve", "email": "eve@ex.ie",
                 "firstName": "Eve"}, identity={"messagingContactId": "c-eve"}, at=7),
    ]  # fmt: skip


def names(queryset) -> set[str]:
    return set(queryset.values_list("first_name", flat=True))


def plan(cid: str = "c-100") -> CompetitionPromotion:
    return CompetitionPromotion.objects.get(competition_id=cid)


def items(cid: str = "c-100") -> dict[str, PromotionItem]:
    return {i.key: i for i in PromotionItem.objects.filter(promotion__competition_id=cid)}


def x_text(post: Post) -> str:
    return post.variants.get(network="x").text


def publish_facebook_and_x(fake, post: Post) -> dict[str, dict]:
    """Publish the post's Facebook and X variants through the real clients; the requests."""
    fake.post(f"{GRAPH}/1001/photos", json={"id": "9001", "post_id": "1001_556"})
    fake.post(X_MEDIA, json={"data": {"id": "1880000000000000001", "media_key": "3_1"}})
    fake.post(f"{X_API}/tweets", json={"data": {"id": "1890000000000000009", "text": "…"}})
    for variant in post.variants.all():
        assert variant_publish(variant_id=variant.id).result == "published", variant.network
    sent = {}
    for call in fake.calls:
        if call.request.url == f"{GRAPH}/1001/photos":
            body = call.request.body
            sent["facebook"] = parse_qs(body.decode() if isinstance(body, bytes) else body)
        elif call.request.url == f"{X_API}/tweets":
            sent["x"] = json.loads(call.request.body)
    return sent


@pytest.fixture
def running(alpha, ingest, fake):
    """Facebook and X connected, auto-promotion on, the golfers known, the Captain's Prize
    published and read."""
    accounts = connect("facebook", "x")
    enable()
    ingest(golfers())
    ingest([competition()])
    promotions_run()
    return accounts


# --- The plan ---------------------------------------------------------------------------------


def test_a_published_competition_gets_the_whole_plan(running, fake):
    p = plan()
    assert p.name == "Captain's Prize" and p.status == "ACTIVE"
    got = items()
    assert set(got) == {
        "announcement.post", "announcement.campaign",
        "reminder-7.post", "reminder-7.campaign", "reminder-3.post", "reminder-3.campaign",
        "reminder-1.post", "reminder-1.campaign",
    }  # fmt: skip
    assert {i.status for i in got.values()} == {"SCHEDULED", "DONE"}

    # The announcement: now, on each network, with the competition's image fetched once.
    expected = (
        f"Entries are open for the Captain's Prize: Strokeplay on {shown(STARTS())}. "
        "Members only, handicap index up to 28. Entry fee €20.00. "
        f"Entries close {shown(CLOSES())}."
    )
    announcement = got["announcement.post"]
    assert announcement.text == expected
    post = announcement.post
    assert (post.origin, post.origin_key) == ("competition", "competition:c-100:announcement.post")
    assert {v.network: v.status for v in post.variants.all()} == {
        "facebook": VariantStatus.SCHEDULED, "x": VariantStatus.SCHEDULED,
    }  # fmt: skip
    assert [c.request.url for c in fake.calls] == [IMAGE_URL]
    assert p.image is not None and bytes(p.image.content) == JPEG

    sent = publish_facebook_and_x(fake, post)
    assert sent["facebook"]["message"] == [f"{expected}\n{BOOKING_URL}"]
    assert sent["facebook"]["url"][0].startswith("https://crm.test/t/")
    assert sent["x"]["text"].endswith(f"\n{BOOKING_URL}")
    assert sent["x"]["media"] == {"media_ids": ["1880000000000000001"]}
    promotions_run()
    assert items()["announcement.post"].status == ItemStatus.DONE

    # Reminders 7, 3 and 1 days before entries close, at 10:00 club time.
    for days in (7, 3, 1):
        when = datetime.combine((CLOSES() - timedelta(days=days)).date(), time(10), tzinfo=DUBLIN)
        reminder = got[f"reminder-{days}.post"]
        assert reminder.scheduled_for == when
        assert reminder.text.startswith(f"{days} day{'s' if days > 1 else ''} left to enter")
        assert {v.scheduled_at for v in reminder.post.variants.all()} == {when}
        campaign = got[f"reminder-{days}.campaign"].campaign
        assert (campaign.type, campaign.status, campaign.scheduled_at) == (
            "ONE_TIME", CampaignStatus.SCHEDULED, when,
        )  # fmt: skip
        assert campaign.templates == {"EMAIL": "competition_promotion"}
        assert campaign.content["subject"] == f"{days} day{'s' if days > 1 else ''} left to " \
            "enter the Captain's Prize"  # fmt: skip
        assert BOOKING_URL in campaign.content["body"]


def test_campaign_audiences_are_who_may_enter_and_has_not(running, ingest):
    got = items()
    announcement = got["announcement.campaign"].campaign
    assert announcement.status == CampaignStatus.SENDING  # sent when the plan was made
    assert names(audience_queryset(campaign=announcement)) == {"Aoife", "Brian"}
    run = CampaignRun.objects.get(campaign=announcement)
    run_plan(run_id=run.id)
    assert names(Customer.objects.filter(id__in=Send.objects.filter(run=run)
                                         .values("customer_id"))) == {"Aoife", "Brian"}  # fmt: skip

    reminder = got["reminder-7.campaign"].campaign
    eligible, entrants = plan().eligible_segment, plan().entrants_segment
    assert list(reminder.include_segments.all()) == [eligible]
    assert list(reminder.exclude_segments.all()) == [entrants]
    assert (eligible.type, entrants.type) == ("DYNAMIC", "STATIC")

    # Aoife enters: she leaves the reminders; her withdrawal brings her back.
    ingest([entry("p-aoife")])
    promotions_run()
    assert names(audience_queryset(campaign=reminder)) == {"Brian"}
    assert CompetitionEntry.objects.get(player_id="p-aoife").entered
    ingest([entry("p-aoife", withdrawn=True)])
    promotions_run()
    assert names(audience_queryset(campaign=reminder)) == {"Aoife", "Brian"}
    # An older entry event arriving late does not undo the newer withdrawal.
    ingest([entry("p-aoife", at=timezone.now() - timedelta(hours=1))])
    promotions_run()
    assert names(audience_queryset(campaign=reminder)) == {"Aoife", "Brian"}


def test_erasing_a_golfer_forgets_their_entries_and_scores(running, ingest):
    from profiles.services import customer_erase
    from social.models import CompetitionScore

    ingest([entry("p-aoife"), entry("p-brian"),
            envelope("teetime.score.posted", {"competitionId": "c-100", "playerId": "p-aoife",
                     "gross": 80, "net": 68, "position": 1},
                     identity={"teetimePlayerId": "p-aoife"})])  # fmt: skip
    promotions_run()
    assert CompetitionScore.objects.filter(player_id="p-aoife").exists()
    aoife = Customer.objects.get(teetime_player_id="p-aoife")

    customer_erase(customer=aoife, actor_label="admin@test")

    assert not CompetitionEntry.objects.filter(player_id="p-aoife").exists()
    assert not CompetitionScore.objects.filter(player_id="p-aoife").exists()
    assert CompetitionEntry.objects.filter(player_id="p-brian", entered=True).exists()


def test_ladies_competition_open_to_visitors(alpha, ingest, fake):
    connect("facebook")
    enable()
    ingest(golfers())
    # Published under the name the producers also use (events.md).
    ingest([competition("teetime.tournament.published", cid="c-ladies", name="Lady Captain's Prize",
                        eligibility={"memberOnly": False, "maxHandicap": 36, "gender": "FEMALE"})])  # fmt: skip
    promotions_run()
    campaign = items("c-ladies")["announcement.campaign"].campaign
    assert names(audience_queryset(campaign=campaign)) == {"Aoife", "Ciara"}
    assert "Ladies, handicap index up to 36" in items("c-ladies")["announcement.post"].text


def test_an_update_changes_only_what_has_not_gone_out(running, ingest, fake):
    publish_facebook_and_x(fake, items()["announcement.post"].post)
    later = CLOSES() + timedelta(days=1)
    ingest([competition("teetime.competition.updated", name="Captain's Prize 2026",
                        entryClosesAt=later.isoformat())])  # fmt: skip
    promotions_run()
    got = items()
    assert got["announcement.post"].status == ItemStatus.DONE
    assert "Captain's Prize 2026" not in x_text(got["announcement.post"].post)  # it went out
    when = datetime.combine((later - timedelta(days=7)).date(), time(10), tzinfo=DUBLIN)
    reminder = got["reminder-7.post"]
    assert reminder.scheduled_for == when and reminder.status == ItemStatus.SCHEDULED
    assert {v.scheduled_at for v in reminder.post.variants.all()} == {when}
    assert "Captain's Prize 2026" in x_text(reminder.post)
    assert f"Entries close {shown(later)}" in reminder.post.variants.get(network="facebook").text
    campaign = Campaign.objects.get(pk=got["reminder-7.campaign"].campaign_id)
    assert campaign.scheduled_at == when and campaign.status == CampaignStatus.SCHEDULED
    assert campaign.content["subject"] == "7 days left to enter the Captain's Prize 2026"

    # Entries now close in three days' time (club time): the 7- and 3-day reminders are
    # withdrawn, the 1-day one stays. The 3-day one falls today at 10:00, which has passed or is
    # less than 24 hours after the announcement (made at the start of this test): either way
    # it is skipped, whatever the hour the test runs at. The 1-day one, the day after tomorrow
    # at 10:00, is always more than 24 hours away.
    today = timezone.now().astimezone(DUBLIN).date()
    sooner = datetime.combine(today + timedelta(days=3), time(18), tzinfo=DUBLIN)
    ingest([competition("teetime.competition.updated", name="Captain's Prize 2026",
                        entryClosesAt=sooner.isoformat())])  # fmt: skip
    promotions_run()
    got = items()
    for key in ("reminder-7.post", "reminder-7.campaign"):
        assert got[key].status == ItemStatus.SKIPPED, key
        assert got[key].note == "That time has passed."
    for key in ("reminder-3.post", "reminder-3.campaign"):
        assert got[key].status == ItemStatus.SKIPPED, key
        assert got[key].note in (
            "That time has passed.",
            "Too close to (or before) the announcement.",
        ), got[key].note
    assert {v.status for v in got["reminder-7.post"].post.variants.all()} == {"CANCELLED"}
    assert Campaign.objects.get(pk=got["reminder-7.campaign"].campaign_id).status == "CANCELLED"
    assert got["reminder-1.post"].status == ItemStatus.SCHEDULED

    # An older update arriving late changes nothing.
    ingest([competition("teetime.competition.updated", name="Old name",
                        at=timezone.now() - timedelta(days=1))])  # fmt: skip
    promotions_run()
    assert plan().name == "Captain's Prize 2026"


def test_few_places_left_and_full(running, ingest, fake):
    ingest([competition("teetime.competition.updated", entriesCount=7)])
    promotions_run()
    assert "few-places.post" not in items()  # 7 of 10: under 80 %
    ingest([competition("teetime.competition.updated", entriesCount=8)])
    promotions_run()
    few = items()["few-places.post"]
    assert few.status == ItemStatus.SCHEDULED
    assert few.text.startswith("Only 2 places left in the Captain's Prize")
    sent = publish_facebook_and_x(fake, few.post)
    assert sent["x"]["text"].startswith("Only 2 places left")
    promotions_run()
    assert items()["few-places.post"].status == ItemStatus.DONE

    # Full: nobody is asked to enter any more.
    ingest([competition("teetime.competition.updated", entriesCount=10)])
    promotions_run()
    got = items()
    for key in ("reminder-7.post", "reminder-3.campaign", "reminder-1.campaign"):
        assert (got[key].status, got[key].note) == ("SKIPPED", "The competition is full."), key
    assert items()["few-places.post"].status == ItemStatus.DONE  # once only


def test_cancellation_after_an_announcement_posts_the_cancellation(running, ingest, fake):
    publish_facebook_and_x(fake, items()["announcement.post"].post)
    fake.calls.reset()
    ingest([envelope("teetime.competition.cancelled",
                     {"competitionId": "c-100", "reason": "Course waterlogged"})])  # fmt: skip
    promotions_run()
    p = plan()
    assert (p.status, p.cancel_reason) == ("CANCELLED", "Course waterlogged")
    got = items()
    for key, item in got.items():
        if key.startswith("reminder"):
            assert (item.status, item.note) == ("CANCELLED", "The competition was cancelled.")
    assert all(
        Campaign.objects.get(pk=got[f"reminder-{d}.campaign"].campaign_id).status == "CANCELLED"
        for d in (7, 3, 1)
    )
    cancellation = got["cancellation.post"]
    assert cancellation.text == (
        f"The Captain's Prize on {shown(STARTS())} has been cancelled. Course waterlogged. "
        "We are sorry for the disappointment."
    )
    sent = publish_facebook_and_x(fake, cancellation.post)
    assert sent["facebook"]["message"][0].startswith("The Captain's Prize on")
    promotions_run()
    assert items()["cancellation.post"].status == ItemStatus.DONE
    assert Post.objects.filter(origin="competition").count() == 5  # nothing more


def test_a_post_going_out_when_the_competition_changes_is_left_to_land(alpha, ingest, fake):
    """A worker is publishing the announcement (PUBLISHING) when an update and then the
    cancellation arrive: it is neither rewritten nor cancelled, and once it has landed the
    cancellation is posted (email is off here, so nothing else had announced it)."""
    connect("facebook", "x")
    enable(emailEnabled=False)
    ingest([competition()])
    promotions_run()
    announcement = items()["announcement.post"]
    announcement.post.variants.update(status=VariantStatus.PUBLISHING)
    ingest([competition("teetime.competition.updated", name="Captain's Prize 2026")])
    promotions_run()
    announcement = items()["announcement.post"]
    assert (announcement.status, announcement.error) == (ItemStatus.SCHEDULED, "")
    assert "2026" not in x_text(announcement.post)
    assert "2026" in items()["reminder-7.post"].text

    ingest([envelope("teetime.competition.cancelled", {"competitionId": "c-100"})])
    promotions_run()
    got = items()
    assert got["announcement.post"].status == ItemStatus.SCHEDULED  # still landing
    assert got["reminder-7.post"].status == ItemStatus.CANCELLED
    assert "cancellation.post" not in got

    announcement.post.variants.update(status=VariantStatus.PUBLISHED, published_at=timezone.now())
    promotions_run()
    got = items()
    assert got["announcement.post"].status == ItemStatus.DONE
    assert got["cancellation.post"].status == ItemStatus.SCHEDULED
    assert got["cancellation.post"].text.startswith("The Captain's Prize 2026 on")


def test_cancellation_before_anything_went_out_posts_nothing(alpha, ingest, fake):
    connect("facebook", "x")
    enable(emailEnabled=False)
    ingest(golfers())
    ingest([competition()])
    promotions_run()
    announcement = items()["announcement.post"]
    assert announcement.status == ItemStatus.SCHEDULED  # not published yet
    assert items()["announcement.campaign"].status == ItemStatus.SKIPPED
    ingest([envelope("teetime.competition.cancelled", {"competitionId": "c-100"})])
    promotions_run()
    got = items()
    assert "cancellation.post" not in got
    assert got["announcement.post"].status == ItemStatus.CANCELLED
    assert {v.status for v in got["announcement.post"].post.variants.all()} == {"CANCELLED"}
    assert all(i.status in ("CANCELLED", "SKIPPED") for i in got.values())


def test_results_name_the_leader_once_the_scores_settle(running, ingest, fake):
    scored = timezone.now()
    ingest([
        envelope("teetime.score.posted", {"competitionId": "c-100", "playerId": "p-brian",
                 "gross": 82, "net": 71, "position": 2}, identity={"teetimePlayerId": "p-brian"},
                 at=scored - timedelta(minutes=30)),
        envelope("teetime.score.posted", {"competitionId": "c-100", "playerId": "p-aoife",
                 "gross": 80, "net": 67.5, "position": 1}, identity={"teetimePlayerId": "p-aoife"},
                 at=scored),
        envelope("teetime.score.posted", {"competitionId": None, "playerId": "p-declan",
                 "gross": 95, "net": 70}, identity={"teetimePlayerId": "p-declan"}, at=scored),
    ])  # fmt: skip
    promotions_run()
    results = items()["results.post"]
    assert results.status == ItemStatus.PLANNED and results.post is None
    assert results.scheduled_for == scored + timedelta(minutes=120)
    assert results.text == (
        "Congratulations to Aoife Byrne, winner of the Captain's Prize! "
        "Thank you to everyone who played."
    )
    promotions_run(now=scored + timedelta(minutes=121))
    results = items()["results.post"]
    assert results.status == ItemStatus.SCHEDULED
    sent = publish_facebook_and_x(fake, results.post)
    assert sent["x"]["text"].startswith("Congratulations to Aoife Byrne")
    promotions_run(now=scored + timedelta(minutes=122))
    assert items()["results.post"].status == ItemStatus.DONE
    assert plan().status == "COMPLETED"


def test_the_same_events_twice_make_the_same_plan(running, ingest, fake):
    events = [competition(), entry("p-brian")]
    ingest(events)
    promotions_run()
    before = {k: (i.status, i.text, i.scheduled_for, i.post_id, i.campaign_id, i.fingerprint)
              for k, i in items().items()}  # fmt: skip
    counts = (Post.objects.count(), PostVariant.objects.count(), Campaign.objects.count(),
              Segment.objects.count(), AuditEntry.objects.count())  # fmt: skip
    # Redelivered (the same ids: duplicates) and republished under a new id, then read again.
    results = ingest(events)
    assert {r["status"] for r in results} == {"duplicate"}
    ingest([competition()])
    CompetitionPromotion.objects.update(needs_sync=True)
    promotions_run()
    promotions_run()
    after = {k: (i.status, i.text, i.scheduled_for, i.post_id, i.campaign_id, i.fingerprint)
             for k, i in items().items()}  # fmt: skip
    assert after == before
    assert counts == (Post.objects.count(), PostVariant.objects.count(),
                      Campaign.objects.count(), Segment.objects.count(),
                      AuditEntry.objects.count())  # fmt: skip
    assert CompetitionPromotion.objects.count() == 1


def test_auto_promotion_off_does_nothing(alpha, ingest, fake):
    connect("facebook", "x")
    promotion_settings_update(actor=ADMIN, data={"enabled": False})
    ingest(golfers())
    ingest([competition(), entry("p-aoife")])
    assert promotions_run()["plansCreated"] == 0
    assert not CompetitionPromotion.objects.exists()
    assert not Post.objects.exists() and not Campaign.objects.exists()
    assert not Segment.objects.exists()
    # A competition published while it was off is not promoted when it is turned on later.
    enable()
    promotions_run()
    assert not CompetitionPromotion.objects.exists()


def test_clubs_are_isolated(clubs, api, make_key, apply_all, ingest, fake):
    with schema_context(clubs.alpha.schema_name):
        connect("facebook")
        enable()
    with schema_context(clubs.bravo.schema_name):
        enable()
    ingest([competition()])
    bravo_event = {**competition(cid="c-bravo", name="Bravo Open"), "tenantSlug": "bravo-golf"}
    response = api(make_key(clubs.bravo, "events:write")).post(
        "/t/bravo-golf/api/v1/events", data={"events": [bravo_event]},
        content_type="application/json",
    )  # fmt: skip
    assert response.json()["data"][0]["status"] == "accepted"
    apply_all(clubs.bravo)
    for tenant in (clubs.alpha, clubs.bravo):
        with schema_context(tenant.schema_name):
            promotions_run()
    with schema_context(clubs.alpha.schema_name):
        assert list(CompetitionPromotion.objects.values_list("competition_id", flat=True)) == [
            "c-100"
        ]
    with schema_context(clubs.bravo.schema_name):
        assert list(CompetitionPromotion.objects.values_list("competition_id", flat=True)) == [
            "c-bravo"
        ]
        # Bravo has no account: its posts are skipped, saying why; its email still goes.
        got = items("c-bravo")
        assert got["announcement.post"].status == ItemStatus.SKIPPED
        assert got["announcement.post"].note == "No connected social account to post to."
        assert got["announcement.campaign"].status == ItemStatus.DONE


# --- Networks, approval and the events' order ------------------------------------------------


def test_instagram_gets_the_competition_image_and_x_a_shortened_text(alpha, ingest, fake):
    connect("instagram", "x")
    enable(announcementText="{description} " * 20 + "{name}")
    ingest([competition()])
    promotions_run()
    post = items()["announcement.post"].post
    assert x_text(post).endswith("…")
    assert len(post.variants.get(network="instagram").text) > 280
    ig = "17841400000000001"
    fake.post(f"{GRAPH}/{ig}/media", json={"id": "container-1"})
    fake.post(f"{GRAPH}/{ig}/media_publish", json={"id": "media-1"})
    fake.get(f"{GRAPH}/media-1", json={"id": "media-1", "permalink": "https://instagram.com/p/a/"})
    variant = post.variants.get(network="instagram")
    assert variant_publish(variant_id=variant.id).result == "published"
    container = next(
        c.request for c in fake.calls if c.request.url.startswith(f"{GRAPH}/{ig}/media?")
    )
    params = parse_qs(container.url.split("?", 1)[1])
    assert params["image_url"][0].startswith("https://crm.test/t/")
    assert params["caption"][0].endswith(BOOKING_URL)


def test_instagram_without_an_image_is_left_out_saying_why(alpha, ingest, fake):
    connect("instagram", "facebook")
    enable()
    ingest([competition(imageUrl=None)])
    promotions_run()
    announcement = items()["announcement.post"]
    assert {v.network for v in announcement.post.variants.all()} == {"facebook"}
    assert "Instagram: a post needs at least one image" in announcement.note


def test_with_approval_on_the_posts_wait_for_an_admin(alpha, ingest, fake):
    connect("facebook")
    SocialSettings.objects.update_or_create(id=1, defaults={"approval_required": True})
    enable()
    ingest([competition()])
    promotions_run()
    announcement = items()["announcement.post"]
    assert announcement.status == ItemStatus.SCHEDULED
    assert announcement.note == "Waiting for an ADMIN's approval."
    assert announcement.post.approval_status == "PENDING"
    post_approve(actor=ADMIN, post=announcement.post)
    promotions_run()
    assert items()["announcement.post"].note == ""


def test_events_out_of_order_entry_before_the_competition(alpha, ingest, fake):
    connect("facebook")
    enable()
    ingest(golfers())
    ingest([entry("p-brian")])
    promotions_run()
    ingest([competition()])
    promotions_run()
    reminder = items()["reminder-3.campaign"].campaign
    assert names(audience_queryset(campaign=reminder)) == {"Aoife"}


def test_an_unapplied_event_holds_the_cursor_back(alpha, ingest, fake):
    connect("facebook")
    enable()
    ingest([competition()], apply=False)
    assert promotions_run()["events"] == 0
    assert not CompetitionPromotion.objects.exists()
    from profiles.apply import events_apply_pending

    events_apply_pending()
    promotions_run()
    assert CompetitionPromotion.objects.count() == 1


# --- Staff: services, REST, GraphQL, admin ----------------------------------------------------


def test_staff_edits_survive_competition_updates(running, ingest, fake):
    reminder = items()["reminder-7.post"]
    new_time = local(5, 12, 30).replace(tzinfo=None)  # no offset: club time
    promotion_item_update(actor=ADMIN, item=reminder, text="A week to go! Enter now.",
                          scheduled_for=new_time)  # fmt: skip
    reminder = items()["reminder-7.post"]
    assert (reminder.text_edited, reminder.time_edited) == (True, True)
    assert reminder.scheduled_for == local(5, 12, 30)
    assert {(v.text, v.scheduled_at) for v in reminder.post.variants.all()} == {
        ("A week to go! Enter now.", local(5, 12, 30))
    }
    ingest([competition("teetime.competition.updated", name="Captain's Prize 2026")])
    promotions_run()
    reminder = items()["reminder-7.post"]
    assert reminder.text == "A week to go! Enter now." and reminder.scheduled_for == local(
        5, 12, 30
    )
    assert "2026" in items()["reminder-3.post"].text

    cancelled = promotion_item_cancel(actor=ADMIN, item=items()["reminder-3.campaign"])
    assert cancelled.status == ItemStatus.CANCELLED
    assert Campaign.objects.get(pk=cancelled.campaign_id).status == "CANCELLED"
    assert promotion_item_cancel(actor=ADMIN, item=cancelled).status == "CANCELLED"  # again: same


def test_rest_plans_items_and_settings(running, clubs, api, make_key, fake):
    client = api(make_key(clubs.alpha, "crm:social"))
    listing = client.get("/t/alpha-golf/api/v1/social/promotions")
    assert listing.status_code == 200
    body = listing.json()
    assert body["meta"]["total"] == 1
    found = body["data"][0]
    assert found["competitionId"] == "c-100" and found["competition"]["name"] == "Captain's Prize"
    by_key = {i["key"]: i for i in found["items"]}
    reminder = by_key["reminder-1.campaign"]
    assert reminder["scheduledAtLocal"].startswith(
        (CLOSES() - timedelta(days=1)).date().isoformat() + "T10:00:00"
    )
    base = f"/t/alpha-golf/api/v1/social/promotions/{found['id']}"
    assert client.get(base).json()["data"]["id"] == found["id"]

    response = client.patch(
        f"{base}/items/{reminder['id']}",
        data={"subject": "Last call: Captain's Prize", "scheduledAt": "not a date"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "scheduledAt" in error_of(response)["details"]
    response = client.patch(
        f"{base}/items/{reminder['id']}", data={"subject": "Last call: Captain's Prize"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["data"]["textEdited"] is True
    campaign = Campaign.objects.get(pk=reminder["campaignId"])
    assert campaign.content["subject"] == "Last call: Captain's Prize"
    post_item = by_key["reminder-1.post"]
    response = client.patch(f"{base}/items/{post_item['id']}", data={"subject": "x"},
                            content_type="application/json")  # fmt: skip
    assert error_of(response)["details"] == {
        "subject": ["Only email/SMS campaigns have a subject."]
    }

    response = client.post(f"{base}/items/{post_item['id']}/cancel")
    assert response.status_code == 200 and response.json()["data"]["status"] == "CANCELLED"
    response = client.post(f"{base}/items/{by_key['announcement.campaign']['id']}/cancel")
    assert response.status_code == 400  # it went out

    settings_url = "/t/alpha-golf/api/v1/social/promotion-settings"
    shown_settings = client.get(settings_url).json()["data"]
    assert shown_settings["enabled"] is True and shown_settings["reminderDays"] == [7, 3, 1]
    assert (
        "{placesLeft}" not in shown_settings["placeholders"]
        and "placesLeft" in (shown_settings["placeholders"])
    )
    assert client.patch(settings_url, data={"smsEnabled": True},
                        content_type="application/json").status_code == 403  # fmt: skip
    admin = api(make_key(clubs.alpha, "crm:social,crm:admin"))
    response = admin.patch(settings_url, data={"reminderText": "Hurry {nme}"},
                           content_type="application/json")  # fmt: skip
    assert error_of(response)["details"] == {"reminderText": ["Unknown placeholder(s): {nme}."]}
    response = admin.patch(settings_url, data={"smsEnabled": True, "reminderDays": [5, 2],
                                               "reminderTime": "09:30"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["data"]["reminderDays"] == [5, 2]
    assert response.json()["data"]["reminderTime"] == "09:30"

    response = client.post(f"{base}/stop")
    assert response.status_code == 200 and response.json()["data"]["status"] == "STOPPED"
    statuses = {i["key"]: i["status"] for i in response.json()["data"]["items"]}
    assert statuses["reminder-7.post"] == "CANCELLED"
    assert statuses["announcement.campaign"] == "DONE"


def test_graphql_plans_and_item_edits(running, clubs, api, make_key, fake):
    client = api(make_key(clubs.alpha, "crm:social"))
    query = """{ competitionPromotions { total items { competitionId status
                 items { id key status scheduledAtLocal postId } } } }"""
    response = client.post("/t/alpha-golf/graphql", data=json.dumps({"query": query}),
                           content_type="application/json")  # fmt: skip
    data = response.json()["data"]["competitionPromotions"]
    assert data["total"] == 1
    reminder = next(i for i in data["items"][0]["items"] if i["key"] == "reminder-3.post")
    mutation = """mutation($id: UUID!, $text: String) {
        updatePromotionItem(id: $id, text: $text) { item { text textEdited } errors { field message } } }"""
    response = client.post(
        "/t/alpha-golf/graphql",
        data=json.dumps({"query": mutation, "variables": {"id": reminder["id"], "text": "3 days!"}}),
        content_type="application/json",
    )  # fmt: skip
    assert response.json()["data"]["updatePromotionItem"] == {
        "item": {"text": "3 days!", "textEdited": True}, "errors": [],
    }  # fmt: skip
    assert x_text(Post.objects.get(pk=reminder["postId"])) == "3 days!"
    reader = api(make_key(clubs.alpha, "crm:read"))
    response = reader.post("/t/alpha-golf/graphql", data=json.dumps({"query": query}),
                           content_type="application/json")  # fmt: skip
    assert response.json()["errors"][0]["extensions"]["code"] == "permission_denied"


def test_admin_shows_the_plan_and_edits_its_items(running, clubs, api, make_staff, fake):
    email = make_staff(clubs.alpha, "MARKETING")
    client = api()
    client.post("/t/alpha-golf/admin/login/", {"username": email, "password": STAFF_PASSWORD})
    p = plan()
    page = client.get("/t/alpha-golf/admin/social/competitionpromotion/")
    assert page.status_code == 200 and "Captain&#x27;s Prize" in page.content.decode()
    url = f"/t/alpha-golf/admin/social/competitionpromotion/{p.id}/change/"
    page = client.get(url)
    assert page.status_code == 200
    ordered = list(PromotionItem.objects.filter(promotion=p).order_by("scheduled_for", "key"))
    data = {
        "items-TOTAL_FORMS": str(len(ordered)), "items-INITIAL_FORMS": str(len(ordered)),
        "items-MIN_NUM_FORMS": "0", "items-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for index, item in enumerate(ordered):
        wall = item.scheduled_for.astimezone(DUBLIN)
        data.update({
            f"items-{index}-id": str(item.id), f"items-{index}-promotion": str(p.id),
            f"items-{index}-subject": item.subject, f"items-{index}-text": item.text,
            f"items-{index}-when_local": wall.strftime("%Y-%m-%d %H:%M:%S"),
        })  # fmt: skip
        if item.key == "reminder-1.post":
            data[f"items-{index}-text"] = "Last day tomorrow!"
            data[f"items-{index}-when_local"] = wall.replace(hour=8).strftime("%Y-%m-%d %H:%M:%S")
        if item.key == "reminder-3.campaign":
            data[f"items-{index}-cancel_item"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    got = items()
    assert got["reminder-1.post"].text == "Last day tomorrow!"
    assert got["reminder-1.post"].scheduled_for.astimezone(DUBLIN).hour == 8
    assert (got["reminder-1.post"].text_edited, got["reminder-1.post"].time_edited) == (True, True)
    assert got["reminder-3.campaign"].status == ItemStatus.CANCELLED
    untouched = got["reminder-7.post"]
    assert (untouched.text_edited, untouched.time_edited) == (False, False)


def test_admin_settings_page_saves_through_the_service(alpha, clubs, api, make_staff):
    connect("facebook")
    row = enable()
    email = make_staff(clubs.alpha, "ADMIN")
    client = api()
    client.post("/t/alpha-golf/admin/login/", {"username": email, "password": STAFF_PASSWORD})
    url = "/t/alpha-golf/admin/social/promotionsettings/1/change/"
    page = client.get(url)
    assert page.status_code == 200 and "{placesLeft}" in page.content.decode()
    data = {
        "enabled": "on", "accounts": [], "post_reminders": "on", "email_enabled": "on",
        "email_template_id": "captains_invite", "sms_template_id": row.sms_template_id,
        "announcement_subject": row.announcement_subject, "reminder_subject": row.reminder_subject,
        "announcement_text": row.announcement_text, "reminder_text": "Hurry: {name}!",
        "few_places_text": row.few_places_text, "results_text": row.results_text,
        "cancellation_text": row.cancellation_text, "reminder_days": "5,2",
        "reminder_time": "09:00", "few_places_percent": "75", "results_delay_minutes": "60",
        "default_image": "",
    }  # fmt: skip
    assert client.post(url, data).status_code == 302
    row.refresh_from_db()
    assert (row.email_template_id, row.reminder_text, row.reminder_days) == (
        "captains_invite", "Hurry: {name}!", [5, 2],
    )  # fmt: skip
    assert AuditEntry.objects.filter(action="promotion_settings.changed").count() == 2
    # A typo in a placeholder is refused, saying which.
    response = client.post(url, {**data, "reminder_text": "Hurry: {nmae}!"}, follow=True)
    assert "Unknown placeholder(s): {nmae}." in response.content.decode()
    row.refresh_from_db()
    assert row.reminder_text == "Hurry: {name}!"


def test_settings_are_refused_by_name(alpha):
    with pytest.raises(ValidationError) as refused:
        promotion_settings_update(actor=ADMIN, data={"fewPlacesPercent": 120, "reminderDays": [0]})
    assert set(refused.value.message_dict) == {"fewPlacesPercent", "reminderDays"}
    with pytest.raises(ValidationError) as refused:
        promotion_settings_update(actor=Actor(label="m@x", is_admin=False), data={"enabled": True})
    assert "ADMIN" in str(refused.value)


# --- On a real worker -------------------------------------------------------------------------


@pytest.mark.integration
def test_the_beat_task_runs_in_the_club_on_a_real_worker(django_db_setup, django_db_blocker):
    """`social.promote_competitions`, as beat's fan-out queues it, on a real Celery worker and
    Redis: it runs in the club's schema and nowhere else. This test commits (the worker is
    another process), so it cleans up after itself."""
    from django.conf import settings
    from django.db import connection

    from crm.tenants.models import Tenant
    from profiles.ingestion import events_ingest
    from profiles.models import EventStatus, RawEvent
    from social.models import PromotionEventCursor
    from social.tasks import promote_competitions

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CRM_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "SOCIAL_PROMOTION_SETTLE_SECONDS": "0",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "INFO",
         "--concurrency", "1", "--queues", ",".join(settings.CELERY_WORKER_QUEUES),
         "--hostname", f"promo-{settings.RUN_ID}@%h", "--without-gossip", "--without-mingle"],
        cwd=Path(__file__).resolve().parent.parent, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    event = competition(imageUrl=None)
    try:
        with django_db_blocker.unblock(), schema_context("club_alpha_old"):
            tenant = Tenant.objects.get(schema_name="club_alpha_old")
            promotion_settings_update(actor=ADMIN, data={"enabled": True, "emailEnabled": False})
            assert (
                events_ingest(tenant=tenant, envelopes=[event], transport="test")[0]["status"]
                == "accepted"
            )
            deadline = monotonic() + 90  # the worker applies it (the on-commit trigger)
            while (
                monotonic() < deadline
                and RawEvent.objects.filter(
                    event_id=event["id"], status=EventStatus.PENDING
                ).exists()
            ):
                sleep(0.2)
            counts = promote_competitions.apply_async(ignore_result=False).get(timeout=90)
            assert counts["plansCreated"] == 1
            found = CompetitionPromotion.objects.get()
            assert found.competition_id == "c-100"
            # No account and email off: every item says why it was skipped.
            assert {i.status for i in found.items.all()} == {ItemStatus.SKIPPED}
        with django_db_blocker.unblock(), schema_context("club_bravo_golf"):
            assert not CompetitionPromotion.objects.exists()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        with django_db_blocker.unblock(), schema_context("club_alpha_old"):
            CompetitionPromotion.objects.all().delete()
            PromotionSettings.objects.all().delete()
            PromotionEventCursor.objects.all().delete()
            RawEvent.objects.filter(event_id=event["id"]).delete()
            AuditEntry.objects.filter(object_type="promotion_settings").delete()
