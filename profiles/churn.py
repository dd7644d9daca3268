"""Churn risk (0-100) with its reasons: a per-club model, or the documented rule-based score.

Who is scored: members (membership status ACTIVE or SUSPENDED). Churn is about a membership
ending, so anyone else (visitors, subscribers, members who already left) has no churn risk.

The model
---------
A logistic regression (scikit-learn, on standardised features) trained on the club's own
history. Label: a member active at a snapshot moment T whose membership changed to LAPSED or
RESIGNED within the next N days (`churn_horizon_days`, default 90). Features at T come from
events before T only (profiles.features.snapshot): days since the last tee time and the
booking trend against the member's own baseline, bookings in 30 and 90 days, cancellations,
no-shows, competition entries, failed payments (and whether one is still unpaid), tier
downgrades, email opens and clicks and their trend, complaints, tenure and days to the renewal
anniversary.

Training reads events before the cut-off (the moment of training) only, and splits by time:

- test snapshot: T_test = cut-off - N, labelled by what happened up to the cut-off;
- training snapshots: T_test - N, then every `churn_snapshot_step_days` before that (at most
  `churn_max_snapshots`), so every training label was known before the test snapshot's
  features begin: nothing of the test period leaks into training.

The model's quality on the test snapshot (ROC AUC, and precision in the top decile: the share
of the 10% highest-scored members who did lapse, beside the base rate) is stored with it and
shown to staff. The model then used is refitted on all snapshots, the test one included.

Too little history: fewer than `churn_min_lapses` distinct members lapsing in the training
windows, or fewer than `churn_min_test_lapses` in the test window, or a test ROC AUC under
`churn_min_roc_auc`: no model is used and the rule-based score serves instead. The newest
training run decides (profiles.models.ChurnModel), and the 360° page says which is in use.

The rule-based score
--------------------
Points out of 100, each part scaled by how strongly it holds (weights tunable, see
profiles.scoring):

- activity decline 35: bookings in the last 90 days against the member's own weekly baseline
  of the 9 months before (a fall of 100% gives all 35), or time since the last tee time against
  their usual gap between rounds (from twice the usual gap, full at six times), whichever is
  worse; only judged for members whose baseline is at least `rule_min_weekly_rounds` a week;
- payment issues 25: a failed payment in the last 180 days gives half, two or more (or one
  still unpaid) all of it;
- engagement drop 20: email opens and clicks in the last 90 days against the 90 before (with
  at least two before), a fall of 100% gives all 20;
- tier downgrade 10: moved to a lower tier (`tier_order`) in the last 365 days;
- complaints 10: marked a club message as spam in the last 365 days.

Reasons
-------
Each score comes with its top reasons (`churn_max_reasons`) in a club manager's words ("No tee
time in 47 days; usually plays weekly", "Subscription payment failed twice"). For the rules,
the parts that gave points, largest first. For the model, each feature's contribution to the
log-odds (coefficient x standardised value, as a linear model's effects add up), summed by
reason and largest first; a feature only counts as a reason when it points the way that makes
sense (fewer bookings, not more), so an odd coefficient never produces a reason that reads
wrong. Stored as `[{"code", "text", "points"}]` (points: the rule's points, or the model's
contribution in log-odds x 10).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from profiles.features import Timeline, from_days, snapshot, usual_play
from profiles.scoring import ScoringParams

MEMBER_STATUSES = ("ACTIVE", "SUSPENDED")
ALGORITHM = "scikit-learn LogisticRegression (standardised features, L2, C=1.0)"


def _log1p(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(x, 0))


def _trend(recent: np.ndarray, base: np.ndarray) -> np.ndarray:
    """log((recent + 0.1) / (baseline + 0.1)): 0 when steady or no baseline, negative when
    falling."""
    base = np.where(np.isnan(base), recent, base)
    return np.log((recent + 0.1) / (base + 0.1))


@dataclass(frozen=True)
class Feature:
    name: str
    compute: Callable[[dict[str, np.ndarray]], np.ndarray]
    risk_direction: int  # +1: higher means riskier; -1: lower means riskier
    reason: str  # the reason group it speaks to


MODEL_FEATURES: tuple[Feature, ...] = (
    Feature("days_since_booking",
            lambda f: np.minimum(np.nan_to_num(f["days_since_booking"], posinf=365.0), 365.0),
            +1, "golf_recency"),
    Feature("booking_trend", lambda f: _trend(f["recent_weekly"], f["base_weekly"]), -1,
            "golf_frequency"),
    Feature("bookings_30d", lambda f: _log1p(f["bookings_30"]), -1, "golf_frequency"),
    Feature("bookings_90d", lambda f: _log1p(f["bookings_90"]), -1, "golf_frequency"),
    Feature("usual_weekly_bookings", lambda f: np.nan_to_num(f["base_weekly"], nan=0.0), -1,
            "golf_frequency"),
    Feature("cancellations_90d", lambda f: _log1p(f["cancellations_90"]), +1, "cancellations"),
    Feature("no_shows_90d", lambda f: _log1p(f["no_shows_90"]), +1, "no_shows"),
    Feature("competition_entries_365d", lambda f: _log1p(f["competitions_365"]), -1,
            "competitions"),
    Feature("failed_payments_180d", lambda f: _log1p(f["failed_180"]), +1, "payments"),
    Feature("payment_unresolved", lambda f: f["payment_unresolved"], +1, "payments"),
    Feature("tier_downgrades_365d", lambda f: np.minimum(f["tier_downgrades_365"], 1.0), +1,
            "tier"),
    Feature("email_opens_90d", lambda f: _log1p(f["opens_90"]), -1, "email"),
    Feature("email_clicks_90d", lambda f: _log1p(f["clicks_90"]), -1, "email"),
    Feature("email_trend",
            lambda f: _trend(f["opens_90"] + f["clicks_90"],
                             f["opens_prev_90"] + f["clicks_prev_90"]),
            -1, "email"),
    Feature("complaints_365d", lambda f: np.minimum(f["complaints_365"], 1.0), +1, "complaints"),
    Feature("tenure_years", lambda f: _log1p(np.nan_to_num(f["tenure_days"], nan=0.0) / 365.0),
            -1, "tenure"),
    Feature("days_to_renewal", lambda f: np.nan_to_num(f["days_to_renewal"], nan=182.0), -1,
            "renewal"),
)  # fmt: skip
FEATURE_NAMES = [feature.name for feature in MODEL_FEATURES]


def feature_matrix(f: dict[str, np.ndarray]) -> np.ndarray:
    """The model's inputs (rows: customers, columns: MODEL_FEATURES)."""
    return np.column_stack([feature.compute(f) for feature in MODEL_FEATURES]).astype(np.float64)


# --- reasons, in words ----------------------------------------------------------------------


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def reason_text(code: str, f: dict[str, np.ndarray], r: int) -> str:
    """What reason `code` means for customer `r` of snapshot `f`, in a club manager's words."""
    if code == "golf_recency":
        days = f["days_since_booking"][r]
        usual = usual_play(float(f["base_weekly"][r]))
        if not math.isfinite(days):
            return "No tee time booked in the last year"
        text = f"No tee time in {int(days)} days"
        return f"{text}; {usual}" if usual else text
    if code == "golf_frequency":
        recent = int(f["bookings_90"][r])
        base = float(f["base_weekly"][r])
        if math.isfinite(base) and base > 0:
            expected = max(round(base * 90 / 7), 1)
            if recent == 0:
                return f"No tee time in the last 90 days (about {expected} usually)"
            return (
                f"{_plural(recent, 'tee time')} in the last 90 days, down from about "
                f"{expected} usually"
            )
        if recent == 0:
            return "No tee time in the last 90 days"
        return f"Only {_plural(recent, 'tee time')} in the last 90 days"
    if code == "cancellations":
        return f"Cancelled {_plural(int(f['cancellations_90'][r]), 'booking')} in the last 90 days"
    if code == "no_shows":
        return f"Missed {_plural(int(f['no_shows_90'][r]), 'tee time')} (no-show) in 90 days"
    if code == "competitions":
        n = int(f["competitions_365"][r])
        if n == 0:
            return "No competition entries in the last year"
        return f"Only {_plural(n, 'competition entry', 'competition entries')} in the last year"
    if code == "payments":
        subscription = int(f["failed_subscription_180"][r])
        failed = int(f["failed_180"][r])
        unpaid = bool(f["payment_unresolved"][r])
        if subscription:
            text = f"Subscription payment failed {_times(subscription)}"
        elif failed:
            text = f"A payment failed {_times(failed)} in the last 180 days"
        else:
            return ""
        return f"{text}; still unpaid" if unpaid else text
    if code == "tier":
        return "Moved to a lower membership tier in the last year"
    if code == "email":
        recent = int(f["opens_90"][r] + f["clicks_90"][r])
        before = int(f["opens_prev_90"][r] + f["clicks_prev_90"][r])
        if recent == 0 and before:
            return f"Opened no club emails in 90 days ({before} opens and clicks the 90 before)"
        if before > recent:
            return f"Email opens and clicks fell to {recent} in 90 days, from {before}"
        return "Rarely opens club emails"
    if code == "complaints":
        return "Marked a club email as spam"
    if code == "tenure":
        days = f["tenure_days"][r]
        if math.isfinite(days) and days < 730:
            return f"A newer member: joined {max(int(days // 30), 0)} months ago"
        if math.isfinite(days):
            return f"A member for {int(days // 365)} years, fewer than most"
        return ""
    if code == "renewal":
        return f"Renewal due in {int(f['days_to_renewal'][r])} days"
    return code


def _reasons(
    codes: list[tuple[str, float]], f: dict[str, np.ndarray], r: int, limit: int
) -> list[dict[str, Any]]:
    out = []
    for code, points in codes:
        text = reason_text(code, f, r)
        if text:
            out.append({"code": code, "text": text, "points": round(points, 1)})
        if len(out) == limit:
            break
    return out


# --- the rule-based score ---------------------------------------------------------------------


def rules_score(
    f: dict[str, np.ndarray], params: ScoringParams
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Vectorised: (score 0-100, {part: points}) for every customer of the snapshot."""
    base = f["base_weekly"]
    judged = np.nan_to_num(base, nan=0.0) >= max(params.rule_min_weekly_rounds, 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        fall = np.clip(1 - f["recent_weekly"] / base, 0, 1)
        usual_gap = 7 / base
        overdue = np.clip((f["days_since_booking"] / usual_gap - 2) / 4, 0, 1)
    decline = np.where(judged, np.fmax(np.nan_to_num(fall), np.nan_to_num(overdue)), 0.0)
    failed = f["failed_180"]
    payment = np.where(
        failed == 0, 0.0, np.where((failed >= 2) | (f["payment_unresolved"] > 0), 1.0, 0.5)
    )
    before = f["opens_prev_90"] + f["clicks_prev_90"]
    recent = f["opens_90"] + f["clicks_90"]
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(before >= 2, np.clip(1 - recent / before, 0, 1), 0.0)
    weights = params.rule_weights
    parts = {
        "activity_decline": decline * weights["activity_decline"],
        "payment_issues": payment * weights["payment_issues"],
        "engagement_drop": drop * weights["engagement_drop"],
        "tier_downgrade": (f["tier_downgrades_365"] > 0) * float(weights["tier_downgrade"]),
        "complaints": (f["complaints_365"] > 0) * float(weights["complaints"]),
    }
    total = sum(parts.values())
    parts["_overdue"] = np.nan_to_num(overdue) >= np.nan_to_num(fall)  # which decline phrase
    return np.clip(np.rint(total), 0, 100), parts


_RULE_GROUPS = ("golf", "payments", "email", "tier", "complaints")
_RULE_PARTS = (
    "activity_decline",
    "payment_issues",
    "engagement_drop",
    "tier_downgrade",
    "complaints",
)


@dataclass
class ReasonTable:
    """Every customer's points per reason group (rows: customers), from the rules or the
    model, ready to be put into words one customer at a time."""

    groups: tuple[str, ...]
    points: np.ndarray
    golf_recency: np.ndarray  # golf told as "no tee time in N days" rather than a count
    limit: int

    def __post_init__(self) -> None:
        order = np.argsort(-self.points, axis=1, kind="stable")[:, : self.limit]
        self._order = order.tolist()
        self._points = np.take_along_axis(self.points, order, axis=1).tolist()
        self._recency = self.golf_recency.tolist()

    def reasons(self, f: dict[str, np.ndarray], r: int) -> list[dict[str, Any]]:
        ranked = []
        for group, points in zip(self._order[r], self._points[r], strict=True):
            if points <= 1e-9:
                break
            code = self.groups[group]
            if code == "golf":
                code = "golf_recency" if self._recency[r] else "golf_frequency"
            ranked.append((code, points))
        return _reasons(ranked, f, r, self.limit)


def rules_reason_table(parts: dict[str, np.ndarray], limit: int) -> ReasonTable:
    points = np.column_stack([parts[name] for name in _RULE_PARTS]).astype(np.float64)
    return ReasonTable(_RULE_GROUPS, points, parts["_overdue"], limit)


# --- the model ----------------------------------------------------------------------------------


@dataclass
class TrainedModel:
    """What a training run produced (profiles.models.ChurnModel's fields)."""

    status: str
    cutoff: float
    horizon_days: int
    test_snapshot: float | None = None
    train_rows: int = 0
    train_positives: int = 0
    train_lapses: int = 0
    test_rows: int = 0
    test_positives: int = 0
    roc_auc: float | None = None
    precision_top_decile: float | None = None
    base_rate: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    seconds: float = 0.0
    matrices: dict[str, Any] = field(default_factory=dict)  # for tests: what it was fed


def _snapshot_rows(
    tl: Timeline, at: float, horizon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, customer indexes) of the members active at `at`."""
    f = snapshot(tl, at, horizon=horizon)
    members = np.flatnonzero(f["member_at"])
    return feature_matrix(f)[members], f["lapsed_within"][members], members


def precision_at_top_decile(y: np.ndarray, scores: np.ndarray) -> float:
    top = max(math.ceil(len(y) / 10), 1)
    order = np.argsort(-scores, kind="stable")[:top]
    return float(np.mean(y[order]))


def _fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    pipeline.fit(x, y)
    return pipeline


def churn_train(tl: Timeline, params: ScoringParams) -> TrainedModel:
    """Train and judge the club's model on `tl` (read up to the cut-off `tl.until`)."""
    from sklearn.metrics import roc_auc_score

    from profiles.models import ChurnModelStatus

    started = time.perf_counter()
    horizon = float(params.churn_horizon_days)
    cutoff = tl.until
    result = TrainedModel(
        status=ChurnModelStatus.INSUFFICIENT_HISTORY, cutoff=cutoff, horizon_days=int(horizon)
    )
    test_at = cutoff - horizon
    result.test_snapshot = test_at
    history_from = float(tl.d.min()) if len(tl.d) else cutoff
    # A snapshot needs some history behind it to have features worth learning from.
    earliest = history_from + 90
    train_at = [
        test_at - horizon - k * params.churn_snapshot_step_days
        for k in range(params.churn_max_snapshots)
    ]
    train_at = [at for at in train_at if at >= earliest]
    if not train_at or test_at < earliest:
        result.notes = "Not enough history yet: the timeline is too short to train on."
        result.seconds = time.perf_counter() - started
        return result

    parts = [_snapshot_rows(tl, at, horizon) for at in train_at]
    x_train = np.vstack([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    lapsed = set()
    for _x, y, members in parts:
        lapsed.update(members[y].tolist())
    x_test, y_test, _ = _snapshot_rows(tl, test_at, horizon)
    result.train_rows, result.train_positives = len(y_train), int(y_train.sum())
    result.train_lapses = len(lapsed)
    result.test_rows, result.test_positives = len(y_test), int(y_test.sum())
    result.matrices = {"train": (x_train, y_train), "test": (x_test, y_test), "at": train_at}
    if result.train_lapses < params.churn_min_lapses or (
        result.test_positives < params.churn_min_test_lapses
    ):
        result.notes = (
            f"Too little history: {result.train_lapses} members lapsed in the training "
            f"windows ({params.churn_min_lapses} needed) and {result.test_positives} in the "
            f"test window ({params.churn_min_test_lapses} needed)."
        )
        result.seconds = time.perf_counter() - started
        return result
    if result.test_positives == result.test_rows:
        result.notes = "Every member in the test window lapsed: nothing to judge a model on."
        result.seconds = time.perf_counter() - started
        return result

    judged = _fit(x_train, y_train)
    predicted = judged.predict_proba(x_test)[:, 1]
    result.roc_auc = float(roc_auc_score(y_test, predicted))
    result.precision_top_decile = precision_at_top_decile(y_test, predicted)
    result.base_rate = float(y_test.mean())

    final = _fit(np.vstack([x_train, x_test]), np.concatenate([y_train, y_test]))
    scaler, regression = final[0], final[-1]
    result.parameters = {
        "features": FEATURE_NAMES,
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coefficients": regression.coef_[0].tolist(),
        "intercept": float(regression.intercept_[0]),
    }
    if result.roc_auc < params.churn_min_roc_auc:
        result.status = ChurnModelStatus.LOW_QUALITY
        result.notes = (
            f"ROC AUC {result.roc_auc:.2f} on the test window is under "
            f"{params.churn_min_roc_auc}: the rule-based score serves instead."
        )
    else:
        result.status = ChurnModelStatus.READY
        result.notes = (
            f"Trained on {len(train_at)} snapshots "
            f"({params.churn_snapshot_step_days} days apart) from "
            f"{from_days(min(train_at)):%d %b %Y} to {from_days(max(train_at)):%d %b %Y}; "
            f"tested on {from_days(test_at):%d %b %Y}."
        )
    result.seconds = time.perf_counter() - started
    return result


def model_score(
    f: dict[str, np.ndarray], parameters: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(risk 0-100, per-feature contributions to the log-odds, the features) from stored
    parameters."""
    x = feature_matrix(f)
    names = parameters["features"]
    if names != FEATURE_NAMES:  # stored by another version of the code: cannot be read
        raise ValueError("The stored model's features differ from this code's.")
    mean = np.asarray(parameters["mean"])
    scale = np.asarray(parameters["scale"])
    coefficients = np.asarray(parameters["coefficients"])
    standardised = (x - mean) / np.where(scale == 0, 1.0, scale)
    contributions = standardised * coefficients
    logit = parameters["intercept"] + contributions.sum(axis=1)
    probability = 1.0 / (1.0 + np.exp(-logit))
    return np.clip(np.rint(probability * 100), 0, 100), contributions, x


_MODEL_GROUPS = tuple(
    dict.fromkeys("golf" if f.reason.startswith("golf") else f.reason for f in MODEL_FEATURES)
)


def model_reason_table(
    contributions: np.ndarray, x: np.ndarray, parameters: dict[str, Any], limit: int
) -> ReasonTable:
    """Each feature's contribution to the log-odds, summed by reason group (x 10, as points).
    A feature only counts where it points the way that makes sense (fewer bookings, more
    failures), so an odd coefficient never yields a reason that reads wrong. Golf is one
    reason, told by whichever of its features weighs most: the time since the last tee time,
    or the number of them."""
    mean = np.asarray(parameters["mean"])
    direction = np.array([feature.risk_direction for feature in MODEL_FEATURES])
    counted = np.where((contributions > 0) & ((x - mean) * direction > 0), contributions, 0.0)
    membership = np.zeros((len(MODEL_FEATURES), len(_MODEL_GROUPS)))
    for j, feature in enumerate(MODEL_FEATURES):
        group = "golf" if feature.reason.startswith("golf") else feature.reason
        membership[j, _MODEL_GROUPS.index(group)] = 1.0
    golf = [j for j, feature in enumerate(MODEL_FEATURES) if feature.reason.startswith("golf")]
    strongest = np.array(golf)[np.argmax(counted[:, golf], axis=1)]
    recency = np.array(
        [MODEL_FEATURES[j].reason == "golf_recency" for j in range(len(MODEL_FEATURES))]
    )
    return ReasonTable(_MODEL_GROUPS, (counted @ membership) * 10, recency[strongest], limit)


def is_member(status: np.ndarray) -> np.ndarray:
    return np.isin(status, MEMBER_STATUSES)
