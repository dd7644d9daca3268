"""Celery tasks of the Social Publisher. Each runs in the club schema it was queued in, takes
ids, and is safe to run twice (the publishing code locks and checks state first)."""

from __future__ import annotations

import time

from celery import shared_task

from social.models import AccountStatus, SocialAccount
from social.publishing import (
    account_check,
    engagement_due_ids,
    engagement_fetch,
    variant_publish,
    variants_due_ids,
)

# Keep one task short; what is left is picked up by the next periodic run.
TIME_BUDGET_SECONDS = 240


@shared_task(name="social.publish_variant", acks_late=True)
def publish_variant(variant_id: str) -> str:
    return variant_publish(variant_id=variant_id).result


@shared_task(name="social.publish_due")
def publish_due() -> int:
    """Every minute per club: queue the variants that are due (scheduled, retries whose
    backoff has passed, attempts left in doubt by a dead worker)."""
    ids = variants_due_ids()
    for variant_id in ids:
        publish_variant.delay(variant_id)
    return len(ids)


@shared_task(name="social.fetch_engagement_due")
def fetch_engagement_due() -> int:
    started = time.monotonic()
    done = 0
    for variant_id in engagement_due_ids():
        if time.monotonic() - started > TIME_BUDGET_SECONDS:
            break
        engagement_fetch(variant_id=variant_id)
        done += 1
    return done


@shared_task(name="social.check_accounts")
def check_accounts() -> dict[str, int]:
    """Daily per club: is every connected account's token still good?"""
    results: dict[str, int] = {}
    ids = SocialAccount.objects.filter(status=AccountStatus.CONNECTED).values_list("id", flat=True)
    for account_id in ids:
        outcome = account_check(account_id=account_id).result
        results[outcome] = results.get(outcome, 0) + 1
    return results


@shared_task(name="social.promote_competitions")
def promote_competitions() -> dict[str, int]:
    """Every minute per club: read new competition events (entries, scores, updates,
    cancellations) and keep the competitions' promotion plans in step with them. Safe to run
    twice or concurrently: the cursor and each plan are locked while worked on."""
    from social.promotion_services import promotions_run

    return promotions_run()
