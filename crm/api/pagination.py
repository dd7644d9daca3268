"""`?skip=&take=` pagination with api.md's list shape:
`{"data": [...], "meta": {"total", "skip", "take", "hasMore"}}`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

if TYPE_CHECKING:  # DRF's views read the settings that name this module
    from rest_framework.views import APIView

DEFAULT_TAKE = 25
MAX_TAKE = 100
# Far beyond any club's rows, and well inside PostgreSQL's bigint OFFSET.
MAX_SKIP = 1_000_000_000


class Pageable(Protocol):
    """What skip/take paging needs: a QuerySet, or a computed list whose count() takes no
    argument (social's calendar)."""

    def count(self) -> int: ...

    def __getitem__(self, index: slice, /) -> Iterable[Any]: ...


class _PageParams(serializers.Serializer[Any]):
    skip = serializers.IntegerField(min_value=0, max_value=MAX_SKIP, default=0)
    take = serializers.IntegerField(min_value=1, max_value=MAX_TAKE, default=DEFAULT_TAKE)


class SkipTakePagination(BasePagination):
    def paginate_queryset(
        self, queryset: Pageable, request: Request, view: APIView | None = None
    ) -> list[Any]:
        params = _PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        self.skip = params.validated_data["skip"]
        self.take = params.validated_data["take"]
        self.total = queryset.count()
        return list(queryset[self.skip : self.skip + self.take])

    def get_paginated_response(self, data: list[Any]) -> Response:
        return Response(
            {
                "data": data,
                "meta": {
                    "total": self.total,
                    "skip": self.skip,
                    "take": self.take,
                    "hasMore": self.skip + len(data) < self.total,
                },
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {
                "data": schema,
                "meta": {
                    "type": "object",
                    "properties": {
                        "total": {"type": "integer"},
                        "skip": {"type": "integer"},
                        "take": {"type": "integer"},
                        "hasMore": {"type": "boolean"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": "skip",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_SKIP, "default": 0},
            },
            {
                "name": "take",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TAKE, "default": 25},
            },
        ]
