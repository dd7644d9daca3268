"""Health probes, the OpenAPI document, and production settings."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"data": {"status": "ok"}}


def test_readyz_checks_database_redis_and_broker(db, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"data": {"database": "ok", "redis": "ok", "broker": "ok"}}


def test_readyz_names_what_is_down(db, client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["redis"].startswith("unavailable")
    assert error["details"]["database"] == "ok"


def _api_routes(patterns, prefix: str = "") -> set[str]:
    routes: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            routes |= _api_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            routes.add(prefix + str(entry.pattern))
    return routes


def test_openapi_lists_every_api_endpoint_with_tenant_paths(clubs, client):
    response = client.get(
        "/t/alpha-golf/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert response.status_code == 200
    schema = response.json()
    documented = {path.removeprefix("/t/alpha-golf/") for path in schema["paths"]}
    tenant_patterns = get_resolver("crm.urls_tenant").url_patterns
    api_routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # <uuid:post_id> -> {post_id}
        for route in _api_routes(tenant_patterns)
        if route.startswith("api/v1/")
    }
    assert api_routes == documented
    assert "apiKey" in schema["components"]["securitySchemes"]


def test_docs_page_serves_its_own_assets(clubs, client):
    response = client.get("/t/alpha-golf/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**base, "DJANGO_SETTINGS_MODULE": "crm.settings", **env},
    )


def test_production_settings_pass_check_deploy():
    result = _check_deploy(
        {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "crm.example"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_a_secret_key():
    result = _check_deploy({"DEBUG": "0", "ALLOWED_HOSTS": "crm.example"})
    assert result.returncode != 0
    assert "crm.E001" in result.stderr
