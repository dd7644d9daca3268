"""A/B tests: after the test pool has had `winnerAfterHours`, the variant with the best open,
click or conversion rate (per message sent in the pool) goes to everyone else, and the
decision is recorded with its significance.

Significance: a chi-square test of independence over the variants' successes and failures
(scipy.stats.chi2_contingency); with two variants and any expected cell under 5, Fisher's
exact test instead. `significant` is p < 0.05. The best rate wins either way (ties: the first
key), so the rest of the audience is never left waiting: the record says how sure it was.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, RunStatus, Send, SendStatus, WinnerMetric
from campaigns.selectors import campaign_stats

ALPHA = 0.05
_SUCCESS = {WinnerMetric.OPEN: "opened", WinnerMetric.CLICK: "clicked",
            WinnerMetric.CONVERSION: "converted"}  # fmt: skip


def significance(table: list[tuple[int, int]]) -> tuple[str, float | None]:
    """(test name, p-value) for rows of (successes, failures)."""
    from scipy import stats

    rows = [row for row in table if sum(row) > 0]
    if len(rows) < 2 or all(s == 0 for s, _ in rows) or all(f == 0 for _, f in rows):
        return "none", None
    total = sum(sum(row) for row in rows)
    col = [sum(r[0] for r in rows), sum(r[1] for r in rows)]
    small = any(sum(row) * c / total < 5 for row in rows for c in col)
    if len(rows) == 2 and small:
        _, p = stats.fisher_exact(rows)
        return "fisher-exact", float(p)
    result = stats.chi2_contingency(rows)
    return "chi-square", float(result.pvalue)


def run_winner_due(*, run: CampaignRun, now=None) -> bool:
    campaign = run.campaign
    if not campaign.test_pool_percent or campaign.winner_key or run.planned_at is None:
        return False
    now = now or timezone.now()
    return (now - run.planned_at).total_seconds() >= campaign.winner_after_hours * 3600


@transaction.atomic
def campaign_decide_winner(*, run_id: uuid.UUID | str, force: bool = False) -> dict[str, Any]:
    """Pick the winner from the test pool, record it, release the waiting sends to it."""
    run = CampaignRun.objects.select_for_update().select_related("campaign").get(pk=run_id)
    campaign = Campaign.objects.select_for_update().get(pk=run.campaign_id)
    run.campaign = campaign
    if run.status != RunStatus.SENDING or campaign.winner_key:
        return campaign.winner_decision
    if not force and not run_winner_due(run=run):
        return {}
    stats = campaign_stats(campaign=campaign, run_id=run.id, pool_only=True)
    success = _SUCCESS[campaign.winner_metric]
    keys = list(campaign.variants.values_list("key", flat=True))
    by_key = {v["variant"]: v for v in stats["variants"]}
    rates = {}
    table = []
    for key in keys:
        counts = by_key.get(key, {"sent": 0, success: 0})
        sent, hits = counts["sent"], counts[success]
        rates[key] = {"sent": sent, "successes": hits, "rate": round(hits / sent, 4) if sent else 0}
        table.append((hits, sent - hits))
    winner = max(keys, key=lambda k: (rates[k]["rate"], -keys.index(k)))
    test, p_value = significance(table)
    decision = {
        "winner": winner,
        "metric": campaign.winner_metric,
        "rates": rates,
        "test": test,
        "pValue": round(p_value, 6) if p_value is not None else None,
        "significant": p_value is not None and p_value < ALPHA,
        "alpha": ALPHA,
        "decidedAt": timezone.now().isoformat(),
        "afterHours": campaign.winner_after_hours,
    }
    campaign.winner_key = winner
    campaign.winner_decision = decision
    campaign.save(update_fields=["winner_key", "winner_decision", "updated_at"])
    released = Send.objects.filter(run=run, status=SendStatus.AWAITING_WINNER).update(
        status=SendStatus.PENDING, variant=winner
    )
    decision = {**decision, "released": released}
    from campaigns.services import deliveries_for, queue_deliver

    queue_deliver(run.id, parallel=deliveries_for(released))
    return decision
