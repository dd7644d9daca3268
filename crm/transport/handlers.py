"""Who takes in the jobs the transport reads: registered by the apps at start-up.

The transport sits beneath the apps: it reads `crm-events`, finds the club an envelope names,
batches jobs by club and priority, retries and dead-letters them, but what an event means
belongs to the app that stores it. That app registers an `InboundHandler` for the queue from
its `AppConfig.ready()` (profiles does, for `crm-events`: profiles/apps.py), as apps register
erasers with `profiles/erasure.py` and dashboard parts with `crm/dashboard.py`, so nothing under
`crm/` imports a domain app.

One handler per queue: a second registration for a queue replaces nothing and fails loudly
(two apps both taking in every event would be a wiring mistake), except the same handler again
(`ready()` may run more than once in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from crm.tenants.models import Tenant


class Ingest(Protocol):
    """Validate and store up to `max_batch` envelopes of the club whose schema is active;
    one result per envelope, in order: `{"id", "status": "accepted" | "duplicate" |
    "rejected", "errors"?, "warnings"?}` (the contract of `POST /events`)."""

    def __call__(
        self, *, tenant: Tenant, envelopes: list[Any], transport: str
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class InboundHandler:
    ingest: Ingest
    # At most this many envelopes per `ingest` call.
    max_batch: int
    # (type as received, source) -> the type it stands for (aliases, unprefixed messaging
    # types): a job's name and its envelope's type agree when these agree, and priorities are
    # looked up by it.
    canonical_type: Callable[[str, str], str]


_HANDLERS: dict[str, InboundHandler] = {}


def inbound_handler_register(*, queue: str, handler: InboundHandler) -> None:
    """Make `handler` the one that takes in `queue`'s jobs (from an app's `ready()`)."""
    registered = _HANDLERS.get(queue)
    if registered is not None and registered != handler:
        raise ImproperlyConfigured(f"The BullMQ queue {queue!r} has a handler already.")
    _HANDLERS[queue] = handler


def inbound_handler(queue: str) -> InboundHandler:
    """The handler registered for `queue`."""
    try:
        return _HANDLERS[queue]
    except KeyError:
        raise ImproperlyConfigured(
            f"No app takes in the BullMQ queue {queue!r}: its AppConfig.ready() registers one "
            "with crm.transport.handlers.inbound_handler_register."
        ) from None
