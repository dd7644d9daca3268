"""A `webhook` step's POST: written as a `WebhookDelivery` row in the step's transaction, then
delivered after the commit and retried until it is answered.

- Body: the enrolment as JSON (`type` "crm.journey.webhook", the journey, version and step,
  the enrolment id, the customer's id and linked ids, and the trigger's context). It is fixed
  when the step runs, so every attempt sends the same bytes.
- Signed as api.md's webhooks: `X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "<t>.<raw body>">`, one `v1=` per active webhook secret of the club (several during a
  rotation). Never unsigned: a journey with a webhook step cannot be published while the
  club has no active secret (`unsigned_step_problems`); a secret revoked after publishing
  holds the step (the engine retries it with its backoff, then fails the enrolment with the
  reason) and holds a delivery already written (retried with the delivery's backoff, then
  FAILED with the reason), so adding a secret in time lets both go on.
  `X-CRM-Delivery` is the delivery's id: the same on every retry, for the receiver to dedupe.
- Where: https to public hosts (an address resolving inside the network is refused, see
  `url_allowed`); the operator's own hosts listed in `settings.JOURNEY_WEBHOOK_HTTP_HOSTS`
  (a local receiver in development and tests) over http or https.
- Answers: 2xx delivered; 408, 429, 5xx, timeouts and connection errors are tried again
  (1, 2, 4, 8, 16 minutes, `MAX_ATTEMPTS` in all); any other answer (3xx included: redirects
  are not followed) fails it with the status and the start of the body.
- At least once: an attempt is claimed (attempts + 1, next try pushed out by a lease) in its
  own short transaction before the POST, so a worker killed mid-request leaves the delivery
  to be tried again when the lease runs out (beat's `run_triggers` sweeps due deliveries).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.accounts.models import WebhookSecret
from crm.tenants.selectors import tenant_current
from journeys.models import Journey, JourneyVersion, WebhookDelivery, WebhookStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10.0
LEASE = dt.timedelta(minutes=2)
PER_TASK = 100
RETRY_STATUSES = {408, 425, 429}


UNSIGNABLE = (
    "The club has no active webhook secret, and a webhook step's POSTs are always signed with "
    "one. Ask the platform operator for a secret (manage.py create_webhook_secret)"
)
UNSIGNABLE_TO_PUBLISH = f"{UNSIGNABLE}, then publish."
NOT_SENT_UNSIGNED = (
    f"Not sent: {UNSIGNABLE[0].lower()}{UNSIGNABLE[1:]}; tried again with backoff, so a secret "
    "added in time lets it go."
)


def active_secrets() -> list[str]:
    """The club's active webhook secrets, newest first."""
    return list(
        WebhookSecret.objects.filter(revoked_at__isnull=True)
        .order_by("-created_at")
        .values_list("secret", flat=True)
    )


def club_can_sign() -> bool:
    return WebhookSecret.objects.filter(revoked_at__isnull=True).exists()


def unsigned_step_problems(definition: Any) -> dict[str, list[str]]:
    """What keeps a definition from being published for want of a secret: each webhook step,
    by its path, while the club has no active webhook secret."""
    steps = definition.get("steps") if isinstance(definition, dict) else None
    keys = [
        key
        for key, raw in (steps if isinstance(steps, dict) else {}).items()
        if isinstance(raw, dict) and raw.get("type") == "webhook"
    ]
    if not keys or club_can_sign():
        return {}
    return {f"steps.{key}": [f"Webhook step '{key}': {UNSIGNABLE_TO_PUBLISH}"] for key in keys}


def webhook_body(
    *,
    delivery_id: uuid.UUID,
    journey: Journey,
    version: JourneyVersion,
    step: str,
    enrolment_id: uuid.UUID,
    customer: dict[str, Any],
    context: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    tenant = tenant_current()
    return {
        "id": str(delivery_id),
        "type": "crm.journey.webhook",
        "timestamp": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "tenantId": str(tenant.id),
        "tenantSlug": tenant.slug,
        "journey": {"id": str(journey.id), "name": journey.name, "version": version.number},
        "step": step,
        "enrolmentId": str(enrolment_id),
        "customer": {
            "id": str(customer["id"]),
            "sclMemberId": customer.get("scl_member_id"),
            "teetimePlayerId": customer.get("teetime_player_id"),
            "messagingContactId": customer.get("messaging_contact_id"),
            "authUserId": customer.get("auth_user_id"),
        },
        "context": context,
    }


def signature_header(body: bytes, *, secrets: list[str], stamp: int | None = None) -> str:
    stamp = int(time.time()) if stamp is None else stamp
    signed = f"{stamp}.".encode() + body
    parts = [f"t={stamp}"]
    parts += [
        f"v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}" for secret in secrets
    ]
    return ",".join(parts)


def url_allowed(url: str) -> str | None:
    """Why this address may not be called, or None.

    A journey's URL is typed by club staff, and the worker sits inside the platform's network:
    an https address whose host resolves to a private, loopback, link-local or otherwise
    non-public address (the cloud metadata service, the database, Redis) is refused, so a
    webhook step cannot be used to reach inside. Hosts listed in JOURNEY_WEBHOOK_HTTP_HOSTS are
    the operator's own receivers and are trusted, over http too. The check runs before every
    attempt; a name re-pointed between the check and the connection (DNS rebinding) is not
    covered, which is why the list of trusted hosts is the operator's, never the club's."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "The address has no host."
    if host in settings.JOURNEY_WEBHOOK_HTTP_HOSTS and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "Only https addresses (or http to a host the settings allow) are called."
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return f"The host {host} could not be resolved."
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return f"{host} is an internal address ({address}); only public hosts are called."
    return None


def queue_deliveries(ids: list[uuid.UUID]) -> None:
    """Deliver these after the commit, a task per `PER_TASK`."""
    if not ids:
        return
    from journeys.tasks import deliver_webhooks

    chunks = [[str(i) for i in ids[n : n + PER_TASK]] for n in range(0, len(ids), PER_TASK)]

    def go() -> None:
        for chunk in chunks:
            deliver_webhooks.delay(chunk)

    transaction.on_commit(go)


def due_delivery_ids(*, now: dt.datetime | None = None, limit: int = 1000) -> list[uuid.UUID]:
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookStatus.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def _claim(delivery_id: Any, now: dt.datetime) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=WebhookStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + LEASE
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        return delivery


def _record(delivery: WebhookDelivery, *, status: int | None, error: str, retry: bool) -> str:
    now = timezone.now()
    delivery.last_status = status
    delivery.last_error = error[:500]
    if status is not None and 200 <= status < 300:
        delivery.status = WebhookStatus.DELIVERED
        delivery.delivered_at = now
    elif retry and delivery.attempts < MAX_ATTEMPTS:
        delivery.next_attempt_at = now + dt.timedelta(minutes=2 ** (delivery.attempts - 1))
    else:
        delivery.status = WebhookStatus.FAILED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=delivery.status, last_status=status, last_error=delivery.last_error,
        delivered_at=delivery.delivered_at, next_attempt_at=delivery.next_attempt_at,
    )  # fmt: skip
    return delivery.status


def webhooks_deliver(
    *, ids: list[Any], client: httpx.Client | None = None, now: dt.datetime | None = None
) -> dict[str, int]:
    """Try each due delivery of `ids` once. Returns counts by outcome."""
    counts = {"delivered": 0, "retry": 0, "failed": 0, "skipped": 0}
    secrets = active_secrets()
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    try:
        for delivery_id in ids:
            delivery = _claim(delivery_id, now or timezone.now())
            if delivery is None:
                counts["skipped"] += 1
                continue
            refused = url_allowed(delivery.url)
            if refused:
                _record(delivery, status=None, error=refused, retry=False)
                counts["failed"] += 1
                continue
            if not secrets:  # revoked since the step ran: never sent unsigned
                outcome = _record(delivery, status=None, error=NOT_SENT_UNSIGNED, retry=True)
                counts["failed" if outcome == WebhookStatus.FAILED else "retry"] += 1
                continue
            body = json.dumps(delivery.body, separators=(",", ":"), sort_keys=True).encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "golf-crm-journeys/1",
                "X-CRM-Delivery": str(delivery.id),
                "X-CRM-Event": "crm.journey.webhook",
                "X-CRM-Signature": signature_header(body, secrets=secrets),
            }
            try:
                response = client.post(delivery.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                outcome = _record(delivery, status=None, error=f"{type(exc).__name__}: {exc}",
                                  retry=True)  # fmt: skip
            else:
                code = response.status_code
                retry = code in RETRY_STATUSES or code >= 500
                error = "" if 200 <= code < 300 else f"HTTP {code}: {response.text[:300]}"
                outcome = _record(delivery, status=code, error=error, retry=retry)
            if outcome == WebhookStatus.DELIVERED:
                counts["delivered"] += 1
            elif outcome == WebhookStatus.FAILED:
                counts["failed"] += 1
            else:
                counts["retry"] += 1
    finally:
        if own:
            client.close()
    return counts
