"""The platform's own URLs (public schema): operators' admin and health probes."""

from django.urls import path
from django.views.generic import RedirectView

from crm.admin_sites import platform_admin_site
from crm.health import healthz, readyz

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", platform_admin_site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]

handler400 = "crm.api.errors.handler400"
handler403 = "crm.api.errors.handler403"
handler404 = "crm.api.errors.handler404"
handler500 = "crm.api.errors.handler500"
