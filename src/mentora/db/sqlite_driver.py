"""aiosqlite connections that cost one trip to the connection's thread per statement.

aiosqlite runs every sqlite3 call on its connection's thread, and SQLAlchemy's adaptation
makes four such calls per statement: make a cursor, execute, fetch the rows, close. Each trip
is a queue hand-off to the thread and a wake-up of the event loop (about 30 µs of CPU), which
made a trip cost several times the statement itself. Here the cursor is made on the thread
by the first execute, which also fetches the rows there (fetches then read them from memory),
and closing is queued without waiting for it (the thread runs the queue in order, so it
closes before the connection's next statement). Everything else is aiosqlite's, whose private
parts used here (`_execute`, `_tx`, `_conn`) are those of the pinned version 0.22.1.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import aiosqlite
from aiosqlite.context import contextmanager


class OneTripCursor(aiosqlite.Cursor):
    """A cursor whose execute runs and fetches in one trip; its sqlite3 cursor is made then."""

    def __init__(self, conn: OneTripConnection) -> None:
        """A cursor of `conn`, with no sqlite3 cursor yet."""
        self.iter_chunk_size = conn._iter_chunk_size
        self._conn = conn
        self._raw: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self._arraysize = 1  # sqlite3's default; only fetchmany reads it
        self._closing = False

    @property
    def arraysize(self) -> int:
        """How many rows fetchmany returns by default."""
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def _cursor(self) -> sqlite3.Cursor:  # type: ignore[override]
        """The sqlite3 cursor (description, rowcount and lastrowid are read from it)."""
        if self._raw is None:
            raise sqlite3.ProgrammingError("no statement executed on this cursor yet")
        return self._raw

    def _made(self) -> sqlite3.Cursor:
        """The sqlite3 cursor, made on the connection's thread when first needed."""
        if self._raw is None:
            self._raw = self._conn._conn.cursor()
        return self._raw

    def _run(self, sql: str, parameters: Any) -> deque[Any]:
        cursor = self._made()
        cursor.execute(sql, parameters)
        return deque(cursor.fetchall()) if cursor.description else deque()

    def _run_many(self, sql: str, parameters: Any) -> deque[Any]:
        self._made().executemany(sql, parameters)
        return deque()

    async def _trip(self, run: Callable[[str, Any], deque[Any]], sql: str, parameters: Any) -> None:
        """Run `run` on the connection's thread; keep the rows it fetched."""
        rows = await self._conn._execute(run, sql, parameters)  # type: ignore[no-untyped-call]
        self._rows = cast(deque[Any], rows)

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        """Execute the statement and fetch its rows, in one trip."""
        await self._trip(self._run, sql, [] if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneTripCursor:
        """Execute the statement once per parameter set, in one trip."""
        await self._trip(self._run_many, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        """The next fetched row, or None."""
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to `size` fetched rows (`arraysize` by default)."""
        count = min(len(self._rows), self._arraysize if size is None else size)
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        """The fetched rows not read yet."""
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        """Queue the sqlite3 cursor's close on the connection's thread without waiting."""
        self._rows.clear()
        if self._raw is not None and not self._closing:
            # The sqlite3 cursor stays: its lastrowid and rowcount are read after the close.
            self._closing = True
            self._conn._tx.put_nowait((None, self._raw.close))


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are `OneTripCursor`s."""

    @contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        """A cursor, made without a trip (its sqlite3 cursor comes with its first execute)."""
        return OneTripCursor(self)


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> OneTripConnection:
    """`aiosqlite.connect` with `OneTripConnection` (SQLAlchemy's `async_creator_fn`)."""

    def connector() -> sqlite3.Connection:
        return cast(sqlite3.Connection, sqlite3.connect(database, **kwargs))

    connection = OneTripConnection(connector, iter_chunk_size)
    # As SQLAlchemy does for aiosqlite's own: the thread must not keep the process alive.
    connection._thread.daemon = True
    return connection
