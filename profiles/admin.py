from __future__ import annotations

from django.contrib import admin

from crm.admin_sites import club_admin_site
from profiles.models import Customer


@admin.register(Customer, site=club_admin_site)
class CustomerAdmin(admin.ModelAdmin):
    """Customers are built from events (ingestion); staff read them here."""

    list_display = (
        "display_name", "email", "phone_number", "membership_tier", "membership_status",
        "lifecycle_stage", "last_activity_at",
    )  # fmt: skip
    list_filter = ("status", "lifecycle_stage", "membership_status")
    search_fields = (
        "first_name", "last_name", "email", "phone_number", "=teetime_player_id",
        "=messaging_contact_id", "=auth_user_id",
    )  # fmt: skip
    readonly_fields = ("id", "created_at", "updated_at")
