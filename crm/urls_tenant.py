"""A club's URLs. Mounted under `/t/<slug or UUID>/` (and at the root of a mapped host name)
by crm.tenants.middleware."""

from django.urls import URLPattern, URLResolver, include, path, re_path

from crm.admin_sites import club_admin_site
from crm.api.dashboard_views import DashboardView
from crm.api.schema_views import TenantDocsView, TenantSchemaView
from crm.api.tenant_views import TenantView
from crm.api.views import ApiNotFoundView
from crm.graphql.views import GraphQLAPIView

api_v1: list[URLPattern | URLResolver] = [
    path("tenant", TenantView.as_view(), name="tenant"),
    path("dashboard", DashboardView.as_view(), name="dashboard"),
    path("", include("profiles.api.urls")),
    path("", include("social.api.urls")),
    path("", include("segments.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("journeys.api.urls")),
]

urlpatterns = [
    path("admin/", club_admin_site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", TenantSchemaView.as_view(), name="schema"),
    path("api/docs/", TenantDocsView.as_view(url_name="schema"), name="api-docs"),
    path("graphql", GraphQLAPIView.as_view(), name="graphql"),
    # The built-in email fallback's one-click unsubscribe (RFC 8058), for the recipients.
    path("", include("campaigns.urls")),
    # A round's guest form and after-the-round survey (signed links, no login).
    path("", include("profiles.urls")),
    path("", include("journeys.urls")),
    # Last: anything else under the club (but its admin, which keeps HTML pages) is JSON 404.
    re_path(r"^(?!admin(/|$)).*$", ApiNotFoundView.as_view()),
]

handler400 = "crm.api.errors.handler400"
handler403 = "crm.api.errors.handler403"
handler404 = "crm.api.errors.handler404"
handler500 = "crm.api.errors.handler500"
