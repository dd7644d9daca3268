"""When the segments' periodic tasks (beat: `segments.refresh_touched` every minute,
`segments.refresh_due` every 5 minutes) could find something to do in a club
(crm/periodic.py asks every club at once and queues the task only where this holds)."""

from __future__ import annotations

from crm.periodic import WorkProbe, work_probe_register
from segments.models import RefreshSchedule, SegmentType
from segments.services import REFRESH_PERIODS, REFRESH_SLACK

# The timeline grew past the segments' cursor, or the cursor is missing (the first run sets it).
REFRESH_TOUCHED = WorkProbe(
    task="segments.refresh_touched",
    condition=(
        "NOT EXISTS (SELECT 1 FROM {segments_segmenteventcursor}) OR EXISTS (SELECT 1 FROM "
        "{profiles_activity} WHERE id > (SELECT max(last_activity_id) FROM "
        "{segments_segmenteventcursor}))"
    ),
    tables=("profiles_activity", "segments_segmenteventcursor"),
)


# `segments_due` in SQL: a DYNAMIC segment on a schedule never refreshed, or refreshed at least
# its period (less the slack) ago, from the same REFRESH_PERIODS (tests/test_periodic_dispatch.py
# fails if a schedule is added there and not here). The probe's clock is the database's and the
# task runs after it, so what the probe saw due is still due when `segments_due` looks.
REFRESH_DUE = WorkProbe(
    task="segments.refresh_due",
    condition=(
        "EXISTS (SELECT 1 FROM {segments_segment} WHERE type = {dynamic} "
        "AND refresh IN ({hourly}, {daily}) AND (last_refreshed_at IS NULL "
        "OR last_refreshed_at <= now() - CASE refresh WHEN {hourly} THEN {hourly_after} "
        "ELSE {daily_after} END))"
    ),
    tables=("segments_segment",),
    values={
        "dynamic": SegmentType.DYNAMIC.value,
        "hourly": RefreshSchedule.HOURLY.value,
        "daily": RefreshSchedule.DAILY.value,
        "hourly_after": REFRESH_PERIODS[RefreshSchedule.HOURLY] - REFRESH_SLACK,
        "daily_after": REFRESH_PERIODS[RefreshSchedule.DAILY] - REFRESH_SLACK,
    },
)


def register() -> None:
    work_probe_register(REFRESH_TOUCHED)
    work_probe_register(REFRESH_DUE)
