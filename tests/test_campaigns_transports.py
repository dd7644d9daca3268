"""The other two transports against real peers on 127.0.0.1: the built-in email fallback through
a real SMTP server (aiosmtpd), with RFC 8058 one-click unsubscribe honoured at once, and BullMQ
on the real Redis read by a real Node `bullmq` Worker (tests/node)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from django_tenants.utils import schema_context

from campaigns.delivery import adapter_for_settings
from campaigns.delivery.bullmq import BullMQAdapter
from campaigns.delivery.email import EmailAdapter
from campaigns.models import Send
from campaigns.sending import run_deliver
from campaigns.services import campaign_test_send
from profiles.models import Activity, Customer
from tests.events import contact, envelope
from tests.test_bullmq_inbound import bull, node_jobs, node_ready, node_worker  # noqa: F401
from tests.test_campaigns_sending import (
    alpha,  # noqa: F401
    customer,
    make_campaign,
    no_quiet_hours,
    send_now,
    static_segment,
)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope_) -> str:
        parsed = email.message_from_bytes(envelope_.content, policy=email.policy.default)
        self.messages.append((list(envelope_.rcpt_tos), parsed))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_USE_TLS=False,
            MESSAGING_URL="",
            CAMPAIGN_TRANSPORT="",
            DEFAULT_FROM_EMAIL="club@alpha.example",
        ):
            yield inbox
    finally:
        controller.stop()


def test_without_a_messaging_url_email_goes_out_by_smtp_with_one_click_unsubscribe(
    alpha,  # noqa: F811
    smtp,
    client,
):
    no_quiet_hours()
    assert isinstance(adapter_for_settings(), EmailAdapter)
    aoife = customer(first_name="Aoife", phone_number="+353871234567", sms_opt_in=True)
    run = send_now(
        make_campaign(
            [static_segment("S", [aoife])],
            channels=["EMAIL", "SMS"],
            content={
                "subject": "Entries open, {{ firstName }}",
                "body": "Dear {{ firstName }}, the Winter Stableford is open.",
            },
        )
    )
    run_deliver(run_id=run.id)

    email_send = Send.objects.get(run=run, channel="EMAIL")
    sms_send = Send.objects.get(run=run, channel="SMS")
    assert email_send.status == "ACCEPTED"
    assert (sms_send.status, sms_send.reason) == ("FAILED", "NO_TRANSPORT")
    assert len(smtp.messages) == 1
    recipients, message = smtp.messages[0]
    assert recipients == [aoife.email]
    assert message["Subject"] == "Entries open, Aoife"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip().strip("<>")
    assert f"/t/{alpha.id}/unsubscribe/" in url
    assert message["Message-ID"] == f"<{email_send.id}@crm.campaigns>"
    text = message.get_body(("plain",)).get_content()
    assert "Dear Aoife, the Winter Stableford is open." in text and url in text
    # The fallback is the sender, so it records what the Messaging Service would report.
    sent = Activity.objects.get(type="messaging.message.sent", customer=aoife)
    assert sent.data["sendId"] == str(email_send.id)

    path = urlsplit(url).path
    page = client.get(path)  # a link scanner's GET changes nothing
    assert page.status_code == 200 and b"Unsubscribe" in page.content
    assert Customer.objects.get(pk=aoife.pk).email_opt_in
    answer = client.post(path, data="List-Unsubscribe=One-Click",
                         content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert answer.status_code == 200 and b"You are unsubscribed" in answer.content
    assert not Customer.objects.get(pk=aoife.pk).email_opt_in
    opt_out = Activity.objects.get(type="messaging.contactPreference.updated", customer=aoife)
    assert opt_out.data == {"sendId": str(email_send.id), "source": "UNSUBSCRIBE_LINK",
                            "optedIn": False}  # fmt: skip
    assert client.post(path).status_code == 200  # a second click changes nothing more
    assert Activity.objects.filter(type="messaging.contactPreference.updated").count() == 1

    # Honoured at once: the next campaign does not email her.
    second = send_now(make_campaign([static_segment("S2", [aoife])], name="Next"))
    run_deliver(run_id=second.id)
    assert Send.objects.get(run=second).reason == "NO_CONSENT"
    assert len(smtp.messages) == 1


def test_a_bad_unsubscribe_token_is_a_404_page(alpha, client):  # noqa: F811
    assert client.get(f"/t/{alpha.id}/unsubscribe/not-a-token").status_code == 404
    assert client.post(f"/t/{alpha.id}/unsubscribe/x:y").status_code == 404


def test_the_opt_out_survives_a_recompute_of_the_profile(alpha, smtp, ingest, client):  # noqa: F811
    """An unsubscribe is stored as the newest observation on the customer's records, so a
    later event about the person (which recomputes the profile) keeps it."""
    no_quiet_hours()
    ingest([
        contact("c_1", email="brid@ex.ie", firstName="Bríd", at=0),
        envelope("messaging.contactPreference.updated",
                 {"contactId": "c_1", "channel": "EMAIL", "optedIn": True, "source": "IMPORT"},
                 identity={"messagingContactId": "c_1"}, at=1),
    ])  # fmt: skip
    brid = Customer.objects.get(email="brid@ex.ie")
    assert brid.email_opt_in
    run = send_now(make_campaign([static_segment("S", [brid])]))
    run_deliver(run_id=run.id)
    url = smtp.messages[0][1]["List-Unsubscribe"].strip().strip("<>")
    assert client.post(urlsplit(url).path).status_code == 200
    ingest([contact("c_1", email="brid@ex.ie", firstName="Brid", at=60)])
    brid.refresh_from_db()
    assert brid.first_name == "Brid" and not brid.email_opt_in


def test_test_send_goes_to_staff_addresses_only(alpha, smtp):  # noqa: F811
    campaign = make_campaign([static_segment("S", [customer()])])
    person = customer(first_name="Ciara", handicap="12.4")
    results = campaign_test_send(
        campaign=campaign, addresses=["pro@alpha.example"], customer=person, actor_label="t"
    )
    assert results == [{"address": "pro@alpha.example", "outcome": "accepted", "detail": ""}]
    recipients, message = smtp.messages[0]
    assert recipients == ["pro@alpha.example"]
    assert message["Subject"] == "[TEST] Entries open, Ciara"
    assert not Send.objects.exists()


@pytest.mark.integration
def test_bullmq_jobs_carry_the_idempotency_key_and_a_repeat_adds_nothing(
    alpha,  # noqa: F811
    bull,  # noqa: F811
    node_ready,  # noqa: F811
):
    no_quiet_hours()
    people = [customer() for _ in range(3)]
    run = send_now(make_campaign([static_segment("S", people)]))
    with override_settings(CAMPAIGN_TRANSPORT="bullmq"):
        assert isinstance(adapter_for_settings(), BullMQAdapter)
        assert run_deliver(run_id=run.id).accepted == 3
        # A crash after the add and before the commit: the same keys are added again.
        Send.objects.filter(run=run).update(status="PENDING", lease=None)
        assert run_deliver(run_id=run.id).accepted == 3
    jobs = node_jobs(node_worker("messaging-send", count=4, timeout=8))
    sends = {str(s.id): s for s in Send.objects.filter(run=run)}
    assert sorted(job["id"] for job in jobs) == sorted(sends)  # three jobs, not six
    for job in jobs:
        assert job["name"] == "email"
        assert job["data"]["idempotencyKey"] == job["id"]
        assert (
            job["data"]["to"]["email"]
            == Customer.objects.get(pk=sends[job["id"]].customer_id).email
        )


def test_customer_of_another_club_is_not_reachable(alpha, clubs):  # noqa: F811
    with schema_context(clubs.bravo.schema_name):
        assert not Send.objects.exists()
