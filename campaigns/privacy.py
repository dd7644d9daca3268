"""What campaigns hold about a person, for erasure and export (profiles.erasure).

The ledger (`Send`) keeps one row per message to a person. An erasure keeps the rows (the
campaign's counts stay true) without what they said about the person: their own template
values (a journey's trigger event) and the hand-over detail; messages not yet handed over are
never sent (recorded ERASED, as the send-time check would)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from campaigns.models import GolferHabit, Send, SendReason, SendStatus, TeeSheetOffer
from profiles.models import Activity, Customer

_NOT_YET = (SendStatus.PENDING, SendStatus.DEFERRED, SendStatus.AWAITING_WINNER)


def campaigns_customer_erase(customer: Customer, identifiers: dict[str, set[str]]) -> None:
    Send.objects.filter(customer=customer, status__in=_NOT_YET).update(
        status=SendStatus.SUPPRESSED, reason=SendReason.ERASED
    )
    Send.objects.filter(customer=customer).filter(
        Q(variables__isnull=False) | ~Q(detail="")
    ).update(variables=None, detail="")
    # Habits are derived from their bookings, which erasure scrubs: rebuilt from nothing.
    GolferHabit.objects.filter(customer=customer).delete()


def campaigns_customer_export(
    customer: Customer, identifiers: dict[str, set[str]]
) -> dict[str, Any]:
    sends = list(
        Send.objects.filter(customer=customer)
        .select_related("campaign")
        .order_by("created_at", "id")
    )
    # What became of each message: the Messaging Service's engagement events name the send.
    engagement: dict[str, list[dict[str, Any]]] = {}
    send_ids = [str(s.id) for s in sends]
    if send_ids:
        for activity in Activity.objects.filter(
            customer=customer, data__sendId__in=send_ids
        ).order_by("occurred_at", "id"):
            engagement.setdefault(activity.data["sendId"], []).append(
                {"type": activity.type, "occurredAt": activity.occurred_at.isoformat(),
                 "title": activity.title}
            )  # fmt: skip
    return {
        "sends": [
            {
                "id": str(s.id), "campaignId": str(s.campaign_id), "campaign": s.campaign.name,
                "channel": s.channel, "variant": s.variant, "status": s.status,
                "reason": s.reason, "detail": s.detail, "variables": s.variables,
                "createdAt": s.created_at.isoformat(),
                "handedAt": s.handed_at.isoformat() if s.handed_at else None,
                "messageId": s.message_id, "engagement": engagement.get(str(s.id), []),
            }
            for s in sends
        ],
        # The tee-sheet filler: the slots they were offered (or held out of), and what they
        # booked; and the playing habits it chose them by.
        "teeSheetOffers": [
            {
                "slotId": o.gap.slot_id, "teeTime": _at(o.gap.tee_time), "holdout": o.holdout,
                "offeredAt": _at(o.created_at), "bookedAt": _at(o.booked_at),
                "bookingId": o.booking_id, "amountCents": o.amount_cents,
                "currency": o.currency,
            }
            for o in TeeSheetOffer.objects.filter(customer=customer)
            .select_related("gap").order_by("created_at")
        ],
        "playingHabits": [
            {
                "bookings": h.bookings, "weekdayMorning": h.weekday_morning,
                "weekdayAfternoon": h.weekday_afternoon, "weekdayEvening": h.weekday_evening,
                "weekend": h.weekend, "courses": h.courses, "computedAt": _at(h.computed_at),
            }
            for h in GolferHabit.objects.filter(customer=customer)
        ],
    }  # fmt: skip


def _at(value: Any) -> str | None:
    return value.isoformat() if value else None


EXPORT_MODELS = (Send, TeeSheetOffer, GolferHabit)
