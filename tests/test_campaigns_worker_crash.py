"""A real Celery worker is killed with SIGKILL in the middle of a 10,000-customer campaign, at
the worst moment: the Messaging peer has just accepted a batch and the worker never hears the
answer. After a restart, every customer has exactly one idempotency key at the peer and the
peer accepted each key once; the keys the dead worker had already handed over come again and
are answered 409 (counted and reported), never as a second key for anyone.

In a module of its own so that no other test's worker consumes the same queue. The data is
committed (the worker is another process) and removed afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.testing import MessagingPeer
from crm.tenants.models import Tenant
from tests.test_celery_integration import ROOT

pytestmark = pytest.mark.integration
CUSTOMERS = 10_000
TOKEN = "crash-token"


def _start_worker(peer_url: str) -> subprocess.Popen:
    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CRM_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "MESSAGING_URL": peer_url,
        "MESSAGING_TOKEN": TOKEN,
        "CAMPAIGN_TRANSPORT": "http",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--loglevel", "WARNING",
         "--concurrency", "2", "--queues", ",".join(settings.CELERY_WORKER_QUEUES),
         "--hostname", f"camp-kill-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
         "--without-mingle"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _seed(schema: str) -> tuple[str, str]:
    """10,000 opted-in customers in a static segment, and a campaign to them (committed)."""
    from campaigns.sending import campaign_settings
    from campaigns.services import AudienceInput, CampaignInput, campaign_create

    with schema_context(schema), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO profiles_customer (id, status, email, phone_number, first_name,
                    last_name, gender, lifecycle_stage, tags, membership_tier, membership_status,
                    home_club_id, lifetime_value, activity_count_30d, booking_count_30d,
                    email_opt_in, sms_opt_in, push_opt_in, whatsapp_opt_in, email_hard_bounced,
                    complained, address, competition_entry_count_365d, created_at, updated_at)
                SELECT gen_random_uuid(), 'ACTIVE', 'crash' || n || '@ex.ie', '', 'Crash' || n,
                    'Test', '', 'SUBSCRIBER', '{}', '', '', '', 0, 0, 0, true, false, false,
                    false, false, false, '{}', 0, now(), now()
                FROM generate_series(1, %s) AS n
                """,
                [CUSTOMERS],
            )
            segment_id = uuid.uuid4()
            cursor.execute(
                "INSERT INTO segments_segment (id, name, description, type, rules, refresh, "
                "template_key, member_count, watched_event_types, created_by, created_at, "
                "updated_at) VALUES (%s, 'Crash test', '', 'STATIC', NULL, 'MANUAL', '', 0, "
                "'[]', '', now(), now())",
                [segment_id],
            )
            cursor.execute(
                "INSERT INTO segments_segmentmembership (segment_id, customer_id, source, "
                "entered_at) SELECT %s, id, 'MANUAL', now() FROM profiles_customer "
                "WHERE email LIKE 'crash%%@ex.ie'",
                [segment_id],
            )
        rules = campaign_settings()
        rules.quiet_hours_enabled = False
        rules.frequency_cap = 0
        rules.save()
        campaign = campaign_create(
            data=CampaignInput(name="Crash test", channels=["EMAIL"],
                               templates={"EMAIL": "newsletter"},
                               audience=AudienceInput(include=[str(segment_id)])),
        )  # fmt: skip
    return str(campaign.id), str(segment_id)


def _wipe(schema: str) -> None:
    from campaigns.models import Campaign, CampaignSettings
    from crm.outbox.models import OutboundEvent
    from profiles.models import Customer
    from segments.models import Segment

    with schema_context(schema):
        Campaign.objects.filter(name="Crash test").delete()
        Segment.objects.filter(name="Crash test").delete()
        Customer.objects.filter(email__startswith="crash", email__endswith="@ex.ie").delete()
        CampaignSettings.objects.all().delete()
        OutboundEvent.objects.filter(type__startswith="crm.campaign.").delete()


def test_the_tick_restarts_a_run_whose_handing_worker_went_quiet(clubs):
    """What brings a killed worker's run back without anyone calling deliver by hand: beat's
    minute tick sees HANDING rows older than a minute (their lease decides, when delivery
    runs, whether their owner is dead)."""
    import datetime as dt

    from campaigns.models import Campaign, CampaignRun, Send
    from campaigns.tasks import _idle, _stalled
    from profiles.models import Customer

    with schema_context(clubs.alpha.schema_name):
        person = Customer.objects.create(email="quiet@ex.ie", email_opt_in=True)
        campaign = Campaign.objects.create(name="Quiet", channels=["EMAIL"], status="SENDING")
        run = CampaignRun.objects.create(campaign=campaign, key="once", status="SENDING")
        now = timezone.now()
        send = Send.objects.create(
            run=run, campaign=campaign, customer=person, channel="EMAIL", status="HANDING",
            lease=99, handed_at=now, created_at=now,
        )  # fmt: skip
        assert not _stalled(run, now)
        assert _stalled(run, now + dt.timedelta(minutes=2))
        Send.objects.filter(pk=send.pk).update(status="PENDING", handed_at=None)
        assert not _idle(run, now) and _idle(run, now + dt.timedelta(minutes=2))


def test_a_worker_killed_mid_campaign_leaves_one_key_per_customer_at_the_peer(
    django_db_setup, django_db_blocker
):
    from campaigns.models import Campaign, Send
    from campaigns.services import campaign_send_now
    from campaigns.tasks import deliver_run

    with django_db_blocker.unblock():
        alpha = Tenant.objects.get(slug="alpha-golf")
        schema = alpha.schema_name
        with MessagingPeer(token=TOKEN) as peer:
            try:
                campaign_id, _ = _seed(schema)
                peer.state.delay = 0.15  # a busy peer: the campaign takes a few seconds
                killed = threading.Event()
                worker = _start_worker(peer.url)

                def kill_after_accepting(state) -> None:
                    # The peer has recorded this batch; the worker will never hear the answer.
                    if len(state.accepted) >= 3000 and not killed.is_set():
                        killed.set()
                        os.killpg(worker.pid, signal.SIGKILL)

                peer.state.after_accept = kill_after_accepting
                with schema_context(schema):
                    with transaction.atomic():  # the commit queues the plan task
                        campaign_send_now(
                            campaign=Campaign.objects.get(pk=campaign_id), actor_label="test"
                        )
                    assert killed.wait(180), "the worker never got 3,000 sends out"
                    worker.wait()
                    peer.state.after_accept = None
                    at_kill = len(peer.state.accepted)
                    handing = Send.objects.filter(status="HANDING").count()
                    accepted_rows = Send.objects.filter(status="ACCEPTED").count()
                    print(
                        f"SIGKILL with {at_kill} keys at the peer, {accepted_rows} recorded as "
                        f"accepted, {handing} left HANDING"
                    )
                    assert at_kill < CUSTOMERS, "killed too late to prove anything"
                    assert accepted_rows < at_kill  # the last batch's answer was lost

                    worker = _start_worker(peer.url)
                    run_id = str(Send.objects.values_list("run_id", flat=True).first())
                    deadline = time.monotonic() + 240
                    while Send.objects.exclude(status="ACCEPTED").exists():
                        assert time.monotonic() < deadline, "the campaign never finished"
                        # What beat's minute tick does for a stalled run.
                        deliver_run.delay(run_id)
                        time.sleep(3)
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(timeout=30)

                    sends = dict(Send.objects.values_list("id", "customer_id"))
                    assert len(sends) == CUSTOMERS
                    assert len(set(sends.values())) == CUSTOMERS  # one row per customer
                    assert set(peer.state.accepted) == {str(key) for key in sends}
                    per_customer = peer.state.customers()
                    assert len(per_customer) == CUSTOMERS and set(per_customer.values()) == {1}
                    repeats = sum(peer.state.repeats.values())
                    print(
                        f"After the restart: {len(peer.state.accepted)} keys, each accepted "
                        f"once; {repeats} repeats of a key answered 409 "
                        f"({len(peer.state.repeats)} distinct keys)"
                    )
                    assert repeats >= 1  # the lost batch came again, under the same keys
                    assert Campaign.objects.get(pk=campaign_id).started_at <= timezone.now()
            finally:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
                _wipe(schema)
