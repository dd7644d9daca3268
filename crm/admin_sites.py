"""Two admins: the platform's at `/admin/` (public schema: the tenant registry, beat's
schedule) and each club's at `/t/<tenant>/admin/` (its staff, keys and customers).

Both are served by the same models' tables in different schemas; what each shows is decided by
which site a model is registered on, so the platform admin never lists club data and the club
admin never lists the registry.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import HttpRequest


class PlatformAdminSite(AdminSite):
    site_header = "Golf CRM platform"
    site_title = "Golf CRM platform"
    index_title = "Clubs and platform settings"


class ClubAdminSite(AdminSite):
    site_title = "Golf CRM"
    index_title = "Club administration"
    # The home page is the club's dashboard (crm/admin_dashboard.py), the app list below it.
    index_template = "admin/club_index.html"

    def index(self, request: HttpRequest, extra_context: dict | None = None):
        from crm.admin_dashboard import dashboard_page

        return super().index(
            request, extra_context={**(extra_context or {}), "dashboard": dashboard_page()}
        )

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        context["site_header"] = f"{tenant.name} · Golf CRM" if tenant else "Golf CRM"
        return context


platform_admin_site = PlatformAdminSite(name="platform_admin")
club_admin_site = ClubAdminSite(name="club_admin")
