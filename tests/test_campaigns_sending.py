"""Campaign sending on the real database and a real HTTP peer on 127.0.0.1: the ledger, the
recorded reasons, consent checked at the moment of sending, the frequency cap by priority,
quiet hours, the HTTP transport's answers (batch, 409, 429/5xx with Retry-After, 4xx) and a
handing worker that died."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.delivery.http import HttpAdapter, retry_after_seconds
from campaigns.models import Campaign, CampaignRun, CampaignStatus, Send, SendStatus
from campaigns.sending import (
    LEASE_LOCK_NS,
    _take_batch,
    campaign_settings,
    quiet_until,
    run_deliver,
    run_plan,
)
from campaigns.services import (
    CampaignInput,
    CampaignStateError,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_send_now,
    run_finish_if_done,
)
from campaigns.testing import MessagingPeer
from crm.outbox.models import OutboundEvent
from profiles.models import Customer
from segments.models import Segment, SegmentMembership

TOKEN = "peer-token"


@pytest.fixture
def alpha(clubs) -> Iterator:
    with schema_context(clubs.alpha.schema_name):
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


def customer(**fields) -> Customer:
    defaults = {"first_name": "Aoife", "last_name": "Byrne", "email_opt_in": True}
    defaults.update(fields)
    if "email" not in defaults:
        defaults["email"] = f"{defaults['first_name'].lower()}.{Customer.objects.count()}@ex.ie"
    return Customer.objects.create(**defaults)


def static_segment(name: str, members: list[Customer]) -> Segment:
    segment = Segment.objects.create(name=name, type="STATIC")
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, customer=c, entered_at=timezone.now()) for c in members
    )
    return segment


def make_campaign(include: list[Segment], exclude: list[Segment] = (), **data) -> Campaign:
    body = {
        "name": data.pop("name", "Winter Stableford"),
        "channels": ["EMAIL"],
        "templates": {"EMAIL": "tournament_invite", "SMS": "sms_invite"},
        "content": {"subject": "Entries open, {{ firstName }}"},
        "audience": {"include": [str(s.id) for s in include],
                     "exclude": [str(s.id) for s in exclude]},
        **data,
    }  # fmt: skip
    return campaign_create(data=api_input(body), actor_label="tests")


def api_input(body: dict, *, partial: bool = False) -> CampaignInput:
    """The service's input from a REST body, built as the API builds it (its serializer, then
    `campaign_input`); what the serializer refuses is raised as the API would answer it."""
    from campaigns.api.serializers import CampaignInputSerializer, campaign_input
    from crm.api.errors import validation_details

    checked = CampaignInputSerializer(data=body, partial=partial)
    if not checked.is_valid():
        raise ValidationError(validation_details(checked.errors))
    return campaign_input(checked.validated_data)


def send_now(campaign: Campaign) -> CampaignRun:
    campaign_send_now(campaign=campaign, actor_label="tests")
    run = CampaignRun.objects.get(campaign=campaign)
    run_plan(run_id=run.id)
    return run


def no_quiet_hours() -> None:
    rules = campaign_settings()
    rules.quiet_hours_enabled = False
    rules.frequency_cap = 0
    rules.save()


def test_every_audience_member_ends_with_a_send_or_a_reason(alpha, peer, http):
    no_quiet_hours()
    ok = [customer(first_name=f"Ok{n}") for n in range(3)]
    nameless = customer(first_name="", email="nameless@ex.ie")
    problems = {
        "NO_CONSENT": customer(first_name="Nc", email_opt_in=False),
        "DECEASED": customer(first_name="Dec", membership_status="DECEASED"),
        "HARD_BOUNCED": customer(first_name="Hb", email_hard_bounced=True),
        "COMPLAINED": customer(first_name="Co", complained=True),
        "NO_ADDRESS": customer(first_name="Na", email=""),
        "ERASED": customer(first_name="Er", status="DELETED"),
    }
    excluded = customer(first_name="Excluded")
    everyone = [*ok, nameless, *problems.values(), excluded]
    campaign = make_campaign(
        [static_segment("All", everyone)], [static_segment("Staff", [excluded])],
        fallbacks={"firstName": "Member"},
    )  # fmt: skip
    run = send_now(campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING
    assert run.__class__.objects.get(pk=run.pk).targeted == len(everyone) - 1

    result = run_deliver(run_id=run.id, adapter=http)
    assert (result.accepted, result.suppressed) == (4, 0)  # the six were decided when planned

    sends = {s.customer_id: s for s in Send.objects.filter(run=run)}
    assert excluded.id not in sends
    assert len(sends) == len(everyone) - 1
    for reason, person in problems.items():
        assert (sends[person.id].status, sends[person.id].reason) == ("SUPPRESSED", reason)
    delivered = {str(sends[c.id].id) for c in [*ok, nameless]}
    assert set(peer.state.accepted) == delivered  # the ledger id is the idempotency key
    assert all(sends[c.id].status == SendStatus.ACCEPTED for c in [*ok, nameless])

    request = peer.state.accepted[str(sends[nameless.id].id)]
    assert request["tenantId"] == str(alpha.id)
    assert request["channel"] == "email" and request["templateId"] == "tournament_invite"
    assert request["to"]["email"] == "nameless@ex.ie"
    assert request["variables"]["firstName"] == "Member"  # the campaign's fallback
    assert request["variables"]["clubName"] == "Alpha Golf Club"
    assert request["metadata"]["campaignId"] == str(campaign.id)
    assert f"/t/{alpha.id}/unsubscribe/" in request["metadata"]["listUnsubscribe"]
    assert peer.state.batches == 1

    # Nothing is handed over twice, and the finished run completes the campaign.
    assert run_deliver(run_id=run.id, adapter=http).handed == 0
    assert run_finish_if_done(run_id=run.id)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED
    types = list(OutboundEvent.objects.values_list("type", flat=True))
    assert types.count("crm.campaign.scheduled") == 1 and types.count("crm.campaign.sent") == 1
    sent = OutboundEvent.objects.get(type="crm.campaign.sent").envelope["payload"]
    assert (sent["accepted"], sent["suppressed"], sent["targeted"]) == (4, 6, 10)


def test_planning_twice_adds_nothing(alpha):
    no_quiet_hours()
    campaign = make_campaign([static_segment("S", [customer(), customer()])])
    run = send_now(campaign)
    CampaignRun.objects.filter(pk=run.pk).update(status="PLANNING")
    assert run_plan(run_id=run.id).rows == 0
    assert Send.objects.filter(run=run).count() == 2


def test_consent_is_checked_again_at_the_moment_of_sending(alpha, peer, http):
    no_quiet_hours()
    stays, leaves, dies = customer(), customer(), customer()
    run = send_now(make_campaign([static_segment("S", [stays, leaves, dies])]))
    assert Send.objects.filter(run=run, status="PENDING").count() == 3
    Customer.objects.filter(pk=leaves.pk).update(email_opt_in=False)
    Customer.objects.filter(pk=dies.pk).update(membership_status="DECEASED")
    run_deliver(run_id=run.id, adapter=http)
    reasons = dict(Send.objects.filter(run=run).values_list("customer_id", "reason"))
    assert reasons == {stays.id: "", leaves.id: "NO_CONSENT", dies.id: "DECEASED"}
    assert len(peer.state.accepted) == 1


def test_frequency_cap_counts_this_priority_and_higher(alpha, peer, http):
    rules = campaign_settings()
    rules.quiet_hours_enabled = False
    rules.frequency_cap = 1
    rules.save()
    person = customer()
    segment = static_segment("S", [person])
    newsletter = send_now(make_campaign([segment], name="Newsletter", priority="LOW"))
    run_deliver(run_id=newsletter.id, adapter=http)
    # The newsletter does not use up the renewal reminder's room...
    reminder = send_now(make_campaign([segment], name="Renewal", priority="HIGH"))
    run_deliver(run_id=reminder.id, adapter=http)
    # ...but the reminder counts against the next newsletter.
    second = send_now(make_campaign([segment], name="Newsletter 2", priority="LOW"))
    run_deliver(run_id=second.id, adapter=http)
    statuses = {
        run.campaign.name: Send.objects.get(run=run).reason or Send.objects.get(run=run).status
        for run in (newsletter, reminder, second)
    }
    assert statuses == {"Newsletter": "ACCEPTED", "Renewal": "ACCEPTED", "Newsletter 2": "CAPPED"}


def test_two_channels_count_as_two_messages_against_the_cap(alpha, peer, http):
    rules = campaign_settings()
    rules.quiet_hours_enabled = False
    rules.frequency_cap = 1
    rules.save()
    person = customer(phone_number="+353871234567", sms_opt_in=True)
    run = send_now(make_campaign([static_segment("S", [person])], channels=["EMAIL", "SMS"]))
    run_deliver(run_id=run.id, adapter=http)
    assert sorted(Send.objects.filter(run=run).values_list("channel", "status", "reason")) == [
        ("EMAIL", "ACCEPTED", ""),
        ("SMS", "DEFERRED", "CAPPED"),  # deferred until the window allows, never dropped
    ]


def test_quiet_hours_defer_and_send_when_they_end(alpha, peer, http):
    rules = campaign_settings()
    rules.frequency_cap = 0
    zone = ZoneInfo(alpha.timezone or "UTC")
    local = timezone.now().astimezone(zone)
    rules.quiet_hours_start = (
        (local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    )
    rules.quiet_hours_end = (local + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    rules.save()
    until = quiet_until(now=timezone.now(), rules=rules, tz=alpha.timezone)
    assert until is not None and until > timezone.now()

    person = customer()
    run = send_now(make_campaign([static_segment("S", [person])]))
    result = run_deliver(run_id=run.id, adapter=http)
    send = Send.objects.get(run=run)
    assert (result.deferred, send.status, send.reason) == (1, "DEFERRED", "QUIET_HOURS")
    assert send.not_before == until and not peer.state.accepted

    # Quiet hours over: the deferred message goes (consent checked again), marked as deferred.
    rules.quiet_hours_enabled = False
    rules.save()
    assert run_deliver(run_id=run.id, adapter=http).handed == 0  # not yet due
    Send.objects.filter(pk=send.pk).update(not_before=timezone.now() - dt.timedelta(seconds=1))
    run_deliver(run_id=run.id, adapter=http)
    send.refresh_from_db()
    assert (send.status, send.deferred) == ("ACCEPTED", True)
    assert str(send.id) in peer.state.accepted


def test_a_send_made_with_a_clock_is_judged_and_stamped_at_that_time(alpha, peer, http):
    """The services' clock (the demo club's history is sent through it): quiet hours hold a
    send made now, and the same send made at 10:00 club time that day goes, handed over,
    recorded and finished at that time."""
    rules = campaign_settings()
    rules.frequency_cap = 0
    zone = ZoneInfo(alpha.timezone or "UTC")
    local = timezone.now().astimezone(zone)
    # Quiet around the real time of the test, whatever it is; 10:00 is outside (or the test
    # moves the clock to the other side of the quiet hour).
    rules.quiet_hours_start = (local - dt.timedelta(minutes=30)).time().replace(second=0)
    rules.quiet_hours_end = (local + dt.timedelta(minutes=30)).time().replace(second=0)
    rules.save()
    sent_at = dt.datetime.combine(local.date() - dt.timedelta(days=1), dt.time(10), zone)
    if quiet_until(now=sent_at, rules=rules, tz=alpha.timezone) is not None:
        sent_at -= dt.timedelta(hours=2)
    assert quiet_until(now=timezone.now(), rules=rules, tz=alpha.timezone) is not None

    person = customer()
    campaign = make_campaign([static_segment("S", [person])])
    campaign_send_now(campaign=campaign, actor_label="tests", now=sent_at)
    run = CampaignRun.objects.get(campaign=campaign)
    run_plan(run_id=run.id, now=sent_at)
    result = run_deliver(run_id=run.id, adapter=http, now=sent_at)
    assert (result.accepted, result.deferred) == (1, 0)
    assert run_finish_if_done(run_id=run.id, now=sent_at)
    send = Send.objects.get(run=run)
    campaign.refresh_from_db()
    assert send.handed_at == sent_at == campaign.started_at == campaign.completed_at
    assert campaign.status == CampaignStatus.COMPLETED and str(send.id) in peer.state.accepted


def test_http_answers_429_5xx_4xx_and_409(alpha, peer, http):
    no_quiet_hours()
    people = [customer() for _ in range(3)]
    run = send_now(make_campaign([static_segment("S", people)]))
    keys = {str(s.id): s.customer_id for s in Send.objects.filter(run=run)}

    peer.state.script = [(429, "7")]
    result = run_deliver(run_id=run.id, adapter=http)
    assert result.retry_after == 7 and result.more
    pending = Send.objects.filter(run=run)
    assert {s.status for s in pending} == {"PENDING"}
    assert all(6 <= (s.not_before - timezone.now()).total_seconds() <= 8 for s in pending)
    assert all(s.attempts == 1 and s.handed_at is None for s in pending)

    Send.objects.filter(run=run).update(not_before=None)
    peer.state.script = [(503, None)]
    result = run_deliver(run_id=run.id, adapter=http)
    assert result.more and result.accepted == 0
    assert {s.attempts for s in Send.objects.filter(run=run)} == {2}

    Send.objects.filter(run=run).update(not_before=None)
    refused, repeated, fresh = sorted(keys)
    peer.state.refuse_keys = {refused}
    peer.state.accepted[repeated] = {"_messageId": "m_first", "metadata": {}}  # seen before
    result = run_deliver(run_id=run.id, adapter=http)
    assert (result.accepted, result.failed, result.repeats) == (2, 1, 1)
    bad = Send.objects.get(pk=refused)
    assert bad.status == "FAILED" and bad.reason == "REFUSED" and "does not exist" in bad.detail
    assert Send.objects.get(pk=repeated).message_id == "m_first"
    assert Send.objects.get(pk=fresh).status == "ACCEPTED"
    assert peer.state.repeats[repeated] == 1


def test_without_the_batch_endpoint_requests_go_one_by_one(alpha, peer, http):
    no_quiet_hours()
    peer.state.batch_enabled = False
    run = send_now(make_campaign([static_segment("S", [customer(), customer()])]))
    assert run_deliver(run_id=run.id, adapter=http).accepted == 2
    assert len(peer.state.accepted) == 2 and peer.state.batches == 0


def test_retry_after_reads_seconds_and_dates():
    assert retry_after_seconds("120") == 120
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)).strftime(
        "%a, %d %b %Y %H:%M:%S GMT"
    )
    assert 85 <= retry_after_seconds(later) <= 91
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_dead_handler_s_batch_is_handed_over_again_with_the_same_keys(alpha, peer, http):
    """Rows a killed worker left HANDING (its lease lock is gone with its connection) are
    adopted and handed over again, unchanged; the peer answers 409 for keys it already had."""
    no_quiet_hours()
    people = [customer() for _ in range(4)]
    run = send_now(make_campaign([static_segment("S", people)]))
    rows, *_ = _take_batch(run=run, rules=campaign_settings(), lease=424242, size=500)
    ids = [row["id"] for row in rows]
    assert len(ids) == 4 and Send.objects.filter(run=run, status="HANDING").count() == 4
    # The dead worker had got two of them to the peer before it died.
    for key in map(str, ids[:2]):
        peer.state.accepted[key] = {"_messageId": f"m_{key[:6]}", "metadata": {}}
    # Meanwhile a customer opts out: adopted rows are not re-checked (the peer may have them).
    Customer.objects.filter(pk=people[0].pk).update(email_opt_in=False)

    result = run_deliver(run_id=run.id, adapter=http)
    assert result.handed == 0  # nothing new was due: the four were adopted
    assert Send.objects.filter(run=run, status="ACCEPTED").count() == 4
    assert set(peer.state.accepted) == {str(i) for i in ids}
    assert sum(peer.state.repeats.values()) == 2


def test_a_live_handler_s_batch_is_left_alone(alpha, peer, http):
    from django.db import connections

    no_quiet_hours()
    run = send_now(make_campaign([static_segment("S", [customer()])]))
    rows, *_ = _take_batch(run=run, rules=campaign_settings(), lease=777, size=500)
    ids = [row["id"] for row in rows]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:  # another live process holds the lease
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LEASE_LOCK_NS, 777])
        run_deliver(run_id=run.id, adapter=http)
        assert Send.objects.get(pk=ids[0]).status == "HANDING" and not peer.state.accepted
    finally:
        other.close()


def test_state_changes_and_their_refusals(alpha):
    no_quiet_hours()
    segment = static_segment("S", [customer()])
    campaign = make_campaign([segment])
    with pytest.raises(CampaignStateError, match="Cannot pause a DRAFT campaign"):
        campaign_pause(campaign=campaign)
    with pytest.raises(CampaignStateError, match="Cannot resume a DRAFT"):
        campaign_resume(campaign=campaign)
    later = (timezone.now() + dt.timedelta(days=1)).isoformat()
    from campaigns.services import campaign_update

    campaign_update(campaign=campaign, data=CampaignInput(scheduled_at=later))
    campaign = campaign_schedule(campaign=campaign)
    assert campaign.status == "SCHEDULED"
    with pytest.raises(CampaignStateError, match="Cannot schedule a SCHEDULED"):
        campaign_schedule(campaign=campaign)
    campaign = campaign_pause(campaign=campaign)
    assert (campaign.status, campaign.paused_from) == ("PAUSED", "SCHEDULED")
    campaign = campaign_resume(campaign=campaign)
    assert campaign.status == "SCHEDULED"
    campaign_send_now(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "SENDING"
    with pytest.raises(CampaignStateError, match="cannot be edited"):
        campaign_update(campaign=campaign, data=CampaignInput(name="New"))
    campaign = campaign_cancel(campaign=campaign)
    assert campaign.status == "CANCELLED"
    # What was not handed over is recorded, never sent.
    assert list(Send.objects.values_list("status", "reason")) == [] or all(
        reason == "CANCELLED" for _, reason in Send.objects.values_list("status", "reason")
    )
    with pytest.raises(CampaignStateError, match="Cannot send a CANCELLED"):
        campaign_send_now(campaign=campaign)


def test_cancel_records_unsent_messages(alpha, peer, http):
    no_quiet_hours()
    run = send_now(make_campaign([static_segment("S", [customer(), customer()])]))
    campaign_cancel(campaign=run.campaign)
    assert set(Send.objects.filter(run=run).values_list("status", "reason")) == {
        ("SUPPRESSED", "CANCELLED")
    }
    assert run_deliver(run_id=run.id, adapter=http).handed == 0 and not peer.state.accepted


def test_paused_campaign_hands_over_nothing_until_resumed(alpha, peer, http):
    no_quiet_hours()
    run = send_now(make_campaign([static_segment("S", [customer()])]))
    campaign_pause(campaign=run.campaign)
    assert run_deliver(run_id=run.id, adapter=http).handed == 0
    campaign_resume(campaign=Campaign.objects.get(pk=run.campaign_id))
    assert Campaign.objects.get(pk=run.campaign_id).status == "SENDING"
    assert run_deliver(run_id=run.id, adapter=http).accepted == 1
