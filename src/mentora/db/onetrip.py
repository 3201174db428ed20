"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs every call on a thread of its own and hands the result back to the event loop;
SQLAlchemy's adapter makes four such trips per statement (open a cursor, execute, fetch the
rows, close the cursor), and each trip is a queue hand-off, a loop wake-up and a GIL switch.
Under load those trips were the largest item of a sign-in's profile, ahead of the SQL itself.
This adapter runs the four steps as one function on aiosqlite's thread and keeps what
SQLAlchemy reads from a cursor afterwards (description, rowcount, lastrowid), so a statement
costs one trip. Server-side cursors keep SQLAlchemy's own adapter (Mentora uses none).

Inside a write transaction (after `BEGIN IMMEDIATE`, until its commit or rollback) a statement
takes no trip at all: it runs on the event loop's own thread. A trip costs about 0.1–0.2 ms of
CPU (two thread switches and a loop wake-up), a small statement of SQLite's a few microseconds,
and the thread is there so that waiting for a lock never blocks the loop: a connection that
holds the write lock waits for nothing (WAL: readers never block a writer), so there is
nothing to wait for. `BEGIN IMMEDIATE` runs here too when the lock is free at that instant,
and otherwise waits for it on the thread. A small writer's commit (a sign-in's) runs here as
well: it appends a few pages to the WAL, and with `synchronous=NORMAL` syncs nothing; a larger
one (a webhook batch's) still takes the trip, so the loop serves other requests while its pages
are written. What could take long after a commit is SQLite's automatic checkpoint (it writes
and syncs the database file), so that is turned off on these connections (db.engine) and every
CHECKPOINT_EVERY-th write commit of a connection takes the trip instead, with a passive
checkpoint after it. A sign-in's write transactions thus usually take no trip at all.

It builds on two non-public names of the pinned versions (pyproject): aiosqlite's
`Connection._execute` (run a function on the connection's thread) and `_conn`, and
SQLAlchemy's aiosqlite adapter classes; tests/integration/test_sqlite_onetrip.py pins what
it must keep.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


class RanCursor:
    """What SQLAlchemy reads from a cursor once its statement ran (the sqlite3 cursor itself
    is already closed, on aiosqlite's thread)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(
        self, description: Any = None, rowcount: int = -1, lastrowid: int | None = None
    ) -> None:
        """Keep the finished cursor's attributes."""
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def close(self) -> None:
        """Nothing left to close."""


WRITE_BEGIN = "BEGIN IMMEDIATE"  # sent by db.engine's "begin" hook for a writer, and only so
# A connection's write commits between two checkpoints: a sign-in's commit adds a few pages to
# the WAL, a webhook batch's a few dozen, so the WAL stays near SQLite's own default of 1,000.
CHECKPOINT_EVERY = 50
# The most rows a write may change and still commit on the loop's thread.
SMALL_COMMIT_ROWS = 16


def _checkpoint(connection: sqlite3.Connection) -> None:
    """On aiosqlite's thread: copy what the WAL holds into the database, as far as readers
    allow (PASSIVE: it waits for nobody), as SQLite's automatic checkpoint does."""
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[RanCursor, list[Any]]:
    """On aiosqlite's thread: execute, fetch every row, close; the cursor's attributes are read
    after the fetch (sqlite3 counts a RETURNING statement's rows as they are fetched)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return RanCursor(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


def _begin_if_free(connection: sqlite3.Connection) -> bool:
    """`BEGIN IMMEDIATE` on the loop's thread if the write lock is free this instant (no
    waiting: the busy timeout is zero for this one statement); False if another connection
    holds it, and the caller waits for it on aiosqlite's thread as before."""
    (timeout,) = connection.execute("PRAGMA busy_timeout").fetchone()
    connection.execute("PRAGMA busy_timeout = 0")
    try:
        connection.execute(WRITE_BEGIN)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        connection.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return True


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, each statement one trip to aiosqlite's thread."""

    __slots__ = ()
    # The sqlite3 cursor is closed where it ran: closing ours is synchronous and free.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        """No trip to open a cursor: the statement's trip opens its own."""
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = RanCursor()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        assert isinstance(connection, aiosqlite.Connection)
        adapted = self._adapt_connection
        assert isinstance(adapted, OneTripConnection)
        here = not adapted.on_thread  # nothing of this connection's is running on its thread
        if here and adapted.writing:
            # The write lock is held (see the module docstring): run here, without the trip.
            ran, rows = _run(connection._conn, operation, parameters, many)
        elif here and operation == WRITE_BEGIN and _begin_if_free(connection._conn):
            adapted.writing = True
            adapted.changes_at_begin = connection._conn.total_changes
            ran, rows = RanCursor(), []
        else:
            async with adapted._execute_mutex:
                adapted.on_thread = True
                try:
                    ran, rows = await connection._execute(
                        adapted.run_on_thread, connection._conn, operation, parameters, many
                    )
                except BaseException:
                    adapted.writing = False  # the transaction's state is unknown: trip again
                    raise
            if operation == WRITE_BEGIN:
                adapted.writing = True
                adapted.changes_at_begin = connection._conn.total_changes
        self._cursor = ran
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._trip(operation, seq_of_parameters, many=True)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection, its cursors `OneTripCursor`.

    `writing`: the connection holds SQLite's write lock (its `BEGIN IMMEDIATE` succeeded and
    no commit or rollback has been asked for since). `on_thread`: a statement of this
    connection's was handed to aiosqlite's thread and has not finished there; it is cleared
    on that thread, so a trip whose waiter was cancelled still counts until it is done.
    """

    __slots__ = ("changes_at_begin", "commits", "on_thread", "writing")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        """Adapt `connection`; not writing, nothing on its thread."""
        super().__init__(dbapi, connection)
        self.writing = False
        self.on_thread = False
        self.commits = 0  # write commits since this connection's last checkpoint
        self.changes_at_begin = 0  # SQLite's count of rows changed, when the writer began

    def run_on_thread(
        self, connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
    ) -> tuple[RanCursor, list[Any]]:
        """`_run` on aiosqlite's thread, clearing `on_thread` there when it is done."""
        try:
            return _run(connection, operation, parameters, many)
        finally:
            self.on_thread = False

    def commit(self) -> None:
        """Commit; the lock is let go. A small write (SMALL_COMMIT_ROWS rows or fewer, a
        sign-in's) appends a few pages to the WAL: it commits on the loop's thread (the lock is
        held: nothing to wait for, and with `synchronous=NORMAL` nothing to sync). A larger one
        (a webhook batch's) takes the trip, so the loop serves other requests while its pages
        are written. Every CHECKPOINT_EVERY-th write commit of the connection takes the trip
        too, followed there by a passive checkpoint: SQLite's own checkpoint after a commit is
        off on these connections (db.engine), because it would write and sync the database
        file on the loop's thread."""
        writing, self.writing = self.writing, False
        connection = self._connection
        assert isinstance(connection, aiosqlite.Connection)
        if writing:
            self.commits += 1
        small = connection._conn.total_changes - self.changes_at_begin <= SMALL_COMMIT_ROWS
        if writing and small and not self.on_thread and self.commits < CHECKPOINT_EVERY:
            try:
                connection._conn.commit()
            except Exception as error:
                self._handle_exception(error)
            return
        super().commit()
        if self.commits >= CHECKPOINT_EVERY:
            self.commits = 0
            await_(connection._execute(_checkpoint, connection._conn))

    def rollback(self) -> None:
        """Roll back on aiosqlite's thread; the lock is let go."""
        self.writing = False
        super().rollback()


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module for `create_async_engine(..., module=...)`: SQLAlchemy's aiosqlite
    adapter whose connections are `OneTripConnection`s."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        """Connect as SQLAlchemy does, then adapt the aiosqlite connection our way."""
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def onetrip_dbapi() -> OneTripDbapi:
    """The module to hand to the engine (as the dialect's own `import_dbapi` builds it)."""
    return OneTripDbapi(aiosqlite, sqlite3)
