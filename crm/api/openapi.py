"""The OpenAPI document as the responses really are (api.md), so a generated client is right.

drf-spectacular describes what a view's serializer holds; our views answer it wrapped:
`{"data": …}` for one object, `{"data": [...], "meta": {total, skip, take, hasMore}}` for a
page (TenantAPIView.respond / paginate), and every error as `{"error": {…}}`. This schema
class adds the wrapper to every JSON success response (unless the view documented it already)
and the error responses every endpoint can give. A view that answers a bare document (a
JSON Schema, for schema tooling) sets `unwrapped_response = True`.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_list_serializer, is_serializer
from rest_framework import serializers

from crm.api.pagination import SkipTakePagination


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()
    requestId = serializers.CharField()
    details = serializers.DictField(
        help_text="For a validation error: the messages by field path (`rules[1].value`)."
    )


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error, on every endpoint (api.md)."""

    error = ErrorDetailSerializer()


PAGE_META = {
    "type": "object",
    "required": ["total", "skip", "take", "hasMore"],
    "properties": {
        "total": {"type": "integer"},
        "skip": {"type": "integer"},
        "take": {"type": "integer"},
        "hasMore": {"type": "boolean"},
    },
}

_ERRORS = {
    "400": "The request is not valid; `details` names each field at fault.",
    "401": "No or bad credentials.",
    "403": "The credentials lack the scope, or the object is another club's.",
    "404": "No such object in this club (or no such club).",
    "405": "The method is not allowed here.",
    "406": "The Accept header asks for a format this endpoint does not give.",
    "409": "The object's state forbids the change; the message says why.",
    "413": "The request body is too large.",
    "415": "The body is not in a format this endpoint reads.",
    "429": (
        "Over the rate limit, or too many failed authentications from this address; retry "
        "after `Retry-After` seconds."
    ),
}


@cache
def _paginates(view_class: type, method: str) -> bool:
    """Whether the handler answers a page (it calls TenantAPIView.paginate)."""
    handler = getattr(view_class, method, None)
    try:
        return handler is not None and "self.paginate(" in inspect.getsource(handler)
    except (OSError, TypeError):
        return False


def _already_enveloped(serializer: Any) -> bool:
    serializer = serializer() if isinstance(serializer, type) else serializer
    return (
        is_serializer(serializer)
        and not is_list_serializer(serializer)
        and "data" in getattr(serializer, "fields", {})
    )


# Path parameters that are always a UUID although the route takes any string (the view answers
# 404 for the rest): documented as such, a client (or schemathesis) sending `segments/templates`
# to `segments/{segment_id}` reaches another, literal route.
UUID_PATH_PARAMETERS = frozenset({"segment_id", "journey_id"})


class EnvelopeAutoSchema(AutoSchema):
    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        # drf-spectacular ships no annotations for this private method.
        parameters: list[dict[str, Any]] = super()._resolve_path_parameters(variables)  # type: ignore[no-untyped-call]
        for parameter in parameters:
            if parameter.get("name") in UUID_PATH_PARAMETERS:
                parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameters

    def _get_pagination_parameters(self) -> list[dict[str, Any]]:
        # Our views are APIViews that page by hand (TenantAPIView.paginate): drf-spectacular
        # sees no paginator, so `skip` and `take` are added here.
        view_class: Any = self.view.__class__
        if self.method == "GET" and _paginates(view_class, "get"):
            return SkipTakePagination().get_schema_operation_parameters(self.view)
        parameters: list[dict[str, Any]] = AutoSchema._get_pagination_parameters(self)
        return parameters

    def _get_response_for_code(
        self,
        serializer: Any,
        status_code: str | int,
        media_types: list[str] | None = None,
        direction: str = "response",
    ) -> dict[str, Any]:
        response: dict[str, Any] = AutoSchema._get_response_for_code(
            self, serializer, status_code, media_types, direction
        )
        if not str(status_code).startswith("2") or "content" not in response:
            return response
        inner = getattr(serializer, "response", serializer)  # an OpenApiResponse's serializer
        if _already_enveloped(inner) or getattr(self.view, "unwrapped_response", False):
            return response
        view_class: Any = self.view.__class__
        paginated = is_list_serializer(inner) and _paginates(view_class, self.method.lower())
        for media_type, body in response["content"].items():
            if "json" not in media_type or "schema" not in body:
                continue
            properties = {"data": body["schema"]}
            required = ["data"]
            if paginated:
                properties["meta"] = PAGE_META
                required.append("meta")
            body["schema"] = {"type": "object", "required": required, "properties": properties}
        return response

    def _get_response_bodies(
        self, direction: Literal["request", "response"] = "response"
    ) -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        codes = ["400", "401", "403", "404", "405", "406", "429"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "413", "415"]
        for code in codes:
            responses.setdefault(
                code,
                {
                    "description": _ERRORS[code],
                    "content": {"application/json": {"schema": error}},
                },
            )
        return responses
