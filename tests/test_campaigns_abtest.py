"""A/B tests and holdouts (deterministic assignment, test pool then winner with its
significance), the analytics joined to the timeline by sendId, and the schedules: recurring
(django-celery-beat, club time zone, end date), triggered (event type + envelope filters) and
the minute tick."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import schema_context

from campaigns.abtest import campaign_decide_winner, significance
from campaigns.models import Campaign, CampaignRun, Send
from campaigns.selectors import campaign_stats
from campaigns.sending import run_deliver, run_plan
from campaigns.services import (
    campaign_fire_recurring,
    campaign_pause,
    campaign_process_triggers,
    campaign_resume,
    campaign_schedule,
    run_finish_if_done,
)
from campaigns.tasks import campaigns_tick
from profiles.models import Activity, Customer
from segments.models import Segment, SegmentMembership
from tests.events import envelope, player
from tests.test_campaigns_sending import (  # noqa: F401
    alpha,
    customer,
    http,
    make_campaign,
    no_quiet_hours,
    peer,
    send_now,
    static_segment,
)


def crowd(n: int) -> Segment:
    people = Customer.objects.bulk_create(
        Customer(first_name=f"P{i}", email=f"p{i}@ex.ie", email_opt_in=True) for i in range(n)
    )
    segment = Segment.objects.create(name=f"Crowd {n}", type="STATIC")
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, customer=p, entered_at=timezone.now()) for p in people
    )
    return segment


def activity(send: Send, type_: str, *, at: dt.datetime | None = None, **data) -> Activity:
    return Activity(
        customer_id=send.customer_id, type=type_, category="messaging", channel=send.channel,
        title=type_, source="messaging", occurred_at=at or timezone.now(),
        data={"sendId": str(send.id), **data},
    )  # fmt: skip


def test_assignment_is_deterministic_and_follows_the_weights(alpha):  # noqa: F811
    no_quiet_hours()
    campaign = make_campaign(
        [crowd(2000)],
        variants=[{"key": "A", "weight": 70}, {"key": "B", "weight": 30}],
        holdoutPercent=10,
    )
    run = send_now(campaign)
    first = dict(Send.objects.filter(run=run).values_list("customer_id", "variant"))
    statuses = Counter(Send.objects.filter(run=run).values_list("status", flat=True))
    assert 140 <= statuses["HOLDOUT"] <= 260
    variants = Counter(v for v in first.values() if v)
    assert 0.63 <= variants["A"] / (variants["A"] + variants["B"]) <= 0.77
    assert all(
        v == ""
        for c, v in first.items()
        if c
        in set(Send.objects.filter(run=run, status="HOLDOUT").values_list("customer_id", flat=True))
    )

    Send.objects.filter(run=run).delete()
    CampaignRun.objects.filter(pk=run.pk).update(status="PLANNING")
    run_plan(run_id=run.id)
    assert dict(Send.objects.filter(run=run).values_list("customer_id", "variant")) == first


def test_test_pool_then_the_winner_goes_to_the_rest(alpha, peer, http):  # noqa: F811
    no_quiet_hours()
    campaign = make_campaign(
        [crowd(1000)],
        variants=[{"key": "A", "weight": 50, "content": {"subject": "Plain"}},
                  {"key": "B", "weight": 50, "content": {"subject": "Last call!"}}],
        testPoolPercent=20, winnerMetric="OPEN", winnerAfterHours=4,
    )  # fmt: skip
    run = send_now(campaign)
    pool = Send.objects.filter(run=run, test_pool=True)
    assert 140 <= pool.count() <= 260
    assert set(pool.values_list("variant", flat=True)) == {"A", "B"}
    waiting = Send.objects.filter(run=run, status="AWAITING_WINNER")
    assert waiting.count() == 1000 - pool.count()

    result = run_deliver(run_id=run.id, adapter=http)
    assert result.accepted == pool.count() and len(peer.state.accepted) == pool.count()
    assert not run_finish_if_done(run_id=run.id)  # the rest is still waiting

    # B's subject line is opened far more often.
    opens = []
    for send in pool:
        every = 3 if send.variant == "B" else 12
        if int(send.id.hex, 16) % every < 2:
            opens.append(activity(send, "messaging.email.opened"))
    Activity.objects.bulk_create(opens)

    assert campaign_decide_winner(run_id=run.id) == {}  # not yet: 4 hours
    decision = campaign_decide_winner(run_id=run.id, force=True)
    assert decision["winner"] == "B" and decision["test"] == "chi-square"
    assert decision["significant"] and decision["pValue"] < 0.05
    assert decision["rates"]["B"]["rate"] > decision["rates"]["A"]["rate"]
    assert decision["released"] == 1000 - pool.count()
    campaign.refresh_from_db()
    assert campaign.winner_key == "B" and campaign.winner_decision["winner"] == "B"

    run_deliver(run_id=run.id, adapter=http)
    assert len(peer.state.accepted) == 1000
    rest = [r for r in peer.state.accepted.values() if r["metadata"]["variant"] == "B"]
    assert all(r["content"]["subject"] == "Last call!" for r in rest)
    assert run_finish_if_done(run_id=run.id)


def test_significance_tests():
    assert significance([(30, 70), (60, 40)])[0] == "chi-square"
    name, p = significance([(1, 3), (4, 0)])
    assert name == "fisher-exact" and 0 < p < 1
    assert significance([(0, 10), (0, 10)]) == ("none", None)


def test_stats_per_variant_with_suppressions_and_lift_over_the_holdout(alpha, peer, http):  # noqa: F811
    no_quiet_hours()
    people = [customer(first_name=f"S{i}") for i in range(300)]
    # Opted out of email: suppressed unless the holdout (a hash of campaign and customer, so
    # any of them may fall in it) takes them first. Several, so some are almost always left.
    opted_out = [customer(first_name=f"Nc{i}", email_opt_in=False) for i in range(5)]
    people += opted_out
    campaign = make_campaign(
        [static_segment("S", people)],
        variants=[{"key": "A", "weight": 50}, {"key": "B", "weight": 50}],
        holdoutPercent=20, conversionWindowDays=7,
    )  # fmt: skip
    run = send_now(campaign)
    run_deliver(run_id=run.id, adapter=http)
    sent = list(Send.objects.filter(run=run, status="ACCEPTED").order_by("id"))
    holdout = list(Send.objects.filter(run=run, status="HOLDOUT").order_by("id"))
    now = timezone.now()
    rows = []
    for index, send in enumerate(sent):
        rows.append(activity(send, "messaging.message.delivered"))
        if index % 2 == 0:
            rows.append(activity(send, "messaging.email.opened", at=now + dt.timedelta(minutes=5)))
        if index % 4 == 0:
            rows.append(activity(send, "messaging.email.clicked", at=now + dt.timedelta(minutes=6)))
            # A booking two days after the click: a conversion.
            rows.append(Activity(customer_id=send.customer_id, type="teetime.booking.created",
                                 category="golf", title="Booked", source="teetime",
                                 occurred_at=now + dt.timedelta(days=2)))  # fmt: skip
        if index == 1:
            rows.append(activity(send, "messaging.message.bounced"))
    for index, send in enumerate(holdout):
        if index % 10 == 0:  # the holdout books far less
            rows.append(Activity(customer_id=send.customer_id, type="teetime.booking.created",
                                 category="golf", title="Booked", source="teetime",
                                 occurred_at=now + dt.timedelta(days=1)))  # fmt: skip
    Activity.objects.bulk_create(rows)

    stats = campaign_stats(campaign=campaign)
    total = stats["total"]
    assert total["targeted"] == 305 - len(holdout)
    assert total["sent"] == len(sent) and total["delivered"] == len(sent)
    assert total["opened"] == (len(sent) + 1) // 2
    assert total["clicked"] == (len(sent) + 3) // 4
    assert total["converted"] == (len(sent) + 3) // 4
    assert total["bounced"] == 1
    held_out = {send.customer_id for send in holdout}
    suppressed = sum(1 for person in opted_out if person.id not in held_out)
    assert total["suppressed"] == ({"NO_CONSENT": suppressed} if suppressed else {})
    assert total["rates"]["open"] == round(total["opened"] / len(sent), 4)
    assert {v["variant"] for v in stats["variants"]} == {"A", "B"}
    assert sum(v["sent"] for v in stats["variants"]) == len(sent)
    assert stats["holdout"]["customers"] == len(holdout)
    assert stats["holdout"]["converted"] == (len(holdout) + 9) // 10
    lift = stats["lift"]
    assert lift["treatedConversionRate"] > lift["holdoutConversionRate"]
    assert lift["relative"] > 0


def test_stats_from_events_through_the_real_pipeline(alpha, ingest, peer, http):  # noqa: F811
    """The Messaging Service's engagement events, ingested as they arrive, count by sendId."""
    no_quiet_hours()
    ingest([
        envelope("messaging.contact.created", {"contactId": "c_9", "email": "nora@ex.ie",
                 "firstName": "Nora"}, identity={"messagingContactId": "c_9"}),
        envelope("messaging.contactPreference.updated",
                 {"contactId": "c_9", "channel": "EMAIL", "optedIn": True},
                 identity={"messagingContactId": "c_9"}, at=1),
    ])  # fmt: skip
    nora = Customer.objects.get(email="nora@ex.ie")
    campaign = make_campaign([static_segment("S", [nora])])
    run = send_now(campaign)
    run_deliver(run_id=run.id, adapter=http)
    send = Send.objects.get(run=run)
    message = {"messageId": "m_1", "sendId": str(send.id), "contactId": "c_9", "channel": "EMAIL"}
    when = timezone.now() + dt.timedelta(minutes=1)
    ingest([
        envelope("messaging.email.opened", message, identity={"messagingContactId": "c_9"},
                 at=when),
        envelope("messaging.email.clicked", {**message, "url": "https://club/x"},
                 identity={"messagingContactId": "c_9"}, at=when + dt.timedelta(minutes=1)),
    ])  # fmt: skip
    total = campaign_stats(campaign=campaign)["total"]
    assert (total["sent"], total["opened"], total["clicked"]) == (1, 1, 1)


# --- schedules -----------------------------------------------------------------------------


def test_recurring_campaign_runs_on_a_beat_crontab_in_club_time(alpha):  # noqa: F811
    no_quiet_hours()
    ends = timezone.now() + dt.timedelta(days=90)
    campaign = make_campaign(
        [static_segment("S", [customer()])], type="RECURRING", recurrence="0 9 1 * *",
        endsAt=ends.isoformat(),
    )  # fmt: skip
    campaign_schedule(campaign=campaign)
    campaign.refresh_from_db()
    with schema_context("public"):
        task = PeriodicTask.objects.get(name=campaign.periodic_task_name)
        assert task.task == "campaigns.fire_recurring"
        assert json.loads(task.headers) == {"_schema_name": alpha.schema_name}
        assert json.loads(task.kwargs) == {"campaign_id": str(campaign.id)}
        assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == (
            "0", "9", "1",
        )  # fmt: skip
        assert str(task.crontab.timezone) == "Europe/Dublin"
        assert task.enabled and task.expires == ends

    first = campaign_fire_recurring(campaign_id=campaign.id)
    assert first is not None and campaign_fire_recurring(campaign_id=campaign.id) is None
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1  # same minute, same run
    run_plan(run_id=first.id)
    later = timezone.now() + dt.timedelta(days=31)
    CampaignRun.objects.filter(pk=first.pk).update(status="DONE")
    Campaign.objects.filter(pk=campaign.pk).update(status="SCHEDULED")
    second = campaign_fire_recurring(campaign_id=campaign.id, now=later)
    assert second is not None and second.key != first.key

    campaign.refresh_from_db()
    campaign_pause(campaign=campaign)
    with schema_context("public"):
        assert not PeriodicTask.objects.get(name=campaign.periodic_task_name).enabled
    campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk))
    CampaignRun.objects.filter(campaign=campaign).update(status="DONE")
    Campaign.objects.filter(pk=campaign.pk).update(status="SCHEDULED")
    assert (
        campaign_fire_recurring(campaign_id=campaign.id, now=ends + dt.timedelta(minutes=1)) is None
    )
    campaign.refresh_from_db()
    assert campaign.status == "COMPLETED"
    with schema_context("public"):
        assert not PeriodicTask.objects.filter(name=campaign.periodic_task_name).exists()


def test_triggered_campaign_sends_to_whoever_the_matching_events_are_about(alpha, ingest):  # noqa: F811
    no_quiet_hours()
    ingest([player("p1", email="p1@ex.ie"), player("p2", email="p2@ex.ie")])
    Customer.objects.update(email_opt_in=True)
    everyone = static_segment("Golfers", list(Customer.objects.all()))
    campaign = make_campaign(
        [everyone], type="TRIGGERED",
        trigger={"eventType": "teetime.booking.completed",
                 "filters": {"payload": {"bookingId": "b-18-holes"}}},
    )  # fmt: skip
    ingest([envelope("teetime.booking.completed", {"bookingId": "b-18-holes", "playerId": "p1"})])
    campaign_schedule(campaign=campaign)  # listening starts now: the event above is history
    assert campaign_process_triggers(campaign_id=campaign.id) is None

    ingest([
        envelope("teetime.booking.completed", {"bookingId": "b-18-holes", "playerId": "p1"}, at=5),
        envelope("teetime.booking.completed", {"bookingId": "b-9-holes", "playerId": "p2"}, at=6),
        envelope("teetime.booking.created", {"bookingId": "b-18-holes", "playerId": "p2"}, at=7),
    ])  # fmt: skip
    run = campaign_process_triggers(campaign_id=campaign.id)
    assert run is not None
    run_plan(run_id=run.id)
    p1 = Customer.objects.get(teetime_player_id="p1")
    assert list(Send.objects.filter(run=run).values_list("customer_id", flat=True)) == [p1.id]
    assert campaign_process_triggers(campaign_id=campaign.id) is None  # nothing new
    assert Campaign.objects.get(pk=campaign.pk).status == "SCHEDULED"


def test_tick_starts_due_one_time_campaigns(alpha, django_capture_on_commit_callbacks):  # noqa: F811
    no_quiet_hours()
    campaign = make_campaign(
        [static_segment("S", [customer()])],
        scheduledAt=(timezone.now() + dt.timedelta(minutes=5)).isoformat(),
    )
    campaign_schedule(campaign=campaign)
    assert campaigns_tick()["started"] == 0
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = campaigns_tick(now=timezone.now() + dt.timedelta(minutes=6))
    assert counts["started"] == 1 and len(callbacks) == 1  # the plan task, after the commit
    assert Campaign.objects.get(pk=campaign.pk).status == "SENDING"
    assert CampaignRun.objects.get(campaign=campaign).status == "PLANNING"


@pytest.mark.parametrize("metric", ["CLICK", "CONVERSION"])
def test_winner_by_click_or_conversion(alpha, peer, http, metric):  # noqa: F811
    no_quiet_hours()
    campaign = make_campaign(
        [crowd(400)], variants=[{"key": "A", "weight": 50}, {"key": "B", "weight": 50}],
        testPoolPercent=50, winnerMetric=metric,
    )  # fmt: skip
    run = send_now(campaign)
    run_deliver(run_id=run.id, adapter=http)
    rows = []
    for send in Send.objects.filter(run=run, test_pool=True, variant="A"):
        rows.append(activity(send, "messaging.email.clicked"))
        rows.append(Activity(customer_id=send.customer_id, type="scl.payment.received",
                             category="payment", title="Paid", source="scl",
                             occurred_at=timezone.now() + dt.timedelta(hours=1)))  # fmt: skip
    Activity.objects.bulk_create(rows)
    assert campaign_decide_winner(run_id=run.id, force=True)["winner"] == "A"
