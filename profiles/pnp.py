"""Paying but not playing: an active, paid-up member whose rounds fell well below their own
seasonal baseline.

- Rounds: played rounds (`teetime.booking.completed`) in the last `pnp_window_weeks` weeks
  (default 8).
- Baseline, from the member's own history: the same weeks last year (52 weeks earlier, so
  weekdays line up and the season is the same), if they were a member (or seen) by then;
  otherwise, for newer members, their first weeks (the same number of weeks from the day they
  joined, or were first seen), once those weeks are over before the current window starts.
  No baseline, no flag.
- Flagged when the membership status is ACTIVE, they are paid up (no failed payment since the
  last one received, and the renewal date, if known, not overdue by more than
  `pnp_renewal_grace_days`), the baseline has at least `pnp_min_baseline_rounds` rounds and
  the rounds now are at most `pnp_max_ratio` (default half) of it.

The numbers behind the flag are kept with it (`CustomerScore.pnp_details`) for every active
member who has a baseline, flagged or not: `rounds`, `baselineRounds`, `weeks`, `baseline`
("same weeks last year" or "first weeks"), the two windows' dates, `ratio` and `paidUp`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from profiles.features import K_PLAYED, Timeline, from_days
from profiles.scoring import ScoringParams

SAME_WEEKS_LAST_YEAR = "same weeks last year"
FIRST_WEEKS = "first weeks"


def pnp_compute(
    tl: Timeline, at: float, f: dict[str, np.ndarray], params: ScoringParams
) -> tuple[np.ndarray, list[dict[str, Any] | None]]:
    """(flag per customer, the numbers behind it or None) at `at` (days since 1970)."""
    n, d, i = tl.n, tl.d, tl.i
    span = params.pnp_window_weeks * 7.0
    played = (tl.k == K_PLAYED) & (d < at)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(i[mask], minlength=n).astype(np.float64)

    rounds = count(played & (d >= at - span))
    last_year_from, last_year_to = at - 364 - span, at - 364
    last_year_rounds = count(played & (d >= last_year_from) & (d < last_year_to))
    start = f["start"]
    known = ~np.isnan(start)
    start_or_never = np.where(known, start, np.inf)
    has_last_year = start_or_never <= last_year_from
    has_first = known & ~has_last_year & (start_or_never + span <= at - span)
    person_start = start_or_never[i]
    first_weeks = count(played & (d >= person_start) & (d < person_start + span))
    baseline = np.where(has_last_year, last_year_rounds, np.where(has_first, first_weeks, np.nan))

    active = tl.membership_status == "ACTIVE"
    renewal_ok = np.isnan(tl.renewal_due) | (tl.renewal_due >= at - params.pnp_renewal_grace_days)
    paid_up = (f["payment_unresolved"] == 0) & renewal_ok
    enough = np.nan_to_num(baseline, nan=0.0) >= params.pnp_min_baseline_rounds
    low = rounds <= np.nan_to_num(baseline, nan=0.0) * params.pnp_max_ratio
    flag = active & paid_up & enough & low

    def day(days: float) -> str:
        return from_days(days).date().isoformat()

    window_from = day(at - span)
    last_year = (SAME_WEEKS_LAST_YEAR, day(last_year_from), day(last_year_to - 1))
    details: list[dict[str, Any] | None] = [None] * n
    shown = np.flatnonzero(active & ~np.isnan(baseline))
    for r, current, base, paid, by_last_year in zip(
        shown.tolist(),
        rounds[shown].astype(int).tolist(),
        baseline[shown].astype(int).tolist(),
        paid_up[shown].tolist(),
        has_last_year[shown].tolist(),
        strict=True,
    ):
        kind, base_from, base_to = (
            last_year if by_last_year else (FIRST_WEEKS, day(start[r]), day(start[r] + span - 1))
        )
        details[r] = {
            "rounds": current,
            "baselineRounds": base,
            "weeks": params.pnp_window_weeks,
            "baseline": kind,
            "windowFrom": window_from,
            "baselineFrom": base_from,
            "baselineTo": base_to,
            "ratio": round(current / base, 2) if base else None,
            "paidUp": paid,
        }
    return flag, details


def pnp_text(details: dict[str, Any]) -> str:
    """The flag's numbers in words, for staff."""
    if not details or not details.get("baselineRounds"):
        return ""
    return (
        f"{details['rounds']} rounds in the last {details['weeks']} weeks against "
        f"{details['baselineRounds']} in the {details['baseline']} "
        f"({details['baselineFrom']} to {details['baselineTo']})"
    )
