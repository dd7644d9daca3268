"""Periodic work that scales with work, not with clubs: the apps' probes and the dispatcher.

Beat's every-minute tasks used to be fanned out to every ACTIVE club (`crm.tasks.
fan_out_to_tenants`): at 1,000 clubs about 10,000 task messages a minute, nearly all finding
nothing to do. Now each app registers, from its `AppConfig.ready()`, a `WorkProbe` for each of
its every-minute (or every-few-minutes) tasks: a small SQL condition over its own tables that is
true whenever the task could find something to do in a club (a superset is fine; a false
"nothing due" costs a run, so when in doubt a probe says due). At the task's period
`crm.tasks.dispatch_due` asks every ACTIVE club at once, in one statement per kind (per
`TENANT_WORK_PROBE_CHUNK` clubs, 100):

    SELECT 'club_a' WHERE (<probe over "club_a".tables>)
    UNION ALL SELECT 'club_b' WHERE (<probe over "club_b".tables>) …

and queues the task only in the clubs that answered. Schema and table names are composed with
psycopg's `sql.Identifier`, values with `sql.Literal`: nothing is string-formatted in.

A probe that cannot run in a club (a schema that lacks a table mid-migration, a column renamed
under an old probe) must not cost the other clubs their minute nor lose that club's work: clubs
lacking one of the probe's tables (one catalogue query for all) are queued without asking, and a
statement that fails all the same falls back to the plain fan-out for its clubs, logged. Beat
still queues every probed task in every club once a slow period
(`TENANT_FAN_OUT_SAFETY_NET_SECONDS`), a share of the clubs each minute (`crm.tasks.safety_net`),
so a wrong probe delays work, never loses it.

The registry follows crm/transport/handlers.py and profiles/erasure.py: `crm/` names no app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from psycopg import sql

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkProbe:
    """When `task` could have something to do in a club.

    `condition` is SQL in psycopg's `sql.SQL.format` syntax: `{table}` for each of `tables`
    (replaced by the club's `"schema"."table"`) and `{name}` for each of `values` (a literal).
    It must be a boolean expression, cheap on an idle club (EXISTS over an index).
    """

    task: str
    condition: str
    tables: tuple[str, ...]
    values: Mapping[str, Any] = field(default_factory=dict)

    def sql_for(self, schema: str) -> sql.Composable:
        names: dict[str, sql.Composable] = {
            table: sql.Identifier(schema, table) for table in self.tables
        }
        names.update({name: sql.Literal(value) for name, value in self.values.items()})
        return sql.SQL(self.condition).format(**names)


_PROBES: dict[str, WorkProbe] = {}


def work_probe_register(probe: WorkProbe) -> None:
    """Make `probe` the one for its task (from an app's `ready()`; the same probe again is a
    no-op, `ready()` may run more than once in tests; a different one is a wiring mistake)."""
    registered = _PROBES.get(probe.task)
    if registered is not None and registered != probe:
        raise ImproperlyConfigured(f"The periodic task {probe.task!r} has a probe already.")
    _PROBES[probe.task] = probe


def work_probe(task: str) -> WorkProbe | None:
    return _PROBES.get(task)


def work_probes() -> dict[str, WorkProbe]:
    return dict(_PROBES)


@dataclass
class Probed:
    """What one kind's dispatch found: the clubs to queue in, and how it was decided."""

    due: list[str]
    # Clubs queued without asking: their schema lacks one of the probe's tables.
    unprobed: list[str] = field(default_factory=list)
    # The statement failed: every club is queued (the plain fan-out) for this minute.
    failed: bool = False
    seconds: float = 0.0


def _missing_tables(schemas: list[str], tables: Iterable[str]) -> dict[str, set[str]]:
    """{schema: the tables of `tables` it lacks}, for the schemas that lack any (one query)."""
    wanted = sorted(set(tables))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, c.relname FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')",
            [schemas, wanted],
        )
        present: dict[str, set[str]] = {}
        for schema, table in cursor.fetchall():
            present.setdefault(schema, set()).add(table)
    return {
        schema: set(wanted) - present.get(schema, set())
        for schema in schemas
        if set(wanted) - present.get(schema, set())
    }


def probe_statement(probe: WorkProbe, schemas: list[str]) -> sql.Composed:
    """One statement answering, for every schema in `schemas`, whether `probe` holds there."""
    return sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {name} WHERE ({condition})").format(
            name=sql.Literal(schema), condition=probe.sql_for(schema)
        )
        for schema in schemas
    )


def clubs_with_work(probe: WorkProbe, schemas: list[str], *, chunk: int) -> Probed:
    """The clubs of `schemas` where `probe` says the task could find something to do.

    Never raises for a club's sake: a club lacking a table is counted due; a failing statement
    makes its clubs due (logged). `chunk` bounds the clubs per statement, each statement its
    own transaction (see below for why)."""
    started = time.perf_counter()
    result = Probed(due=[])
    if not schemas:
        return result
    missing = _missing_tables(schemas, probe.tables)
    if missing:
        logger.warning(
            "Probe for %s skipped in %d club(s) lacking its tables (queued there instead): %s",
            probe.task, len(missing), sorted(missing)[:10],
        )  # fmt: skip
    result.unprobed = [schema for schema in schemas if schema in missing]
    asked = [schema for schema in schemas if schema not in missing]
    due: set[str] = set(missing)
    for start in range(0, len(asked), chunk):
        clubs = asked[start : start + chunk]
        try:
            # Its own transaction (a savepoint inside a caller's, a test's, which it leaves
            # usable): the statement takes a share lock on every table and index it plans
            # against, held to the end of the transaction, and PostgreSQL's lock table holds
            # max_locks_per_transaction x max_connections of them for the whole server
            # (6,400 by default): 1,000 clubs in one transaction would not fit.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(probe_statement(probe, clubs).as_string(cursor.connection))
                due.update(row[0] for row in cursor.fetchall())
        except Exception:
            logger.exception(
                "Probe for %s failed; fanning it out to these %d clubs this minute",
                probe.task, len(clubs),
            )  # fmt: skip
            result.failed = True
            due.update(clubs)
    # Keep the clubs' order (the tenant list's), so the stagger is the fan-out's.
    result.due = [schema for schema in schemas if schema in due]
    result.seconds = time.perf_counter() - started
    return result
