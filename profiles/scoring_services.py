"""Writes of the scores: recompute (every customer nightly, or a few after their events),
train the churn model, change a club's scoring settings.

A recompute is one transaction under the club's scoring lock: read the timeline once
(profiles.features), compute engagement, churn risk with reasons and the paying-but-not-playing
flag for everyone at once in numpy, COPY the rows into a temporary table and upsert them in one
statement that also reports whose churn risk has just risen above the alert threshold; those
get `crm.churn.risk.high` in the outbox, in the same transaction. A risk that stays high
publishes nothing more; one that falls to the threshold or below and rises again publishes
again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from crm.accounts.services import audit_record
from crm.db import copy_rows, tenant_connection
from crm.outbox.services import outbound_record_many
from profiles.churn import (
    is_member,
    model_reason_table,
    model_score,
    rules_reason_table,
    rules_score,
)
from profiles.features import LOOKBACK_DAYS, from_days, snapshot, timeline_load, to_days
from profiles.models import (
    Activity,
    ChurnModel,
    ChurnModelStatus,
    Customer,
    ScoreEventCursor,
    ScoringConfig,
)
from profiles.outbound import customer_identity
from profiles.pnp import pnp_compute
from profiles.scoring import (
    ENGAGEMENT_COMPONENTS,
    engagement_band,
    engagement_compute,
    scoring_params,
    scoring_params_validate,
)
from profiles.scoring_selectors import churn_model_current

logger = logging.getLogger(__name__)

CHURN_HIGH_EVENT = "crm.churn.risk.high"
METHOD_MODEL = "MODEL"
METHOD_RULES = "RULES"

# Events that move a score enough to rescore the customer within a minute (bookings, rounds,
# competition entries, payments, membership changes, complaints). Email opens and clicks wait
# for the night: a newsletter would otherwise rescore half the club at once.
TOUCHING_PREFIXES = (
    "teetime.booking.",
    "teetime.competition.entry.",
    "scl.payment.",
    "scl.member.",
)
TOUCHING_TYPES = ("messaging.message.complained",)
TOUCHED_BATCH = 20_000  # activities read per run

_COLUMNS = (
    ("customer_id", "uuid"),
    ("engagement_score", "smallint"),
    ("engagement_band", "varchar(16)"),
    ("churn_risk_score", "smallint"),
    ("churn_risk_reasons", "jsonb"),
    ("paying_not_playing", "boolean"),
    ("engagement_components", "jsonb"),
    ("churn_method", "varchar(8)"),
    ("churn_model_version", "integer"),
    ("pnp_details", "jsonb"),
    ("computed_at", "timestamptz"),
)
_NAMES = ", ".join(name for name, _ in _COLUMNS)
_UPDATES = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in _COLUMNS[1:])
_UPSERT_SQL = f"""
WITH old AS (
    SELECT s.customer_id, s.churn_risk_score
    FROM profiles_customerscore AS s
    JOIN pg_temp._new_scores AS n ON n.customer_id = s.customer_id
), up AS (
    INSERT INTO profiles_customerscore AS s ({_NAMES})
    SELECT {", ".join(f"n.{name}" for name, _ in _COLUMNS)}
    FROM pg_temp._new_scores AS n
    JOIN profiles_customer AS c ON c.id = n.customer_id
    ON CONFLICT (customer_id) DO UPDATE SET {_UPDATES}
    RETURNING s.customer_id, s.churn_risk_score
)
SELECT up.customer_id, up.churn_risk_score, old.churn_risk_score
FROM up LEFT JOIN old ON old.customer_id = up.customer_id
WHERE up.churn_risk_score > %(threshold)s
  AND (old.churn_risk_score IS NULL OR old.churn_risk_score <= %(threshold)s)
"""  # noqa: S608 - column names are the constants above


def _lock(name: str) -> None:
    """A transaction-scoped lock per club and job: the nightly run, a minute's rescoring and a
    staff request never interleave (which could publish one rise twice)."""
    schema = tenant_connection().schema_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{schema}:{name}"])


def _reasons_json(reasons: list[dict[str, Any]] | None) -> str:
    return json.dumps(reasons) if reasons else "[]"


@transaction.atomic
def scores_recompute(
    *, customer_ids: Sequence[UUID] | None = None, now: dt.datetime | None = None
) -> dict[str, int]:
    """Recompute the scores of every customer (not merged or erased), or of `customer_ids`,
    as of `now`. Idempotent; safe to run at any time."""
    now = now or timezone.now()
    _lock("scores")
    params = scoring_params()
    model = churn_model_current()
    tl = timeline_load(
        until=now,
        since=now - dt.timedelta(days=LOOKBACK_DAYS),
        tier_order=params.tier_order,
        customer_ids=customer_ids,
    )
    at = to_days(now)
    f = snapshot(tl, at)
    engagement = engagement_compute(f, params)
    members = is_member(tl.membership_status)

    method, version = METHOD_RULES, None
    risk = contributions = x = None
    model_parameters = None
    if model is not None and model.status == ChurnModelStatus.READY:
        try:
            risk, contributions, x = model_score(f, model.parameters)
            method, version = METHOD_MODEL, model.version
            model_parameters = model.parameters
        except (KeyError, ValueError):
            logger.warning("Churn model v%s cannot be read; scoring by rules", model.version)
    if risk is None:
        risk, parts = rules_score(f, params)
        table = rules_reason_table(parts, params.churn_max_reasons)
    else:
        # The risk came from the model, and with it the contributions and features.
        assert model is not None and contributions is not None and x is not None
        table = model_reason_table(contributions, x, model.parameters, params.churn_max_reasons)
    flags, pnp_details = pnp_compute(tl, at, f, params)

    scores = engagement["score"].astype(int)
    # The parts' points as JSON, formatted in bulk (json.dumps per row costs seconds at 100k).
    points = np.column_stack([np.round(engagement[name], 1) for name in ENGAGEMENT_COMPONENTS])
    template = "{" + ", ".join(f'"{name}": %.1f' for name in ENGAGEMENT_COMPONENTS) + "}"
    components_json = [template % tuple(row) for row in points.tolist()]
    rows = []
    reasons_of: dict[UUID, list[dict[str, Any]]] = {}
    for r, customer_id in enumerate(tl.ids):
        member = bool(members[r])
        if member:
            reasons = table.reasons(f, r)
            reasons_of[customer_id] = reasons
        else:
            reasons = []
        rows.append(
            (
                customer_id,
                int(scores[r]),
                engagement_band(int(scores[r])),
                int(risk[r]) if member else None,
                _reasons_json(reasons),
                bool(flags[r]),
                components_json[r],
                method if member else "",
                version if member else None,
                json.dumps(pnp_details[r]) if pnp_details[r] else "{}",
                now,
            )
        )

    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS pg_temp._new_scores; CREATE TEMPORARY TABLE _new_scores ("
            + ", ".join(f"{name} {sql_type}" for name, sql_type in _COLUMNS)
            + ") ON COMMIT DROP"
        )
    copy_rows("_new_scores", [name for name, _ in _COLUMNS], rows)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, {"threshold": params.churn_alert_threshold})
        risen = cursor.fetchall()
        cursor.execute("DROP TABLE pg_temp._new_scores")
        # Merged-away and erased customers keep no scores (an erasure leaves nothing derived).
        stale = "SELECT id FROM profiles_customer WHERE status IN ('MERGED', 'DELETED')"
        if customer_ids is not None:
            stale += " AND id = ANY(%(ids)s)"
        cursor.execute(
            f"DELETE FROM profiles_customerscore WHERE customer_id IN ({stale})",  # noqa: S608
            {"ids": [str(c) for c in customer_ids or []]},
        )
        removed = cursor.rowcount
        if customer_ids is None:
            # Every score was rewritten: fresh statistics now, not at autovacuum's next round,
            # or the planner still counts on the old shares (the dashboard's "High or
            # Critical" count hash-joined all 100,000 customers for a handful of rows).
            cursor.execute("ANALYZE profiles_customerscore")

    _publish_risen(risen, reasons_of, method=method, version=version)
    if customer_ids is None:
        score_weeks_record(tl=tl, params=params, model_parameters=model_parameters, now=now)
    return {"scored": len(rows), "risen": len(risen), "removed": removed}


TREND_WEEKS = 12


def _week_starts(now: dt.datetime) -> list[dt.datetime]:
    """The last TREND_WEEKS Mondays 00:00 in the club's time zone, oldest first (this
    week's included)."""
    from crm.tenants.selectors import tenant_current

    tz = zoneinfo.ZoneInfo(tenant_current().timezone or "UTC")
    today = now.astimezone(tz).date()
    monday = today - dt.timedelta(days=today.weekday())
    days = [monday - dt.timedelta(weeks=k) for k in range(TREND_WEEKS - 1, -1, -1)]
    return [dt.datetime.combine(day, dt.time(), tzinfo=tz) for day in days]


def score_weeks_record(
    *, tl: Any, params: Any, model_parameters: dict[str, Any] | None, now: dt.datetime
) -> int:
    """Write the weekly tallies the trend lacks, from the timeline already read: at each
    week's start, the members with a High or Critical churn risk and the customers paying but
    not playing, as the score in use now judges them. Only missing weeks are computed, so
    after the first run this is one snapshot a week."""
    from profiles.models import ScoreWeek
    from profiles.scoring import CHURN_HIGH_FROM

    starts = [s for s in _week_starts(now) if s <= now]
    have = set(
        ScoreWeek.objects.filter(week_start__in=[s.date() for s in starts]).values_list(
            "week_start", flat=True
        )
    )
    made = []
    for start in starts:
        if start.date() in have or to_days(start) < tl.until - LOOKBACK_DAYS + 365:
            continue  # recorded, or too far back for the year of history the features need
        at = to_days(start)
        f = snapshot(tl, at)
        risk = None
        if model_parameters is not None:
            try:
                risk = model_score(f, model_parameters)[0]
            except (KeyError, ValueError):
                risk = None
        if risk is None:
            risk = rules_score(f, params)[0]
        flags, _details = pnp_compute(tl, at, f, params)
        high = int(((risk >= CHURN_HIGH_FROM) & f["member_at"]).sum())
        made.append(
            ScoreWeek(
                week_start=start.date(),
                high_risk=high,
                paying_not_playing=int(np.asarray(flags).sum()),
                computed_at=now,
            )
        )
    ScoreWeek.objects.bulk_create(made, ignore_conflicts=True)
    return len(made)


def _publish_risen(
    risen: list[tuple[UUID, int, int | None]],
    reasons_of: dict[UUID, list[dict[str, Any]]],
    *,
    method: str,
    version: int | None,
) -> None:
    if not risen:
        return
    customers = Customer.objects.in_bulk([customer_id for customer_id, _, _ in risen])
    items = []
    for customer_id, score, previous in risen:
        customer = customers.get(customer_id)
        if customer is None:
            continue
        payload = {
            "customerId": str(customer_id),
            "churnRiskScore": score,
            "previousChurnRiskScore": previous,
            "reasons": [reason["text"] for reason in reasons_of.get(customer_id, [])],
            "scoredBy": method,
            "modelVersion": version,
        }
        items.append((CHURN_HIGH_EVENT, payload, customer_identity(customer)))
    outbound_record_many(items=items)


@transaction.atomic
def scores_refresh_touched() -> dict[str, int]:
    """Rescore the customers whose timeline grew by an event that matters (TOUCHING_*), and
    every customer not scored yet whose timeline grew at all, since the last run. A club's
    first run scores everyone (a new club, or one loaded from a backfill, has its scores
    within the minute, not at the next nightly run). Bounded per run; the cursor moves in the
    same transaction as the scores, so a crash repeats the work rather than skipping it."""
    newest = Activity.objects.aggregate(top=Max("id"))["top"] or 0
    with connection.cursor() as db:
        db.execute(
            "INSERT INTO profiles_scoreeventcursor (id, last_activity_id, updated_at) "
            "VALUES (1, %s, now()) ON CONFLICT (id) DO NOTHING RETURNING id",
            [newest],
        )
        first_run = db.fetchone() is not None
    if first_run:
        # Everything up to `newest` is scored now; the cursor starts after it.
        result = scores_recompute()
        return {"customers": result["scored"]}
    cursor = ScoreEventCursor.objects.select_for_update().get(id=1)
    upper = (
        Activity.objects.filter(id__gt=cursor.last_activity_id)
        .order_by("id")[:TOUCHED_BATCH]
        .aggregate(top=Max("id"))["top"]
    )
    if upper is None:
        return {"customers": 0}
    with connection.cursor() as db:
        db.execute(
            "SELECT DISTINCT a.customer_id FROM profiles_activity AS a "
            "WHERE a.id > %s AND a.id <= %s AND a.customer_id IS NOT NULL "
            "AND (a.type = ANY(%s) OR a.type LIKE ANY(%s) OR NOT EXISTS ("
            "SELECT 1 FROM profiles_customerscore AS s WHERE s.customer_id = a.customer_id))",
            [
                cursor.last_activity_id,
                upper,
                list(TOUCHING_TYPES),
                [prefix + "%" for prefix in TOUCHING_PREFIXES],
            ],
        )
        ids = [row[0] for row in db.fetchall()]
    if ids:
        scores_recompute(customer_ids=ids)
    cursor.last_activity_id = upper
    cursor.save(update_fields=["last_activity_id", "updated_at"])
    return {"customers": len(ids)}


@transaction.atomic
def churn_model_train(
    *, now: dt.datetime | None = None, actor_label: str = "scheduler"
) -> ChurnModel:
    """Train the club's churn model on its history before `now` (the cut-off) and store it as
    the next version, whatever the outcome: a run with too little history is stored too, and
    makes the rule-based score the one in use."""
    from profiles.churn import churn_train

    now = now or timezone.now()
    _lock("churn-train")
    params = scoring_params()
    horizon = params.churn_horizon_days
    earliest_snapshot = now - dt.timedelta(
        days=2 * horizon + params.churn_snapshot_step_days * (params.churn_max_snapshots - 1)
    )
    tl = timeline_load(
        until=now,
        since=earliest_snapshot - dt.timedelta(days=LOOKBACK_DAYS),
        tier_order=params.tier_order,
    )
    result = churn_train(tl, params)
    version = (ChurnModel.objects.aggregate(top=Max("version"))["top"] or 0) + 1
    model = ChurnModel.objects.create(
        version=version,
        status=result.status,
        trained_at=timezone.now(),
        cutoff=now,
        horizon_days=result.horizon_days,
        test_snapshot=from_days(result.test_snapshot) if result.test_snapshot else None,
        train_rows=result.train_rows,
        train_positives=result.train_positives,
        train_lapses=result.train_lapses,
        test_rows=result.test_rows,
        test_positives=result.test_positives,
        roc_auc=result.roc_auc,
        precision_top_decile=result.precision_top_decile,
        base_rate=result.base_rate,
        algorithm=_algorithm(),
        features=result.parameters.get("features", []),
        parameters=result.parameters,
        notes=result.notes,
        seconds=round(result.seconds, 3),
    )
    audit_record(
        action="churn_model.trained", actor_label=actor_label, object_type="churn_model",
        object_id=str(model.version),
        details={"status": model.status, "rocAuc": model.roc_auc, "lapses": model.train_lapses},
    )  # fmt: skip
    return model


def _algorithm() -> str:
    import sklearn

    from profiles.churn import ALGORITHM

    return f"{ALGORITHM}, scikit-learn {sklearn.__version__}"


@transaction.atomic
def scoring_config_update(*, overrides: dict[str, Any], actor_label: str) -> ScoringConfig:
    """Replace the club's scoring overrides (profiles.scoring.ScoringParams); refused, key by
    key, when a value is out of range. Scores follow on the next recompute."""
    errors = scoring_params_validate(overrides)
    if errors:
        raise ValidationError(errors)
    config, _ = ScoringConfig.objects.select_for_update().get_or_create(id=1)
    before = config.overrides
    config.overrides = overrides
    config.updated_by = actor_label
    config.save(update_fields=["overrides", "updated_by", "updated_at"])
    audit_record(
        action="scoring_config.updated", actor_label=actor_label, object_type="scoring_config",
        object_id="1", details={"before": before, "after": overrides},
    )  # fmt: skip
    return config
