"""A frequency cap defers, never drops; a message past its expiry is recorded as EXPIRED; and
one topic (a competition) reaches a person once across competition promotion and a journey
within the cap's window, the first sent wins. Quiet hours are off (the tests do not depend on
the hour); time passing is stood for by moving the earlier sends back in time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.delivery.http import HttpAdapter
from campaigns.models import Campaign, Send
from campaigns.sending import campaign_settings, run_deliver
from campaigns.testing import MessagingPeer
from tests.test_campaigns_sending import customer, make_campaign, send_now, static_segment

TOKEN = "peer-token"


@pytest.fixture
def alpha(clubs) -> Iterator:
    with schema_context(clubs.alpha.schema_name):
        rules = campaign_settings()
        rules.quiet_hours_enabled = False
        rules.frequency_cap = 1
        rules.frequency_window_days = 7
        rules.save()
        yield clubs.alpha


@pytest.fixture
def peer() -> Iterator[MessagingPeer]:
    with MessagingPeer(token=TOKEN) as running:
        yield running


@pytest.fixture
def http(peer) -> Iterator[HttpAdapter]:
    adapter = HttpAdapter(base_url=peer.url, token=TOKEN)
    yield adapter
    adapter.close()


def _age(campaign: Campaign, days: float) -> None:
    """The campaign's messages were handed over `days` earlier than recorded."""
    shift = dt.timedelta(days=days)
    for send in Send.objects.filter(campaign=campaign, handed_at__isnull=False):
        Send.objects.filter(pk=send.pk).update(handed_at=send.handed_at - shift)


def test_a_capped_message_is_deferred_and_then_sent(alpha, peer, http):
    person = customer()
    segment = static_segment("S", [person])
    first = send_now(make_campaign([segment], name="Newsletter 1"))
    run_deliver(run_id=first.id, adapter=http)
    second = send_now(make_campaign([segment], name="Newsletter 2"))
    result = run_deliver(run_id=second.id, adapter=http)

    send = Send.objects.get(run=second)
    assert (send.status, send.reason, result.deferred, result.suppressed) == (
        "DEFERRED", "CAPPED", 1, 0,
    )  # fmt: skip
    earlier = Send.objects.get(run=first)
    assert send.not_before == earlier.handed_at + dt.timedelta(days=7)
    assert "frequency cap" in send.detail and "club time" in send.detail
    assert str(send.id) not in peer.state.accepted

    # Six days on, the window still holds the first newsletter: not due yet, nothing sent.
    _age(first.campaign, 6)
    Send.objects.filter(pk=send.pk).update(not_before=timezone.now() - dt.timedelta(seconds=1))
    run_deliver(run_id=second.id, adapter=http)
    send.refresh_from_db()
    assert (send.status, send.reason) == ("DEFERRED", "CAPPED")
    # A day later the first has left the window: the deferred newsletter goes out.
    _age(first.campaign, 1.01)
    Send.objects.filter(pk=send.pk).update(not_before=timezone.now() - dt.timedelta(seconds=1))
    run_deliver(run_id=second.id, adapter=http)
    send.refresh_from_db()
    assert (send.status, send.reason) == ("ACCEPTED", "")
    assert str(send.id) in peer.state.accepted


def test_a_capped_message_that_would_go_after_its_expiry_expires(alpha, peer, http):
    person = customer()
    segment = static_segment("S", [person])
    run_deliver(run_id=send_now(make_campaign([segment], name="Newsletter")).id, adapter=http)
    expires = timezone.now() + dt.timedelta(days=2)
    reminder = make_campaign([segment], name="Reminder", expiresAt=expires.isoformat())
    run = send_now(reminder)
    run_deliver(run_id=run.id, adapter=http)
    send = Send.objects.get(run=run)
    assert (send.status, send.reason) == ("SUPPRESSED", "EXPIRED")
    assert "after its expiry" in send.detail


def test_a_deferred_message_past_its_expiry_is_not_sent(alpha, peer, http):
    person = customer()
    run = send_now(
        make_campaign(
            [static_segment("S", [person])],
            expiresAt=(timezone.now() + dt.timedelta(hours=1)).isoformat(),
        )
    )
    Send.objects.filter(run=run).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    run_deliver(run_id=run.id, adapter=http)
    assert Send.objects.get(run=run).reason == "EXPIRED" and not peer.state.accepted


def test_one_competition_reaches_a_person_once_across_promotion_and_a_journey(alpha, peer, http):
    rules = campaign_settings()
    rules.frequency_cap = 0  # no cap: the topic alone de-duplicates
    rules.save()
    golfer, other = customer(first_name="Golfer"), customer(first_name="Other")
    segment = static_segment("Eligible", [golfer])
    # Competition promotion's campaign carries the competition in its content.
    promotion = make_campaign(
        [segment], name="Winter Stableford: announcement",
        content={"subject": "Entries open", "competitionId": "comp-77"},
    )  # fmt: skip
    run = send_now(promotion)
    run_deliver(run_id=run.id, adapter=http)
    assert Send.objects.get(run=run).topic == "competition:comp-77"
    # A journey's send about the same competition (its trigger event's payload), to the
    # golfer who already has it and to one who has not.
    journey = make_campaign([static_segment("Journey", [golfer, other])], name="Journey step")
    Campaign.objects.filter(pk=journey.pk).update(journey_id=uuid.uuid4())
    journey_run = send_now(journey)
    Send.objects.filter(run=journey_run).update(
        variables={"event": {"competitionId": "comp-77", "name": "Winter Stableford"}}
    )
    run_deliver(run_id=journey_run.id, adapter=http)
    sends = {s.customer_id: s for s in Send.objects.filter(run=journey_run)}
    assert (sends[golfer.id].status, sends[golfer.id].reason) == ("SUPPRESSED", "DUPLICATE_TOPIC")
    assert sends[other.id].status == "ACCEPTED"
    assert peer.state.customers()[str(golfer.id)] == 1
    # Promotion's own series on that competition (its reminder) still goes: one origin.
    reminder = make_campaign(
        [segment], name="Winter Stableford: reminder",
        content={"subject": "3 days left", "competitionId": "comp-77"},
    )  # fmt: skip
    run_deliver(run_id=send_now(reminder).id, adapter=http)
    assert peer.state.customers()[str(golfer.id)] == 2
    # Another competition is another topic.
    next_one = make_campaign(
        [segment], name="Spring Cup", content={"subject": "Entries", "competitionId": "comp-78"}
    )
    run_deliver(run_id=send_now(next_one).id, adapter=http)
    assert peer.state.customers()[str(golfer.id)] == 3


def test_a_journey_s_own_reminder_on_its_competition_still_goes(alpha, peer, http):
    rules = campaign_settings()
    rules.frequency_cap = 0
    rules.save()
    golfer = customer(first_name="Golfer")
    journey_id = uuid.uuid4()
    for step in ("invite", "reminder"):
        step_campaign = make_campaign([static_segment(step, [golfer])], name=step)
        Campaign.objects.filter(pk=step_campaign.pk).update(journey_id=journey_id)
        run = send_now(step_campaign)
        Send.objects.filter(run=run).update(variables={"event": {"competitionId": "comp-9"}})
        run_deliver(run_id=run.id, adapter=http)
        assert Send.objects.get(run=run).status == "ACCEPTED", step
    assert peer.state.customers()[str(golfer.id)] == 2


def test_a_journey_message_about_an_event_that_has_passed_expires(alpha, peer, http):
    rules = campaign_settings()
    rules.frequency_cap = 0
    rules.save()
    late, on_time, odd = (customer(first_name=n) for n in ("Late", "OnTime", "Odd"))
    run = send_now(make_campaign([static_segment("S", [late, on_time, odd])], name="Reminder"))
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    future = (timezone.now() + dt.timedelta(days=2)).isoformat()
    Send.objects.filter(run=run, customer=late).update(
        variables={"event": {"competitionId": "c1", "entryClosesAt": past}}
    )
    Send.objects.filter(run=run, customer=on_time).update(
        variables={"event": {"competitionId": "c2", "entryClosesAt": future}}
    )
    # Not a time: no expiry, and the batch does not fail.
    Send.objects.filter(run=run, customer=odd).update(
        variables={"event": {"competitionId": "c3", "entryClosesAt": "next Tuesday"}}
    )
    run_deliver(run_id=run.id, adapter=http)
    reasons = {s.customer_id: (s.status, s.reason) for s in Send.objects.filter(run=run)}
    assert reasons[late.id] == ("SUPPRESSED", "EXPIRED")
    assert reasons[on_time.id] == ("ACCEPTED", "")
    assert reasons[odd.id] == ("ACCEPTED", "")


def test_the_campaign_page_says_why_messages_wait(alpha, peer, http):
    from campaigns.results import campaign_results

    person = customer()
    segment = static_segment("S", [person])
    run_deliver(run_id=send_now(make_campaign([segment], name="First")).id, adapter=http)
    second = send_now(make_campaign([segment], name="Second"))
    run_deliver(run_id=second.id, adapter=http)
    (waiting,) = campaign_results(campaign=second.campaign)["waiting"]
    assert (waiting["reason"], waiting["label"], waiting["messages"]) == (
        "CAPPED", "Deferred by the frequency cap", 1,
    )  # fmt: skip
    assert waiting["nextLabel"].endswith("club time")
