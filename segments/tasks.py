"""Celery tasks of Segments. Each runs in the schema it was queued in; all take ids and are
safe to repeat (a refresh makes membership match the rule, however often it runs)."""

from __future__ import annotations

from celery import shared_task

from segments.services import segment_refresh, segments_due, segments_refresh_touched


@shared_task(name="segments.refresh_segment", acks_late=True)
def refresh_segment(segment_id: str) -> dict[str, int]:
    result = segment_refresh(segment_id=segment_id)
    return {"entered": result.entered, "exited": result.exited, "members": result.member_count}


@shared_task(name="segments.refresh_due")
def refresh_due() -> int:
    """Every few minutes per club: queue the HOURLY and DAILY segments that are due."""
    due = segments_due()
    for segment_id in due:
        refresh_segment.delay(str(segment_id))
    return len(due)


@shared_task(name="segments.refresh_touched", acks_late=True)
def refresh_touched() -> dict[str, int]:
    """Every minute per club: segments follow the events that change who they match."""
    return segments_refresh_touched()
