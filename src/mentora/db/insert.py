"""`insert_ignore` and `upsert`: INSERT … ON CONFLICT on SQLite and PostgreSQL alike.

Claims made through a unique constraint never race (W11, BRANDUR): of N concurrent inserters
exactly one gets a row back from RETURNING, and the others see nothing and no error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert


def insert_ignore(
    session: AsyncSession, model: Any, values: dict[str, Any] | None, *, conflict_on: list[str]
) -> Insert:
    """An INSERT of `values` into `model` that does nothing when `conflict_on` already exists.

    With `values=None` the rows are passed at execution (`session.scalars(stmt, rows)`), which
    the ORM sends as one multi-row statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        upsert: postgresql.Insert = postgresql.insert(model)
        if values is not None:
            upsert = upsert.values(**values)
        return upsert.on_conflict_do_nothing(index_elements=conflict_on)
    statement: sqlite.Insert = sqlite.insert(model)
    if values is not None:
        statement = statement.values(**values)
    return statement.on_conflict_do_nothing(index_elements=conflict_on)


@cache
def insert_ignore_rows(
    dialect: str, table: Table, conflict_on: tuple[str, ...], returning: tuple[str, ...] = ()
) -> Insert:
    """`insert_ignore` for rows passed at execution (`db.execute(stmt, rows)`: one multi-row
    statement), returning the `returning` columns; Core, not ORM. Built once per dialect and
    table, then reused: building a statement and its cache key cost more than running it."""
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table)
    else:
        statement = sqlite.insert(table)
    ignoring = statement.on_conflict_do_nothing(index_elements=list(conflict_on))
    if returning:
        return ignoring.returning(*(table.c[name] for name in returning))
    return ignoring


def upsert(
    dialect: str,
    table: Table,
    *,
    conflict_on: list[str],
    set_: Callable[[Any], dict[str, Any]],
) -> Insert:
    """An INSERT into `table` that updates the existing row on `conflict_on` instead: `set_`
    gets the proposed row (`excluded`) and returns the columns to update. The values come at
    execution, so a caller builds the statement once (building it costs more than running it).

    One statement where a read, then an insert or an update, took two or three; as race-free
    as `insert_ignore` (the second of two concurrent writers waits, then updates).
    """
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(index_elements=conflict_on, set_=set_(pg.excluded))
    lite = sqlite.insert(table)
    return lite.on_conflict_do_update(index_elements=conflict_on, set_=set_(lite.excluded))
