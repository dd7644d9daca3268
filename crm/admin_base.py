"""The two shapes many club admins share, written once:

- `ReadOnlyAdmin`: rows something else writes (events, the journeys engine, the services, the
  networks): listed and shown, never added, changed or deleted on their own pages. What staff
  may do to them (replay, merge, retry, exit, mark done) are actions that call the services.
- `SettingsAdmin`: a club's settings, one row per club, edited in place and never deleted
  (without a row the defaults apply). Saved straight from the form, the row is kept at pk 1
  with an audit row (`audit_action`); settings that have a service override `save_model`.

Who may read (and, for settings, edit) follows the API's scopes when `read_scope` /
`edit_scope` are set (`crm.api.permissions.caller_scopes`), so the admin and the API never
disagree; left None, Django's model permissions decide, as for any ModelAdmin.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from unfold.admin import ModelAdmin

from crm.accounts.services import audit_record
from crm.api.permissions import caller_scopes


class _ScopedRead:
    read_scope: str | None = None

    def has_module_permission(self, request: HttpRequest) -> bool:
        if self.read_scope is None:
            may: bool = super().has_module_permission(request)  # type: ignore[misc]
            return may
        return self.read_scope in caller_scopes(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self.read_scope is None:
            may: bool = super().has_view_permission(request, obj)  # type: ignore[misc]
            return may
        return self.read_scope in caller_scopes(request)


class ReadOnlyAdmin(_ScopedRead, ModelAdmin):
    """Shown, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SettingsAdmin(_ScopedRead, ModelAdmin):
    """One row per club: added once, then edited in place; never deleted."""

    edit_scope: str | None = None
    # With these, save_model keeps the row at pk 1 and records who changed which fields.
    audit_action: str = ""
    audit_object_type: str = ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        if self.edit_scope is None:
            may = super().has_add_permission(request)
        else:
            may = self.edit_scope in caller_scopes(request)
        return may and not self.model._default_manager.exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self.edit_scope is None:
            may: bool = super().has_change_permission(request, obj)
            return may
        return self.edit_scope in caller_scopes(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not self.audit_action:
            super().save_model(request, obj, form, change)
            return
        # The admin's change view runs in one transaction: the row and its audit row commit
        # together.
        obj.pk = 1
        super().save_model(request, obj, form, change)
        audit_record(
            action=self.audit_action,
            actor_label=getattr(request.user, "email", ""),
            object_type=self.audit_object_type,
            object_id="1",
            details={"changed": form.changed_data},
        )
