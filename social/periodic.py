"""When the social tasks that beat runs periodically (every minute; engagement every 15 minutes)
could find something to do in a club (crm/periodic.py asks every club at once and queues the
task only where this holds)."""

from __future__ import annotations

from crm.periodic import WorkProbe, work_probe_register
from social.models import VariantStatus
from social.promotion_services import OUTCOME_WAIT, ItemStatus

# `variants_due_ids`: scheduled, retries whose backoff has passed, attempts left in doubt.
PUBLISH_DUE = WorkProbe(
    task="social.publish_due",
    condition=(
        "EXISTS (SELECT 1 FROM {social_postvariant} WHERE status IN ({scheduled}, {publishing}) "
        "AND scheduled_at <= now() AND (next_attempt_at IS NULL OR next_attempt_at <= now()))"
    ),
    tables=("social_postvariant",),
    values={
        "scheduled": VariantStatus.SCHEDULED.value,
        "publishing": VariantStatus.PUBLISHING.value,
    },
)

# `engagement_due_ids`: a published variant whose next engagement fetch is due (the partial
# index on metrics_due_at answers it).
FETCH_ENGAGEMENT_DUE = WorkProbe(
    task="social.fetch_engagement_due",
    condition=(
        "EXISTS (SELECT 1 FROM {social_postvariant} WHERE status = {published} "
        "AND metrics_due_at <= now())"
    ),
    tables=("social_postvariant",),
    values={"published": VariantStatus.PUBLISHED.value},
)

# New raw events past the promotion cursor (or no cursor yet), plans marked for a sync, and
# items due or awaiting their outcome (`promotions_due_ids`).
PROMOTE_COMPETITIONS = WorkProbe(
    task="social.promote_competitions",
    condition=(
        "NOT EXISTS (SELECT 1 FROM {social_promotioneventcursor}) "
        "OR EXISTS (SELECT 1 FROM {profiles_rawevent} WHERE id > (SELECT max(last_raw_event_id) "
        "FROM {social_promotioneventcursor})) "
        "OR EXISTS (SELECT 1 FROM {social_competitionpromotion} WHERE needs_sync) "
        "OR EXISTS (SELECT 1 FROM {social_promotionitem} WHERE status IN ({planned}, "
        "{item_scheduled}) AND scheduled_for <= now() AND scheduled_for >= now() - {wait})"
    ),
    tables=(
        "social_promotioneventcursor",
        "profiles_rawevent",
        "social_competitionpromotion",
        "social_promotionitem",
    ),
    values={
        "planned": ItemStatus.PLANNED.value,
        "item_scheduled": ItemStatus.SCHEDULED.value,
        "wait": OUTCOME_WAIT,
    },
)


def register() -> None:
    work_probe_register(PUBLISH_DUE)
    work_probe_register(FETCH_ENGAGEMENT_DUE)
    work_probe_register(PROMOTE_COMPETITIONS)
