"""When the profiles tasks that beat runs every minute could find something to do in a club
(crm/periodic.py asks every club at once and queues the task only where this holds)."""

from __future__ import annotations

from crm.periodic import WorkProbe, work_probe_register
from profiles.models import EventStatus

# Pending raw events: their on-commit apply was lost, or arrived while the club's lock was held.
APPLY_PENDING = WorkProbe(
    task="profiles.apply_pending_events",
    condition="EXISTS (SELECT 1 FROM {profiles_rawevent} WHERE status = {pending})",
    tables=("profiles_rawevent",),
    values={"pending": EventStatus.PENDING.value},
)

# The timeline grew past the rescoring cursor, or the cursor is missing (a club's first run
# scores everyone).
RESCORE_TOUCHED = WorkProbe(
    task="profiles.rescore_touched",
    condition=(
        "NOT EXISTS (SELECT 1 FROM {profiles_scoreeventcursor}) OR EXISTS (SELECT 1 FROM "
        "{profiles_activity} WHERE id > (SELECT max(last_activity_id) FROM "
        "{profiles_scoreeventcursor}))"
    ),
    tables=("profiles_activity", "profiles_scoreeventcursor"),
)


def register() -> None:
    work_probe_register(APPLY_PENDING)
    work_probe_register(RESCORE_TOUCHED)
