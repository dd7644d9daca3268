"""`/t/<tenant>/graphql`: graphene-django's view behind the same base API view as REST.

Authentication (key or staff session with CSRF), rate limits and HTTP-level errors come from
TenantAPIView; execution, GraphiQL and the GraphQL error format from graphene-django.
Resolvers check scopes, as REST views do.

Limits hold on every transport graphene-django accepts (JSON, `application/graphql`, form
bodies, `GET ?query=`): query text length, JSON nesting, nesting depth (introspection too) and
estimated cost (crm/graphql/limits.py), all checked before anything runs. Mutations run only
over POST and count as writes for rate limiting. Every error that stops a query before it runs
is in api.md's error shape, with the GraphQL errors in `details.errors`; errors met while
running stay in GraphQL's `errors` beside `data`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.http import HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from graphene_django.settings import graphene_settings
from graphene_django.views import GraphQLView
from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    ListValueNode,
    Node,
    ObjectFieldNode,
    ObjectValueNode,
    OperationType,
    Visitor,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
    visit,
)
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from crm.api.errors import error_response
from crm.api.views import TenantAPIView
from crm.graphql.limits import Limits, check_limits
from crm.jsonsafe import find_problem, load_json, text_problem
from crm.observability import current_request_id

logger = logging.getLogger("crm.graphql")


class _Executor(GraphQLView):
    graphiql = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # GraphQLAPIView has validated the document and checked its limits before handing it
        # here; graphene-django validates again with these (the standard rules: passing none
        # would replace them and leave unknown fields unchecked).
        self.validation_rules = tuple(specified_rules)

    @classmethod
    def schema_for_validation(cls) -> GraphQLSchema:
        schema: GraphQLSchema = graphene_settings.SCHEMA.graphql_schema
        return schema

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
        formatted: dict[str, Any] = GraphQLView.format_error(error)
        return formatted


_execute = _Executor.as_view()


class _Refused(Exception):
    """A request refused before anything runs, with its api.md error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.response = error_response(status, code, message, details, headers)


_NOT_VALID = "Some fields are not valid; see details."


def _graphql_errors(errors: list[GraphQLError]) -> dict[str, Any]:
    return {"errors": [error.formatted for error in errors]}


def _argument_paths(document: DocumentNode) -> dict[int, str]:
    """Each argument value written in the query (and each of its fields and items) by node,
    with its path: `input`, `input.variants[0].weight`, `input.nmae`."""
    paths: dict[int, str] = {}

    def walk(node: Node, path: str) -> None:
        paths[id(node)] = path
        if isinstance(node, ObjectValueNode):
            for field in node.fields:
                walk(field, f"{path}.{field.name.value}")
        elif isinstance(node, ObjectFieldNode):
            walk(node.value, path)
        elif isinstance(node, ListValueNode):
            for index, item in enumerate(node.values):
                walk(item, f"{path}[{index}]")

    class Arguments(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            walk(node, node.name.value)
            walk(node.value, node.name.value)

    visit(document, Arguments())
    return paths


def _name_fields(errors: list[GraphQLError], document: DocumentNode) -> list[GraphQLError]:
    """Standard validation names the type at fault ("Expected value of type 'Int', found
    \"x\"") but not where it was written: an error about an argument's value gets its path in
    `extensions.field` (`input.variants[0].weight`), as resolvers name theirs. (A variable's
    value that does not fit its type is refused while running, and graphql-core's message
    names its path: "… at 'input.variants[0].weight'".)"""
    paths = _argument_paths(document)
    for error in errors:
        path = next((paths[id(n)] for n in error.nodes or () if id(n) in paths), None)
        if path is not None:
            error.extensions = {**(error.extensions or {}), "field": path}
    return errors


def _limits() -> Limits:
    return Limits(
        max_depth=settings.GRAPHQL_MAX_DEPTH,
        max_introspection_depth=settings.GRAPHQL_MAX_INTROSPECTION_DEPTH,
        max_cost=settings.GRAPHQL_MAX_COST,
    )


def _json_value(raw: Any, name: str) -> Any:
    """A JSON value, parsed if it came as text (GET and form bodies send variables that way),
    refused if it holds what no database takes or nests too deep."""
    if isinstance(raw, str) and name == "variables":
        if not raw.strip():
            return None
        try:
            raw = load_json(raw)
        except ValueError as exc:
            raise _Refused(400, "invalid_json", f"'variables' is not valid JSON: {exc}") from exc
    problem = find_problem(raw, max_depth=settings.MAX_JSON_DEPTH, prefix=name)
    if problem:
        raise _Refused(
            400,
            "validation_error",
            _NOT_VALID,
            {problem[0]: [problem[1]]},
        )
    return raw


def _params(request: Request) -> dict[str, Any]:
    """`query`, `variables` and `operationName` from whichever transport the caller used,
    parsed once per request. Raises _Refused for a body that is not what it says."""
    cached: dict[str, Any] | None = getattr(request, "_graphql_params", None)
    if cached is not None:
        return cached
    django_request = request._request
    content_type = django_request.content_type
    source: Any
    if request.method == "GET":
        source = django_request.GET
    elif content_type == "application/json":
        try:
            source = load_json(django_request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Refused(400, "invalid_json", "The body is not valid JSON.") from exc
        if not isinstance(source, dict):
            raise _Refused(400, "invalid_json", "Send one JSON object with a 'query'.")
    elif content_type == "application/graphql":
        source = {"query": django_request.body.decode("utf-8", "replace")}
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        source = django_request.POST
    else:
        source = {}
    if isinstance(source, QueryDict):
        source = {key: source.get(key) for key in ("query", "variables", "operationName")}
    params = {
        "query": source.get("query"),
        "variables": _json_value(source.get("variables"), "variables"),
        "operationName": source.get("operationName"),
    }
    for name in ("query", "operationName"):
        value = params[name]
        if value is not None and not isinstance(value, str):
            raise _Refused(
                400, "validation_error", _NOT_VALID,
                {name: ["Must be a string."]},
            )  # fmt: skip
        if isinstance(value, str) and (problem := text_problem(value)):
            raise _Refused(
                400, "validation_error", _NOT_VALID,
                {name: [problem]},
            )  # fmt: skip
    if params["variables"] is not None and not isinstance(params["variables"], dict):
        raise _Refused(
            400, "validation_error", _NOT_VALID,
            {"variables": ["Must be an object."]},
        )  # fmt: skip
    request._graphql_params = params  # type: ignore[attr-defined]
    return params


def _document(request: Request) -> DocumentNode:
    """The parsed query, within the length limit, once per request."""
    cached: DocumentNode | None = getattr(request, "_graphql_document", None)
    if cached is not None:
        return cached
    query = _params(request)["query"]
    if not query:
        raise _Refused(400, "bad_request", "Send a GraphQL query in 'query'.")
    limit = settings.GRAPHQL_MAX_QUERY_CHARS
    if len(query) > limit:
        raise _Refused(413, "query_too_large", f"The query is longer than {limit} characters.")
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        raise _Refused(400, "graphql_syntax_error", exc.message, _graphql_errors([exc])) from exc
    except RecursionError as exc:
        raise _Refused(400, "query_too_deep", "The query nests too deeply to read.") from exc
    request._graphql_document = document  # type: ignore[attr-defined]
    return document


def _is_mutation(request: Request) -> bool:
    """Whether the operation to run is a mutation (any mutation in the document, when the
    operation is not named and there are several): it is counted as a write."""
    try:
        document = _document(request)
    except _Refused:
        return False  # refused later, once the caller is known to be allowed to ask
    operation = get_operation_ast(document, _params(request)["operationName"])
    if operation is not None:
        return operation.operation == OperationType.MUTATION
    return any(
        getattr(definition, "operation", None) == OperationType.MUTATION
        for definition in document.definitions
    )


def _as_error_shape(response: HttpResponse) -> HttpResponse:
    """graphene-django's own refusals (`{"errors": [...]}` with no `data`, 4xx) in api.md's
    shape, so that no error escapes it."""
    if response.status_code < 400 or response.get("Content-Type", "") != "application/json":
        return response
    try:
        body = json.loads(response.content)
    except ValueError:
        return response
    if not isinstance(body, dict) or "data" in body or "errors" not in body:
        return response
    errors = body["errors"] or [{"message": "The query was refused."}]
    code = {405: "method_not_allowed"}.get(response.status_code, "graphql_invalid")
    refused = error_response(
        response.status_code, code, str(errors[0].get("message")), {"errors": errors}
    )
    if response.has_header("Allow"):
        refused["Allow"] = response["Allow"]
    return refused


@extend_schema(exclude=True)
class GraphQLAPIView(TenantAPIView):
    read_scope = None  # any caller of this club; each resolver checks its own scope
    write_scope = None
    atomic_writes = False  # graphene-django runs each mutation in its own transaction

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # GraphiQL asks for text/html; errors before it are still JSON.
        return super().perform_content_negotiation(request, force=True)

    def check_throttles(self, request: Request) -> None:
        try:
            mutation = _is_mutation(request)
        except _Refused:
            mutation = request.method == "POST"
        self.throttle_scope = "write" if mutation else "read"
        super().check_throttles(request)

    def get(self, request: Request) -> HttpResponseBase:
        return self._run(request)

    def post(self, request: Request) -> HttpResponseBase:
        return self._run(request)

    def _run(self, request: Request) -> HttpResponseBase:
        django_request = request._request
        wants_graphiql = request.method == "GET" and "query" not in django_request.GET
        if wants_graphiql and _Executor.request_wants_html(django_request):
            graphiql: HttpResponseBase = _execute(django_request)  # for signed-in staff
            return graphiql
        try:
            self._check(request)
        except _Refused as refused:
            return refused.response
        return _as_error_shape(_execute(django_request))

    def _check(self, request: Request) -> None:
        """Everything that can refuse the query before it runs."""
        params = _params(request)
        document = _document(request)
        operation = get_operation_ast(document, params["operationName"])
        if (
            request.method == "GET"
            and operation is not None
            and operation.operation != OperationType.QUERY
        ):
            raise _Refused(
                405,
                "method_not_allowed",
                f"Send a {operation.operation.value} as a POST request, not GET.",
                headers={"Allow": "POST"},
            )
        schema = _Executor.schema_for_validation()
        errors = validate(schema, document, specified_rules, max_errors=20)
        if errors:
            errors = _name_fields(list(errors), document)
            raise _Refused(
                400, "graphql_validation_failed", errors[0].message, _graphql_errors(errors)
            )
        errors = check_limits(
            schema, document, params["operationName"], params["variables"], _limits()
        )
        if errors:
            code = (errors[0].extensions or {}).get("code", "graphql_validation_failed")
            raise _Refused(400, code, errors[0].message, _graphql_errors(errors))
