"""`connection_transaction` (db/uow.py), the ORM-less unit of work the sign-in writes through:
committed when its block succeeds, rolled back when it raises, and a writer on SQLite holds the
write lock from its BEGIN, as `transaction` does. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from mentora.accounts import upsert_user
from mentora.db.engine import make_engine
from mentora.db.models import User
from mentora.db.uow import connection_transaction
from tests.support.timeline import START


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The app's engine on a clean, migrated database."""
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


async def users(engine: AsyncEngine) -> list[str]:
    """Every stored user's Whop id, read in a transaction of its own."""
    async with engine.connect() as conn:
        return list((await conn.execute(select(User.whop_user_id).order_by(User.id))).scalars())


async def test_a_block_that_succeeds_is_committed(engine: AsyncEngine) -> None:
    """What the block wrote is there for the next reader."""
    async with connection_transaction(engine, write=True) as db:
        user_id = await upsert_user(db, subject="user_a", userinfo={}, now=START)
    assert user_id > 0
    assert await users(engine) == ["user_a"]


async def test_a_block_that_raises_is_rolled_back(engine: AsyncEngine) -> None:
    """A failure inside the block undoes its writes and reaches the caller unchanged."""

    class Boom(Exception):
        """The block's failure."""

    with pytest.raises(Boom):
        async with connection_transaction(engine, write=True) as db:
            await upsert_user(db, subject="user_b", userinfo={}, now=START)
            raise Boom
    assert await users(engine) == []


async def test_concurrent_writers_of_one_process_all_commit(engine: AsyncEngine) -> None:
    """Twenty writers at once (SQLite queues them on the process's writer lock) each commit."""

    async def one(n: int) -> None:
        async with connection_transaction(engine, write=True) as db:
            await upsert_user(db, subject=f"user_{n:02}", userinfo={}, now=START)
            await asyncio.sleep(0)  # let the others try to write meanwhile

    await asyncio.gather(*(one(n) for n in range(20)))
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(User))).scalar_one() == 20


async def test_a_sqlite_writer_holds_the_write_lock_from_its_begin(sqlite_url: str) -> None:
    """On SQLite a writer takes the lock at BEGIN (IMMEDIATE), before its first statement, so it
    never fails upgrading a read snapshot; a reader takes none."""
    engine = make_engine(sqlite_url)
    other = sqlite3.connect(make_url(sqlite_url).database or "", timeout=0, isolation_level=None)
    try:
        async with connection_transaction(engine, write=True):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        async with connection_transaction(engine):
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        await engine.dispose()
