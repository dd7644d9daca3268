"""Beat's periodic work goes only to the clubs with something due (crm/periodic.py), and the
safety net reaches every club once a period, a share of them each minute.

Against the test database's real club schemas: alpha is given due work of one kind at a time,
bravo has nothing due; the dispatcher is asked about both (and the disabled club), and what it
publishes is read back from this run's own queues on the real Redis broker. The safety net's
cursors are real Redis keys too.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.periodic import WorkProbe, clubs_with_work, work_probe, work_probes
from crm.tasks import (
    dispatch_due,
    fan_out_to_tenants,
    safety_net,
    safety_net_buckets,
    safety_net_buckets_due,
    safety_net_cursor,
    safety_net_cursor_set,
    stable_offset,
)

MINUTE_TASKS = [
    entry["args"][0]
    for entry in settings.CELERY_BEAT_SCHEDULE.values()
    if entry["task"] in ("crm.tasks.dispatch_due", "crm.tasks.fan_out_to_tenants")
    and entry["schedule"] <= 60
]
# task -> its safety net's period
NET_PERIODS = {
    entry["args"][0]: entry["args"][1]
    for entry in settings.CELERY_BEAT_SCHEDULE.values()
    if entry["task"] == "crm.tasks.safety_net"
}


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    _drain(client)
    yield client
    _drain(client)


@pytest.fixture(autouse=True)
def net_cursors() -> Iterator[None]:
    """No safety-net cursor left from another test (or run) in this Redis database."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("crm:safety-net:*"):
        client.delete(key)
    yield
    for key in client.scan_iter("crm:safety-net:*"):
        client.delete(key)


def _minute() -> int:
    return int(timezone.now().timestamp() // 60)


def _drain(client: redis.Redis) -> None:
    for queue in settings.CELERY_WORKER_QUEUES:
        client.delete(queue)


def _queued(client: redis.Redis, task: str) -> list[str]:
    """The schemas `task` was published to, read from this run's queues."""
    schemas = []
    for queue in settings.CELERY_WORKER_QUEUES:
        for raw in client.lrange(queue, 0, -1):
            message = json.loads(raw)
            headers = message["headers"]
            if headers["task"] == task:
                schemas.append(headers.get("_schema_name"))
                json.loads(base64.b64decode(message["body"]))  # a well-formed message
    return sorted(schemas)


def _settle_cursors() -> None:
    """The club's event cursors at the newest rows, as after a run: nothing new to read."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO profiles_scoreeventcursor (id, last_activity_id, updated_at) "
            "SELECT 1, coalesce(max(id), 0), now() FROM profiles_activity "
            "ON CONFLICT (id) DO UPDATE SET last_activity_id = excluded.last_activity_id"
        )
        cursor.execute(
            "INSERT INTO segments_segmenteventcursor (id, last_activity_id, updated_at) "
            "SELECT 1, coalesce(max(id), 0), now() FROM profiles_activity "
            "ON CONFLICT (id) DO UPDATE SET last_activity_id = excluded.last_activity_id"
        )
        cursor.execute(
            "INSERT INTO social_promotioneventcursor (id, last_raw_event_id, updated_at) "
            "SELECT 1, coalesce(max(id), 0), now() FROM profiles_rawevent "
            "ON CONFLICT (id) DO UPDATE SET last_raw_event_id = excluded.last_raw_event_id"
        )


def _raw_event(status: str = "PENDING"):
    from profiles.models import RawEvent

    return RawEvent.objects.create(
        source="teetime", event_id=uuid.uuid4().hex, type="teetime.booking.created",
        received_type="teetime.booking.created", occurred_at=timezone.now(), transport="rest",
        envelope={}, status=status,
    )  # fmt: skip


def _activity():
    from profiles.models import Activity

    return Activity.objects.create(
        type="teetime.booking.created", category="GOLF", title="Booked", source="teetime",
        occurred_at=timezone.now(),
    )  # fmt: skip


def _pending_events() -> None:
    _raw_event()


def _outbox_row() -> None:
    from crm.outbox.models import OutboundEvent

    OutboundEvent.objects.create(type="crm.customer.updated", envelope={})


def _scheduled_campaign() -> None:
    from campaigns.models import Campaign, CampaignStatus

    Campaign.objects.create(name="Spring", status=CampaignStatus.SCHEDULED)


def _future_slot() -> None:
    from profiles.models import TeeSlot

    now = timezone.now()
    TeeSlot.objects.create(
        slot_id="S-1", tee_time=now + dt.timedelta(hours=5), capacity=4, booked=1, state_at=now,
        state_key="k",
    )  # fmt: skip


def _active_journey():
    from journeys.models import Journey, JourneyStatus, JourneyVersion

    journey = Journey.objects.create(name="Welcome", definition={})
    version = JourneyVersion.objects.create(
        journey=journey, number=1, definition={}, published_at=timezone.now()
    )
    journey.status = JourneyStatus.ACTIVE
    journey.published_version = version
    journey.save(update_fields=["status", "published_version"])
    return journey, version


def _due_enrolment() -> None:
    from journeys.models import Enrolment
    from profiles.models import Customer

    journey, version = _active_journey()
    now = timezone.now()
    Enrolment.objects.create(
        journey=journey, version=version, customer=Customer.objects.create(first_name="Due"),
        status="ACTIVE", step="start", entry_key="once", source="STAFF", entered_at=now,
        step_entered_at=now, due_at=now - dt.timedelta(seconds=5),
    )  # fmt: skip


def _due_post() -> None:
    from social.models import Post, PostVariant, VariantStatus

    PostVariant.objects.create(
        post=Post.objects.create(), network="FACEBOOK", status=VariantStatus.SCHEDULED,
        scheduled_at=timezone.now() - dt.timedelta(minutes=1),
    )  # fmt: skip


def _plan_to_sync() -> None:
    from social.models import CompetitionPromotion

    CompetitionPromotion.objects.create(competition_id="C-1", needs_sync=True)


def _due_segment() -> None:
    from segments.models import RefreshSchedule, Segment

    Segment.objects.create(name="Lapsed", rules={}, refresh=RefreshSchedule.HOURLY)


def _engagement_due() -> None:
    from social.models import Post, PostVariant, VariantStatus

    now = timezone.now()
    PostVariant.objects.create(
        post=Post.objects.create(), network="FACEBOOK", status=VariantStatus.PUBLISHED,
        published_at=now - dt.timedelta(hours=2), metrics_due_at=now - dt.timedelta(minutes=1),
    )  # fmt: skip


# task -> how alpha is given something for it to do (bravo gets nothing)
DUE_WORK: dict[str, Callable[[], object]] = {
    "profiles.apply_pending_events": _pending_events,
    "profiles.rescore_touched": _activity,
    "segments.refresh_touched": _activity,
    "transport.relay_outbound_events": _outbox_row,
    "campaigns.tick": _scheduled_campaign,
    "campaigns.tee_sheet_fill": _future_slot,
    "journeys.run_triggers": _active_journey,
    "journeys.run_due": _due_enrolment,
    "social.publish_due": _due_post,
    "social.promote_competitions": _plan_to_sync,
    "segments.refresh_due": _due_segment,
    "social.fetch_engagement_due": _engagement_due,
}


def test_every_minute_task_has_a_probe_or_is_fanned_out_on_purpose():
    assert MINUTE_TASKS, "the schedule has every-minute tasks"
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        if entry["schedule"] > 60:
            continue
        task = entry.get("args", [None])[0]
        if entry["task"] == "crm.tasks.dispatch_due":
            assert work_probe(task) is not None, f"{name}: {task} is dispatched without a probe"
        elif entry["task"] == "crm.tasks.fan_out_to_tenants":
            assert task in settings.TENANT_FANNED_OUT_EVERY_MINUTE, (
                f"{name}: {task} is fanned out to every club every minute: register a probe "
                "(crm/periodic.py) or name it in TENANT_FANNED_OUT_EVERY_MINUTE"
            )
    # Each probe is tested below, and each dispatched task keeps its slow safety net.
    dispatched = {
        entry["args"][0]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "crm.tasks.dispatch_due"
    }
    assert dispatched == set(DUE_WORK) == set(work_probes())
    assert set(NET_PERIODS) == dispatched
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"] == "crm.tasks.dispatch_due":
            # Never more often than the default, and at most one net run per three of the
            # task's own (engagement, every 15 minutes: a 45-minute net), else the probe saves
            # nothing.
            period = NET_PERIODS[entry["args"][0]]
            assert period == max(settings.TENANT_FAN_OUT_SAFETY_NET_SECONDS, 3 * entry["schedule"])
        if entry["task"] == "crm.tasks.safety_net":
            assert entry["schedule"] == 60
    # Nothing fanned out to every club every few minutes any more.
    assert not [
        entry["args"][0]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "crm.tasks.fan_out_to_tenants" and entry["schedule"] < 24 * 60 * 60
    ]


def test_nightly_work_is_spread_by_a_stable_hash_of_the_club():
    nightly = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "crm.tasks.fan_out_to_tenants" and entry["schedule"] >= 24 * 60 * 60
    ]
    assert len(nightly) == 6
    for entry in nightly:
        assert entry["kwargs"]["spread_seconds"] == settings.TENANT_NIGHTLY_SPREAD_SECONDS
    offsets = [stable_offset(f"club_{n}", "profiles.recompute_scores", 3600) for n in range(1000)]
    assert offsets == [
        stable_offset(f"club_{n}", "profiles.recompute_scores", 3600) for n in range(1000)
    ]
    assert all(0 <= offset < 3600 for offset in offsets)
    # 1,000 clubs over an hour: no second holds more than a handful.
    assert max(offsets.count(offset) for offset in set(offsets)) <= 5
    assert len(set(offsets)) > 700


@pytest.mark.parametrize("task", sorted(DUE_WORK))
def test_a_club_with_nothing_due_gets_no_task_and_one_with_work_does(task, clubs, broker):
    alpha, bravo = clubs.alpha.schema_name, clubs.bravo.schema_name
    for schema in (alpha, bravo):
        with schema_context(schema):
            _settle_cursors()
    probe = work_probe(task)
    assert probe is not None
    assert clubs_with_work(probe, [alpha, bravo], chunk=1000).due == []
    with schema_context(alpha):
        DUE_WORK[task]()
    found = clubs_with_work(probe, [alpha, bravo], chunk=1000)
    assert (found.due, found.unprobed, found.failed) == ([alpha], [], False)
    # Asked one club a statement, the answer is the same.
    assert clubs_with_work(probe, [alpha, bravo], chunk=1).due == [alpha]

    # Beat's task: queued in alpha only (the disabled club is never asked).
    connection.set_schema_to_public()
    assert dispatch_due(task) == 1
    assert _queued(broker, task) == [alpha]
    # The safety net still reaches every active club: a run a period after the last covers
    # every bucket.
    _drain(broker)
    safety_net_cursor_set(task, _minute() - safety_net_buckets(NET_PERIODS[task]))
    assert safety_net(task, NET_PERIODS[task]) == 2
    assert _queued(broker, task) == sorted([alpha, bravo])


def test_a_club_lacking_a_table_is_queued_and_the_others_still_asked(clubs, broker):
    """A club mid-migration (its schema lacks a probed table) gets the task, as the fan-out
    would give it; the other clubs are still judged by the probe."""
    alpha, bravo = clubs.alpha.schema_name, clubs.bravo.schema_name
    probe = work_probe("transport.relay_outbound_events")
    with schema_context(alpha):
        _outbox_row()
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{bravo}".profiles_outboundevent RENAME TO outbox_old')
    found = clubs_with_work(probe, [alpha, bravo, clubs.closed.schema_name], chunk=1000)
    assert found.unprobed == [bravo]
    assert found.due == [alpha, bravo]
    assert not found.failed


def test_a_probe_that_fails_falls_back_to_the_fan_out_for_its_kind_only(clubs, broker, caplog):
    alpha, bravo = clubs.alpha.schema_name, clubs.bravo.schema_name
    broken = WorkProbe(
        task="profiles.apply_pending_events",
        condition="EXISTS (SELECT 1 FROM {profiles_rawevent} WHERE no_such_column)",
        tables=("profiles_rawevent",),
    )
    found = clubs_with_work(broken, [alpha, bravo], chunk=1000)
    assert found.failed and found.due == [alpha, bravo]
    assert "fanning it out" in caplog.text
    # The connection (and the test's transaction) is still usable, other kinds unaffected.
    for schema in (alpha, bravo):
        with schema_context(schema):
            _settle_cursors()
    found = clubs_with_work(work_probe("campaigns.tick"), [alpha, bravo], chunk=1000)
    assert (found.due, found.failed) == ([], False)


def test_names_are_quoted_as_identifiers_never_formatted_in(clubs):
    probe = work_probe("transport.relay_outbound_events")
    with connection.cursor() as cursor:
        text = probe.sql_for('x"; DROP TABLE y; --').as_string(cursor.connection)
    assert '"x""; DROP TABLE y; --"."profiles_outboundevent"' in text


def test_nightly_fan_out_starts_each_club_at_its_stable_offset(clubs, broker):
    task = "profiles.recompute_scores"
    connection.set_schema_to_public()
    before = timezone.now()
    assert fan_out_to_tenants(task, spread_seconds=3600) == 2
    after = timezone.now()
    etas = {}
    for queue in settings.CELERY_WORKER_QUEUES:
        for raw in broker.lrange(queue, 0, -1):
            headers = json.loads(raw)["headers"]
            if headers["task"] == task:
                etas[headers["_schema_name"]] = dt.datetime.fromisoformat(headers["eta"])
    assert set(etas) == {clubs.alpha.schema_name, clubs.bravo.schema_name}
    for schema, eta in etas.items():
        offset = dt.timedelta(seconds=stable_offset(schema, task, 3600))
        assert before + offset - dt.timedelta(seconds=1) <= eta <= after + offset


def test_a_statement_that_fails_costs_only_its_own_clubs(clubs, broker):
    """A club whose table lost a probed column mid-migration: its statement fails and its
    clubs are queued as by the fan-out; the clubs asked in other statements are still judged."""
    alpha, bravo = clubs.alpha.schema_name, clubs.bravo.schema_name
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{bravo}".profiles_outboundevent DROP COLUMN published_at')
    found = clubs_with_work(work_probe("transport.relay_outbound_events"), [alpha, bravo], chunk=1)
    assert (found.due, found.failed) == ([bravo], True)


def _probe_says(task: str, schema: str) -> bool:
    return clubs_with_work(work_probe(task), [schema], chunk=1).due == [schema]


def test_the_segments_probe_is_segments_due_in_sql(clubs):
    """Each case alone in a club: the probe says due exactly when `segments_due` finds one (the
    probe reads the service's own periods and slack: 58 minutes, 23 h 58)."""
    from segments.models import RefreshSchedule, Segment, SegmentType
    from segments.services import REFRESH_PERIODS, segments_due

    # The probe names these two; a schedule added to REFRESH_PERIODS must be added to it.
    assert set(REFRESH_PERIODS) == {RefreshSchedule.HOURLY, RefreshSchedule.DAILY}
    now = timezone.now()
    minutes = dt.timedelta(minutes=1)
    cases = [
        (SegmentType.DYNAMIC, RefreshSchedule.HOURLY, None, True),
        (SegmentType.DYNAMIC, RefreshSchedule.HOURLY, now - 57 * minutes, False),
        (SegmentType.DYNAMIC, RefreshSchedule.HOURLY, now - 59 * minutes, True),
        (SegmentType.DYNAMIC, RefreshSchedule.DAILY, None, True),
        (SegmentType.DYNAMIC, RefreshSchedule.DAILY, now - (23 * 60 + 57) * minutes, False),
        (SegmentType.DYNAMIC, RefreshSchedule.DAILY, now - (23 * 60 + 59) * minutes, True),
        (SegmentType.DYNAMIC, RefreshSchedule.MANUAL, None, False),
        (SegmentType.STATIC, RefreshSchedule.HOURLY, None, False),
    ]
    schema = clubs.alpha.schema_name
    with schema_context(schema):
        assert not _probe_says("segments.refresh_due", schema)
        for kind, refresh, last, due in cases:
            segment = Segment.objects.create(
                name="Case", type=kind, rules={}, refresh=refresh, last_refreshed_at=last
            )
            case = (kind, refresh, last)
            assert bool(segments_due()) is due, case
            assert _probe_says("segments.refresh_due", schema) is due, case
            segment.delete()


def test_the_engagement_probe_is_engagement_due_ids_in_sql(clubs):
    from social.models import Post, PostVariant, VariantStatus
    from social.publishing import engagement_due_ids

    now = timezone.now()
    cases = [
        (VariantStatus.PUBLISHED, now - dt.timedelta(minutes=1), True),
        (VariantStatus.PUBLISHED, now + dt.timedelta(minutes=5), False),
        (VariantStatus.PUBLISHED, None, False),
        (VariantStatus.FAILED, now - dt.timedelta(minutes=1), False),
    ]
    schema = clubs.alpha.schema_name
    with schema_context(schema):
        assert not _probe_says("social.fetch_engagement_due", schema)
        for status, due_at, due in cases:
            post = Post.objects.create()
            PostVariant.objects.create(
                post=post, network="FACEBOOK", status=status, metrics_due_at=due_at
            )
            assert bool(engagement_due_ids()) is due, (status, due_at)
            assert _probe_says("social.fetch_engagement_due", schema) is due, (status, due_at)
            post.delete()


def test_the_safety_net_takes_a_stable_fifteenth_of_the_clubs_a_minute():
    schemas = [f"club_{n}" for n in range(1000)]
    buckets = safety_net_buckets(15 * 60)
    assert buckets == 15
    for task in NET_PERIODS:
        share = [0] * buckets
        for schema in schemas:
            share[stable_offset(schema, task, buckets)] += 1
        # ~67 a minute (binomial spread: within 60-150% of clubs / 15), every club in one.
        assert sum(share) == 1000
        assert all(40 <= n <= 100 for n in share), (task, share)
    # crc32, not Python's per-process salted hash: the same bucket in every process and run.
    assert stable_offset("club_1", "campaigns.tick", 15) == 4
    assert stable_offset("club_2", "campaigns.tick", 15) == 14
    assert stable_offset("club_1", "journeys.run_due", 15) == 12


def test_the_safety_net_covers_every_minute_since_its_last_run_once():
    due, buckets = safety_net_buckets_due, 15
    start = 29_000_000  # a minute since the epoch
    # No run yet: this minute's bucket only (not every club at once).
    assert due(last=None, minute=start, buckets=buckets) == [start % buckets]
    # The same minute again (a duplicate run) or an older one (a late run): nothing.
    assert due(last=start, minute=start, buckets=buckets) == []
    assert due(last=start, minute=start - 1, buckets=buckets) == []
    # Minute after minute, one bucket each: a period covers each bucket exactly once.
    covered = [start % buckets]
    for minute in range(start + 1, start + buckets):
        covered += due(last=minute - 1, minute=minute, buckets=buckets)
    assert sorted(covered) == list(range(buckets))
    # A minute skipped on the clock (beat's drift, a run late in the queue): covered next run.
    assert due(last=start, minute=start + 2, buckets=buckets) == sorted(
        {(start + 1) % buckets, (start + 2) % buckets}
    )
    # Beat stopped for a period or more: every bucket, once.
    assert due(last=start, minute=start + 15, buckets=buckets) == list(range(buckets))
    assert due(last=start, minute=start + 40, buckets=buckets) == list(range(buckets))


def _in_buckets(schemas: list[str], task: str, buckets: int, minutes: range) -> list[str]:
    covered = {minute % buckets for minute in minutes}
    return sorted(s for s in schemas if stable_offset(s, task, buckets) in covered)


def test_a_safety_net_run_queues_only_the_clubs_of_its_minutes(clubs, broker):
    task = "campaigns.tick"
    period = NET_PERIODS[task]
    buckets = safety_net_buckets(period)
    alpha, bravo = clubs.alpha.schema_name, clubs.bravo.schema_name
    connection.set_schema_to_public()
    first = _minute()
    safety_net_cursor_set(task, first - 1)
    queued = safety_net(task, period)
    last = _minute()
    # This minute's bucket (or, had the minute turned before the run read it, the next's too).
    runs = [_in_buckets([alpha, bravo], task, buckets, range(first, m + 1)) for m in (first, last)]
    assert _queued(broker, task) in runs and queued == len(_queued(broker, task))
    # The cursor moved to the minute the run covered up to; each task has its own.
    assert first <= safety_net_cursor(task) <= last
    assert safety_net_cursor("journeys.run_due") is None
    # A run whose minutes were already covered queues nothing (the disabled club never).
    _drain(broker)
    safety_net_cursor_set(task, last + 10)
    assert safety_net(task, period) == 0
    assert _queued(broker, task) == []
    assert safety_net_cursor(task) == last + 10


def test_the_first_safety_net_run_takes_this_minutes_clubs_only(clubs, broker):
    task = "journeys.run_due"
    period = NET_PERIODS[task]
    buckets = safety_net_buckets(period)
    connection.set_schema_to_public()
    first = _minute()
    queued = safety_net(task, period)
    last = _minute()
    schemas = [clubs.alpha.schema_name, clubs.bravo.schema_name]
    runs = [_in_buckets(schemas, task, buckets, range(m, m + 1)) for m in (first, last)]
    assert _queued(broker, task) in runs and queued == len(_queued(broker, task))
    assert safety_net_cursor(task) in (first, last)


def test_dispatched_work_is_queued_at_once_and_the_safety_net_within_its_minute(clubs, broker):
    """Clubs with work due get their task now, not staggered 2 s apart as the fan-out does (the
    50th of 50 busy clubs waited 100 s); the safety net's clubs are spread over its minute."""
    task = "profiles.apply_pending_events"
    schemas = [clubs.alpha.schema_name, clubs.bravo.schema_name]
    for schema in schemas:
        with schema_context(schema):
            DUE_WORK[task]()
    connection.set_schema_to_public()
    assert dispatch_due(task) == 2

    def etas() -> dict[str, str | None]:
        found = {}
        for queue in settings.CELERY_WORKER_QUEUES:
            for raw in broker.lrange(queue, 0, -1):
                headers = json.loads(raw)["headers"]
                if headers["task"] == task:
                    found[headers["_schema_name"]] = headers.get("eta")
        return found

    assert etas() == dict.fromkeys(schemas)  # no countdown for either
    _drain(broker)
    started = timezone.now()
    safety_net_cursor_set(task, _minute() - safety_net_buckets(NET_PERIODS[task]))
    assert safety_net(task, NET_PERIODS[task]) == 2
    for eta in etas().values():
        assert eta is None or dt.datetime.fromisoformat(eta) <= started + dt.timedelta(seconds=61)
