"""A new club's schema in well under a second: copied from a migrated template schema.

Building a club's schema by running every migration takes 10-15 s on this project's 2-core
machines (and grows with every migration added). Instead, one schema, `club_template` by
default (`TENANT_TEMPLATE_SCHEMA`), is built by the migrations like any club's and kept
migrated; a new club's schema is a copy of it, made from the catalogue in one SQL script.

Why not django-tenants' own `TENANT_BASE_SCHEMA` (pg-clone-schema's `clone_schema()`)? It
works, but measured here it took 4.0-4.6 s per club for this project's ~320 relations (it walks
the catalogue object by object in PL/pgSQL), then runs `migrate_schemas --fake` (another ~1 s
of loading the migration graph). This copy reads the catalogue once and sends one script.

What is copied, so that a copy equals a migrated schema (`tests/test_club_template.py` compares
the two, catalogue entry by catalogue entry):
- tables, with columns, defaults, identity and generated columns and storage parameters
  (`CREATE TABLE ... (LIKE ...)`, then the `reloptions`, e.g. customers' `fillfactor`);
- every constraint (primary key, unique, check, exclusion, foreign key) and every index,
  by their own names, from `pg_get_constraintdef` / `pg_get_indexdef` (not LIKE's
  `INCLUDING INDEXES`, which renames them: later migrations drop and alter them by name);
- the seeded rows (`django_migrations`, content types, permissions, rows that migrations
  insert), and the identity sequences' positions.
The template holds no club's data: nothing is ever written to it but migrations.

Keeping it current: `tenant_create` checks that the template has every tenant migration on
disk applied (one query; the graph's leaves are read once per process) and migrates it first if
not, under an advisory lock, so the first club after a deploy pays for the migrations once and
the rest copy. `manage.py refresh_club_template` does the same ahead of time (run it after
`migrate_schemas` in a deploy). Anything the copy does not reproduce (a view, trigger or function
added by a future migration) fails the comparison test rather than a club.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

from crm.db import tenant_connection

# Any fixed 64-bit number: the lock that makes template refreshes and copies take turns.
_TEMPLATE_LOCK = 0x0C1_0B7E_4A7E


def template_schema_name() -> str:
    return settings.TENANT_TEMPLATE_SCHEMA


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


@functools.cache
def _tenant_migration_leaves() -> frozenset[tuple[str, str]]:
    """The newest migration of every tenant app, as found on disk (fixed for a process)."""
    tenant_apps = set(settings.TENANT_APPS)
    tenant_labels = {
        config.label for config in django_apps.get_app_configs() if config.name in tenant_apps
    }
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(node for node in loader.graph.leaf_nodes() if node[0] in tenant_labels)


def template_is_current() -> bool:
    """True when the template schema exists and has every tenant migration on disk applied."""
    schema = template_schema_name()
    if not schema_exists(schema):
        return False
    leaves = _tenant_migration_leaves()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT app, name FROM {_quote(schema)}.django_migrations "  # noqa: S608
            "WHERE (app, name) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            [[app for app, _ in leaves], [name for _, name in leaves]],
        )
        applied = {(app, name) for app, name in cursor.fetchall()}
    return applied == leaves


def template_refresh(*, verbosity: int = 0) -> bool:
    """Build or migrate the template schema. Returns True if it had to change anything."""
    with _template_lock():
        return _refresh_locked(verbosity=verbosity)


def _refresh_locked(*, verbosity: int) -> bool:
    if template_is_current():
        return False
    schema = template_schema_name()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
    call_command(
        "migrate_schemas",
        tenant=True,
        schema_name=schema,
        interactive=False,
        verbosity=verbosity,
    )
    tenant_connection().set_schema_to_public()
    return True


def schema_create_from_template(*, schema_name: str) -> None:
    """Make `schema_name` a copy of the (current) template schema, in one transaction."""
    with _template_lock():
        _refresh_locked(verbosity=0)
        with transaction.atomic():
            _copy(source=template_schema_name(), target=schema_name)
    tenant_connection().set_schema_to_public()


class _template_lock:
    """A session-level advisory lock (works inside or outside a transaction)."""

    def __enter__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_TEMPLATE_LOCK])

    def __exit__(self, *exc: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_TEMPLATE_LOCK])


_TABLES = """
SELECT c.relname, coalesce(array_to_string(c.reloptions, ', '), ''),
       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
          FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
 ORDER BY c.relname
"""

_FOREIGN_KEYS = """
SELECT c.relname, con.conname, pg_get_constraintdef(con.oid)
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND con.contype = 'f'
 ORDER BY c.relname, con.conname
"""

_SEQUENCES = """
SELECT sequencename, data_type::text, last_value FROM pg_sequences WHERE schemaname = %s
"""

# An index by what it is, not by its name: table, key columns, operator classes, collations,
# options, expressions, predicate, access method, storage options and the constraint it backs.
# `{where}` picks the tables: the template's by schema name (read once per template version),
# the copy's by the oids of the tables just made (index lookups: a scan by schema would read
# the whole `pg_class`, ~470 rows a club, which at 1,000 clubs made each copy slower).
_INDEXES = """
SELECT t.relname, ic.relname, con.contype,
       concat_ws(' | ', t.relname,
                 -- columns by name: a migrated table has gaps in its column numbers where
                 -- columns were dropped, and its copy has none
                 (SELECT string_agg(coalesce(a.attname, '(expression)'), ', ' ORDER BY k.ord)
                    FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),
                 i.indclass::text, i.indcollation::text,
                 i.indoption::text, i.indisunique, i.indnullsnotdistinct,
                 pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid),
                 am.amname, ic.reloptions::text, con.contype, con.condeferrable,
                 con.condeferred)
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_am am ON am.oid = ic.relam
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
 WHERE {where}
 ORDER BY ic.relname
"""


@dataclass(frozen=True)
class _TemplateShape:
    """What a copy needs to know of the template, read from the catalogue."""

    tables: list[tuple[str, str, str]]  # name, storage options, columns
    foreign_keys: list[tuple[str, str, str]]  # table, constraint, definition
    sequences: list[tuple[str, str, int | None]]  # name, data type, last value
    indexes: dict[str, list[str]]  # what an index is -> the template's names for it


# Per process, by the template's version: the template changes only when a migration is applied
# to it (or unapplied), which changes its `django_migrations`, so the catalogue (a scan of
# `pg_class`, `pg_constraint` and `pg_sequence` by schema: their size grows with the number of
# clubs) is read once per process and version, not once per club.
_SHAPES: dict[tuple[int, int, int], _TemplateShape] = {}


def _template_shape(cursor: Any, source: str) -> _TemplateShape:
    src = _quote(source)
    cursor.execute(
        f"SELECT %s::regnamespace::oid::bigint, count(*), coalesce(max(id), 0) "  # noqa: S608
        f"FROM {src}.django_migrations",
        [src],
    )
    version = tuple(cursor.fetchone())
    shape = _SHAPES.get(version)
    if shape is not None:
        return shape
    cursor.execute(_TABLES, [source])
    tables = cursor.fetchall()
    cursor.execute(_FOREIGN_KEYS, [source])
    foreign_keys = cursor.fetchall()
    cursor.execute(_SEQUENCES, [source])
    sequences = cursor.fetchall()
    cursor.execute(
        _INDEXES.format(where="t.relnamespace = %s::regnamespace AND t.relkind IN ('r', 'p', 'm')"),
        [src],
    )
    indexes: dict[str, list[str]] = {}
    for _table, index, _contype, what in cursor.fetchall():
        indexes.setdefault(what, []).append(index)
    shape = _TemplateShape(tables, foreign_keys, sequences, indexes)
    _SHAPES.clear()  # only the current version is ever needed again
    _SHAPES[version] = shape
    return shape


def _copy(*, source: str, target: str) -> None:
    """Copy `source` into a new schema `target` (inside the caller's transaction).

    Tables come from `LIKE ... INCLUDING ALL`, which copies columns, defaults, identity,
    check constraints, storage and every index and unique/primary-key/exclusion constraint as
    the catalogue holds them (so a partial index's predicate is the same expression tree, not a
    re-parsed print of it), but under names of its own choosing; the indexes and constraints
    are then renamed to the template's names, matched by what they are. Foreign keys, which
    LIKE leaves out, are added from `pg_get_constraintdef`, printed with `search_path` set to the
    template alone so that references inside it come out unqualified and land in the copy.
    """
    src, dst = _quote(source), _quote(target)
    with connection.cursor() as cursor:
        # Foreign keys are printed with the template alone on the path (see above).
        cursor.execute("SELECT set_config('search_path', %s, true)", [src])
        shape = _template_shape(cursor, source)

        statements = [f"CREATE SCHEMA {dst}", f"SET LOCAL search_path TO {dst}, public"]
        for table, reloptions, columns in shape.tables:
            name = _quote(table)
            options = f" WITH ({reloptions})" if reloptions else ""
            statements.append(
                f"CREATE TABLE {dst}.{name} (LIKE {src}.{name} INCLUDING ALL){options}"
            )
            statements.append(
                f"INSERT INTO {dst}.{name} ({columns}) OVERRIDING SYSTEM VALUE "  # noqa: S608
                f"SELECT {columns} FROM {src}.{name}"
            )
        cursor.execute(";\n".join(statements))

        cursor.execute(
            _INDEXES.format(where="i.indrelid = ANY(%s::regclass[])"),
            [[f"{dst}.{_quote(table)}" for table, _, _ in shape.tables]],
        )
        theirs = shape.indexes
        ours: dict[str, list[tuple[str, str, str | None]]] = {}
        for table, index, contype, what in cursor.fetchall():
            ours.setdefault(what, []).append((table, index, contype))
        renames = []
        for what, copies in ours.items():
            originals = theirs.get(what, [])
            if len(originals) != len(copies):
                raise RuntimeError(f"the copy of {source} has other indexes than it: {what}")
            renames += [(*copy, original) for copy, original in zip(copies, originals, strict=True)]
        # Two steps, so that an index LIKE named the way another one is named in the template
        # is out of the way before that one takes its name.
        original_names = {original for *_, original in renames}
        statements = []
        final = []
        for number, (table, index, contype, original) in enumerate(renames):
            if index == original:
                continue
            if index in original_names:
                temporary = f"tmp_copy_{number}"
                statements.append(_rename(dst, table, index, contype, temporary))
                index = temporary
            final.append(_rename(dst, table, index, contype, original))
        statements += final
        for table, conname, definition in shape.foreign_keys:
            statements.append(
                f"ALTER TABLE {dst}.{_quote(table)} ADD CONSTRAINT {_quote(conname)} {definition}"
            )
        for sequence, data_type, last_value in shape.sequences:
            # LIKE makes every identity sequence a bigint one; an AutoField's is an integer.
            statements.append(f"ALTER SEQUENCE {dst}.{_quote(sequence)} AS {data_type}")
            if last_value is not None:
                statements.append(
                    f"SELECT setval('{dst}.{_quote(sequence)}', {int(last_value)}, true)"
                )
        if statements:
            cursor.execute(";\n".join(statements))
    tenant_connection().set_schema_to_public()  # the next cursor sets django-tenants' path again


def _rename(schema: str, table: str, index: str, contype: str | None, new: str) -> str:
    if contype:  # renaming the constraint renames its index too
        table, index, new = _quote(table), _quote(index), _quote(new)
        return f"ALTER TABLE {schema}.{table} RENAME CONSTRAINT {index} TO {new}"
    return f"ALTER INDEX {schema}.{_quote(index)} RENAME TO {_quote(new)}"
