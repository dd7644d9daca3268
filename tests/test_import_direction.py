"""The platform floor (`crm/`) imports no domain app: the apps stand on it, register what it
needs from them at start-up (transport handlers, erasers, dashboard parts, checks), and only the
roots that join them name them.

Read from the code itself (Python's `ast`), so a new file, a function-level import or an
`import_module("…")` with a literal name is caught as well as a top-of-file import.

The roots, and why they alone may:
- `crm/graphql/schema.py`: the one GraphQL schema is the union of each app's Query/Mutation.
- `crm/urls_tenant.py`: the club's URLs include each app's (today by dotted string, which is
  not an import, but it is a root all the same).
The admin and the dashboard are not roots: admin classes join by Django's autodiscovery and the
sidebar (`crm/admin_nav.py`) names models by label, and the dashboard's parts register
themselves (`crm/dashboard.py`), so neither needs an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_APPS = ("profiles", "segments", "campaigns", "journeys", "social")
ROOTS = {"crm/graphql/schema.py", "crm/urls_tenant.py"}


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):
            function = node.func
            called = getattr(function, "attr", None) or getattr(function, "id", None)
            if (
                called in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.append((node.lineno, node.args[0].value))
    return names


def domain_imports(source: str, filename: str) -> list[str]:
    """`file:line imports module` for every import of a domain app in `source`."""
    return [
        f"{filename}:{line} imports {module}"
        for line, module in sorted(_imported(ast.parse(source, filename=filename)))
        if module.split(".", 1)[0] in DOMAIN_APPS
    ]


def test_nothing_under_crm_imports_a_domain_app_but_the_roots():
    offending = []
    for path in sorted((ROOT / "crm").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative not in ROOTS:
            offending += domain_imports(path.read_text(), relative)
    assert not offending, (
        "crm/ is the platform floor: it imports no domain app outside "
        f"{sorted(ROOTS)}. Register what it needs from the app's AppConfig.ready() instead "
        "(crm/transport/handlers.py, crm/dashboard.py, profiles/erasure.py):\n"
        + "\n".join(offending)
    )


def test_the_reader_sees_every_kind_of_import():
    """The check above would pass on a reader that sees nothing: it does not."""
    sample = (
        "import profiles.models\n"
        "from segments import services\n"
        "def f():\n"
        "    from campaigns.models import Campaign\n"
        "    import_module('journeys.engine')\n"
        "    importlib.import_module('social.crypto')\n"
        "from crm.db import copy_rows\n"
        "from . import sibling\n"
        "import profilesque\n"
    )
    assert domain_imports(sample, "crm/sample.py") == [
        "crm/sample.py:1 imports profiles.models",
        "crm/sample.py:2 imports segments",
        "crm/sample.py:4 imports campaigns.models",
        "crm/sample.py:5 imports journeys.engine",
        "crm/sample.py:6 imports social.crypto",
    ]


def test_profiles_takes_in_crm_events_through_the_transport_registry():
    from crm.transport.handlers import InboundHandler, inbound_handler, inbound_handler_register
    from crm.transport.queues import EVENTS_QUEUE
    from profiles.envelope import canonical_type
    from profiles.ingestion import MAX_BATCH, events_ingest

    handler = inbound_handler(EVENTS_QUEUE)
    assert handler == InboundHandler(
        ingest=events_ingest, max_batch=MAX_BATCH, canonical_type=canonical_type
    )
    inbound_handler_register(queue=EVENTS_QUEUE, handler=handler)  # ready() again: no-op
    with pytest.raises(ImproperlyConfigured, match="has a handler already"):
        inbound_handler_register(
            queue=EVENTS_QUEUE, handler=InboundHandler(events_ingest, 1, canonical_type)
        )
    with pytest.raises(ImproperlyConfigured, match="No app takes in"):
        inbound_handler("no-such-queue")
    assert inbound_handler(EVENTS_QUEUE) is handler
