"""When `segments.refresh_touched` (beat, every minute) could find something to do in a club
(crm/periodic.py asks every club at once and queues the task only where this holds)."""

from __future__ import annotations

from crm.periodic import WorkProbe, work_probe_register

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


def register() -> None:
    work_probe_register(REFRESH_TOUCHED)
