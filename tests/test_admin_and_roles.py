"""The club admin: staff login, roles as groups, API keys shown once; the platform admin."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django_tenants.utils import schema_context

from crm.accounts.models import ApiKey, AuditEntry, User
from crm.accounts.services import hash_api_key
from tests.conftest import STAFF_PASSWORD


def _login(client, tenant_ref: str, email: str):
    return client.post(
        f"/t/{tenant_ref}/admin/login/",
        {"username": email, "password": STAFF_PASSWORD, "next": f"/t/{tenant_ref}/admin/"},
    )


def test_staff_login_reaches_the_club_admin(clubs, api, make_staff):
    client = api()
    response = _login(client, "alpha-golf", make_staff(clubs.alpha, "STAFF"))
    assert response.status_code == 302
    page = client.get("/t/alpha-golf/admin/")
    assert page.status_code == 200
    assert "Alpha Golf Club" in page.content.decode()


@pytest.mark.parametrize(
    ("role", "can_view_customers", "can_change_customers", "can_manage_keys"),
    [
        ("STAFF", True, False, False),
        ("MARKETING", True, False, False),
        ("ADMIN", True, True, True),
    ],
)
def test_roles_are_groups_with_the_right_permissions(
    clubs, make_staff, role, can_view_customers, can_change_customers, can_manage_keys
):
    email = make_staff(clubs.alpha, role)
    with schema_context(clubs.alpha.schema_name):
        user = User.objects.get(email=email)
        assert [g.name for g in user.groups.all()] == [role]
        assert user.has_perm("profiles.view_customer") is can_view_customers
        assert user.has_perm("profiles.change_customer") is can_change_customers
        assert user.has_perm("accounts.add_apikey") is can_manage_keys
        assert set(Group.objects.values_list("name", flat=True)) >= {"STAFF", "MARKETING", "ADMIN"}


def test_staff_role_cannot_open_api_keys(clubs, api, make_staff):
    client = api()
    _login(client, "alpha-golf", make_staff(clubs.alpha, "STAFF"))
    assert client.get("/t/alpha-golf/admin/accounts/apikey/").status_code == 403


def test_admin_creates_a_key_that_is_shown_once_and_works(clubs, api, make_staff):
    client = api()
    _login(client, "alpha-golf", make_staff(clubs.alpha, "ADMIN"))
    response = client.post(
        "/t/alpha-golf/admin/accounts/apikey/add/",
        {"name": "Pro shop till", "scopes": ["crm:read", "events:write"]},
        follow=True,
    )
    assert response.status_code == 200
    shown = re.findall(r"crm_[A-Za-z0-9_-]{40,}", response.content.decode())
    assert len(set(shown)) == 1
    raw_key = shown[0]
    # Never again: the key's own page shows only its prefix.
    with schema_context(clubs.alpha.schema_name):
        key = ApiKey.objects.get(key_hash=hash_api_key(raw_key))
        assert key.scopes == ["crm:read", "events:write"]
        assert AuditEntry.objects.filter(action="api_key.created", object_id=str(key.id)).exists()
    detail = client.get(f"/t/alpha-golf/admin/accounts/apikey/{key.id}/change/")
    assert raw_key not in detail.content.decode()
    assert api(raw_key).get("/t/alpha-golf/api/v1/tenant").status_code == 200

    client.post(
        "/t/alpha-golf/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [str(key.id)]},
    )
    assert api(raw_key).get("/t/alpha-golf/api/v1/tenant").status_code == 401


def test_platform_admin_lists_clubs_for_operators_only(clubs, api):
    from django.db import connection

    connection.set_schema_to_public()
    User.objects.create_superuser(email="ops@platform.example", password=STAFF_PASSWORD)
    client = api()
    response = client.post(
        "/admin/login/",
        {"username": "ops@platform.example", "password": STAFF_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302
    page = client.get("/admin/tenants/tenant/")
    assert page.status_code == 200
    assert "Alpha Golf Club" in page.content.decode()
    # A club's staff account means nothing on the platform admin.
    assert _login(api(), "alpha-golf", "ops@platform.example").status_code == 200
