"""Roles as Django groups with permissions, kept in step with the installed models.

Groups are rebuilt after every migration of a club's schema (post_migrate), so a new app's
permissions reach the right roles without a data migration per app.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from crm.accounts.scopes import Role
from crm.db import tenant_connection

# Apps whose data a role may touch, and how. "view" = read only, "all" = add/change/delete/view.
_MARKETING_APPS = ("segments", "campaigns", "journeys", "social")
ROLE_RULES: dict[Role, dict[str, str]] = {
    Role.STAFF: {"profiles": "view"},
    Role.MARKETING: {"profiles": "view", **dict.fromkeys(_MARKETING_APPS, "all")},
    Role.ADMIN: {
        "profiles": "all",
        **dict.fromkeys(_MARKETING_APPS, "all"),
        "accounts": "all",
        "auth": "view",
    },
}
# Writes a STAFF member makes beside reading: notes on a customer.
EXTRA_CODENAMES: dict[Role, tuple[str, ...]] = {
    Role.STAFF: ("add_customernote", "change_customernote"),
    Role.MARKETING: ("add_customernote", "change_customernote"),
}


def _permissions_for(role: Role) -> list[Permission]:
    wanted: list[Permission] = []
    for perm in Permission.objects.select_related("content_type"):
        mode = ROLE_RULES[role].get(perm.content_type.app_label)
        if (
            mode == "all"
            or (mode == "view" and perm.codename.startswith("view_"))
            or perm.codename in EXTRA_CODENAMES.get(role, ())
        ):
            wanted.append(perm)
    return wanted


@transaction.atomic
def roles_sync() -> None:
    """Create the STAFF, MARKETING and ADMIN groups in the current schema with their rights."""
    # post_migrate reaches apps one at a time, in INSTALLED_APPS order: make sure every app's
    # permissions exist before handing them out.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set(_permissions_for(role))


def sync_roles_after_migrate(**kwargs: Any) -> None:
    if tenant_connection().schema_name == "public":
        return  # platform operators are superusers; roles belong to clubs
    roles_sync()
