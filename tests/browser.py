"""What the browser tests share: Debian's Chromium driven by Playwright, and the platform
served by a real `runserver` on a free local port against the test database.

Playwright cannot download its own browser here, so it is pointed at /usr/bin/chromium (which
`python3 dev.py test` installs). The flags keep Chromium off the network: without the
background-networking ones it keeps trying Google's hosts, which this machine refuses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def browser_missing_message() -> str:
    return (
        f"{CHROMIUM} is missing: the browser tests need Debian's chromium. "
        "`python3 dev.py test` installs it (apt-get, as root); or `apt-get install -y chromium`."
    )


def require_chromium() -> None:
    """Skip without Chromium on a developer's machine; fail in CI, where it must be there."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(browser_missing_message())
        pytest.skip(browser_missing_message())


def run_all(steps: list[Callable[[], object]]) -> None:
    """Run every clean-up step even when one fails, then raise the first failure: the data a
    browser test committed must not outlive it because an earlier step broke."""
    failures = []
    for step in steps:
        try:
            step()
        except Exception as exc:  # reported below, after the other steps
            failures.append(exc)
    if failures:
        raise failures[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def live_server(*, name: str) -> Iterator[str]:
    """Serve the platform (tests.settings, the test database) on 127.0.0.1; yields its base URL
    once /healthz answers. Call with database access unblocked, data already committed. The
    server's log is printed if it shows a traceback, so a failing page explains itself."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix=f"{name}-server-", suffix=".log")  # noqa: SIM115
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CRM_TEST_DATABASE_NAME": connection.settings_dict["NAME"],
        "PYTHONUNBUFFERED": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the server did not start:\n{log.read()[-5000:]}")
            time.sleep(0.3)
        yield base_url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.seek(0)
        server_log = log.read()
        log.close()
        if "Traceback" in server_log:
            print(server_log[-8000:])
