"""`GET /t/<tenant>/api/v1/tenant`: the caller's club. Any valid key may call it, which makes
it the way for an integrator to check a key."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.permissions import caller_scopes
from crm.api.views import TenantAPIView
from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_of_request


class TenantOutputSerializer(serializers.Serializer[Tenant]):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    timezone = serializers.CharField()
    country = serializers.CharField()
    currency = serializers.CharField()


class TenantView(TenantAPIView):
    read_scope = None

    @extend_schema(
        operation_id="tenant_retrieve",
        responses=inline_serializer(
            "TenantResponse",
            {
                "data": TenantOutputSerializer(),
                "meta": inline_serializer(
                    "CallerMeta", {"scopes": serializers.ListField(child=serializers.CharField())}
                ),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "data": TenantOutputSerializer(tenant_of_request(request)).data,
                # The caller's own scopes: what a key may do here, without trial and error.
                "meta": {"scopes": sorted(caller_scopes(request))},
            }
        )
