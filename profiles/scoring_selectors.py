"""Reads of the scores: a page of customers' scores in one query, the churn model in use and
how to describe it to staff."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from profiles.models import ChurnModel, ChurnModelStatus, CustomerScore


def churn_model_current() -> ChurnModel | None:
    """The newest training run: it decides whether the model or the rules score churn."""
    return ChurnModel.objects.order_by("-version").first()


def customer_scores(*, customer_ids: Iterable[UUID]) -> dict[UUID, CustomerScore | None]:
    """The scores of each of these customers, in one query (None: not scored yet)."""
    ids = list(customer_ids)
    scores = CustomerScore.objects.filter(customer_id__in=ids)
    found = {score.customer_id: score for score in scores}
    return {customer_id: found.get(customer_id) for customer_id in ids}


def reason_texts(score: CustomerScore | None) -> list[str]:
    """The churn reasons of a score, most important first, as the APIs give them."""
    if score is None:
        return []
    return [
        reason["text"] if isinstance(reason, dict) else str(reason)
        for reason in score.churn_risk_reasons or []
    ]


def churn_method_summary(model: ChurnModel | None) -> dict[str, Any]:
    """Which churn score is in use and how good it is, in words for the 360° page."""
    if model is not None and model.status == ChurnModelStatus.READY:
        return {
            "method": "MODEL",
            "title": f"Churn model v{model.version}",
            "model": model,
            "quality": (
                f"ROC AUC {model.roc_auc:.2f}; of the 10% of members it ranked riskiest, "
                f"{model.precision_top_decile:.0%} lapsed (against {model.base_rate:.0%} of all)"
            ),
        }
    why = model.notes if model is not None else "No churn model has been trained yet."
    return {"method": "RULES", "title": "Rule-based score", "model": model, "quality": why}
