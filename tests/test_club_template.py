"""A club's schema copied from the template equals one built by running every migration.

The copy (crm/tenants/template.py) reads the catalogue; this test is what keeps it honest when
a migration adds something the copy does not reproduce. It compares the two schemas entry by
entry: tables and their storage options, columns (type, nullability, default, identity,
generation), every constraint and index by name and definition, sequences and their positions,
and the seeded rows of every table.

It builds real schemas outside the per-test transaction (migrations cannot all run inside one),
and drops them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings

from crm.tenants.models import Tenant
from crm.tenants.services import tenant_create
from crm.tenants.template import (
    schema_create_from_template,
    template_is_current,
    template_schema_name,
)

MIGRATED, COPIED = "club_zz_migrated", "club_zz_copied"


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def schema_signature(schema: str) -> dict[str, list[tuple]]:
    """Everything about a schema that a club relies on, with the schema's name taken out."""
    signature = {
        "tables": _rows(
            """SELECT c.relname, c.relkind, c.reloptions FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                ORDER BY 1""",
            [schema],
        ),
        "columns": _rows(
            """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      replace(pg_get_expr(d.adbin, d.adrelid), %s, ''), a.attidentity, a.attgenerated,
                      a.attstorage,
                      -- the visible order (a migrated table keeps gaps where columns were
                      -- dropped; a copy has none, and no code reads a column by number)
                      row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0
                  AND NOT a.attisdropped
                ORDER BY 1, 2""",
            [f"{schema}.", schema],
        ),
        "constraints": _rows(
            """SELECT c.relname, con.conname, con.contype,
                      replace(pg_get_constraintdef(con.oid), %s, ''),
                      con.condeferrable, con.condeferred
                 FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND con.contype <> 'n'
                ORDER BY 1, 2""",
            [f"{schema}.", schema],
        ),
        "indexes": _rows(
            """SELECT ic.relname, replace(pg_get_indexdef(i.indexrelid), %s, ''), ic.reloptions
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_namespace n ON n.oid = ic.relnamespace
                WHERE n.nspname = %s ORDER BY 1""",
            [f"{schema}.", schema],
        ),
        "sequences": _rows(
            """SELECT sequencename, data_type::text, start_value, increment_by, last_value
                 FROM pg_sequences WHERE schemaname = %s ORDER BY 1""",
            [schema],
        ),
        "other objects": _rows(
            """SELECT 'function', p.proname FROM pg_proc p
                 JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s
               UNION ALL
               SELECT 'trigger', t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND NOT t.tgisinternal
               UNION ALL
               SELECT 'type', t.typname FROM pg_type t
                 JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = %s AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
               ORDER BY 1, 2""",
            [schema, schema, schema],
        ),
    }
    rows = []
    for (table,) in _rows(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1""",
        [schema],
    ):
        qualified = f'"{schema}"."{table}"'
        if table == "django_migrations":  # when each was applied differs, and does not matter
            qualified = f'(SELECT id, app, name FROM "{schema}".django_migrations)'  # noqa: S608
        # The rows a migration seeds, compared by content (ids included: they are referenced).
        rows += _rows(
            f"SELECT %s, count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"  # noqa: S608
            f" FROM {qualified} t",
            [table],
        )
    signature["rows"] = rows
    return signature


@pytest.fixture
def two_schemas(django_db_setup, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        try:
            yield
        finally:
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                for schema in (MIGRATED, COPIED):
                    cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.integration
def test_a_copied_club_schema_equals_a_migrated_one(two_schemas):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{MIGRATED}"')
    call_command(
        "migrate_schemas", tenant=True, schema_name=MIGRATED, interactive=False, verbosity=0
    )
    connection.set_schema_to_public()
    schema_create_from_template(schema_name=COPIED)
    assert template_is_current()

    migrated, copied = schema_signature(MIGRATED), schema_signature(COPIED)
    assert migrated["tables"], "the migrated schema has tables"
    assert any(count for _table, count, _digest in migrated["rows"]), "seeded rows exist"
    for part in migrated:
        assert copied[part] == migrated[part], part


@pytest.mark.integration
def test_a_stale_template_is_migrated_before_it_is_copied(two_schemas):
    """After a deploy adds a migration, the template lacks it: the next club's creation applies
    it to the template first, so the new club is never a copy of an older schema."""
    template = template_schema_name()
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{template}".django_migrations '  # noqa: S608
            "WHERE app = 'sessions' AND name = '0001_initial'"
        )
        cursor.execute(f'DROP TABLE "{template}".django_session')
    assert not template_is_current()
    schema_create_from_template(schema_name=COPIED)
    assert template_is_current()
    tables = _rows(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename = 'django_session'",
        [COPIED],
    )
    assert tables == [("django_session",)]


def test_the_template_is_no_club(clubs):
    """A club cannot be named so that its schema would be the template's."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        tenant_create(slug="template", name="Template Golf Club")


@override_settings(TENANT_TEMPLATE_SCHEMA="club_template")
def test_refresh_command_says_the_template_is_current(django_db_setup, django_db_blocker, capsys):
    with django_db_blocker.unblock():
        call_command("refresh_club_template")
    assert "club_template" in capsys.readouterr().out


@pytest.mark.integration
def test_migrate_schemas_visits_only_the_clubs_behind(two_schemas, capsys):
    from crm.tenants.migrating import schemas_behind

    schema_create_from_template(schema_name=COPIED)
    clubs = list(Tenant.objects.values_list("schema_name", flat=True))
    assert schemas_behind([*clubs, COPIED]) == []
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{COPIED}".django_migrations '  # noqa: S608
            "WHERE app = 'sessions' AND name = '0001_initial'"
        )
    assert schemas_behind([*clubs, COPIED]) == [COPIED]

    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=1)
    assert f"0 of {len(clubs)} clubs have migrations to apply" in capsys.readouterr().out
