"""Units of work: one transaction per route or worker step, committed at the edge."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mentora.db.engine import IMMEDIATE

# SQLite admits one writer at a time. Queuing writers of this process on an asyncio lock keeps
# them off SQLite's busy handler, which polls with sleeps of up to 100 ms and makes the tail
# latency explode under load; other processes still wait on busy_timeout.
_sqlite_write_locks: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


def _write_lock(sessionmaker: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    bind = sessionmaker.kw.get("bind")
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
        lock = _write_lock(sessionmaker) if write else None
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
