"""What brings customers into journeys: events through the real ingestion path (filters, first
time, events about no one with an entry rule, waits matched to the trigger's competition),
segment entries and exits, date triggers year after year, the re-entry policies, the cap, the
entry rule, and each club's tasks touching only that club."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.sending import campaign_settings
from journeys.engine import run_due
from journeys.models import Enrolment, EnrolmentEvent, Journey
from journeys.services import JourneyInput, journey_create, journey_enrol, journey_publish
from journeys.triggers import date_triggers_run, triggers_run
from profiles.models import Customer
from segments.models import Segment
from segments.services import segment_members_add, segment_members_remove
from tests.events import envelope, member, player

DUBLIN = ZoneInfo("Europe/Dublin")
TAG = {"type": "update", "addTags": ["reached"], "next": None}


@pytest.fixture
def alpha(clubs) -> Iterator:
    with schema_context(clubs.alpha.schema_name):
        rules = campaign_settings()
        rules.quiet_hours_enabled = False
        rules.frequency_cap = 0
        rules.save()
        yield clubs.alpha


def journey(name: str, trigger: dict, steps: dict | None = None, **extra) -> Journey:
    steps = steps or {"tag": TAG}
    body = {
        "trigger": trigger, "entryRule": None, "exitRule": None, "goal": None,
        "reentry": {"policy": "ALWAYS"}, "maxEnrolments": None, "start": next(iter(steps)),
        "steps": steps, **extra,
    }  # fmt: skip
    created = journey_create(data=JourneyInput(name=name, definition=body), actor_label="tests")
    journey_publish(journey=created, actor_label="tests")
    return Journey.objects.get(pk=created.pk)


def enrolled(j: Journey) -> set:
    return set(
        Enrolment.objects.filter(journey=j).values_list("customer__scl_member_id", flat=True)
    )


def by_member(member_id: int) -> Customer:
    return Customer.objects.get(scl_member_id=member_id)


def test_an_event_trigger_with_filters_enrols_from_the_ingestion_pipeline(alpha, ingest):
    ingest([member(200, email="before@ex.ie")])  # before the journey listened
    full = journey(
        "Welcome full members",
        {"type": "event", "eventType": "scl.member.created",
         "filters": {"payload": {"tier": {"code": "FULL"}}}},
    )  # fmt: skip
    ingest([
        member(201, email="full@ex.ie"),
        member(202, email="junior@ex.ie", tier={"code": "JUNIOR", "name": "Junior"}),
        envelope("scl.tier.changed", {"memberId": 201, "fromTier": {"code": "FULL"},
                                      "toTier": {"code": "SENIOR"}}, identity={"sclMemberId": 201}),
    ])  # fmt: skip
    result = triggers_run()
    assert result["activities"]["enrolled"] == 1
    assert enrolled(full) == {201}
    entry = Enrolment.objects.get(journey=full)
    assert entry.source == "EVENT" and entry.context["eventType"] == "scl.member.created"
    assert entry.context["payload"]["memberId"] == 201
    assert entry.entry_key.startswith("event:")
    assert triggers_run()["activities"] == {}  # read once
    run_due()
    assert "reached" in by_member(201).tags


def test_first_time_only(alpha, ingest):
    ingest([player("p-old"), envelope("teetime.booking.completed",
                                      {"bookingId": "b0", "playerId": "p-old"},
                                      identity={"teetimePlayerId": "p-old"})])  # fmt: skip
    first = journey(
        "First round", {"type": "event", "eventType": "teetime.completed", "firstTime": True}
    )
    assert first.trigger_event_type == "teetime.booking.completed"  # the alias, read as named
    ingest([
        player("p-new"),
        *(envelope("teetime.booking.completed", {"bookingId": f"b{n}", "playerId": pid},
                   identity={"teetimePlayerId": pid}, at=n)
          for n, pid in ((1, "p-new"), (2, "p-new"), (3, "p-old"))),
    ])  # fmt: skip
    triggers_run()
    people = Enrolment.objects.filter(journey=first).values_list("customer__teetime_player_id")
    assert list(people) == [("p-new",)]


def test_entering_and_leaving_a_segment(alpha):
    segment = Segment.objects.create(name="Lapsing", type="STATIC")
    a = Customer.objects.create(email="a@ex.ie")
    b = Customer.objects.create(email="b@ex.ie")
    on_enter = journey("Win back", {"type": "segment", "segmentId": str(segment.id), "on": "enter"})
    on_leave = journey("Welcome back", {"type": "segment", "segmentId": str(segment.id),
                                        "on": "leave"})  # fmt: skip
    assert on_enter.trigger_segment_id == segment.id
    segment_members_add(segment=segment, customer_ids=[a.id, b.id])
    triggers_run()
    assert set(Enrolment.objects.filter(journey=on_enter).values_list("customer", flat=True)) == {
        a.id, b.id,
    }  # fmt: skip
    assert not Enrolment.objects.filter(journey=on_leave).exists()
    segment_members_remove(segment=segment, customer_ids=[a.id])
    triggers_run()
    left = Enrolment.objects.get(journey=on_leave)
    assert left.customer_id == a.id and left.source == "SEGMENT"
    assert left.context["on"] == "leave" and left.context["segmentId"] == str(segment.id)


def test_a_competition_for_no_one_enrols_the_eligible_and_waits_for_an_entry_to_it(alpha, ingest):
    ingest([player("p1", email="p1@ex.ie"), player("p2", email="p2@ex.ie"), member(300)])
    steps = {
        "invite": {"type": "send", "channel": "EMAIL", "template": "competition_invite",
                   "next": "entered"},
        "entered": {"type": "waitForEvent", "eventType": "teetime.competition.entry.created",
                    "matchTrigger": ["competitionId"], "timeout": {"days": 5},
                    "onEvent": "yes", "onTimeout": "no"},
        "yes": {"type": "update", "addTags": ["entered"], "next": None},
        "no": {"type": "update", "addTags": ["no-entry"], "next": None},
    }  # fmt: skip
    golfers = {"combinator": "AND",
               "rules": [{"field": "teetimePlayerId", "operator": "isNotNull"}]}  # fmt: skip
    comp = journey(
        "New competition", {"type": "event", "eventType": "teetime.competition.published"},
        steps, entryRule=golfers,
    )  # fmt: skip
    ingest([envelope("teetime.competition.published",
                     {"competitionId": "c1", "name": "Winter Stableford"})])  # fmt: skip
    assert triggers_run()["raw_events"]["enrolled"] == 2
    entries = {e.customer.teetime_player_id: e for e in Enrolment.objects.filter(journey=comp)}
    assert set(entries) == {"p1", "p2"}
    assert entries["p1"].context["payload"]["competitionId"] == "c1"
    run_due()
    now = timezone.now()
    ingest([
        envelope("teetime.competition.entry.created", {"competitionId": "c2", "playerId": "p1"},
                 identity={"teetimePlayerId": "p1"}, at=now),
        envelope("teetime.competition.entry.created", {"competitionId": "c1", "playerId": "p2"},
                 identity={"teetimePlayerId": "p2"}, at=now),
    ])  # fmt: skip
    assert triggers_run()["activities"]["woken"] == 1
    run_due()
    assert "entered" in Customer.objects.get(teetime_player_id="p2").tags
    assert Enrolment.objects.get(journey=comp, customer__teetime_player_id="p1").status == "WAITING"
    run_due(now=now + dt.timedelta(days=5, minutes=1))
    assert "no-entry" in Customer.objects.get(teetime_player_id="p1").tags


def test_an_event_about_no_one_needs_an_entry_rule(alpha):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        journey("No rule", {"type": "event", "eventType": "teetime.competition.published"})
    assert "entryRule" in caught.value.message_dict


# --- re-entry, cap, entry rule --------------------------------------------------------------------


def _nine(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9, 0), tzinfo=DUBLIN)


def test_a_yearly_birthday_journey_enrols_again_next_year(alpha):
    always = journey("Birthday", {"type": "date", "field": "dateOfBirth", "time": "09:00"})
    after = journey("Birthday 300", {"type": "date", "field": "dateOfBirth"},
                    reentry={"policy": "AFTER_DAYS", "days": 300})  # fmt: skip
    person = Customer.objects.create(email="bday@ex.ie", date_of_birth=dt.date(1980, 3, 15))
    leap = Customer.objects.create(email="leap@ex.ie", date_of_birth=dt.date(1984, 2, 29))
    for year in (2027, 2028):
        date_triggers_run(now=_nine(dt.date(year, 3, 15)))
        run_due(now=_nine(dt.date(year, 3, 15)))
    for j in (always, after):
        keys = sorted(Enrolment.objects.filter(journey=j, customer=person).values_list(
            "entry_key", flat=True))  # fmt: skip
        assert keys == ["date:2027-03-15", "date:2028-03-15"]
    # 29 February: on the 28th in 2027, on the day in 2028.
    for day in (dt.date(2027, 2, 28), dt.date(2028, 2, 28), dt.date(2028, 2, 29)):
        date_triggers_run(now=_nine(day))
        run_due(now=_nine(day))
    keys = sorted(Enrolment.objects.filter(journey=always, customer=leap).values_list(
        "entry_key", flat=True))  # fmt: skip
    assert keys == ["date:2027-02-28", "date:2028-02-29"]


def test_once_never_enrols_again(alpha):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):  # a birthday every year cannot be ONCE
        journey("Once a birthday", {"type": "date", "field": "dateOfBirth"},
                reentry={"policy": "ONCE"})  # fmt: skip
    once = journey("Renewal", {"type": "date", "field": "renewalDueOn"}, reentry={"policy": "ONCE"})
    person = Customer.objects.create(email="r@ex.ie", renewal_due_on=dt.date(2027, 1, 10))
    date_triggers_run(now=_nine(dt.date(2027, 1, 10)))
    run_due(now=_nine(dt.date(2027, 1, 10)))
    Customer.objects.filter(pk=person.pk).update(renewal_due_on=dt.date(2028, 1, 10))
    date_triggers_run(now=_nine(dt.date(2028, 1, 10)))
    assert list(Enrolment.objects.filter(journey=once).values_list("entry_key", "status")) == [
        ("once", "COMPLETED")
    ]


def test_manual_enrolment_reasons_cap_and_entry_rule(alpha):
    opted = {
        "combinator": "AND",
        "rules": [{"field": "emailOptIn", "operator": "eq", "value": True}],
    }
    capped = journey(
        "Capped", {"type": "manual"}, {"pause": {"type": "wait", "duration": {"days": 1},
                                                 "next": None}},
        entryRule=opted, maxEnrolments=2, reentry={"policy": "AFTER_DAYS", "days": 30},
    )  # fmt: skip
    ok = [Customer.objects.create(email=f"ok{n}@ex.ie", email_opt_in=True) for n in range(3)]
    no = Customer.objects.create(email="no@ex.ie", email_opt_in=False)
    erased = Customer.objects.create(email="", status="DELETED")
    missing = uuid.uuid4()
    result = journey_enrol(
        journey=capped, customer_ids=[str(c.id) for c in ok] + [no.id, "abc", missing, erased.id],
        key="req-1", source="API", actor_label="key:1",
    )  # fmt: skip
    assert result.enrolled == [ok[0].id, ok[1].id]
    assert result.skipped == {
        ok[2].id: "cap reached", no.id: "does not match the entry rule",
        "abc": "no such customer", missing: "no such customer", erased.id: "no such customer",
    }  # fmt: skip
    again = journey_enrol(journey=capped, customer_ids=[ok[0].id], key="req-1")
    assert again.skipped == {ok[0].id: "already in the journey"}
    entry = Enrolment.objects.get(journey=capped, customer=ok[0])
    assert (entry.source, entry.entry_key) == ("API", "manual:req-1")

    relaxed = journey("Again after 30 days", {"type": "manual"}, {"tag": TAG},
                      reentry={"policy": "AFTER_DAYS", "days": 30})  # fmt: skip
    journey_enrol(journey=relaxed, customer_ids=[ok[2].id])
    run_due()
    assert journey_enrol(journey=relaxed, customer_ids=[ok[2].id]).skipped == {
        ok[2].id: "re-entry not allowed yet"
    }
    Enrolment.objects.filter(journey=relaxed).update(
        entered_at=timezone.now() - dt.timedelta(days=31)
    )
    assert journey_enrol(journey=relaxed, customer_ids=[ok[2].id]).enrolled == [ok[2].id]


def test_the_cap_holds_for_triggers_too(alpha, ingest):
    capped = journey("Two only", {"type": "event", "eventType": "scl.member.created"},
                     maxEnrolments=2)  # fmt: skip
    ingest([member(400 + n, email=f"m{n}@ex.ie", at=n) for n in range(4)])
    triggers_run()
    assert enrolled(capped) == {400, 401}  # the first two events


# --- tenant isolation of the tasks ----------------------------------------------------------------


def test_each_clubs_tasks_touch_only_that_club(clubs):
    from journeys import tasks

    people = {}
    for club in (clubs.alpha, clubs.bravo):
        with schema_context(club.schema_name):
            j = journey("Tag", {"type": "manual"})
            person = Customer.objects.create(email=f"iso@{club.slug}.ie")
            journey_enrol(journey=j, customer_ids=[person.id])
            people[club.slug] = person
    with schema_context(clubs.alpha.schema_name):
        out = tasks.run_due.apply().get()
        assert out["completed"] == 1
        assert Customer.objects.get(pk=people["alpha-golf"].pk).tags == ["reached"]
    with schema_context(clubs.bravo.schema_name):
        assert Enrolment.objects.get().status == "ACTIVE"  # untouched by alpha's task
        assert Customer.objects.get(pk=people["bravo-golf"].pk).tags == []
        assert not Customer.objects.filter(pk=people["alpha-golf"].pk).exists()
        assert tasks.run_due.apply().get()["completed"] == 1
    with schema_context(clubs.alpha.schema_name):
        assert EnrolmentEvent.objects.filter(kind="COMPLETED").count() == 1


# --- the cursors' horizon -------------------------------------------------------------------------


def test_a_cursor_waits_for_a_writer_that_may_still_commit_a_smaller_id(alpha):
    """Ids come from a sequence before the commit: while another transaction that began before
    the horizon is writing, the cursor reads no further; once it is over, it reads on."""
    import threading

    from django.db import connections, transaction

    from journeys.triggers import _cursor, _readable
    from profiles.models import Activity

    with transaction.atomic():
        cursor = _cursor("activities")
    start = cursor.last_id
    writing, done = threading.Event(), threading.Event()

    def writer() -> None:
        try:
            with schema_context(alpha.schema_name):
                try:
                    with transaction.atomic():
                        Activity.objects.create(type="x.writer", category="other", title="w",
                                                source="test", occurred_at=timezone.now())  # fmt: skip
                        writing.set()
                        done.wait(30)
                        raise RuntimeError("roll back")  # leaves nothing behind
                except RuntimeError:
                    pass
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    assert writing.wait(30)
    Activity.objects.create(type="x.main", category="other", title="m", source="test",
                            occurred_at=timezone.now())  # fmt: skip
    assert _readable(cursor) == start  # the writer began before the horizon: wait for it
    assert cursor.horizon_id > start
    done.set()
    thread.join(30)
    assert _readable(cursor) == cursor.horizon_id > start
