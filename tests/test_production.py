"""The production path, as the Dockerfile takes it: `collectstatic` with DEBUG=0 (the hashed
manifest), then gunicorn (not runserver) answering `/readyz` and serving a club's admin page
with its static files through whitenoise. `check --deploy` is in test_platform.py."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def _production_env(static_root: Path) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "STATIC_ROOT")
    }
    # The test database (tenants are committed there by django_db_setup), reached the way
    # production reaches its own: through DATABASE_URL.
    url = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/crm"))
    database_url = urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
    return {
        **base,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_ROOT": str(static_root),
        "DATABASE_URL": database_url,
        # Behind a TLS-terminating proxy, as in production: the proxy says the request was https.
        "SECURE_PROXY_SSL_HEADER": "1",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_collectstatic_then_gunicorn_serves_readyz_and_admin_with_static(django_db_setup, tmp_path):
    env = _production_env(tmp_path / "static")
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert collect.returncode == 0, collect.stdout + collect.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()

    port = _free_port()
    started = time.monotonic()
    # The Dockerfile's CMD, on a free port.
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--access-logfile", "-"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, body, _ = _get(f"{base}/readyz")
            except OSError:
                time.sleep(0.2)
                continue
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, f"readyz answered {status}"
        ready_after = time.monotonic() - started

        status, body, _ = _get(f"{base}/t/alpha-golf/admin/login/")
        assert status == 200, body[:2000]
        html = body.decode()
        stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', html)
        assert stylesheets, html[:2000]
        # The manifest's hashed names: proof collectstatic's output is what is served.
        assert all(re.search(r"\.[0-9a-f]{12}\.css$", href) for href in stylesheets), stylesheets
        for href in stylesheets:
            status, css, headers = _get(base + href)
            assert status == 200, href
            assert headers.get("Content-Type", "").startswith("text/css"), headers
            assert css
        total = time.monotonic() - started
        print(
            f"gunicorn smoke test: ready after {ready_after:.2f} s, admin + static by {total:.2f} s"
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    assert "Traceback" not in output, output


def _compose_available() -> bool:
    try:
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="no docker compose on this machine")
def test_docker_compose_file_validates():
    result = subprocess.run(
        ["docker", "compose", "config", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
