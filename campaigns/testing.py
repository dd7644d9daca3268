"""A Messaging Service peer on 127.0.0.1 that behaves as messaging.md says (202 for a new key,
409 with the first answer for a repeated one, the batch endpoint), for the tests and for
benchmarks/campaign_send.py. The real HTTP client makes real requests to it.

It counts what a reliability check needs: the keys it accepted (each once), how often a key
came again, and the requests per customer. Failures can be scripted: the next N batch or
single requests answer a status (429 with `Retry-After`, 503 …), keys can be refused (400), and
the batch endpoint can be switched off (404) to exercise the one-by-one fallback.

Templates (messaging.md "Templates"): `state.templates` holds the peer's templates by id
(`channel`, `name`, `subject`, `variables`, `html`/`text` with `{{name}}` placeholders);
`GET /v1/templates` lists them by channel, `POST /v1/templates/<id>:render` fills them in
(422 naming a variable the template needs and the request lacks), and `templates_api = False`
answers both with 404 (a service with no template API yet), as does a peer given no templates
(so tests and benchmarks that send with made-up template ids are not refused by the send's
template check). `template_calls` records the
query or body of each call.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class PeerState:
    token: str = ""
    batch_enabled: bool = True
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    repeats: Counter = field(default_factory=Counter)
    refuse_keys: set[str] = field(default_factory=set)
    # [(status, retry_after header or None), …] answered to the next requests, whole.
    script: list[tuple[int, str | None]] = field(default_factory=list)
    requests: int = 0
    batches: int = 0
    delay: float = 0.0  # seconds each request takes, to stand for a busy peer
    # Called after a request's keys are recorded and before the answer is sent (a test can
    # kill its client there: the peer has the keys, the client never hears so).
    after_accept: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates_api: bool = True
    template_calls: list[dict[str, Any]] = field(default_factory=list)

    def customers(self) -> Counter:
        """Accepted keys per customer (metadata.customerId)."""
        return Counter((r.get("metadata") or {}).get("customerId") for r in self.accepted.values())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        # The client may have died before hearing the answer (a crash test does that).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def _one(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        state = self.server.state
        key = request.get("idempotencyKey")
        if not key:
            return 400, {"error": "idempotencyKey is required"}
        if key in state.refuse_keys:
            return 400, {"error": f"template {request.get('templateId')!r} does not exist"}
        first = state.accepted.get(key)
        if first is not None:
            state.repeats[key] += 1
            return 409, {"messageId": first["_messageId"]}
        state.accepted[key] = {**request, "_messageId": f"m_{uuid.uuid4().hex[:12]}"}
        return 202, {"messageId": state.accepted[key]["_messageId"]}

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        state = self.server.state
        if state.token and self.headers.get("Authorization") != f"Bearer {state.token}":
            self._reply(401, {"error": "bad token"})
            return
        parts = urlsplit(self.path)
        if parts.path != "/v1/templates" or not state.templates_api or not state.templates:
            self._reply(404, {"error": "no such endpoint"})
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        state.template_calls.append({"list": query})
        channel = query.get("channel", "")
        data = [
            {"id": tid, "name": t.get("name", tid), "channel": t.get("channel", "email"),
             "subject": t.get("subject", ""), "variables": t.get("variables", []),
             "updatedAt": "2026-11-30T10:00:00Z"}
            for tid, t in state.templates.items()
            if not channel or t.get("channel", "email") == channel
        ]  # fmt: skip
        self._reply(200, {"data": data})

    def _render(self, template_id: str, body: dict[str, Any]) -> None:
        import re

        state = self.server.state
        state.template_calls.append({"render": template_id, **body})
        template = state.templates.get(template_id)
        if not state.templates_api or template is None:
            self._reply(404, {"error": f"no template {template_id!r}"})
            return
        values = body.get("variables") or {}
        missing = [v for v in template.get("variables", []) if v not in values]
        if missing:
            self._reply(422, {"message": f"unknown variable {missing[0]}"})
            return

        def fill(text: str) -> str:
            return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values.get(m[1], "")), text)

        subject = (body.get("content") or {}).get("subject") or template.get("subject", "")
        answer = {"text": fill(template.get("text", ""))}
        if template.get("channel", "email") == "email":
            answer.update(subject=fill(subject), html=fill(template.get("html", "")))
        self._reply(200, answer)

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if state.token and self.headers.get("Authorization") != f"Bearer {state.token}":
            self._reply(401, {"error": "bad token"})
            return
        if self.path.startswith("/v1/templates/") and self.path.endswith(":render"):
            from urllib.parse import unquote

            try:
                body = json.loads(raw)
            except ValueError:
                self._reply(400, {"error": "not JSON"})
                return
            self._render(unquote(self.path[len("/v1/templates/") : -len(":render")]), body)
            return
        with state.lock:
            state.requests += 1
            scripted = state.script.pop(0) if state.script else None
        if scripted is not None:
            status, retry_after = scripted
            headers = {"Retry-After": retry_after} if retry_after else {}
            self._reply(status, {"error": "scripted failure"}, headers)
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._reply(400, {"error": "not JSON"})
            return
        if self.path == "/v1/messages:batch":
            if not state.batch_enabled:
                self._reply(404, {"error": "no such endpoint"})
                return
            messages = body.get("messages") or []
            if state.delay:
                time.sleep(state.delay)
            with state.lock:
                state.batches += 1
                results = []
                for message in messages:
                    status, answer = self._one(message)
                    results.append({"status": status, **answer})
            if state.after_accept:
                state.after_accept(state)
            self._reply(200, {"results": results})
        elif self.path == "/v1/messages":
            if state.delay:
                time.sleep(state.delay)
            with state.lock:
                status, answer = self._one(body)
            if state.after_accept:
                state.after_accept(state)
            self._reply(status, answer)
        else:
            self._reply(404, {"error": "no such endpoint"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: PeerState

    def handle_error(self, request, client_address) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client killed mid-request (the crash test): nothing to report
        super().handle_error(request, client_address)


class MessagingPeer:
    """`with MessagingPeer() as peer:` → `peer.url`, `peer.state`."""

    def __init__(self, token: str = "") -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.state = PeerState(token=token)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def state(self) -> PeerState:
        return self.server.state

    def __enter__(self) -> MessagingPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
