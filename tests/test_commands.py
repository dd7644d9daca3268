"""The operator commands of api.md, driven the way scripts drive them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context, schema_exists

from crm.accounts.models import User
from crm.tenants.models import Tenant

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()


def test_create_tenant_help_shows_our_options_not_django_tenants():
    result = subprocess.run(
        [sys.executable, "manage.py", "create_tenant", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        check=True,
    )
    for option in ("--slug", "--name", "--country", "--timezone", "--currency"):
        assert option in result.stdout


def test_create_tenant_is_idempotent_and_prints_the_uuid_last(clubs):
    first = _run("create_tenant", "--slug", "cmd-golf", "--name", "Command Golf", "--country", "gb",
                 "--timezone", "Europe/London", "--currency", "gbp")  # fmt: skip
    tenant = Tenant.objects.get(slug="cmd-golf")
    assert first[-1] == str(tenant.id)
    assert (tenant.country, tenant.timezone, tenant.currency) == ("GB", "Europe/London", "GBP")
    assert schema_exists(tenant.schema_name)
    again = _run("create_tenant", "--slug", "cmd-golf", "--name", "Another Name")
    assert again[-1] == str(tenant.id)
    tenant.refresh_from_db()
    assert tenant.name == "Command Golf"  # changed nothing
    assert _run("create_tenant", "--slug", "alpha-old", "--name", "x")[-1] == str(clubs.alpha.id)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "Bad Slug", "--name", "x"], "--slug"),
        (["--slug", "public", "--name", "x"], "reserved"),
        (["--slug", "ok-club", "--name", "x", "--country", "XX"], "--country"),
        (["--slug", "ok-club", "--name", "x", "--timezone", "Mars/Olympus"], "--timezone"),
        (["--slug", "ok-club", "--name", "x", "--currency", "ZZZ"], "--currency"),
        (["--slug", "ok-club", "--name", "  "], "--name"),
    ],
)
def test_create_tenant_refuses_bad_input_by_name(clubs, args, message):
    with pytest.raises(CommandError, match=message):
        _run("create_tenant", *args)
    assert not Tenant.objects.filter(slug="ok-club").exists()


def test_create_api_key_prints_a_working_key_last(clubs, api):
    lines = _run("create_api_key", str(clubs.alpha.id), "--name", "till", "--scopes", "crm:read")
    response = api(lines[-1]).get("/t/alpha-golf/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["meta"]["scopes"] == ["crm:read"]


def test_create_api_key_names_the_bad_scope_and_the_unknown_club(clubs):
    with pytest.raises(CommandError, match="crm:everything"):
        _run("create_api_key", "alpha-golf", "--name", "x", "--scopes", "crm:read,crm:everything")
    with pytest.raises(CommandError, match="no-such-club"):
        _run("create_api_key", "no-such-club", "--name", "x", "--scopes", "crm:read")


def test_create_staff_user_password_from_environment_and_rerun_updates(clubs, monkeypatch):
    monkeypatch.setenv("CRM_STAFF_PASSWORD", "Env-Pass-Sand-Wedge-7")
    _run("create_staff_user", "alpha-golf", "--email", "Pro@Alpha.example", "--role", "STAFF")
    _run("create_staff_user", "alpha-golf", "--email", "pro@alpha.example", "--role", "MARKETING")
    with schema_context(clubs.alpha.schema_name):
        user = User.objects.get(email="pro@alpha.example")
        assert user.check_password("Env-Pass-Sand-Wedge-7")
        assert [g.name for g in user.groups.all()] == ["MARKETING"]
    with schema_context(clubs.bravo.schema_name):
        assert not User.objects.filter(email="pro@alpha.example").exists()


def test_create_staff_user_refuses_bad_input(clubs, monkeypatch):
    monkeypatch.delenv("CRM_STAFF_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="password"):
        _run("create_staff_user", "alpha-golf", "--email", "new@alpha.example", "--role", "STAFF")
    with pytest.raises(CommandError, match="email"):
        _run("create_staff_user", "alpha-golf", "--email", "nope", "--role", "STAFF",
             "--password", "Long-Enough-Pass-1")  # fmt: skip
    with pytest.raises(CommandError, match="password"):
        _run("create_staff_user", "alpha-golf", "--email", "x@alpha.example", "--role", "STAFF",
             "--password", "123")  # fmt: skip
