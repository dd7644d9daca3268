"""BullMQ (messaging.md, transport 2): one job per request on `messaging-send`, its name the
channel and its job id the idempotency key, added by crm.transport (`messaging_send_enqueue`),
so a repeated add after a crash is a no-op. Redis unreachable: every request is retried."""

from __future__ import annotations

from typing import Any

from campaigns.delivery.base import DeliveryResult
from crm.transport.outbound import MAX_SEND_BATCH, SendRequestError, messaging_send_enqueue


class BullMQAdapter:
    name = "bullmq"
    records_events = False
    batch_size = MAX_SEND_BATCH

    def close(self) -> None:
        pass

    def deliver(self, requests: list[dict[str, Any]]) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        for start in range(0, len(requests), MAX_SEND_BATCH):
            results += self._chunk(requests[start : start + MAX_SEND_BATCH])
        return results

    def _chunk(self, chunk: list[dict[str, Any]]) -> list[DeliveryResult]:
        try:
            job_ids = messaging_send_enqueue(requests=chunk)
        except SendRequestError as exc:
            # One malformed request refuses the call: refuse those, add the others.
            bad = {int(path.split(".", 1)[0]) for path in exc.errors}
            good = [request for index, request in enumerate(chunk) if index not in bad]
            added = dict(zip((r["idempotencyKey"] for r in good), self._chunk(good), strict=True))
            return [
                DeliveryResult.failed(request["idempotencyKey"], f"not a valid request: {exc}")
                if index in bad
                else added[request["idempotencyKey"]]
                for index, request in enumerate(chunk)
            ]
        except Exception as exc:
            return [
                DeliveryResult.retry(request["idempotencyKey"], f"bullmq: {exc!r}")
                for request in chunk
            ]
        return [
            DeliveryResult.accepted(request["idempotencyKey"], message_id=job_id)
            for request, job_id in zip(chunk, job_ids, strict=True)
        ]
