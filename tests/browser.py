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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from django.db import connection
from django_tenants.utils import schema_context

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

T = TypeVar("T")

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


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright. Start it after the test's own database work and
    stop it before the test's rollback: Playwright's sync API keeps an event loop on this
    thread, where Django then refuses database calls (see `read_in_thread`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def admin_page(
    browser: Browser, *, base_url: str, club: str, email: str, password: str, width: int = 1440
) -> Iterator[Page]:
    """A fresh browser context signed in to `club`'s admin with this staff login. The test
    fails if a page raised an uncaught script error or logged one to the console (a refused
    resource, such as a preview answered 400, is not a script error)."""
    context = browser.new_context(viewport={"width": width, "height": 1000}, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
            and errors.append(m.text))  # fmt: skip
    page.goto(f"{base_url}/t/{club}/admin/login/?next=/t/{club}/admin/")
    page.get_by_label("Email").or_(page.get_by_label("Username")).first.fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/t/{club}/admin/")
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page logged errors: {errors}"


def read_in_thread(fn: Callable[[], T], *, schema: str) -> T:
    """Run a database read in `schema` on a thread of its own (and its own connection, closed
    after): the browser's event loop on the test's thread makes Django refuse it there."""

    def read() -> Any:
        try:
            with schema_context(schema):
                return fn()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


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
