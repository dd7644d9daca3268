"""Scores: the one place their formulas and thresholds live, and the engagement score.

Every number a club may want to tune is a field of `ScoringParams` below, with its default and
what it means. A club overrides any of them in its `ScoringConfig` row (club admin → Scoring
settings, ADMIN only); keys it does not name keep the defaults. `scoring_params()` is what the
code reads.

Engagement (0-100)
------------------
Five components, each scored 0-1 from the customer's own timeline at the moment of scoring and
weighted (the weights add up to 100):

- recency 30: days since the customer last did something (booked, played, paid, opened or
  clicked, entered a competition, changed a preference). 1 up to `recency_full_days`, falling
  in a straight line to 0 at `recency_zero_days`; 0 if never.
- frequency 25: distinct days with such an activity in the last 90 days, over
  `frequency_full_days` (capped at 1).
- monetary 20: what they spent in the last 365 days (payments received less refunds, plus
  paid bookings such as visitors' green fees), over `monetary_full_cents` (capped at 1).
- breadth 15: distinct kinds of activity (golf, competitions, payments, messaging, consent …)
  and channels (email, SMS, push, online, app, phone, walk-in …) in the last 180 days, over
  `breadth_full_kinds` (capped at 1).
- depth 10: how they read the club's messages in the last 180 days: 70% open rate over
  `depth_open_rate_full`, 30% click rate over `depth_click_rate_full` (each capped at 1).
  Someone the club sent nothing is neither good nor bad here: `depth_when_no_messages`.

The score is the rounded sum of the weighted components. Bands are fixed (they are the
segment contract's values): 80-100 EXCELLENT, 60-79 GOOD, 40-59 AVERAGE, 20-39 LOW, 0-19
AT_RISK.

Churn risk and "paying but not playing": see profiles.churn and profiles.pnp; their tunable
numbers are also fields here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from profiles.models import EngagementBand, ScoringConfig

# (lowest score, band), highest first.
BANDS: tuple[tuple[int, str], ...] = (
    (80, EngagementBand.EXCELLENT),
    (60, EngagementBand.GOOD),
    (40, EngagementBand.AVERAGE),
    (20, EngagementBand.LOW),
    (0, EngagementBand.AT_RISK),
)

ENGAGEMENT_COMPONENTS = ("recency", "frequency", "monetary", "breadth", "depth")
DEFAULT_TIER_ORDER = (
    "FULL", "SEVEN_DAY", "FIVE_DAY", "COUNTRY", "SENIOR", "INTERMEDIATE", "STUDENT", "JUNIOR",
    "JUVENILE", "SOCIAL",
)  # fmt: skip


def _p(default: Any, doc: str, **limits: Any) -> Any:
    return field(default=default, metadata={"doc": doc, **limits})


@dataclass(frozen=True)
class ScoringParams:
    """Every tunable number of the scores, with its default. Override per club in
    ScoringConfig.overrides (`{"recency_zero_days": 120}`)."""

    # --- engagement: weights (must add up to 100) ---
    weight_recency: int = _p(30, "Engagement points for recency.", min=0, max=100)
    weight_frequency: int = _p(25, "Engagement points for frequency.", min=0, max=100)
    weight_monetary: int = _p(20, "Engagement points for spend.", min=0, max=100)
    weight_breadth: int = _p(15, "Engagement points for breadth.", min=0, max=100)
    weight_depth: int = _p(10, "Engagement points for depth (opens, clicks).", min=0, max=100)
    # --- engagement: thresholds ---
    recency_full_days: int = _p(7, "Full recency marks up to this many days.", min=0, max=365)
    recency_zero_days: int = _p(120, "No recency marks from this many days.", min=1, max=730)
    frequency_full_days: int = _p(
        24, "Active days in 90 that give full frequency marks.", min=1, max=90
    )
    monetary_full_cents: int = _p(
        100_000, "Spend in 365 days (cents) that gives full monetary marks.", min=1
    )
    breadth_full_kinds: int = _p(
        6, "Kinds of activity and channels in 180 days for full breadth marks.", min=1, max=20
    )
    depth_open_rate_full: float = _p(0.5, "Open rate that gives full open marks.", min=0.01, max=1)
    depth_click_rate_full: float = _p(
        0.15, "Click rate that gives full click marks.", min=0.01, max=1
    )
    depth_when_no_messages: float = _p(
        0.5, "Depth (0-1) of someone the club sent no messages.", min=0, max=1
    )

    # --- churn: label and model training (profiles.churn) ---
    churn_horizon_days: int = _p(
        90, "Churn = an active member who lapses or resigns within this many days.", min=7, max=365
    )
    churn_snapshot_step_days: int = _p(30, "Days between the training snapshots.", min=7, max=120)
    churn_max_snapshots: int = _p(12, "Most training snapshots.", min=1, max=52)
    churn_min_lapses: int = _p(
        20, "Fewest distinct past lapses to train a model on (else rule-based).", min=2
    )
    churn_min_test_lapses: int = _p(
        5, "Fewest lapses in the test window to judge a model (else rule-based).", min=1
    )
    churn_min_roc_auc: float = _p(
        0.6, "A model whose ROC AUC on the test window is lower is not used.", min=0.5, max=1
    )
    churn_alert_threshold: int = _p(
        80, "crm.churn.risk.high is published when the risk rises above this.", min=1, max=99
    )
    churn_max_reasons: int = _p(3, "Reasons shown per customer.", min=1, max=6)
    # Tier codes, highest first: a change to a tier further down the list is a downgrade.
    # Codes not listed are never counted as a downgrade.
    tier_order: list = field(
        default_factory=lambda: list(DEFAULT_TIER_ORDER),
        metadata={"doc": "Tier codes, most expensive first (for tier downgrades)."},
    )

    # --- churn: the rule-based score (points add up to 100) ---
    rule_activity_decline: int = _p(35, "Rule points: bookings fell against own baseline.", min=0)
    rule_payment_issues: int = _p(25, "Rule points: failed payments.", min=0)
    rule_engagement_drop: int = _p(20, "Rule points: email opens and clicks fell.", min=0)
    rule_tier_downgrade: int = _p(10, "Rule points: moved to a lower tier in 365 days.", min=0)
    rule_complaints: int = _p(10, "Rule points: marked a club message as spam (365 days).", min=0)
    rule_min_weekly_rounds: float = _p(
        0.25, "Baseline bookings a week below which a decline is not judged.", min=0
    )

    # --- paying but not playing (profiles.pnp) ---
    pnp_window_weeks: int = _p(8, "Weeks of play compared.", min=2, max=26)
    pnp_min_baseline_rounds: int = _p(
        4, "Fewest rounds in the baseline weeks for the flag to apply.", min=1
    )
    pnp_max_ratio: float = _p(
        0.5, "Flagged when rounds are at most this share of the baseline.", min=0, max=1
    )
    pnp_renewal_grace_days: int = _p(
        30, "A renewal overdue by more than this is not 'paid up'.", min=0, max=365
    )

    @property
    def engagement_weights(self) -> dict[str, int]:
        return {name: getattr(self, f"weight_{name}") for name in ENGAGEMENT_COMPONENTS}

    @property
    def rule_weights(self) -> dict[str, int]:
        return {
            "activity_decline": self.rule_activity_decline,
            "payment_issues": self.rule_payment_issues,
            "engagement_drop": self.rule_engagement_drop,
            "tier_downgrade": self.rule_tier_downgrade,
            "complaints": self.rule_complaints,
        }


def scoring_param_docs() -> list[dict[str, Any]]:
    """Every parameter with its default and meaning (for the admin's settings page)."""
    defaults = ScoringParams()
    return [
        {"name": f.name, "default": getattr(defaults, f.name), "doc": f.metadata.get("doc", "")}
        for f in dataclasses.fields(ScoringParams)
    ]


def scoring_params_validate(overrides: Any) -> dict[str, str]:
    """Problems with a club's overrides, by key (empty: fine)."""
    if not isinstance(overrides, dict):
        return {"overrides": "A JSON object of parameter names and values."}
    fields = {f.name: f for f in dataclasses.fields(ScoringParams)}
    defaults = ScoringParams()
    errors: dict[str, str] = {}
    for key, value in overrides.items():
        spec = fields.get(key)
        if spec is None:
            errors[key] = "Not a scoring parameter."
            continue
        default = getattr(defaults, key)
        if isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[key] = "A list of tier codes."
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors[key] = "A number."
            continue
        if isinstance(default, int) and not isinstance(value, int):
            errors[key] = "A whole number."
            continue
        low, high = spec.metadata.get("min"), spec.metadata.get("max")
        if low is not None and value < low:
            errors[key] = f"At least {low}."
        elif high is not None and value > high:
            errors[key] = f"At most {high}."
    if not errors:
        params = dataclasses.replace(defaults, **overrides)
        if sum(params.engagement_weights.values()) != 100:
            errors["weight_recency"] = "The five engagement weights must add up to 100."
        if sum(params.rule_weights.values()) != 100:
            errors["rule_activity_decline"] = "The five rule points must add up to 100."
        if params.recency_zero_days <= params.recency_full_days:
            errors["recency_zero_days"] = "Must be more than recency_full_days."
    return errors


def scoring_params() -> ScoringParams:
    """The current club's parameters: the defaults, with its overrides."""
    config = ScoringConfig.objects.filter(id=1).only("overrides").first()
    overrides = (config.overrides if config else None) or {}
    if scoring_params_validate(overrides):
        # Saved overrides are validated on the way in; a default changed since then must not
        # stop the nightly scores, so bad keys are ignored rather than raised.
        fields = {f.name for f in dataclasses.fields(ScoringParams)}
        overrides = {
            k: v
            for k, v in overrides.items()
            if k in fields and not scoring_params_validate({k: v})
        }
        try:
            return dataclasses.replace(ScoringParams(), **overrides)
        except (TypeError, ValueError):
            return ScoringParams()
    return dataclasses.replace(ScoringParams(), **overrides)


# Churn risk bands (0-100), as staff read them: the dashboard's "at risk" is High or Critical.
CHURN_RISK_BANDS = ((80, "CRITICAL", "Critical"), (60, "HIGH", "High"), (40, "MEDIUM", "Medium"),
                    (0, "LOW", "Low"))  # fmt: skip
CHURN_HIGH_FROM = 60


def churn_risk_band(score: int | None) -> str:
    """The band of a churn risk score ("" when not scored)."""
    if score is None:
        return ""
    for lowest, band, _label in CHURN_RISK_BANDS:
        if score >= lowest:
            return band
    return "LOW"


def engagement_band(score: int) -> str:
    for lowest, band in BANDS:
        if score >= lowest:
            return band
    return EngagementBand.AT_RISK


def engagement_compute(f: dict[str, np.ndarray], params: ScoringParams) -> dict[str, np.ndarray]:
    """Vectorised engagement for every customer in the snapshot `f` (profiles.features):
    each component's points and the total (`score`), all arrays."""
    p = params
    days = f["days_since_activity"]
    span = max(p.recency_zero_days - p.recency_full_days, 1)
    recency = np.where(
        np.isfinite(days), np.clip((p.recency_zero_days - days) / span, 0.0, 1.0), 0.0
    )
    frequency = np.clip(f["active_days_90"] / p.frequency_full_days, 0.0, 1.0)
    monetary = np.clip(f["spend_365"] / p.monetary_full_cents, 0.0, 1.0)
    breadth = np.clip(f["breadth_kinds"] / p.breadth_full_kinds, 0.0, 1.0)
    sent, opens, clicks = f["sent_180"], f["opens_180"], f["clicks_180"]
    reached = np.maximum(sent, opens)
    with np.errstate(divide="ignore", invalid="ignore"):
        open_rate = np.where(reached > 0, np.minimum(opens / reached, 1.0), 0.0)
        click_rate = np.where(reached > 0, np.minimum(clicks / reached, 1.0), 0.0)
    depth = np.where(
        reached > 0,
        0.7 * np.clip(open_rate / p.depth_open_rate_full, 0, 1)
        + 0.3 * np.clip(click_rate / p.depth_click_rate_full, 0, 1),
        p.depth_when_no_messages,
    )
    weights = p.engagement_weights
    points = {
        "recency": recency * weights["recency"],
        "frequency": frequency * weights["frequency"],
        "monetary": monetary * weights["monetary"],
        "breadth": breadth * weights["breadth"],
        "depth": depth * weights["depth"],
    }
    total = np.zeros_like(recency)
    for value in points.values():
        total = total + value
    points["score"] = np.clip(np.rint(total), 0, 100)
    return points
