"""SQLite through aiosqlite with one thread hop per statement instead of four.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it as four trips
to aiosqlite's thread, each waiting on the event loop. SQLite admits one writer at a time, so
those waits sit inside the write lock and cap every write path (webhooks, sign-ins). This
dialect runs the whole statement — execute, description, rows, rowcount, lastrowid, close —
in one call on the connection's own thread. Everything else is SQLAlchemy's aiosqlite dialect.
Registered as `sqlite+mentora_aiosqlite`; `db.engine.async_url` selects it.

Measured against SQLAlchemy's own dialect in one run (bench.ab, docs/benchmarks.md,
2026-12-03): webhook deliveries that create memberships ran 1.8 times faster relative to a
trivial POST (median of nine A/B pairs, faster in all nine); the gated
endpoint showed no consistent difference.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# The exact releases this module was written and measured against: it extends SQLAlchemy's
# private aiosqlite adapter classes and reaches into aiosqlite's connection (`_conn`,
# `_execute`, `_thread`). tests/unit/test_sqlite_onehop.py fails on any other release.
BUILT_FOR = {"sqlalchemy": "2.1.9", "aiosqlite": "0.22.1"}

_Result = tuple[Any, list[Any], int, int | None]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Result:
    """On aiosqlite's thread: the whole statement, then the cursor is closed."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose every statement is a single trip to the driver thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        """No driver cursor is opened here: `_run` opens and closes its own."""
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        """The last statement's description."""
        return self._description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        """The last inserted rowid."""
        return self._lastrowid

    async def _call(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            raw = self._connection._conn
            description, rows, rowcount, lastrowid = await self._connection._execute(
                _run, raw, operation, parameters, many
            )
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._call(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._call(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        """Drop buffered rows (the driver cursor is already closed)."""
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite connection adapter that hands out one-hop cursors."""

    __slots__ = ()
    _cursor_cls = OneHopCursor

    def cursor(self, server_side: bool = False) -> Any:
        """Buffered one-hop cursors; server-side cursors keep SQLAlchemy's implementation."""
        if server_side:
            return self._ss_cursor_cls(self)
        return OneHopCursor(self)


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI shim, wrapping connections in `OneHopConnection`."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        """Open an aiosqlite connection (its thread a daemon) wrapped for one-hop cursors."""
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        if not creator_fn:
            connection._thread.daemon = True
        return OneHopConnection(self, await_(connection))


class Dialect(SQLiteDialect_aiosqlite):
    """`sqlite+mentora_aiosqlite`: SQLAlchemy's aiosqlite dialect with one-hop cursors."""

    driver = "mentora_aiosqlite"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        """The one-hop DBAPI shim over aiosqlite and sqlite3."""
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register("sqlite.mentora_aiosqlite", "mentora.db.sqlite_onehop", "Dialect")
