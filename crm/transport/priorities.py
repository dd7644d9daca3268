"""Which events go first.

BullMQ hands out a queue's jobs by the `priority` the producer set: 1 is the highest, larger
numbers come later, and a job with no priority (0) comes before every prioritised one. So the
producers set a priority on every job, by type, from this table (the Node producer in
tests/node does, as the services do), and a job without one is simply taken first, in order.

On the CRM's side the same table decides how long a job may wait to share a database batch: an
urgent event is written the moment it arrives, normal ones wait a few milliseconds, and the
bulk of engagement (opens, clicks, scores) gathers for up to a quarter of a second.
"""

from __future__ import annotations

from crm.transport.handlers import inbound_handler
from crm.transport.queues import EVENTS_QUEUE

URGENT = 1
NORMAL = 5
BULK = 10

# Money that failed, deliverability and consent, and membership status: acting late on these
# means marketing someone who opted out, bounced, died or was erased.
URGENT_TYPES = frozenset(
    {
        "scl.payment.failed",
        "scl.member.status.changed",
        "scl.member.deleted",
        "messaging.message.bounced",
        "messaging.message.complained",
        "messaging.contactPreference.updated",
    }
)
BULK_TYPES = frozenset(
    {"messaging.email.opened", "messaging.email.clicked", "teetime.score.posted"}
)

# Seconds a job of each priority may wait for others to share its batch.
LINGER_SECONDS = {URGENT: 0.0, NORMAL: 0.005, BULK: 0.25}


def event_priority(event_type: str, source: str | None = None) -> int:
    """The BullMQ priority of an event type, aliases and unprefixed messaging types included."""
    canonical_type = inbound_handler(EVENTS_QUEUE).canonical_type
    canonical = canonical_type(event_type, (source or event_type.split(".", 1)[0]).lower())
    if canonical in URGENT_TYPES:
        return URGENT
    if canonical in BULK_TYPES:
        return BULK
    return NORMAL
