"""The journeys engine on the real database: every step type, branches, the ledger for sends
(consent and suppression at the moment of sending), exit rules and goals, versions, states,
re-entry, the cap, daylight-saving changes, and a crash between steps repeating nothing.

The clock the engine sees is passed in (`now=`), so waits of days run in a test instantly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.delivery.http import HttpAdapter
from campaigns.models import Campaign, CampaignRun, CampaignType, Send
from campaigns.sending import campaign_settings, run_deliver
from campaigns.testing import MessagingPeer
from journeys.engine import MAX_ATTEMPTS, run_due, split_bucket
from journeys.models import (
    Enrolment,
    EnrolmentEvent,
    Journey,
    JourneyDateRun,
    StaffTask,
    WebhookDelivery,
)
from journeys.services import (
    JourneyInput,
    JourneyStateError,
    journey_archive,
    journey_create,
    journey_enrol,
    journey_migrate,
    journey_pause,
    journey_publish,
    journey_resume,
    journey_update,
)
from journeys.triggers import date_triggers_run
from profiles.models import Activity, ActivityCategory, Customer, CustomerNote

DUBLIN = ZoneInfo("Europe/Dublin")
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
TOKEN = "peer-token"


@pytest.fixture
def alpha(clubs) -> Iterator:
    with schema_context(clubs.alpha.schema_name):
        rules = campaign_settings()
        rules.quiet_hours_enabled = False
        rules.frequency_cap = 0
        rules.save()
        yield clubs.alpha


def customer(**fields) -> Customer:
    defaults = {"first_name": "Aoife", "last_name": "Byrne", "email_opt_in": True}
    defaults.update(fields)
    if "email" not in defaults:
        defaults["email"] = f"golfer{Customer.objects.count()}@ex.ie"
    return Customer.objects.create(**defaults)


def definition(steps: dict, start: str | None = None, **extra) -> dict:
    return {
        "trigger": {"type": "manual"},
        "entryRule": None,
        "exitRule": None,
        "goal": None,
        "reentry": {"policy": "ALWAYS"},
        "maxEnrolments": None,
        "start": start or next(iter(steps)),
        "steps": steps,
        **extra,
    }


def published(steps: dict, name: str = "Welcome", **extra) -> Journey:
    journey = journey_create(
        data=JourneyInput(name=name, definition=definition(steps, **extra)), actor_label="tests"
    )
    journey_publish(journey=journey, actor_label="tests")
    return Journey.objects.get(pk=journey.pk)


def enrol(journey: Journey, people: list[Customer], at: dt.datetime | None = T0, **kwargs):
    """Enrol now, then move the new enrolments' clock to `at` (the engine's `now` in a test)."""
    result = journey_enrol(
        journey=journey, customer_ids=[p.id for p in people], actor_label="tests", **kwargs
    )
    if at is not None:
        ids = list(result.enrolments.values())
        Enrolment.objects.filter(pk__in=ids).update(entered_at=at, step_entered_at=at, due_at=at)
        EnrolmentEvent.objects.filter(enrolment_id__in=ids).update(at=at)
    return result


def enrolment(journey: Journey, person: Customer) -> Enrolment:
    return (
        Enrolment.objects.filter(journey=journey, customer=person).order_by("-entered_at").first()
    )


def trail(e: Enrolment) -> list[tuple[str, str, str]]:
    return list(
        EnrolmentEvent.objects.filter(enrolment=e)
        .order_by("id")
        .values_list("step", "kind", "branch")
    )


def timeline(person: Customer, type_: str, at: dt.datetime, **data) -> Activity:
    return Activity.objects.create(
        customer=person, type=type_, category=ActivityCategory.OTHER, title=type_, source="test",
        occurred_at=at, data=data,
    )  # fmt: skip


SEND = {"type": "send", "channel": "EMAIL", "template": "welcome_member",
        "variables": {"offerCode": "GOLF10"}, "content": {"subject": "Welcome"}, "next": None}  # fmt: skip


# --- sends through the ledger -------------------------------------------------------------------


def test_a_send_step_goes_through_the_ledger_with_consent_checked_when_sending(alpha):
    journey = published({"welcome": SEND})
    ok = customer(first_name="Ok")
    opted_out = customer(first_name="Out", email_opt_in=False)
    bounced = customer(first_name="Bounce", email_hard_bounced=True)
    complained = customer(first_name="Spam", complained=True)
    deceased = customer(first_name="Gone", membership_status="DECEASED")
    late = customer(first_name="Late")  # opts out after the step ran, before hand-over
    result = enrol(journey, [ok, opted_out, bounced, complained, deceased, late])
    assert len(result.enrolled) == 6

    done = run_due(now=timezone.now())
    assert done.completed == 5 and done.exited == 1  # the deceased leave before any step

    campaign = Campaign.objects.get(journey_id=journey.id)
    assert (campaign.type, campaign.journey_step, campaign.journey_version) == (
        CampaignType.JOURNEY, "welcome", 1,
    )  # fmt: skip
    run = CampaignRun.objects.get(campaign=campaign)
    sends = {s.customer_id: s for s in Send.objects.filter(run=run)}
    assert set(sends) == {ok.id, opted_out.id, bounced.id, complained.id, late.id}
    assert sends[opted_out.id].reason == "NO_CONSENT"
    assert sends[bounced.id].reason == "HARD_BOUNCED"
    assert sends[complained.id].reason == "COMPLAINED"
    assert sends[ok.id].status == sends[late.id].status == "PENDING"
    assert enrolment(journey, deceased).exit_reason == "customer deceased"

    Customer.objects.filter(pk=late.pk).update(email_opt_in=False)
    with MessagingPeer(token=TOKEN) as peer:
        adapter = HttpAdapter(base_url=peer.url, token=TOKEN)
        try:
            delivered = run_deliver(run_id=run.id, adapter=adapter)
        finally:
            adapter.close()
        assert (delivered.accepted, delivered.suppressed) == (1, 1)
        request = peer.state.accepted[str(sends[ok.id].id)]
    assert Send.objects.get(pk=sends[late.id].pk).reason == "NO_CONSENT"
    assert request["metadata"]["journeyId"] == str(journey.id)
    assert request["metadata"]["customerId"] == str(ok.id)
    assert request["templateId"] == "welcome_member"
    assert request["variables"]["offerCode"] == "GOLF10"
    assert request["variables"]["firstName"] == "Ok"
    assert request["content"] == {"subject": "Welcome"}
    assert trail(enrolment(journey, ok)) == [
        ("welcome", "ENTERED", ""), ("welcome", "COMPLETED", "next"),
    ]  # fmt: skip
    assert enrolment(journey, ok).status == "COMPLETED"


def test_the_trigger_events_payload_reaches_the_template_as_event(alpha):
    journey = published({"invite": {**SEND, "template": "competition_invite"}})
    invited, manual = customer(first_name="Invited"), customer(first_name="Manual")
    payload = {"competitionId": "c-7", "name": "Winter Stableford",
               "bookingUrl": "https://teetime.test/c-7"}  # fmt: skip
    enrol(journey, [invited], context={"eventType": "teetime.competition.published",
                                       "payload": payload})  # fmt: skip
    enrol(journey, [manual])
    run_due(now=timezone.now())

    sends = {s.customer_id: s for s in Send.objects.filter(campaign__journey_id=journey.id)}
    with MessagingPeer(token=TOKEN) as peer:
        adapter = HttpAdapter(base_url=peer.url, token=TOKEN)
        try:
            for run_id in {s.run_id for s in sends.values()}:
                run_deliver(run_id=run_id, adapter=adapter)
        finally:
            adapter.close()
        got = peer.state.accepted[str(sends[invited.id].id)]["variables"]
        plain = peer.state.accepted[str(sends[manual.id].id)]["variables"]
    assert got["event"] == payload
    assert got["offerCode"] == "GOLF10" and got["firstName"] == "Invited"
    assert "event" not in plain


def test_erasing_a_customer_ends_their_journeys_and_forgets_the_trigger(alpha):
    from profiles.services import customer_erase

    journey = published({
        "call": {"type": "notify", "title": "Call this member", "next": "wait"},
        "wait": {"type": "wait", "duration": {"days": 3}, "next": None},
    })  # fmt: skip
    gone, kept = customer(first_name="Gone"), customer(first_name="Kept")
    context = {"eventType": "scl.member.created", "payload": {"email": "gone@ex.ie"}}
    enrol(journey, [gone, kept], context=context)
    run_due(now=timezone.now())
    assert enrolment(journey, gone).status == "WAITING"

    customer_erase(customer=gone, actor_label="tests")

    erased = enrolment(journey, gone)
    assert (erased.status, erased.exit_reason, erased.context) == ("EXITED", "customer erased", {})
    assert trail(erased)[-1][:2] == ("wait", "EXITED")
    assert StaffTask.objects.get(customer=gone).status == "DISMISSED"
    assert enrolment(journey, kept).status == "WAITING"
    assert enrolment(journey, kept).context == context
    assert StaffTask.objects.get(customer=kept).status == "OPEN"


def test_frequency_cap_quiet_hours_and_erasure_apply_to_journey_sends(alpha):
    journey = published({"welcome": {**SEND, "priority": 2}})
    busy, calm, erased = customer(first_name="Busy"), customer(first_name="Calm"), customer()
    enrol(journey, [busy, calm, erased])
    Customer.objects.filter(pk=erased.pk).update(status="DELETED", email="")
    # Busy already had a message this week from an ordinary campaign.
    other = Campaign.objects.create(name="Newsletter", channels=["EMAIL"], status="SENDING")
    earlier = CampaignRun.objects.create(campaign=other, key="once", status="DONE")
    Send.objects.create(
        run=earlier, campaign=other, customer=busy, channel="EMAIL", status="ACCEPTED",
        priority=2, handed_at=timezone.now() - dt.timedelta(days=1), created_at=timezone.now(),
    )  # fmt: skip
    run_due(now=T0)
    assert enrolment(journey, erased).exit_reason == "customer erased"
    run = CampaignRun.objects.get(campaign__journey_id=journey.id)
    rules = campaign_settings()
    rules.frequency_cap = 1
    local = timezone.now().astimezone(DUBLIN)
    rules.quiet_hours_enabled = True
    rules.quiet_hours_start = (local - dt.timedelta(hours=1)).time()
    rules.quiet_hours_end = (local + dt.timedelta(hours=1)).time()
    rules.save()
    with MessagingPeer(token=TOKEN) as peer:
        adapter = HttpAdapter(base_url=peer.url, token=TOKEN)
        try:
            assert run_deliver(run_id=run.id, adapter=adapter).deferred == 2  # quiet hours
            rules.quiet_hours_enabled = False
            rules.save()
            Send.objects.filter(run=run).update(not_before=None)
            result = run_deliver(run_id=run.id, adapter=adapter)
        finally:
            adapter.close()
        assert (result.accepted, result.suppressed, result.deferred) == (1, 0, 1)
    sends = {s.customer_id: s for s in Send.objects.filter(run=run)}
    assert (sends[busy.id].status, sends[busy.id].reason) == ("DEFERRED", "CAPPED")
    assert sends[calm.id].status == "ACCEPTED" and sends[calm.id].deferred


def test_journey_campaigns_are_hidden_from_campaign_lists_the_api_and_admin(
    alpha, api, make_key, make_staff
):
    from campaigns.selectors import campaign_get, campaign_list
    from tests.conftest import STAFF_PASSWORD

    journey = published({"welcome": SEND})
    hidden = Campaign.objects.get(journey_id=journey.id)
    staff = api()
    assert staff.post("/t/alpha-golf/admin/login/", {
        "username": make_staff(alpha, "MARKETING"), "password": STAFF_PASSWORD,
        "next": "/t/alpha-golf/admin/",
    }).status_code == 302  # fmt: skip
    admin = "/t/alpha-golf/admin/campaigns/campaign/"
    page = staff.get(admin)
    assert page.status_code == 200 and str(hidden.id) not in page.content.decode()
    assert staff.get(f"{admin}{hidden.id}/change/").status_code in (302, 404)
    assert "JOURNEY" not in staff.get(f"{admin}add/").content.decode()
    assert hidden not in campaign_list()
    assert campaign_get(campaign_id=hidden.id) is None
    client = api(make_key(alpha, "crm:read,crm:campaigns"))
    listed = client.get("/t/alpha-golf/api/v1/campaigns").json()
    assert all(c["id"] != str(hidden.id) for c in listed["data"])
    assert client.get(f"/t/alpha-golf/api/v1/campaigns/{hidden.id}").status_code == 404
    refused = client.post(
        "/t/alpha-golf/api/v1/campaigns",
        data={"name": "Sneaky", "type": "JOURNEY"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "type" in refused.json()["error"]["details"]


# --- every step type -----------------------------------------------------------------------------


def test_every_step_type_and_branch(alpha, settings):
    from crm.accounts.services import webhook_secret_create

    settings.JOURNEY_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
    webhook_secret_create(name="receiver")  # a webhook step is published only with one
    steps = {
        "hello": {**SEND, "next": "pause"},
        "pause": {"type": "wait", "duration": {"days": 1}, "next": "vip"},
        "vip": {"type": "condition", "yes": "mark", "no": "ab",
                "rule": {"combinator": "AND",
                         "rules": [{"field": "tags", "operator": "contains", "value": "vip"}]}},
        "mark": {"type": "update", "addTags": ["Welcomed", "journey"], "removeTags": ["vip"],
                 "lifecycleStage": "ADVOCATE", "note": "Welcomed as a VIP", "next": "call"},
        "call": {"type": "notify", "title": "Call this member", "body": "A VIP joined",
                 "assignTo": "MARKETING", "next": "hook"},
        "hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "next": "bye"},
        "bye": {"type": "end"},
        "ab": {"type": "split", "branches": [{"key": "A", "percent": 50, "next": "bye"},
                                             {"key": "holdout", "percent": 50, "next": None}]},
    }  # fmt: skip
    journey = published(steps)
    vip = customer(first_name="Vip", tags=["vip", "member"])
    others = [customer(first_name=f"P{n}") for n in range(12)]
    enrol(journey, [vip, *others])

    first = run_due(now=T0)
    assert first.completed == 0
    assert set(Enrolment.objects.filter(journey=journey).values_list("status", "step")) == {
        ("WAITING", "pause")
    }
    waiting = enrolment(journey, vip)
    assert waiting.due_at == T0 + dt.timedelta(days=1)  # June: no clock change
    assert run_due(now=T0 + dt.timedelta(hours=23)).taken == 0

    run_due(now=T0 + dt.timedelta(days=1))
    vip.refresh_from_db()
    assert vip.tags == ["journey", "member", "welcomed"]
    assert vip.lifecycle_stage == "ADVOCATE"
    assert CustomerNote.objects.get(customer=vip).author_label == "Journey: Welcome"
    task = StaffTask.objects.get(customer=vip)
    assert (task.title, task.assigned_to, task.step, task.journey_id) == (
        "Call this member", "MARKETING", "call", journey.id,
    )  # fmt: skip
    hook = WebhookDelivery.objects.get(enrolment__customer=vip)
    assert hook.body["customer"]["id"] == str(vip.id) and hook.body["step"] == "hook"
    assert [s for s, kind, _b in trail(enrolment(journey, vip)) if kind == "COMPLETED"] == [
        "hello", "pause", "vip", "mark", "call", "hook", "bye",
    ]  # fmt: skip
    assert enrolment(journey, vip).status == "COMPLETED"

    branches = {}
    for person in others:
        e = enrolment(journey, person)
        assert e.status == "COMPLETED"
        branch = EnrolmentEvent.objects.get(enrolment=e, step="ab", kind="COMPLETED").branch
        branches[person.id] = branch
        assert branch == ("A" if split_bucket(e.id, "ab") < 5000 else "holdout")
        assert (e.step == "bye") == (branch == "A")  # the holdout ends at the split
    assert set(branches.values()) <= {"A", "holdout"}
    assert not StaffTask.objects.filter(customer__in=others).exists()


def test_a_split_is_stable_and_near_its_percentages():
    import uuid

    ids = [uuid.uuid4() for _ in range(4000)]
    buckets = [split_bucket(i, "ab") for i in ids]
    assert buckets == [split_bucket(i, "ab") for i in ids]
    share = sum(b < 2000 for b in buckets) / len(buckets)
    assert 0.17 < share < 0.23


# --- waitForEvent ------------------------------------------------------------------------------------


def _wait_for_open(**extra) -> dict:
    return {
        "hello": {**SEND, "next": "opened"},
        "opened": {"type": "waitForEvent", "eventType": "messaging.email.opened",
                   "ofStep": "hello", "timeout": {"days": 2}, "onEvent": "tag_open",
                   "onTimeout": "tag_no", **extra},
        "tag_open": {"type": "update", "addTags": ["opened"], "next": None},
        "tag_no": {"type": "update", "addTags": ["not-opened"], "next": None},
    }  # fmt: skip


def test_wait_for_an_open_of_the_journeys_own_message_or_time_out(alpha):
    from journeys.triggers import triggers_run

    journey = published(_wait_for_open())
    other = published({"news": {**SEND, "template": "newsletter"}}, name="Newsletter")
    early, late, never = customer(first_name="Early"), customer(first_name="Late"), customer()
    enrol(journey, [early, late, never])
    enrol(other, [never])
    run_due(now=T0)
    sends = {s.customer_id: s for s in Send.objects.filter(campaign__journey_id=journey.id)}
    news = Send.objects.get(campaign__journey_id=other.id)
    assert Enrolment.objects.filter(journey=journey, status="WAITING", step="opened").count() == 3

    # Opened before the scan saw it: found when the wait is next looked at.
    timeline(
        early, "messaging.email.opened", T0 + dt.timedelta(hours=1), sendId=str(sends[early.id].id)
    )
    # An open of another journey's message is not this one's.
    timeline(never, "messaging.email.opened", T0 + dt.timedelta(hours=1), sendId=str(news.id))
    triggers_run(now=T0 + dt.timedelta(hours=1))
    assert enrolment(journey, early).due_at <= T0 + dt.timedelta(hours=1)  # woken
    assert enrolment(journey, never).due_at == T0 + dt.timedelta(days=2)
    run_due(now=T0 + dt.timedelta(hours=1))
    assert "opened" in Customer.objects.get(pk=early.pk).tags

    timeline(
        late, "messaging.email.opened", T0 + dt.timedelta(days=1), sendId=str(sends[late.id].id)
    )
    run_due(now=T0 + dt.timedelta(days=2))  # the scan never ran: the timeout finds it anyway
    assert "opened" in Customer.objects.get(pk=late.pk).tags
    assert "not-opened" in Customer.objects.get(pk=never.pk).tags
    assert EnrolmentEvent.objects.get(enrolment=enrolment(journey, never), step="opened",
                                      kind="COMPLETED").branch == "onTimeout"  # fmt: skip


def test_an_open_before_the_wait_began_counts(alpha):
    steps = _wait_for_open()
    steps["hello"]["next"] = "pause"
    steps["pause"] = {"type": "wait", "duration": {"days": 3}, "next": "opened"}
    journey = published(steps)
    person = customer()
    enrol(journey, [person])
    run_due(now=T0)
    send = Send.objects.get(campaign__journey_id=journey.id)
    timeline(person, "messaging.email.opened", T0 + dt.timedelta(hours=2), sendId=str(send.id))
    run_due(now=T0 + dt.timedelta(days=3))
    assert "opened" in Customer.objects.get(pk=person.pk).tags


# --- exit rules and goals ------------------------------------------------------------------------------


def test_the_exit_rule_is_checked_before_every_step_and_the_goal_converts(alpha):
    from journeys.triggers import triggers_run

    steps = {
        "hello": {**SEND, "next": "pause"},
        "pause": {"type": "wait", "duration": {"days": 7}, "next": "again"},
        "again": {**SEND, "template": "reminder", "next": None},
    }
    exit_rule = {"combinator": "AND",
                 "rules": [{"field": "tags", "operator": "contains", "value": "resigned"}]}  # fmt: skip
    goal = {"eventType": "teetime.booking.created", "filters": {}, "matchTrigger": []}
    journey = published(steps, exitRule=exit_rule, goal=goal)
    stays, leaves, books, booked_early = (customer(first_name=n) for n in ("S", "L", "B", "E"))
    enrol(journey, [stays, leaves, books, booked_early])
    run_due(now=T0)
    assert Send.objects.filter(campaign__journey_id=journey.id).count() == 4

    Customer.objects.filter(pk=leaves.pk).update(tags=["resigned"])
    timeline(books, "teetime.booking.created", T0 + dt.timedelta(days=1))
    triggers_run(now=T0 + dt.timedelta(days=1))  # the scan converts at once, mid-wait
    converted = enrolment(journey, books)
    assert converted.status == "CONVERTED" and converted.step == "pause"
    # A booking the scan has not seen yet is found before the next step.
    timeline(booked_early, "teetime.booking.created", T0 + dt.timedelta(days=6))
    run_due(now=T0 + dt.timedelta(days=7))
    assert enrolment(journey, booked_early).status == "CONVERTED"
    left = enrolment(journey, leaves)
    assert (left.status, left.exit_reason, left.step) == ("EXITED", "exit rule", "pause")
    assert enrolment(journey, stays).status == "COMPLETED"
    reminders = Send.objects.filter(campaign__journey_step="again")
    assert list(reminders.values_list("customer_id", flat=True)) == [stays.id]
    assert EnrolmentEvent.objects.filter(journey=journey, kind="CONVERTED").count() == 2
    assert EnrolmentEvent.objects.filter(journey=journey, kind="EXITED", step="pause").count() == 1


# --- crash safety ----------------------------------------------------------------------------------


class Crash(Exception):
    pass


def test_a_crash_before_commit_leaves_nothing_and_the_rerun_does_everything_once(alpha):
    from journeys.engine import DueResult, _run_batch

    steps = {
        "hello": {**SEND, "next": "mark"},
        "mark": {"type": "update", "addTags": ["welcomed"], "note": "hi", "next": "call"},
        "call": {"type": "notify", "title": "Call", "next": None},
    }
    journey = published(steps)
    people = [customer(first_name=f"C{n}") for n in range(5)]
    enrol(journey, people)
    with pytest.raises(Crash), transaction.atomic():
        _run_batch(now=T0, size=100, result=DueResult())
        assert Send.objects.count() == 5 and StaffTask.objects.count() == 5
        raise Crash  # the worker dies before its transaction commits
    assert not CampaignRun.objects.exists() and not Send.objects.exists()
    assert not StaffTask.objects.exists() and not CustomerNote.objects.exists()
    assert not Customer.objects.filter(tags__contains=["welcomed"]).exists()
    assert set(Enrolment.objects.values_list("step", "status")) == {("hello", "ACTIVE")}

    run_due(now=T0)
    run_due(now=T0)  # nothing is due any more: repeats nothing
    assert CampaignRun.objects.count() == 1
    assert Send.objects.count() == 5 and StaffTask.objects.count() == 5
    assert CustomerNote.objects.count() == 5
    assert Customer.objects.filter(tags__contains=["welcomed"]).count() == 5
    assert EnrolmentEvent.objects.filter(kind="COMPLETED").count() == 15


def test_a_failing_step_is_retried_then_failed_without_holding_up_the_others(alpha):
    rule = {"combinator": "AND", "rules": [{"field": "inSegment", "operator": "eq",
                                            "value": "00000000-0000-0000-0000-000000000001"}]}  # fmt: skip
    bad = definition({"check": {"type": "condition", "rule": rule, "yes": None, "no": None}})
    journey = published({"hello": {**SEND, "next": None}}, name="Good")
    broken = journey_create(
        data=JourneyInput(name="Broken", definition=definition({"end": {"type": "end"}}))
    )
    journey_publish(journey=broken)
    # A version whose rule names a segment since deleted (written as it was stored).
    from journeys.models import JourneyVersion

    v2 = JourneyVersion.objects.create(journey=broken, number=2, definition=bad, published_at=T0)
    Journey.objects.filter(pk=broken.pk).update(published_version=v2)
    good_person, bad_person = customer(), customer()
    enrol(journey, [good_person])
    enrol(Journey.objects.get(pk=broken.pk), [bad_person])
    result = run_due(now=T0)
    assert result.retried == 1 and result.completed == 1
    stuck = enrolment(broken, bad_person)
    assert stuck.attempts == 1 and "segment" in stuck.last_error
    now = T0
    for _ in range(MAX_ATTEMPTS):
        now += dt.timedelta(hours=2)
        run_due(now=now)
    stuck.refresh_from_db()
    assert stuck.status == "FAILED"
    assert EnrolmentEvent.objects.filter(enrolment=stuck, kind="FAILED").count() == 1


# --- versions and states -------------------------------------------------------------------------


def test_publishing_v2_leaves_v1_enrolments_on_v1_until_migrated(alpha):
    v1_steps = {
        "hello": {**SEND, "next": "pause"},
        "pause": {"type": "wait", "duration": {"days": 2}, "next": "bye"},
        "bye": {"type": "update", "addTags": ["v1"], "next": None},
    }
    journey = published(v1_steps)
    old, moved = customer(first_name="Old"), customer(first_name="Moved")
    enrol(journey, [old])
    run_due(now=T0)
    enrol(journey, [moved], at=T0 + dt.timedelta(days=1))
    run_due(now=T0 + dt.timedelta(days=1))

    v2_steps = {**v1_steps, "bye": {"type": "update", "addTags": ["v2"], "next": None}}
    journey_update(
        journey=journey, data=JourneyInput(definition=definition(v2_steps)), actor_label="t"
    )
    v2 = journey_publish(journey=journey, actor_label="tests")
    assert v2.number == 2
    assert journey_publish(journey=journey).number == 2  # nothing changed: the same version
    new = customer(first_name="New")
    enrol(journey, [new], at=T0 + dt.timedelta(days=1))
    assert enrolment(journey, new).version == v2
    v1 = journey.versions.get(number=1)
    assert enrolment(journey, old).version == enrolment(journey, moved).version == v1

    run_due(now=T0 + dt.timedelta(days=2))
    assert Customer.objects.get(pk=old.pk).tags == ["v1"]  # finished the version it began

    assert journey_migrate(journey=journey, from_version=v1, actor_label="t") == 1
    moved_e = enrolment(journey, moved)
    assert moved_e.version == v2 and moved_e.status == "WAITING"  # it kept its wait
    assert moved_e.due_at == T0 + dt.timedelta(days=3)
    run_due(now=T0 + dt.timedelta(days=3))
    assert Customer.objects.get(pk=moved.pk).tags == ["v2"]
    run_due(now=T0 + dt.timedelta(days=4))  # it waited from the 2nd day, when it was first run
    assert Customer.objects.get(pk=new.pk).tags == ["v2"]
    assert Campaign.objects.filter(journey_id=journey.id).count() == 2  # one per version


def test_only_active_journeys_enrol_and_run(alpha):
    journey = published({
        "pause": {"type": "wait", "duration": {"hours": 1}, "next": "bye"},
        "bye": {"type": "update", "addTags": ["done"], "next": None},
    })  # fmt: skip
    a, b, c = customer(), customer(), customer()
    enrol(journey, [a, b])
    run_due(now=T0)
    journey_pause(journey=journey, actor_label="t")
    with pytest.raises(JourneyStateError):
        journey_pause(journey=journey)
    assert enrol(journey, [c]).skipped == {c.id: "journey not active"}
    assert run_due(now=T0 + dt.timedelta(hours=2)).taken == 0  # steps wait while paused
    journey_resume(journey=journey, actor_label="t")
    assert run_due(now=T0 + dt.timedelta(hours=2)).completed == 2
    d = customer()
    enrol(journey, [d])
    run_due(now=T0)
    archived = journey_archive(journey=journey, actor_label="t")
    assert archived.status == "ARCHIVED"
    gone = enrolment(journey, d)
    assert (gone.status, gone.exit_reason) == ("EXITED", "journey archived")
    assert EnrolmentEvent.objects.filter(enrolment=gone, kind="EXITED").exists()
    with pytest.raises(JourneyStateError):
        journey_resume(journey=journey)
    with pytest.raises(JourneyStateError):
        journey_update(journey=journey, data=JourneyInput(name="Again"))


# --- time zones ----------------------------------------------------------------------------------


def test_a_days_wait_keeps_the_club_clock_across_the_october_change(alpha):
    assert alpha.timezone == "Europe/Dublin"
    journey = published({
        "pause": {"type": "wait", "duration": {"days": 1}, "next": "nine"},
        "nine": {"type": "wait", "until": {"time": "09:00"}, "next": "bye"},
        "bye": {"type": "update", "addTags": ["done"], "next": None},
    })  # fmt: skip
    saturday = dt.datetime(2026, 10, 24, 9, 0, tzinfo=DUBLIN)  # IST, UTC+1
    assert saturday.utcoffset() == dt.timedelta(hours=1)
    person = customer()
    enrol(journey, [person], at=saturday)
    run_due(now=saturday)
    due = enrolment(journey, person).due_at
    assert due.astimezone(DUBLIN) == dt.datetime(2026, 10, 25, 9, 0, tzinfo=DUBLIN)
    assert due == dt.datetime(2026, 10, 25, 9, 0, tzinfo=dt.UTC)  # GMT now: 25 hours later
    assert due - saturday == dt.timedelta(hours=25)

    # "Until 09:00" from Sunday 10:00 GMT is Monday 09:00 GMT.
    run_due(now=dt.datetime(2026, 10, 25, 10, 0, tzinfo=DUBLIN))
    until = enrolment(journey, person).due_at
    assert until == dt.datetime(2026, 10, 26, 9, 0, tzinfo=dt.UTC)


def test_until_nine_on_the_saturday_before_the_change_lands_on_sunday_nine_gmt(alpha):
    journey = published({
        "nine": {"type": "wait", "until": {"time": "09:00", "weekdays": [6]}, "next": None},
    })  # fmt: skip
    person = customer()
    friday = dt.datetime(2026, 10, 23, 12, 0, tzinfo=DUBLIN)
    enrol(journey, [person], at=friday)
    run_due(now=friday)
    assert enrolment(journey, person).due_at == dt.datetime(2026, 10, 25, 9, 0, tzinfo=dt.UTC)


def test_a_date_trigger_fires_at_nine_club_time_on_both_sides_of_the_change(alpha):
    steps = {"hi": {"type": "update", "addTags": ["renewal-soon"], "next": None}}
    journey = published(
        steps, trigger={"type": "date", "field": "renewalDueOn", "offsetDays": -30, "time": "09:00"}
    )
    saturday_due = customer(first_name="Sat", renewal_due_on=dt.date(2026, 11, 23))
    sunday_due = customer(first_name="Sun", renewal_due_on=dt.date(2026, 11, 24))
    # Saturday 24 October, IST: 07:59 UTC is 08:59 club time, too early; 08:00 UTC is 09:00.
    assert date_triggers_run(now=dt.datetime(2026, 10, 24, 7, 59, tzinfo=dt.UTC))["enrolled"] == 0
    assert date_triggers_run(now=dt.datetime(2026, 10, 24, 8, 0, tzinfo=dt.UTC))["enrolled"] == 1
    assert date_triggers_run(now=dt.datetime(2026, 10, 24, 20, 0, tzinfo=dt.UTC))["enrolled"] == 0
    # Sunday 25 October, GMT: 08:59 UTC is 08:59 club time; 09:00 UTC is 09:00.
    assert date_triggers_run(now=dt.datetime(2026, 10, 25, 8, 59, tzinfo=dt.UTC))["enrolled"] == 0
    assert date_triggers_run(now=dt.datetime(2026, 10, 25, 9, 0, tzinfo=dt.UTC))["enrolled"] == 1
    assert enrolment(journey, saturday_due).context["date"] == "2026-11-23"
    assert enrolment(journey, sunday_due).entry_key == "date:2026-10-25"
    assert JourneyDateRun.objects.filter(journey=journey).count() == 2


def test_until_date_waits_for_the_customers_own_date(alpha):
    journey = published({
        "wait": {"type": "wait", "untilDate": {"field": "dateOfBirth", "offsetDays": -1,
                                               "time": "10:00"}, "next": "bye"},
        "bye": {"type": "update", "addTags": ["eve"], "next": None},
    })  # fmt: skip
    born = customer(date_of_birth=dt.date(1980, 6, 10))
    missing = customer()
    enrol(journey, [born, missing])
    run_due(now=T0)
    assert enrolment(journey, born).due_at == dt.datetime(2026, 6, 9, 10, 0, tzinfo=DUBLIN)
    assert Customer.objects.get(pk=missing.pk).tags == ["eve"]  # no date: straight on
