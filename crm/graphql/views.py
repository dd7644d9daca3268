"""`/t/<tenant>/graphql`: graphene-django's view behind the same base API view as REST.

Authentication (key or staff session with CSRF), rate limits and HTTP-level errors come from
TenantAPIView; execution, GraphiQL and the GraphQL error format from graphene-django.
Resolvers check scopes, as REST views do. Limits: query text length and nesting depth.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from graphene.validation import depth_limit_validator
from graphene_django.views import GraphQLView
from graphql import GraphQLError, OperationType, parse, specified_rules
from rest_framework.request import Request

from crm.api.errors import error_response
from crm.api.views import TenantAPIView
from crm.observability import current_request_id

logger = logging.getLogger("crm.graphql")


class _Executor(GraphQLView):
    graphiql = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # graphene-django hands these to graphql-core's validate(), which then *replaces* the
        # standard rules: pass them along with our limit, or unknown fields go unchecked.
        self.validation_rules = (
            *specified_rules,
            depth_limit_validator(max_depth=settings.GRAPHQL_MAX_DEPTH),
        )

    @staticmethod
    def format_error(error: Exception) -> dict[str, Any]:
        # Messages of our own GraphQLErrors are for the caller; anything else is an internal
        # fault whose text (SQL, paths) must not leak: log it, answer with the request id.
        original = getattr(error, "original_error", None)
        if (
            isinstance(error, GraphQLError)
            and original is not None
            and not isinstance(original, GraphQLError)
        ):
            logger.error("GraphQL resolver failed", exc_info=original)
            return {
                "message": "Internal error.",
                "path": error.path,
                "extensions": {"code": "server_error", "requestId": current_request_id()},
            }
        return GraphQLView.format_error(error)


_execute = _Executor.as_view()


_INVALID = object()


def _payload(request: Request) -> Any:
    """The POSTed JSON body, parsed once per request (`_INVALID` when it is not JSON)."""
    cached = getattr(request, "_graphql_payload", None)
    if cached is None:
        django_request = request._request
        if request.method == "POST" and django_request.content_type == "application/json":
            try:
                cached = json.loads(django_request.body or b"{}")
            except ValueError:
                cached = _INVALID
        else:
            cached = {}
        request._graphql_payload = cached  # type: ignore[attr-defined]
    return cached


def _query_text(request: Request) -> str:
    if request.method == "GET":
        return request._request.GET.get("query", "")
    payload = _payload(request)
    query = payload.get("query") if isinstance(payload, dict) else None
    if query is None and request._request.content_type == "application/graphql":
        return request._request.body.decode("utf-8", "replace")
    return query if isinstance(query, str) else ""


def _is_mutation(query: str) -> bool:
    try:
        document = parse(query)
    except GraphQLError:
        return False
    return any(
        getattr(definition, "operation", None) == OperationType.MUTATION
        for definition in document.definitions
    )


@extend_schema(exclude=True)
class GraphQLAPIView(TenantAPIView):
    read_scope = None  # any caller of this club; each resolver checks its own scope
    write_scope = None

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # GraphiQL asks for text/html; errors before it are still JSON.
        return super().perform_content_negotiation(request, force=True)

    def check_throttles(self, request: Request) -> None:
        self.throttle_scope = "write" if _is_mutation(_query_text(request)) else "read"
        super().check_throttles(request)

    def get(self, request: Request):
        return self._run(request)

    def post(self, request: Request):
        return self._run(request)

    def _run(self, request: Request):
        if _payload(request) is _INVALID:
            return error_response(400, "invalid_json", "The body is not valid JSON.")
        limit = settings.GRAPHQL_MAX_QUERY_CHARS
        if len(_query_text(request)) > limit:
            return error_response(
                413, "query_too_large", f"The query is longer than {limit} characters."
            )
        return _execute(request._request)
