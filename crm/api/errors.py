"""The one error shape of api.md, on every endpoint:

    {"error": {"code": "...", "message": "...", "requestId": "...", "details": {...}}}

DRF exceptions come through `exception_handler`; errors Django raises outside DRF (unknown
URLs, crashes, tenant resolution) through `handler404`/`handler500` and `error_response`.
Admin pages keep Django's HTML error pages: people read those, not programs.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.views import set_rollback

from crm.api.throttling import TooManyFailedAuthentications
from crm.observability import current_request_id

logger = logging.getLogger("crm.api")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "requestId": current_request_id(),
            "details": details or {},
        }
    }


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"payload.email": ["..."], "events[3].id": ["..."]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            if isinstance(key, int):  # DRF's ListField keys item errors by index
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            for sub_key, messages in _flatten(value, path).items():
                out.setdefault(sub_key, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out.setdefault(prefix or "nonFieldErrors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                for sub_key, messages in _flatten(item, f"{prefix}[{index}]").items():
                    out.setdefault(sub_key, []).extend(messages)
    else:
        out.setdefault(prefix or "nonFieldErrors", []).append(str(detail))
    return out


def validation_details(detail: Any) -> dict[str, list[str]]:
    return _flatten(detail)


_CODES: dict[type[exceptions.APIException], tuple[str, str | None]] = {
    exceptions.ParseError: ("invalid_json", None),
    exceptions.NotAuthenticated: ("not_authenticated", None),
    exceptions.AuthenticationFailed: ("authentication_failed", None),
    exceptions.PermissionDenied: ("permission_denied", None),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", None),
    exceptions.NotAcceptable: ("not_acceptable", None),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", None),
    exceptions.Throttled: ("rate_limited", None),
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse:
    """DRF's EXCEPTION_HANDLER: every failure becomes the api.md error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError; its field names become the details' keys.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"nonFieldErrors": exc.messages}
        )
    elif isinstance(exc, RequestDataTooBig):
        set_rollback()
        return error_response(413, "payload_too_large", "The request body is too large.")

    if not isinstance(exc, exceptions.APIException):
        set_rollback()
        logger.error("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return error_response(
            500,
            "server_error",
            "Something went wrong on our side. Quote the request id if you contact us.",
        )

    set_rollback()
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]

    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            exc.status_code,
            "validation_error",
            "Some fields are not valid; see details.",
            validation_details(exc.detail),
            headers,
        )
    code, message = next(
        (value for cls, value in _CODES.items() if isinstance(exc, cls)),
        (str(exc.default_code), None),
    )
    if isinstance(exc, exceptions.Throttled):
        retry = headers.get("Retry-After", "?")
        message = f"Rate limit exceeded; retry in {retry} s."
        if isinstance(exc, TooManyFailedAuthentications):
            message = f"Too many failed authentications from your address; retry in {retry} s."
    return error_response(exc.status_code, code, message or str(exc.detail), None, headers)


def _is_admin_path(request: HttpRequest) -> bool:
    return "/admin/" in request.path or request.path.endswith("/admin")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin_path(request):
        return defaults.page_not_found(request, exception)
    return error_response(404, "not_found", "Not found.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin_path(request):
        return defaults.permission_denied(request, exception or PermissionDenied())
    return error_response(403, "permission_denied", "You may not do that.")


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin_path(request):
        return defaults.bad_request(request, exception or SuspiciousOperation())
    return error_response(400, "bad_request", "The request could not be understood.")


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_admin_path(request):
        return defaults.server_error(request)
    return error_response(
        500,
        "server_error",
        "Something went wrong on our side. Quote the request id if you contact us.",
    )
