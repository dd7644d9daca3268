"""The base of every API view (NetBox-style): auth, scopes, rate limits, errors and the
response envelope are decided here once, so endpoints stay thin."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import (
    AuthenticationFailed,
    MethodNotAllowed,
    NotFound,
    ValidationError,
)
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from crm.accounts.services import acting_as
from crm.api.authentication import caller_actor
from crm.api.pagination import Pageable, SkipTakePagination
from crm.api.throttling import (
    TooManyFailedAuthentications,
    auth_failure_record,
    auth_failures_wait,
)
from crm.jsonsafe import text_problem
from crm.tenants.selectors import tenant_of_request


class TenantAPIView(APIView):
    """A view under `/t/<tenant>/api/v1/`. The tenant is already active (middleware); the
    authentication classes only know this club's keys and staff.

    Subclasses set `read_scope` / `write_scope` (None: any authenticated caller) and,
    where api.md gives a special limit, `throttle_scope`.
    """

    read_scope: str | tuple[str, ...] | None = "crm:read"
    write_scope: str | tuple[str, ...] | None = "crm:write"
    throttle_scope: str | None = None
    # A write runs in one transaction that any error answer rolls back, so a request refused
    # half-way (a post saved, then its schedule found invalid) leaves
    # nothing behind and a retrying client makes no duplicates. Views that must commit what
    # they did before a failure (a message already sent) set this to False.
    atomic_writes: bool = True
    # Holds the caller's `acting_as` from authentication (`initial`) to the end of `dispatch`.
    _acting: ExitStack | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.atomic_writes and request.method not in ("GET", "HEAD", "OPTIONS"):
            with transaction.atomic():
                response = self._dispatch_acting(request, *args, **kwargs)
                if response.status_code >= 400:
                    transaction.set_rollback(True)
                return response
        return self._dispatch_acting(request, *args, **kwargs)

    def _dispatch_acting(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Every audit row the handler's services write names the caller's key or staff account
        # by foreign key (crm.accounts.services.acting_as), though most services take only a
        # label. The caller is known once `initial` has authenticated them; the stack resets
        # the context when the response is made, whatever happened, inside the transaction
        # (so on-commit work does not run as the caller), and a view lives for one request.
        with ExitStack() as self._acting:
            return super().dispatch(request, *args, **kwargs)

    def perform_authentication(self, request: Request) -> None:
        # An address that keeps failing authentication is refused before its credentials are
        # even looked at: guessing keys (or signatures) costs a 429, not a database lookup.
        wait = auth_failures_wait(request)
        if wait is not None:
            raise TooManyFailedAuthentications(wait=wait)
        try:
            super().perform_authentication(request)
        except AuthenticationFailed:
            auth_failure_record(request)
            raise

    def check_permissions(self, request: Request) -> None:
        # An unsupported method is 405 for any caller of this club; DRF would answer 403 to
        # one without the write scope, hiding that the method does not exist at all. Strangers
        # still get their 401 first.
        authenticated = getattr(request.user, "is_authenticated", False)
        method = request.method or ""
        if authenticated and not hasattr(self, method.lower()):
            raise MethodNotAllowed(method)
        super().check_permissions(request)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self._acting is not None:
            self._acting.enter_context(acting_as(caller_actor(request.user)))
        # A NUL in `?q=` would reach PostgreSQL (which refuses it) as a 500: refuse it here, for
        # every query parameter of every endpoint, naming the parameter.
        for name, values in request.query_params.lists():
            if problem := text_problem(name):
                raise ValidationError({"query": [f"A parameter name: {problem}"]})
            for value in values:
                if problem := text_problem(value):
                    raise ValidationError({name: [problem]})

    def output_context(self) -> dict[str, Any]:
        """What output serializers may rely on: the request and the active club."""
        return {"request": self.request, "tenant": tenant_of_request(self.request)}

    def actor_label(self) -> str:
        """Who is acting, for audit rows: the staff member's email or the key's name."""
        user = self.request.user
        return getattr(user, "email", None) or str(user)

    def respond(self, data: Any, status: int = 200) -> Response:
        return Response({"data": data}, status=status)

    def respond_object(
        self, instance: Any, serializer_class: type[BaseSerializer[Any]], status: int = 200
    ) -> Response:
        return self.respond(serializer_class(instance, context=self.output_context()).data, status)

    def paginate(
        self,
        request: Request,
        queryset: Pageable,
        serializer_class: type[BaseSerializer[Any]],
    ) -> Response:
        paginator = SkipTakePagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = serializer_class(page, many=True, context=self.output_context()).data
        return paginator.get_paginated_response(data)


class ApiNotFoundView(TenantAPIView):
    """Answers every unknown path under a club with the JSON 404 (also in DEBUG, where Django
    would show its HTML debug page instead of handler404)."""

    read_scope = None
    write_scope = None
    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes: list[type[BasePermission]] = []
    schema = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        raise NotFound("No such endpoint.")
