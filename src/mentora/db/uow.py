"""Units of work: one transaction per route or worker step, committed at the edge."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from mentora.db.engine import IMMEDIATE

# SQLite admits one writer at a time. Queuing writers of this process on an asyncio lock keeps
# them off SQLite's busy handler, which polls with sleeps of up to 100 ms and makes the tail
# latency explode under load; other processes still wait on busy_timeout.
_sqlite_write_locks: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


# What runs a Core statement inside the caller's transaction: an ORM session or a bare
# connection (`connection_transaction`). Code that writes only Core statements takes either.
Db: TypeAlias = AsyncSession | AsyncConnection


def dialect_name(db: Db) -> str:
    """The database's dialect ("sqlite", "postgresql") behind `db`."""
    return db.dialect.name if isinstance(db, AsyncConnection) else db.get_bind().dialect.name


def _write_lock(bind: AsyncEngine | None) -> asyncio.Lock | None:
    if bind is None or bind.dialect.name != "sqlite":
        return None
    key = bind.sync_engine
    lock = _sqlite_write_locks.get(key)
    if lock is None:
        lock = asyncio.Lock()
        _sqlite_write_locks[key] = lock
    return lock


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession], *, write: bool = False
) -> AsyncIterator[AsyncSession]:
    """Open a session, commit when the block succeeds, roll back when it raises.

    `write=True` takes SQLite's write lock at BEGIN (after this process's writer queue);
    PostgreSQL ignores the hint.
    """
    async with AsyncExitStack() as stack:
        lock = _write_lock(sessionmaker.kw.get("bind")) if write else None
        if lock is not None:
            await stack.enter_async_context(lock)
        session = await stack.enter_async_context(sessionmaker())
        if write:
            await session.connection(execution_options={IMMEDIATE: True})
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


@asynccontextmanager
async def connection_transaction(
    engine: AsyncEngine, *, write: bool = False
) -> AsyncIterator[AsyncConnection]:
    """`transaction` without the ORM: a Core connection in one transaction, committed when
    the block succeeds, rolled back when it raises; `write` as for `transaction`.

    For units that run only Core statements on a hot path: the ORM session's own bookkeeping
    (its transaction state machine, identity map, close) cost about a third as much CPU
    again as the statements of a sign-in's transactions.
    """
    async with AsyncExitStack() as stack:
        lock = _write_lock(engine) if write else None
        if lock is not None:
            await stack.enter_async_context(lock)
        conn = await stack.enter_async_context(engine.connect())
        if write:
            conn = await conn.execution_options(**{IMMEDIATE: True})
        await stack.enter_async_context(conn.begin())
        yield conn
