"""Many-row writes of the sweep's tables as one statement run over every row (the DB-API's ``executemany``).

A sweep writes tens of thousands of rows; ``bulk_create`` builds a multi-row statement per batch and costs
several times more than the rows' own writing. Values still go through each field's ``get_db_prep_save`` (JSON
and datetime columns are stored as the ORM would store them on every backend); a column whose field is proven
to store plain integers and None as they are passes those through without the call, which at a sweep's size
would otherwise cost as much as the insert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.constants import OnConflict

CHUNK = 5000  # rows per executemany call: bounds the converted copies held at once

Convert = Callable[[Any], Any]


def _converter(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> Convert:
    prep = field.get_db_prep_save

    def convert(value: Any) -> Any:
        return prep(value, connection)

    try:
        probes = [prep(value, connection) for value in (0, -1, 2**62)]
        plain = prep(None, connection) is None and all(
            type(out) is int and out == value for out, value in zip(probes, (0, -1, 2**62), strict=True)
        )
    except Exception:  # noqa: BLE001 - a field that does not take integers converts every value
        plain = False
    if not plain:
        return convert

    def fast(value: Any) -> Any:
        return value if value is None or type(value) is int else prep(value, connection)

    return fast


def _column(field: Field[Any, Any]) -> str:
    assert field.column is not None, field
    return field.column


def _prepared(
    model: type[Model], fields: Sequence[str], connection: BaseDatabaseWrapper
) -> tuple[list[Field[Any, Any]], list[Convert]]:
    found = [model._meta.get_field(name) for name in fields]
    concrete = [f for f in found if isinstance(f, Field)]
    assert len(concrete) == len(found), fields
    return concrete, [_converter(f, connection) for f in concrete]


def _run(connection: BaseDatabaseWrapper, sql: str, converts: list[Convert], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    source = iter(rows)
    with connection.cursor() as cursor:
        while chunk := list(islice(source, CHUNK)):
            cursor.executemany(sql, [tuple(c(v) for c, v in zip(converts, row, strict=True)) for row in chunk])
            count += len(chunk)
    return count


def insert(
    model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]], *, ignore_conflicts: bool = False
) -> int:
    """Insert ``rows`` (values in the order of ``fields``, names or attnames); the number of rows given."""
    connection = connections[router.db_for_write(model)]
    concrete, converts = _prepared(model, fields, connection)
    qn = connection.ops.quote_name
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    sql = (
        f"{connection.ops.insert_statement(on_conflict=on_conflict)} {qn(model._meta.db_table)} "
        f"({', '.join(qn(_column(f)) for f in concrete)}) VALUES ({', '.join(['%s'] * len(concrete))})"
    )
    suffix = connection.ops.on_conflict_suffix_sql(concrete, on_conflict, [], [])
    return _run(connection, f"{sql} {suffix}".rstrip(), converts, rows)


def update(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Set ``fields`` of each row; a row is its values in the order of ``fields``, then its primary key."""
    connection = connections[router.db_for_write(model)]
    pk = model._meta.pk
    assert pk is not None
    concrete, converts = _prepared(model, [*fields, pk.name], connection)
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(_column(f))} = %s" for f in concrete[:-1])
    # Only quoted names of the model's own table and columns are formatted in; values are parameters.
    sql = f"UPDATE {qn(model._meta.db_table)} SET {sets} WHERE {qn(_column(pk))} = %s"  # noqa: S608
    return _run(connection, sql, converts, rows)


def delete(model: type[Model], pks: Iterable[Any]) -> int:
    """Delete the rows of these primary keys (no cascades, no signals: for tables nothing points at)."""
    connection = connections[router.db_for_write(model)]
    pk = model._meta.pk
    assert pk is not None
    _, converts = _prepared(model, [pk.name], connection)
    qn = connection.ops.quote_name
    sql = f"DELETE FROM {qn(model._meta.db_table)} WHERE {qn(_column(pk))} = %s"  # noqa: S608
    return _run(connection, sql, converts, ([key] for key in pks))
