"""`/healthz` (the process answers) and `/readyz` (it can do its work: database, Redis and the
Celery broker all reachable). Neither needs credentials nor a tenant."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from crm.api.errors import error_response


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"data": {"status": "ok"}})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()


def _check_broker() -> None:
    from crm.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database, "redis": _check_redis, "broker": _check_broker}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which and why
            results[name] = f"unavailable: {exc.__class__.__name__}"
    if all(value == "ok" for value in results.values()):
        return JsonResponse({"data": results})
    return error_response(503, "not_ready", "A dependency is unavailable.", results)
