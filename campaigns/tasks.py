"""Celery tasks of campaigns. Each runs in the schema it was queued in, takes ids and is safe to
repeat: planning inserts with ON CONFLICT DO NOTHING, delivery takes rows under row locks and
hands over stored idempotency keys, finishing checks before it closes.

`tick` (beat, every minute, per club) is the sweeper that makes lost on-commit triggers and
killed workers harmless: it starts due ONE_TIME campaigns, reads triggers, plans runs left in
PLANNING, restarts delivery of runs whose due sends nobody has taken for a minute (or whose
handing worker died), decides due A/B winners and closes finished runs.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from campaigns.abtest import campaign_decide_winner, run_winner_due
from campaigns.models import Campaign, CampaignRun, CampaignStatus, CampaignType, RunStatus, Send
from campaigns.sending import run_deliver, run_has_due_work, run_plan
from campaigns.services import (
    _start_run,
    campaign_fire_recurring,
    campaign_process_triggers,
    deliveries_for,
    queue_deliver,
    queue_plan,
    run_finish_if_done,
)

logger = logging.getLogger(__name__)
STALE = dt.timedelta(minutes=1)


@shared_task(name="campaigns.plan_run", acks_late=True)
def plan_run(run_id: str) -> int:
    result = run_plan(run_id=run_id)
    run = CampaignRun.objects.get(pk=run_id)
    pending = Send.objects.filter(run=run, status="PENDING").count()
    with transaction.atomic():
        if pending:
            queue_deliver(run.id, parallel=deliveries_for(pending))
        else:
            transaction.on_commit(lambda: finish_run.delay(run_id))
    return result.rows


@shared_task(name="campaigns.deliver_run", acks_late=True)
def deliver_run(run_id: str) -> dict:
    """A few thousand sends of one run (batches of hundreds); re-queues itself while due work
    is left, after the peer's Retry-After when it asked for one."""
    result = run_deliver(run_id=run_id)
    if result.more:
        deliver_run.apply_async(args=[run_id], countdown=result.retry_after)
    else:
        finish_run.delay(run_id)
    return {
        "handed": result.handed,
        "accepted": result.accepted,
        "failed": result.failed,
        "suppressed": result.suppressed,
        "deferred": result.deferred,
    }


@shared_task(name="campaigns.deliver_one", acks_late=True)
def deliver_one(send_id: str) -> str:
    """The one-task-per-recipient baseline of benchmarks/campaign_send.py: never used by the
    product (see `deliver_run`)."""
    from campaigns.delivery import adapter_for_settings
    from campaigns.sending import RequestContext, _record_results, requests_for

    global _BASELINE_ADAPTER
    send = Send.objects.select_related("run__campaign").filter(pk=send_id).first()
    if send is None or send.status != "PENDING":
        return "skipped"
    # One client per worker process (kept-alive connection), so the baseline measures the
    # per-task overhead, not client set-up.
    _BASELINE_ADAPTER = _BASELINE_ADAPTER or adapter_for_settings()
    requests = requests_for(RequestContext.of(send.run.campaign), [send.id])
    Send.objects.filter(pk=send.id).update(status="HANDING", lease=0, handed_at=timezone.now())
    _record_results(_BASELINE_ADAPTER.deliver(requests), adapter=_BASELINE_ADAPTER, lease=0)
    return "done"


_BASELINE_ADAPTER = None


@shared_task(name="campaigns.finish_run", acks_late=True)
def finish_run(run_id: str) -> bool:
    return run_finish_if_done(run_id=run_id)


@shared_task(name="campaigns.fire_recurring", acks_late=True)
def fire_recurring(campaign_id: str) -> str | None:
    """Beat's PeriodicTask of a RECURRING campaign (its headers name the club's schema)."""
    run = campaign_fire_recurring(campaign_id=campaign_id)
    return str(run.id) if run else None


@shared_task(name="campaigns.decide_winner", acks_late=True)
def decide_winner(run_id: str) -> dict:
    return campaign_decide_winner(run_id=run_id)


@shared_task(name="campaigns.tick", acks_late=True)
def tick() -> dict[str, int]:
    return campaigns_tick()


def campaigns_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts = {"started": 0, "triggered": 0, "replanned": 0, "delivering": 0, "finished": 0}
    # Runs whose on-commit plan was lost (before this tick starts any of its own).
    for run in CampaignRun.objects.filter(status=RunStatus.PLANNING, created_at__lte=now - STALE):
        with transaction.atomic():
            queue_plan(run.id)
        counts["replanned"] += 1
    for campaign_id in Campaign.objects.filter(
        type=CampaignType.ONE_TIME, status=CampaignStatus.SCHEDULED, scheduled_at__lte=now
    ).values_list("id", flat=True):
        with transaction.atomic():
            campaign = (
                Campaign.objects.select_for_update(skip_locked=True)
                .filter(pk=campaign_id, status=CampaignStatus.SCHEDULED)
                .first()
            )
            if campaign is not None:
                _start_run(campaign, key="once")
                counts["started"] += 1
    for campaign_id in Campaign.objects.filter(
        type=CampaignType.TRIGGERED, status=CampaignStatus.SCHEDULED
    ).values_list("id", flat=True):
        if campaign_process_triggers(campaign_id=campaign_id):
            counts["triggered"] += 1
    for campaign_id in Campaign.objects.filter(
        type=CampaignType.RECURRING, status=CampaignStatus.SCHEDULED, ends_at__lte=now
    ).values_list("id", flat=True):
        campaign_fire_recurring(campaign_id=campaign_id, now=now)
    for run in CampaignRun.objects.filter(status=RunStatus.SENDING).select_related("campaign"):
        if run.campaign.status in (CampaignStatus.PAUSED, CampaignStatus.CANCELLED):
            continue
        if run_winner_due(run=run, now=now):
            decide_winner.delay(str(run.id))
        if _stalled(run, now) or (run_has_due_work(run=run) and _idle(run, now)):
            with transaction.atomic():
                queue_deliver(run.id)
            counts["delivering"] += 1
        elif run_finish_if_done(run_id=run.id):
            counts["finished"] += 1
    return counts


def _stalled(run: CampaignRun, now: dt.datetime) -> bool:
    """HANDING rows older than a minute: their worker may have died (delivery adopts them only
    if their lease is free)."""
    return Send.objects.filter(run=run, status="HANDING", handed_at__lte=now - STALE).exists()


def _idle(run: CampaignRun, now: dt.datetime) -> bool:
    """Due sends nobody has taken for a minute (a lost trigger, a deferred batch now due)."""
    from django.db.models import Q

    return (
        Send.objects.filter(run=run, status__in=("PENDING", "DEFERRED"))
        .filter(
            Q(not_before__lte=now - STALE) | Q(not_before__isnull=True, created_at__lte=now - STALE)
        )
        .exists()
    )


@shared_task(name="campaigns.tee_sheet_fill", acks_late=True)
def tee_sheet_fill() -> dict:
    """The club's gap filler: after every applied batch of slot events and once a minute."""
    from dataclasses import asdict

    from campaigns.tee_sheet import tee_sheet_fill as fill

    return asdict(fill())


@shared_task(name="campaigns.golfer_habits_refresh", acks_late=True)
def golfer_habits_refresh() -> int:
    """Nightly per club: when and where each golfer plays, for the gap filler."""
    from campaigns.tee_sheet import golfer_habits_refresh as refresh
    from crm.tenants.selectors import tenant_current

    return refresh(now=timezone.now(), tz=tenant_current().timezone or "UTC")
