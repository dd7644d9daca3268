"""What journeys hold about a person, for export (profiles.erasure); the eraser is
journeys.services.journeys_customer_erase."""

from __future__ import annotations

from typing import Any

from journeys.models import (
    Enrolment,
    EnrolmentEvent,
    RoundSurveyAnswer,
    StaffTask,
    WebhookDelivery,
)
from profiles.models import Customer


def _at(value: Any) -> str | None:
    return value.isoformat() if value else None


def journeys_customer_export(
    customer: Customer, identifiers: dict[str, set[str]]
) -> dict[str, Any]:
    enrolments = list(
        Enrolment.objects.filter(customer=customer)
        .select_related("journey", "version")
        .order_by("entered_at")
    )
    events: dict[Any, list[dict[str, Any]]] = {}
    for e in EnrolmentEvent.objects.filter(enrolment__customer=customer).order_by("at", "id"):
        events.setdefault(e.enrolment_id, []).append(
            {"step": e.step, "kind": e.kind, "branch": e.branch, "detail": e.detail,
             "at": e.at.isoformat()}
        )  # fmt: skip
    return {
        "enrolments": [
            {
                "id": str(e.id), "journeyId": str(e.journey_id), "journey": e.journey.name,
                "version": e.version.number, "status": e.status, "step": e.step,
                "source": e.source, "trigger": e.context, "enteredAt": _at(e.entered_at),
                "finishedAt": _at(e.finished_at), "exitReason": e.exit_reason,
                "steps": events.get(e.id, []),
            }
            for e in enrolments
        ],
        "staffTasks": [
            {"id": str(t.id), "title": t.title, "body": t.body, "assignedTo": t.assigned_to,
             "status": t.status, "createdAt": _at(t.created_at), "doneAt": _at(t.done_at)}
            for t in StaffTask.objects.filter(customer=customer).order_by("created_at")
        ],
        "webhookDeliveries": [
            {"id": str(w.id), "step": w.step, "url": w.url, "body": w.body, "status": w.status,
             "createdAt": _at(w.created_at), "deliveredAt": _at(w.delivered_at)}
            for w in WebhookDelivery.objects.filter(enrolment__customer=customer)
            .order_by("created_at")
        ],
        "roundSurveyAnswers": [
            {"bookingId": a.booking_id, "score": a.score, "band": a.band,
             "comment": a.comment, "answeredAt": _at(a.answered_at)}
            for a in RoundSurveyAnswer.objects.filter(customer=customer).order_by("answered_at")
        ],
    }  # fmt: skip


EXPORT_MODELS = (Enrolment, EnrolmentEvent, StaffTask, WebhookDelivery, RoundSurveyAnswer)
