"""Request ids and log context: every log line names its request and its tenant."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.db import connection
from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Callers may pass their own id (a load balancer's, another service's) so one id follows a
# request across systems; anything odd is replaced rather than echoed into our logs.
_INCOMING_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdMiddleware:
    """Give every request an id, expose it as `X-Request-ID` and to the logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _INCOMING_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs 4xx/5xx responses after the middleware chain
        # has returned, and that line must carry the id too. request_finished clears it.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def clear_request_id(**kwargs: object) -> None:
    request_id_var.set("-")


request_finished.connect(clear_request_id, dispatch_uid="crm.clear_request_id")


class ContextFilter(logging.Filter):
    """Adds `request_id` and `tenant` (the active schema) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        try:
            record.tenant = getattr(connection, "schema_name", "-")
        except Exception:  # logging must never fail because the DB layer is not ready
            record.tenant = "-"
        return True
