"""When the journeys tasks that beat runs every minute could find something to do in a club
(crm/periodic.py asks every club at once and queues the task only where this holds)."""

from __future__ import annotations

from crm.periodic import WorkProbe, work_probe_register
from journeys.models import JourneyStatus, WebhookStatus

# Triggers concern running journeys only (each reads what came after it was switched on, so a
# log left unread while none ran is never replayed); the task also sends due webhook deliveries.
RUN_TRIGGERS = WorkProbe(
    task="journeys.run_triggers",
    condition=(
        "EXISTS (SELECT 1 FROM {journeys_journey} WHERE status = {active} "
        "AND published_version_id IS NOT NULL) "
        "OR EXISTS (SELECT 1 FROM {journeys_webhookdelivery} WHERE status = {pending} "
        "AND next_attempt_at <= now())"
    ),
    tables=("journeys_journey", "journeys_webhookdelivery"),
    values={"active": JourneyStatus.ACTIVE.value, "pending": WebhookStatus.PENDING.value},
)

# Enrolments due now in a running journey (the engine's own `due_backlog` condition).
RUN_DUE = WorkProbe(
    task="journeys.run_due",
    condition=(
        "EXISTS (SELECT 1 FROM {journeys_enrolment} AS e WHERE e.status IN ('ACTIVE', 'WAITING') "
        "AND e.due_at <= now() AND e.journey_id IN "
        "(SELECT id FROM {journeys_journey} WHERE status = {active}))"
    ),
    tables=("journeys_enrolment", "journeys_journey"),
    values={"active": JourneyStatus.ACTIVE.value},
)


def register() -> None:
    work_probe_register(RUN_TRIGGERS)
    work_probe_register(RUN_DUE)
