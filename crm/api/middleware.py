"""Request-level guards that must act before any view reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from crm.api.errors import error_response


class BodySizeLimitMiddleware:
    """Refuse oversized bodies with 413 before they are read.

    DRF's parsers read the stream directly and never apply Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE, so without this an API endpoint would buffer any size.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.MAX_REQUEST_BODY_BYTES
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            return error_response(400, "bad_request", "Content-Length is not a number.")
        if length > limit:
            return error_response(
                413,
                "payload_too_large",
                f"The request body is {length} bytes; the limit is {limit}.",
                {"limit": limit},
            )
        return self.get_response(request)
