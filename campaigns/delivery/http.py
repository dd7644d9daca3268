"""HTTP to the Messaging Service (messaging.md, transport 1), with httpx.

A batch (up to 500 requests) goes to `POST {MESSAGING_URL}/v1/messages:batch` as
`{"messages": [...]}`; the answer holds one result per message in order. The contract does not
fix the result's shape, so this reads what a NestJS service plausibly writes: the list is the
body itself or its `results`/`data`, and each item carries an HTTP-like `status` (202, 409, 400,
429, 503 …; or the words `accepted`, `duplicate`, `rejected`), a `messageId`, and optionally
`error`/`message` and `retryAfter` (seconds).

- 202 and 409 are accepted (409: the key was seen before, which is what a retry after a crash
  looks like); 429, 5xx and network errors are tried again later with the same key, after the
  `Retry-After` the peer gave (seconds or an HTTP date) or an exponential backoff; any other 4xx
  is permanent and its reason is kept.
- A whole-batch 429/5xx answer retries every message; a whole-batch 404/405 (a peer without
  the batch endpoint) falls back to `POST /v1/messages` one by one, on one kept-alive
  connection.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

import httpx

from campaigns.delivery.base import DeliveryResult

MAX_BATCH = 500  # messaging.md
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _status_of(item: dict[str, Any]) -> int:
    raw = item.get("status", item.get("statusCode"))
    if isinstance(raw, int):
        return raw
    words = {"accepted": 202, "duplicate": 409, "rejected": 400, "failed": 400}
    return words.get(str(raw).lower(), 0) if raw is not None else 0


def _error_text(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        for name in ("error", "message", "detail"):
            value = body.get(name)
            if isinstance(value, dict):
                value = value.get("message") or value.get("code")
            if value:
                return str(value)
    return fallback


def result_for(key: str, status: int, body: Any, retry_after: float | None) -> DeliveryResult:
    message_id = str(body.get("messageId") or "") if isinstance(body, dict) else ""
    if status in (200, 201, 202):
        return DeliveryResult.accepted(key, message_id)
    if status == 409:
        return DeliveryResult.accepted(key, message_id, detail="409: key seen before")
    if status == 429 or status >= 500 or status == 0:
        return DeliveryResult.retry(key, f"{status}: {_error_text(body, 'try again')}", retry_after)
    return DeliveryResult.failed(key, f"{status}: {_error_text(body, 'refused')}")


class HttpAdapter:
    name = "http"
    records_events = False
    batch_size = MAX_BATCH

    def __init__(self, *, base_url: str, token: str = "", client: httpx.Client | None = None):
        if not base_url:
            raise ValueError("MESSAGING_URL is not set.")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT
        )
        self.batch_supported = True

    def close(self) -> None:
        self.client.close()

    def deliver(self, requests: list[dict[str, Any]]) -> list[DeliveryResult]:
        if not requests:
            return []
        results: list[DeliveryResult] = []
        for start in range(0, len(requests), MAX_BATCH):
            chunk = requests[start : start + MAX_BATCH]
            if self.batch_supported:
                batch = self._batch(chunk)
                if batch is not None:
                    results += batch
                    continue
            results += [self._one(request) for request in chunk]
        return results

    def _batch(self, chunk: list[dict[str, Any]]) -> list[DeliveryResult] | None:
        keys = [request["idempotencyKey"] for request in chunk]
        try:
            response = self.client.post("/v1/messages:batch", json={"messages": chunk})
        except httpx.TransportError as exc:
            return [DeliveryResult.retry(key, f"network: {exc!r}") for key in keys]
        if response.status_code in (404, 405):
            self.batch_supported = False
            return None
        body = _json(response)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if response.status_code >= 300:
            # The batch as a whole: 429/5xx retry everything, another 4xx refuses everything.
            return [result_for(key, response.status_code, body, retry_after) for key in keys]
        items = body.get("results", body.get("data")) if isinstance(body, dict) else body
        if not isinstance(items, list) or len(items) != len(chunk):
            detail = "the batch answer did not hold one result per message"
            return [DeliveryResult.retry(key, detail, retry_after) for key in keys]
        out = []
        for key, item in zip(keys, items, strict=True):
            item = item if isinstance(item, dict) else {}
            item_retry = item.get("retryAfter")
            after = float(item_retry) if isinstance(item_retry, int | float) else retry_after
            out.append(result_for(key, _status_of(item), item, after))
        return out

    def _one(self, request: dict[str, Any]) -> DeliveryResult:
        key = request["idempotencyKey"]
        try:
            response = self.client.post("/v1/messages", json=request)
        except httpx.TransportError as exc:
            return DeliveryResult.retry(key, f"network: {exc!r}")
        return result_for(
            key,
            response.status_code,
            _json(response),
            retry_after_seconds(response.headers.get("Retry-After")),
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"error": response.text[:200]}
