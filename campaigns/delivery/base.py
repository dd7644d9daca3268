"""The one interface every transport implements: hand over send requests (messaging.md), get
one result per request back, in order.

A result is `accepted` (the peer has it: 202, or 409 "seen this key before"), `retry` (429,
5xx, a network error: try again later with the same key, after `retry_after` seconds when the
peer said so) or `failed` (refused for good: any other 4xx; the reason is kept on the send).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

ACCEPTED = "accepted"
RETRY = "retry"
FAILED = "failed"


@dataclass(frozen=True)
class DeliveryResult:
    key: str
    outcome: str
    message_id: str = ""
    detail: str = ""
    retry_after: float | None = None
    reason: str = ""  # a SendReason for `failed` (REFUSED unless said otherwise)

    @classmethod
    def accepted(cls, key: str, message_id: str = "", detail: str = "") -> DeliveryResult:
        return cls(key=key, outcome=ACCEPTED, message_id=message_id, detail=detail)

    @classmethod
    def retry(cls, key: str, detail: str, retry_after: float | None = None) -> DeliveryResult:
        return cls(key=key, outcome=RETRY, detail=detail[:500], retry_after=retry_after)

    @classmethod
    def failed(cls, key: str, detail: str, reason: str = "REFUSED") -> DeliveryResult:
        return cls(key=key, outcome=FAILED, detail=detail[:500], reason=reason)


class DeliveryAdapter(Protocol):
    """A transport to the Messaging Service (or the built-in email fallback)."""

    name: str
    # Whether the adapter is itself the sender (the fallback): then the CRM records the
    # `messaging.message.sent` timeline entries the Messaging Service would otherwise send.
    records_events: bool
    # How many requests one `deliver` call takes at most.
    batch_size: int

    def deliver(self, requests: list[dict[str, Any]]) -> list[DeliveryResult]: ...

    def close(self) -> None: ...
