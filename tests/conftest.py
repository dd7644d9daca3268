"""Tenants are created once per test session (building a schema runs every migration), then
each test runs in a transaction that is rolled back, switching between clubs as it needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from crm.accounts.services import api_key_create, staff_user_upsert
from crm.tenants.models import Tenant, TenantStatus
from crm.tenants.services import tenant_create, tenant_rename, tenant_set_status

STAFF_PASSWORD = "Fairway-Bunker-2026"


@dataclass(frozen=True)
class Clubs:
    alpha: Tenant  # ACTIVE, renamed from "alpha-old" (an alias that still resolves)
    bravo: Tenant  # ACTIVE, another country and currency
    closed: Tenant  # DISABLED


@pytest.fixture(scope="session")
def django_db_setup(
    request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb
) -> Iterator[None]:
    """pytest-django's own, except that the test database is always made. pytest-django makes
    it only when a collected test carries the django_db mark; the integration modules (which
    commit, for a worker to see) do not, and run alone they would otherwise work on, and wipe,
    the development database."""
    from django.test.utils import setup_databases, teardown_databases

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        db_cfg = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            aliases={"default"},
            keepdb=keepdb,
        )
        if not connection.settings_dict["NAME"].startswith("test_"):
            pytest.exit("Refusing to run the tests outside a test database.", returncode=3)
        alpha, _ = tenant_create(slug="alpha-old", name="Alpha Golf Club")
        tenant_rename(tenant=alpha, new_slug="alpha-golf")
        tenant_create(
            slug="bravo-golf",
            name="Bravo Golf Club",
            country="GB",
            timezone="Europe/London",
            currency="GBP",
        )
        closed, _ = tenant_create(slug="closed-golf", name="Closed Golf Club")
        tenant_set_status(tenant=closed, status=TenantStatus.DISABLED)
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(db_cfg, verbosity=request.config.option.verbose)


@pytest.fixture
def clubs(db) -> Clubs:
    connection.set_schema_to_public()
    return Clubs(
        alpha=Tenant.objects.get(slug="alpha-golf"),
        bravo=Tenant.objects.get(slug="bravo-golf"),
        closed=Tenant.objects.get(slug="closed-golf"),
    )


@pytest.fixture
def make_key(clubs) -> Callable[..., str]:
    """`make_key(tenant, "crm:read,events:write")` -> a raw key of that club."""

    def _make(tenant: Tenant, scopes: str = "crm:read") -> str:
        with schema_context(tenant.schema_name):
            _, raw_key = api_key_create(name="test", scopes=scopes)
        return raw_key

    return _make


@pytest.fixture
def make_staff(clubs) -> Callable[..., str]:
    """`make_staff(tenant, "ADMIN")` -> the email of a staff account in that club."""

    def _make(tenant: Tenant, role: str = "STAFF", email: str | None = None) -> str:
        email = email or f"{role.lower()}@{tenant.slug}.example"
        with schema_context(tenant.schema_name):
            staff_user_upsert(email=email, role=role, password=STAFF_PASSWORD)
        return email

    return _make


class ApiClient(Client):
    """A test client that sends a key, if given one."""

    def __init__(self, key: str | None = None, **kwargs) -> None:
        if key:
            kwargs["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        super().__init__(**kwargs)


@pytest.fixture
def api() -> Callable[..., ApiClient]:
    return ApiClient


def error_of(response) -> dict:
    """The api.md error object of a response, checked for shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "requestId", "details"}, error
    assert error["requestId"] == response["X-Request-ID"]
    assert "Traceback" not in response.content.decode()
    return error


@pytest.fixture
def apply_all(clubs) -> Callable[..., int]:
    """Apply every pending event of a club now, as the worker would."""
    from profiles.apply import events_apply_pending

    def _apply(tenant: Tenant | None = None) -> int:
        total = 0
        with schema_context((tenant or clubs.alpha).schema_name):
            while done := events_apply_pending(limit=1000):
                total += done
        return total

    return _apply


@pytest.fixture
def ingest(clubs, api, make_key, apply_all) -> Callable[..., list[dict]]:
    """POST events to alpha's endpoint with a key, then apply them (apply=False to skip)."""
    client = api(make_key(clubs.alpha, "events:write"))

    def _ingest(events: list[dict], *, apply: bool = True) -> list[dict]:
        response = client.post(
            "/t/alpha-golf/api/v1/events", data={"events": events}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        if apply:
            apply_all()
        return response.json()["data"]

    return _ingest
