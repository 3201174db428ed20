"""The SQLite driver (`db.sqlite_driver`) through the app's engine: a statement costs one
awaited trip to the connection's thread, and what SQLAlchemy reads back is what it was:
rows (all at once, streamed in parts, or one by one), counts, ids, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mentora.db.engine import make_engine
from mentora.db.sqlite_driver import OneTripConnection


class _CountingQueue:
    """The connection's queue to its thread, counting the calls someone waits for."""

    def __init__(self, queue: Any) -> None:
        """Forward to `queue` (the thread reads that one)."""
        self.queue = queue
        self.awaited = 0

    def put_nowait(self, item: tuple[Any, Any]) -> None:
        """Queue `item`; count it when a future waits for its result."""
        if item[0] is not None:
            self.awaited += 1
        self.queue.put_nowait(item)


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """The app's engine on a fresh SQLite database, with a small table."""
    made = make_engine(sqlite_url)
    async with made.begin() as conn:
        await conn.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield made
    await made.dispose()


async def _driver(conn: AsyncConnection) -> OneTripConnection:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, OneTripConnection)
    return driver


async def test_a_statement_costs_one_awaited_trip(engine: AsyncEngine) -> None:
    """A query with rows, an insert and an executemany each wait for one call on the thread
    (the cursor's close is queued, not awaited)."""
    async with engine.begin() as conn:
        driver = await _driver(conn)
        counting = _CountingQueue(driver._tx)
        driver._tx = counting  # type: ignore[assignment]
        try:
            await conn.execute(text("INSERT INTO things (name) VALUES ('a')"))
            assert counting.awaited == 1
            await conn.execute(
                text("INSERT INTO things (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}]
            )
            assert counting.awaited == 2
            rows = (await conn.execute(text("SELECT name FROM things ORDER BY id"))).all()
            assert counting.awaited == 3
        finally:
            driver._tx = counting.queue
    assert [name for (name,) in rows] == ["a", "b", "c"]


async def test_rows_counts_and_ids_read_back(engine: AsyncEngine) -> None:
    """Inserted ids, RETURNING rows, updated counts, and rows streamed in parts or read one
    at a time are what SQLite says."""
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO things (name) VALUES ('first')"))
        assert inserted.lastrowid == 1
        returned = await conn.execute(
            text("INSERT INTO things (name) VALUES ('second'), ('third') RETURNING id, name")
        )
        assert sorted(returned.tuples().all()) == [(2, "second"), (3, "third")]
        updated = await conn.execute(text("UPDATE things SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        nothing = await conn.execute(text("SELECT id FROM things WHERE id > 99"))
        assert nothing.all() == []
    async with engine.connect() as conn:
        streamed = await conn.stream(text("SELECT id FROM things ORDER BY id"))
        parts = [[row[0] for row in part] async for part in streamed.partitions(2)]
        assert parts == [[1, 2], [3]]
        result = await conn.execute(text("SELECT name FROM things ORDER BY id"))
        assert result.fetchone() == ("first",)
        assert result.fetchmany(1) == [("second!",)]
        assert result.fetchall() == [("third!",)]


async def test_an_error_is_the_driver_error_and_the_connection_goes_on(
    engine: AsyncEngine,
) -> None:
    """A failing statement raises SQLAlchemy's wrapper of sqlite3's error, rolls back with
    its transaction, and the next statement works."""
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO things (name) VALUES ('same')"))
            await conn.execute(text("INSERT INTO things (name) VALUES ('same')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM things"))).scalar_one() == 0
