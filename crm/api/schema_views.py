"""OpenAPI document and docs page per club, listing the paths as that club's callers use them.

drf-spectacular enumerates ROOT_URLCONF by default; the club's URL conf is the one the tenant
middleware chose for this request (prefixed with `t/<tenant>/`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response


@extend_schema(exclude=True)
class TenantSchemaView(SpectacularAPIView):
    permission_classes = [AllowAny]

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.urlconf = getattr(request, "urlconf", None)
        response: Response = SpectacularAPIView.get(self, request, *args, **kwargs)
        return response


@extend_schema(exclude=True)
class TenantDocsView(SpectacularSwaggerView):
    permission_classes = [AllowAny]


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A club API key: `Authorization: Bearer crm_…`.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class SignedWebhookScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.SignedWebhookAuthentication"
    name = "signedWebhook"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-CRM-Signature",
            "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with a club '
            "webhook secret; event ingestion only.",
        }
