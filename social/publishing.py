"""Publishing a variant to its network, at most once; engagement; token upkeep.

At most once, even if a worker dies after the network answered
-------------------------------------------------------------------
1. A worker takes a PostgreSQL advisory lock on the variant (session-level: the server drops
   it when the worker's connection dies), so one worker at a time handles a variant.
2. It records a `PublishAttempt` in state STARTED and commits, *then* calls the network.
3. It records the answer (SUCCEEDED with the remote id, or why not) and commits.

If the worker dies between 2 and 3, the attempt stays STARTED. The next run (the minute sweep,
once the attempt's lease has passed) holds the lock, so that worker is certainly gone: it does
not post again. It looks the post up on the network instead (the account's posts since the
attempt started, matched on their text) and adopts it if found. If it is not found, the
variant goes to NEEDS_REVIEW and staff decide in the admin (posted after all: keep the address;
not posted: send it). We chose review over posting again because the networks' listings can lag
a moment behind a post, and a club posting twice is worse than a post going out a little late.

The same lookup runs before trying again after a 5xx (the network may have posted anyway; not
found means we post again) and after an unclear answer (a timeout or a malformed 2xx: not found
means review). A 429 or the networks' throttling codes mean "not posted": try again later.
Retries back off 1, 2, 4, 8, 16 minutes (or until the network's reset time) and stop after
MAX_ATTEMPTS; only 429/throttling and 5xx (and unclear answers, after the lookup) are retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from social.clients import Adapter, adapter_for
from social.clients import x as x_client
from social.clients.base import (
    AuthError,
    ImageRef,
    InDoubt,
    NetworkError,
    Published,
    RateLimited,
    Rejected,
    ServerError,
)
from social.crypto import TokenDecryptError, token_decrypt, token_encrypt
from social.models import (
    AccountStatus,
    AttemptState,
    EngagementSnapshot,
    Network,
    PostImage,
    PostVariant,
    PublishAttempt,
    SocialAccount,
    VariantStatus,
)
from social.rules import RULES, text_as_posted
from social.services import account_mark_needs_reconnect, image_public_url

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# While an attempt runs, the sweep leaves the variant alone this long; after it, a STARTED
# attempt whose worker no longer holds the lock is in doubt. Far above a call's timeouts.
ATTEMPT_LEASE = timedelta(minutes=10)
# The lookup starts a little before the attempt, for clock differences with the network.
LOOKUP_MARGIN = timedelta(minutes=2)
# Engagement: hourly for a day, every 6 hours for a week, then daily until this age.
ENGAGEMENT_MAX_AGE = timedelta(days=90)
X_REFRESH_MARGIN = x_client.REFRESH_MARGIN


@dataclass(frozen=True)
class Outcome:
    """What one run did, for logs and tests: published, reconciled, retry, deferred, failed,
    review, busy, waiting, not_due, or the variant's unchanged status."""

    result: str
    detail: str = ""


def backoff(attempt_number: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** max(attempt_number - 1, 0), 3600))


@contextmanager
def variant_lock(variant_id: Any) -> Iterator[bool]:
    key = f"social.variant:{connection.schema_name}:{variant_id}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
            except DatabaseError:  # connection gone: the server has released it already
                logger.warning("Could not release the lock of variant %s", variant_id)


# --- Tokens ------------------------------------------------------------------------------------


def account_access_token(*, account: SocialAccount) -> str:
    """The account's access token, refreshed first when it expires soon (X: every 2 hours).

    The refresh holds the account's row lock: X rotates refresh tokens, so two workers
    refreshing at once would leave one with a dead token.
    """
    now = timezone.now()
    if (
        account.network == Network.X
        and account.token_expires_at is not None
        and account.token_expires_at - now < X_REFRESH_MARGIN
    ):
        with transaction.atomic():
            locked = SocialAccount.objects.select_for_update().get(id=account.id)
            if locked.token_expires_at is None or locked.token_expires_at - now < X_REFRESH_MARGIN:
                if not locked.refresh_token_enc:
                    raise AuthError("X: the token expired and there is no refresh token.")
                tokens = x_client.token_refresh(
                    refresh_token=token_decrypt(locked.refresh_token_enc)
                )
                locked.access_token_enc = token_encrypt(tokens.access_token)
                if tokens.refresh_token:
                    locked.refresh_token_enc = token_encrypt(tokens.refresh_token)
                locked.token_expires_at = tokens.expires_at
                locked.save(
                    update_fields=[
                        "access_token_enc", "refresh_token_enc", "token_expires_at", "updated_at",
                    ]
                )  # fmt: skip
            account.access_token_enc = locked.access_token_enc
            account.token_expires_at = locked.token_expires_at
    if not account.access_token_enc:
        raise AuthError("There is no token: connect the account again.")
    try:
        return token_decrypt(account.access_token_enc)
    except TokenDecryptError as exc:
        raise AuthError("The stored token cannot be decrypted with the configured keys.") from exc


def account_adapter(*, account: SocialAccount) -> Adapter:
    return adapter_for(
        network=account.network,
        access_token=account_access_token(account=account),
        remote_id=account.remote_id,
        username=account.username,
    )


def _needs_reconnect_message(account: SocialAccount, reason: str) -> str:
    return (
        f"{RULES[account.network].label}: the account {account.name} needs reconnecting"
        + (f" ({reason})" if reason else "")
        + "."
    )


# --- Publishing --------------------------------------------------------------------------------


def variant_publish(*, variant_id: Any) -> Outcome:
    """Publish one variant if it is due. Safe to call any number of times, at once or after
    a crash: see the module docstring."""
    with variant_lock(variant_id) as acquired:
        if not acquired:
            return Outcome("busy")
        return _publish_locked(variant_id)


def _publish_locked(variant_id: Any) -> Outcome:
    now = timezone.now()
    variant = PostVariant.objects.select_related("account").filter(id=variant_id).first()
    if variant is None:
        return Outcome("gone")
    if variant.status not in (VariantStatus.SCHEDULED, VariantStatus.PUBLISHING):
        return Outcome(variant.status)
    if variant.scheduled_at is not None and variant.scheduled_at > now:
        return Outcome("not_due")
    last = variant.attempts.order_by("-number").first()
    open_attempt = last is not None and last.state == AttemptState.STARTED
    # A STARTED attempt while we hold the lock is a dead worker's: no need to wait its lease.
    if variant.next_attempt_at and variant.next_attempt_at > now and not open_attempt:
        return Outcome("waiting")

    account = variant.account
    if account is None:  # scheduling attaches one; this guards rows changed by hand
        return _fail(variant, None, f"{RULES[variant.network].label}: no account is connected.")
    if account.status != AccountStatus.CONNECTED:
        reason = _needs_reconnect_message(account, account.status_reason)
        if open_attempt or (last and last.state == AttemptState.IN_DOUBT):
            return _review(variant, last, f"{reason} The last attempt may have been posted.")
        return _fail(variant, None, reason)
    try:
        adapter = account_adapter(account=account)
    except AuthError as exc:
        account_mark_needs_reconnect(account_id=account.id, reason=exc.message)
        reason = _needs_reconnect_message(account, exc.message)
        if open_attempt or (last and last.state == AttemptState.IN_DOUBT):
            return _review(variant, last, f"{reason} The last attempt may have been posted.")
        return _fail(variant, None, reason)
    except NetworkError as exc:  # the token refresh did not get through: later
        return _later(variant, None, exc, now + backoff(variant.attempt_count + 1))

    posted_text = text_as_posted(network=variant.network, text=variant.text, link=variant.link)

    if last is not None and last.state in (
        AttemptState.STARTED,
        AttemptState.IN_DOUBT,
        AttemptState.SERVER_ERROR,
    ):
        try:
            found = adapter.find_published(text=posted_text, since=last.started_at - LOOKUP_MARGIN)
        except AuthError as exc:
            account_mark_needs_reconnect(account_id=account.id, reason=exc.message)
            return _review(variant, last, f"Could not check whether it was posted: {exc.message}")
        except NetworkError as exc:
            return _later(variant, None, exc, now + backoff(variant.attempt_count))
        if found is not None:
            return _succeed(variant, last, found, AttemptState.RECONCILED)
        if last.state != AttemptState.SERVER_ERROR:
            return _review(
                variant,
                last,
                "An attempt got no clear answer and the post is not on the network (yet). "
                "Check the account: mark it posted, or send it.",
            )
        # After a 5xx, not found means not posted: try again below.

    if variant.attempt_count >= MAX_ATTEMPTS:
        return _fail(
            variant,
            None,
            f"Gave up after {variant.attempt_count} tries. Last error: {variant.error}".strip(),
        )

    deferred_until = _daily_limit_reached(account, now)
    if deferred_until is not None:
        limit = settings.SOCIAL_DAILY_LIMITS[account.network]
        PostVariant.objects.filter(id=variant.id).update(
            status=VariantStatus.PUBLISHING,
            next_attempt_at=deferred_until,
            error=f"{RULES[account.network].label}: {limit} posts in 24 hours reached; "
            f"goes out at {deferred_until:%Y-%m-%d %H:%M} UTC.",
        )
        return Outcome("deferred")

    # Record the attempt (committed) before the network hears of it.
    with transaction.atomic():
        attempt = PublishAttempt.objects.create(
            variant=variant,
            number=(last.number + 1) if last else 1,
            state=AttemptState.STARTED,
            started_at=now,
        )
        PostVariant.objects.filter(id=variant.id).update(
            status=VariantStatus.PUBLISHING,
            attempt_count=F("attempt_count") + 1,
            next_attempt_at=now + ATTEMPT_LEASE,
        )
    variant.refresh_from_db()

    try:
        published = adapter.publish(
            text=posted_text, link=variant.link, images=_images(variant.image_ids)
        )
    except RateLimited as exc:
        retry_at = exc.retry_at or now + backoff(variant.attempt_count)
        return _later(variant, attempt, exc, max(retry_at, now + timedelta(seconds=30)))
    except ServerError as exc:
        return _later(variant, attempt, exc, now + backoff(variant.attempt_count))
    except InDoubt as exc:
        return _later(variant, attempt, exc, now + timedelta(minutes=1))
    except AuthError as exc:
        account_mark_needs_reconnect(account_id=account.id, reason=exc.message)
        return _fail(variant, attempt, _needs_reconnect_message(account, exc.message), exc)
    except Rejected as exc:
        return _fail(variant, attempt, exc.message, exc)
    return _succeed(variant, attempt, published, AttemptState.SUCCEEDED)


def _images(image_ids: list[Any]) -> list[ImageRef]:
    if not image_ids:
        return []
    rows = PostImage.objects.in_bulk(image_ids)
    return [
        ImageRef(
            filename=rows[i].filename,
            content_type=rows[i].content_type,
            content=bytes(rows[i].content),
            public_url=image_public_url(image_id=i),
        )
        for i in image_ids
        if i in rows
    ]


def _daily_limit_reached(account: SocialAccount, now: datetime) -> datetime | None:
    """When the account may post again, if its rolling 24-hour limit is used up."""
    limit = settings.SOCIAL_DAILY_LIMITS.get(account.network)
    if not limit:
        return None
    recent = list(
        PostVariant.objects.filter(account=account, published_at__gt=now - timedelta(hours=24))
        .order_by("-published_at")
        .values_list("published_at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return None
    return recent[-1] + timedelta(hours=24)


_ATTEMPT_STATE_FOR = {
    RateLimited: AttemptState.RETRY,
    ServerError: AttemptState.SERVER_ERROR,
    InDoubt: AttemptState.IN_DOUBT,
}


@transaction.atomic
def _later(
    variant: PostVariant,
    attempt: PublishAttempt | None,
    exc: NetworkError,
    when: datetime,
) -> Outcome:
    if attempt is not None:
        PublishAttempt.objects.filter(id=attempt.id).update(
            state=_ATTEMPT_STATE_FOR.get(type(exc), AttemptState.SERVER_ERROR),
            finished_at=timezone.now(),
            http_status=exc.http_status,
            error=exc.message[:2000],
        )
    PostVariant.objects.filter(id=variant.id).update(
        status=VariantStatus.PUBLISHING,
        next_attempt_at=when,
        error=f"{exc.message} Next try at {when:%Y-%m-%d %H:%M} UTC.",
    )
    return Outcome("retry", exc.message)


@transaction.atomic
def _succeed(
    variant: PostVariant, attempt: PublishAttempt, published: Published, state: str
) -> Outcome:
    now = timezone.now()
    PublishAttempt.objects.filter(id=attempt.id).update(
        state=state, finished_at=now, remote_id=published.remote_id
    )
    PostVariant.objects.filter(id=variant.id).update(
        status=VariantStatus.PUBLISHED,
        remote_id=published.remote_id,
        remote_url=published.url[:500],
        published_at=now,
        error="",
        next_attempt_at=None,
        metrics_due_at=now + timedelta(hours=1),
    )
    return Outcome("reconciled" if state == AttemptState.RECONCILED else "published")


@transaction.atomic
def _fail(
    variant: PostVariant,
    attempt: PublishAttempt | None,
    reason: str,
    exc: NetworkError | None = None,
) -> Outcome:
    if attempt is not None:
        PublishAttempt.objects.filter(id=attempt.id).update(
            state=AttemptState.FAILED,
            finished_at=timezone.now(),
            http_status=exc.http_status if exc else None,
            error=reason[:2000],
        )
    PostVariant.objects.filter(id=variant.id).update(
        status=VariantStatus.FAILED, error=reason, next_attempt_at=None
    )
    logger.info("Variant %s failed: %s", variant.id, reason)
    return Outcome("failed", reason)


@transaction.atomic
def _review(variant: PostVariant, attempt: PublishAttempt | None, reason: str) -> Outcome:
    if attempt is not None and attempt.state == AttemptState.STARTED:
        PublishAttempt.objects.filter(id=attempt.id).update(
            state=AttemptState.IN_DOUBT,
            finished_at=timezone.now(),
            error="No answer was recorded (the worker stopped).",
        )
    PostVariant.objects.filter(id=variant.id).update(
        status=VariantStatus.NEEDS_REVIEW, error=reason, next_attempt_at=None
    )
    logger.warning("Variant %s needs review: %s", variant.id, reason)
    return Outcome("review", reason)


def variants_due_ids(*, limit: int = 500) -> list[str]:
    """Variants a worker should look at now: due, not backing off, not mid-attempt."""
    now = timezone.now()
    from django.db.models import Q

    return [
        str(i)
        for i in PostVariant.objects.filter(
            status__in=[VariantStatus.SCHEDULED, VariantStatus.PUBLISHING], scheduled_at__lte=now
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("scheduled_at")
        .values_list("id", flat=True)[:limit]
    ]


# --- Engagement --------------------------------------------------------------------------------


def next_metrics_due(*, published_at: datetime, now: datetime) -> datetime | None:
    age = now - published_at
    if age < timedelta(days=1):
        return now + timedelta(hours=1)
    if age < timedelta(days=7):
        return now + timedelta(hours=6)
    if age < ENGAGEMENT_MAX_AGE:
        return now + timedelta(days=1)
    return None


def engagement_fetch(*, variant_id: Any) -> Outcome:
    """Fetch one published variant's counts, keep a snapshot, and set when to look again."""
    now = timezone.now()
    variant = (
        PostVariant.objects.select_related("account")
        .filter(id=variant_id, status=VariantStatus.PUBLISHED)
        .first()
    )
    if variant is None or not variant.remote_id or variant.published_at is None:
        return Outcome("gone")
    account = variant.account
    next_due = next_metrics_due(published_at=variant.published_at, now=now)
    if account is None or account.status != AccountStatus.CONNECTED:
        PostVariant.objects.filter(id=variant.id).update(metrics_due_at=next_due)
        return Outcome("skipped", "account not connected")
    try:
        metrics = account_adapter(account=account).metrics(remote_id=variant.remote_id)
    except AuthError as exc:
        account_mark_needs_reconnect(account_id=account.id, reason=exc.message)
        PostVariant.objects.filter(id=variant.id).update(metrics_due_at=next_due)
        return Outcome("failed", exc.message)
    except Rejected as exc:  # deleted on the network, most likely: stop asking
        PostVariant.objects.filter(id=variant.id).update(metrics_due_at=None)
        return Outcome("failed", exc.message)
    except NetworkError as exc:
        PostVariant.objects.filter(id=variant.id).update(metrics_due_at=now + timedelta(hours=1))
        return Outcome("retry", exc.message)
    with transaction.atomic():
        EngagementSnapshot.objects.create(
            variant=variant,
            fetched_at=now,
            likes=metrics.likes,
            comments=metrics.comments,
            shares=metrics.shares,
            impressions=metrics.impressions,
        )
        PostVariant.objects.filter(id=variant.id).update(
            likes=metrics.likes,
            comments=metrics.comments,
            shares=metrics.shares,
            impressions=metrics.impressions,
            metrics_fetched_at=now,
            metrics_due_at=next_due,
        )
    return Outcome("fetched")


def engagement_due_ids(*, limit: int = 200) -> list[str]:
    return [
        str(i)
        for i in PostVariant.objects.filter(
            status=VariantStatus.PUBLISHED, metrics_due_at__lte=timezone.now()
        )
        .order_by("metrics_due_at")
        .values_list("id", flat=True)[:limit]
    ]


# --- Daily token check -------------------------------------------------------------------------


def account_check(*, account_id: Any) -> Outcome:
    """Refresh the token if it expires soon, then ask the network whether it still works.
    A refused token marks the account "needs reconnecting"; a network that does not answer
    changes nothing (tomorrow's check tries again)."""
    account = SocialAccount.objects.filter(id=account_id, status=AccountStatus.CONNECTED).first()
    if account is None:
        return Outcome("gone")
    try:
        account_adapter(account=account).check()
    except AuthError as exc:
        account_mark_needs_reconnect(account_id=account.id, reason=exc.message)
        return Outcome("needs_reconnect", exc.message)
    except NetworkError as exc:
        return Outcome("retry", exc.message)
    SocialAccount.objects.filter(id=account.id).update(token_checked_at=timezone.now())
    return Outcome("ok")
