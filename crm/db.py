"""Set-based writes Django's ORM does slowly.

Rows travel by COPY (psycopg 3 `cursor.copy`), which formats them in C: about 7 ms for 1,000
rows of five columns, where a multi-row INSERT or `UPDATE … FROM (VALUES …)` with one
placeholder per value spent tens of milliseconds quoting parameters on the client, and Django's
own bulk_update (a CASE WHEN per field and row) seconds.

- `copy_rows`: insert rows into a table.
- `temp_rows`: load rows into a temporary table of the current transaction, to join against.
- `update_rows`: update rows by key from such a temporary table, in one statement.
- `insert_default_rows`: N new rows holding the model's defaults (new customers, say).
- `array_literal`: a list as one PostgreSQL array literal, to pass as a single `%s::type[]`
  parameter: a join in Python instead of psycopg quoting the list element by element (about
  10 ms per 1,000 UUIDs, 4 ms per 1,000 integers; the apply path passes tens of thousands of
  elements per batch).

All of them run in the caller's transaction, on Django's connection and therefore in the
current club's schema. Statements sent by COPY do not show in Django's query log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, cast
from uuid import UUID

from django.db import connection, models, transaction
from django.utils import timezone

Column = tuple[str, str]  # (name, SQL type)


class TenantConnection(Protocol):
    """What django-tenants' database backend adds to Django's connection. django-tenants
    ships no types, so Django's stubs know the connection only as a plain `BaseDatabaseWrapper`."""

    schema_name: str

    def set_schema_to_public(self) -> None: ...

    def set_tenant(self, tenant: Any, include_public: bool = True) -> None: ...


def tenant_connection() -> TenantConnection:
    """Django's connection (the same object), typed with the schema django-tenants gives it."""
    return cast(TenantConnection, connection)


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _quoted(value: Any) -> str:
    text = str(value)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


# How each type of value is written as an array element (by exact type: a lookup, not a chain
# of isinstance checks, for tens of thousands of elements a batch); any other type is quoted.
_ELEMENT: dict[type, Any] = {
    int: int.__str__,
    UUID: lambda value: value.hex,
    type(None): lambda _value: "NULL",
    bool: lambda value: "t" if value else "f",
}


def _element(value: Any) -> str:
    text: str = _ELEMENT.get(type(value), _quoted)(value)
    return text


def array_literal(values: Iterable[Any]) -> str:
    """`values` (UUIDs, integers, booleans, strings or None; anything else as its str()) as the
    text of a PostgreSQL array, e.g. `{1,2,NULL}`: pass it as one parameter and cast it in SQL
    (`%s::bigint[]`). Strings are double-quoted with backslash escapes, so any text survives."""
    return "{" + ",".join(map(_element, values)) + "}"


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY `rows` (tuples in `columns` order; JSON columns as JSON text) into `table`."""
    count = 0
    with connection.cursor() as cursor:
        names = ", ".join(_qn(name) for name in columns)
        with cursor.copy(f"COPY {_qn(table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def temp_rows(name: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> int:
    """(Re)create the temporary table `name` for this transaction and COPY `rows` into it.
    It is dropped at commit, or with the savepoint it was made in if that rolls back, so call
    this inside `transaction.atomic`."""
    definition = ", ".join(f"{_qn(column)} {sql_type}" for column, sql_type in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP TABLE IF EXISTS pg_temp.{_qn(name)}; "
            f"CREATE TEMPORARY TABLE {_qn(name)} ({definition}) ON COMMIT DROP"
        )
    return copy_rows(name, [column for column, _type in columns], rows)


def update_rows(
    table: str,
    *,
    key: Column,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    only_changed: bool = False,
    none_keeps: bool = False,
) -> int:
    """`UPDATE table SET column = new value` for each row `(key, *values)`, in one statement.
    `only_changed` leaves alone (writes no new row version for) rows already holding the
    values; `none_keeps` reads a None value as "keep this column as it is", so rows can update
    different columns. Returns the number of rows updated."""
    if not rows:
        return 0
    temp = f"_crm_update_{table}"[:63]
    if none_keeps:
        assignments = ", ".join(
            f"{_qn(column)} = coalesce(v.{_qn(column)}, t.{_qn(column)})"
            for column, _type in columns
        )
    else:
        assignments = ", ".join(f"{_qn(column)} = v.{_qn(column)}" for column, _type in columns)
    sql = (
        f"UPDATE {_qn(table)} AS t SET {assignments} FROM pg_temp.{_qn(temp)} AS v "  # noqa: S608 - identifiers only
        f"WHERE t.{_qn(key[0])} = v.{_qn(key[0])}"
    )
    if only_changed:
        old = ", ".join(f"t.{_qn(column)}" for column, _type in columns)
        new = ", ".join(f"v.{_qn(column)}" for column, _type in columns)
        sql += f" AND ({old}) IS DISTINCT FROM ({new})"
    with transaction.atomic(savepoint=False):  # the temporary table lives in a transaction
        temp_rows(temp, [key, *columns], rows)
        with connection.cursor() as cursor:
            cursor.execute(sql)
            updated: int = cursor.rowcount
            cursor.execute(f"DROP TABLE pg_temp.{_qn(temp)}")
    return updated


def _column(field: Any) -> Column:
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{field!r} is not a field with a column of its own")
    db_type = field.db_type(connection)
    if db_type is None:
        raise TypeError(f"{field!r} has no database type")
    return field.column, db_type


def columns_of(model: type[models.Model], names: Sequence[str]) -> list[Column]:
    """`(column, SQL type)` of these fields of `model`, for `temp_rows` and `update_rows`."""
    return [_column(model._meta.get_field(name)) for name in names]


def insert_default_rows(model: type[models.Model], count: int) -> list[Any]:
    """Insert `count` rows of `model` holding nothing but its field defaults (auto_now fields:
    now), each with a new primary key from the key's default. Returns the keys.

    One INSERT … SELECT over two arrays (the keys and the clock): each default value is sent
    once, not once per row, which made COPY of every column of every row most of the cost."""
    meta = model._meta
    if not meta.pk.has_default():
        raise ValueError(f"{model.__name__}'s primary key has no default to make keys from.")
    if count <= 0:
        return []
    template = model()
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    clocked = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    constant = [field for field in fields if field not in clocked]
    values = [
        field.get_db_prep_save(field.pre_save(template, add=True), connection) for field in constant
    ]
    keys = [meta.pk.get_default() for _ in range(count)]
    # auto_now(_add) fields read the clock per row, as Model.save() would: rows made later are
    # newer, which is what "the oldest customer" means to whoever reads them.
    clock = [timezone.now() for _ in range(count)]
    columns = ", ".join(_qn(f.column) for f in [meta.pk, *clocked, *constant])
    selected = ", ".join(
        ["k.key", *("k.at" for _f in clocked), *(f"%s::{f.db_type(connection)}" for f in constant)]
    )
    pk_type = meta.pk.db_type(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_qn(meta.db_table)} ({columns}) SELECT {selected} "  # noqa: S608 - identifiers only
            f"FROM unnest(%s::{pk_type}[], %s::timestamptz[]) AS k(key, at)",
            [*values, array_literal(meta.pk.get_db_prep_save(key, connection) for key in keys),
             array_literal(clock)],
        )  # fmt: skip
    return keys
