"""SQLite's one-trip adapter (mentora.db.onetrip) answers as SQLAlchemy's own did.

On a real SQLite file through `make_engine`: rows, rowcount and lastrowid after the cursor is
closed on aiosqlite's thread, executemany, driver errors, one trip per statement, and the
pool's reset (a connection given back inside a transaction is rolled back; after a commit
there is nothing to do).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mentora.db.engine import make_engine, make_sessionmaker
from mentora.db.onetrip import (
    CHECKPOINT_EVERY,
    SMALL_COMMIT_ROWS,
    WRITE_BEGIN,
    OneTripConnection,
)
from mentora.db.uow import transaction


def count_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of each function sent to aiosqlite's thread, in order."""
    trips: list[str] = []
    run_on_thread = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", "?"))
        return await run_on_thread(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite file with one table, `item(id, name unique)`."""
    engine = make_engine(f"sqlite:///{tmp_path}/onetrip.db")
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"
        )
    yield engine
    await engine.dispose()


async def test_rows_rowcount_and_lastrowid_outlive_the_cursor(engine: AsyncEngine) -> None:
    """INSERT's lastrowid, RETURNING rows, UPDATE's and executemany's rowcounts, a SELECT's
    rows and columns: what SQLAlchemy reads after the statement, as the driver gave it."""
    async with engine.begin() as conn:
        first = await conn.execute(text("INSERT INTO item (name) VALUES ('a')"))
        assert first.lastrowid == 1
        returned = await conn.execute(text("INSERT INTO item (name) VALUES ('b') RETURNING id"))
        assert returned.all() == [(2,)]
        many = await conn.execute(
            text("INSERT INTO item (name) VALUES (:name)"), [{"name": "c"}, {"name": "d"}]
        )
        assert many.rowcount == 2
        updated = await conn.execute(text("UPDATE item SET name = name || '!' WHERE id > 2"))
        assert updated.rowcount == 2
        deleted = await conn.execute(text("DELETE FROM item WHERE id = 1 RETURNING name"))
        assert deleted.all() == [("a",)]
        rows = await conn.execute(text("SELECT id, name FROM item ORDER BY id"))
        assert list(rows.keys()) == ["id", "name"]
        assert rows.all() == [(2, "b"), (3, "c!"), (4, "d!")]
        nothing = await conn.execute(text("SELECT id FROM item WHERE id = 99"))
        assert nothing.first() is None


async def test_a_driver_error_is_sqlalchemys_and_the_connection_goes_on(
    engine: AsyncEngine,
) -> None:
    """A unique violation surfaces as SQLAlchemy's IntegrityError; the session's transaction
    rolls back and the next one works."""
    sessionmaker = make_sessionmaker(engine)
    async with transaction(sessionmaker, write=True) as db:
        await db.execute(text("INSERT INTO item (name) VALUES ('x')"))
    with pytest.raises(IntegrityError):
        async with transaction(sessionmaker, write=True) as db:
            await db.execute(text("INSERT INTO item (name) VALUES ('y')"))
            await db.execute(text("INSERT INTO item (name) VALUES ('x')"))
    async with transaction(sessionmaker, write=True) as db:
        names = (await db.execute(text("SELECT name FROM item ORDER BY name"))).scalars().all()
    assert names == ["x"]


async def test_a_statement_is_one_trip_and_a_committed_checkin_none(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small write transaction whose lock is free takes no trip to aiosqlite's thread,
    however many statements it runs (BEGIN IMMEDIATE, the statements and COMMIT run on the
    loop's thread), and another connection sees what it committed; a larger one takes one
    trip, its COMMIT; a read transaction's statements take a trip each; giving the connection
    back adds none."""
    sessionmaker = make_sessionmaker(engine)
    async with transaction(sessionmaker) as db:  # the pool's connection, opened beforehand
        await db.execute(text("SELECT 1"))
    trips = count_trips(monkeypatch)
    async with transaction(sessionmaker, write=True) as db:
        await db.execute(text("INSERT INTO item (name) VALUES ('t')"))
        await db.execute(text("INSERT INTO item (name) VALUES ('u')"))
        assert (await db.execute(text("SELECT count(*) FROM item"))).scalar_one() == 2
    assert trips == []
    other = sqlite3.connect(engine.url.database or "")
    try:
        assert other.execute("SELECT count(*) FROM item").fetchone() == (2,)
    finally:
        other.close()
    # A larger write (a webhook batch's) commits on the thread: the loop goes on meanwhile.
    async with transaction(sessionmaker, write=True) as db:
        rows = [{"n": f"big{n}"} for n in range(SMALL_COMMIT_ROWS + 1)]
        await db.execute(text("INSERT INTO item (name) VALUES (:n)"), rows)
    assert trips == ["commit"]
    trips.clear()
    async with transaction(sessionmaker) as db:
        count = (await db.execute(text("SELECT count(*) FROM item"))).scalar_one()
        assert count == 2 + SMALL_COMMIT_ROWS + 1
        await db.execute(text("SELECT 1"))
    assert trips == ["run_on_thread"] * 3 + ["commit"]  # BEGIN, two SELECTs, COMMIT


async def test_every_nth_write_commit_checkpoints_on_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own checkpoint is off on these connections, so commits only append to the WAL;
    every CHECKPOINT_EVERY-th write commit of a connection takes the trip, and a passive
    checkpoint after it copies the WAL into the database file."""
    sessionmaker = make_sessionmaker(engine)
    async with transaction(sessionmaker) as db:  # open the pool's connection beforehand
        assert (await db.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
    trips = count_trips(monkeypatch)
    database = Path(engine.url.database or "")
    page = 4096  # SQLite's default page size: each row below fills about one
    for n in range(CHECKPOINT_EVERY):
        if n == CHECKPOINT_EVERY - 1:
            assert trips == []
            before = database.stat().st_size
        async with transaction(sessionmaker, write=True) as db:
            row = {"n": f"{n:03}" + "x" * (page - 200)}
            await db.execute(text("INSERT INTO item (name) VALUES (:n)"), row)
    assert trips == ["commit", "_checkpoint"]
    assert database.stat().st_size - before >= (CHECKPOINT_EVERY - 10) * page


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back(
    engine: AsyncEngine,
) -> None:
    """A transaction begun behind SQLAlchemy's back (so no Connection-level rollback) is
    rolled back when the connection returns to the pool: its row is gone and SQLite's write
    lock is free for the next writer."""
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert isinstance(raw, aiosqlite.Connection)
        await raw.execute("BEGIN IMMEDIATE")
        await raw.execute("INSERT INTO item (name) VALUES ('left open')")
        assert raw.in_transaction
    async with transaction(make_sessionmaker(engine), write=True) as db:
        await db.execute(text("INSERT INTO item (name) VALUES ('next')"))
        names = (await db.execute(text("SELECT name FROM item"))).scalars().all()
    assert names == ["next"]


async def test_a_writer_waiting_for_the_lock_waits_off_the_loop(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """While one transaction holds SQLite's write lock, a writer of another engine (as of
    another process: this process's own writers queue before BEGIN) finds it taken and waits
    in its BEGIN IMMEDIATE on aiosqlite's thread, not on the event loop, with its full busy
    timeout: the first one can still finish (on the loop) and let go, and then the second
    one writes. Were the wait on the loop, the first could never commit; were the timeout
    left at zero by the attempt without waiting, the second would fail at once."""
    sessionmaker = make_sessionmaker(engine)
    other = make_engine(f"sqlite:///{tmp_path}/onetrip.db")
    first_holds = asyncio.Event()
    second_begins: list[OneTripConnection] = []

    @event.listens_for(other.sync_engine, "before_cursor_execute")
    def _begin_seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement == WRITE_BEGIN:
            second_begins.append(_cursor._adapt_connection)

    async def second_waits_on_its_thread() -> None:
        # The condition, not a pause: the second writer's BEGIN was handed to its thread
        # (it found the lock taken) and has not come back.
        async with asyncio.timeout(10):
            while not (second_begins and second_begins[0].on_thread):
                await asyncio.sleep(0.001)

    async def first() -> None:
        async with transaction(sessionmaker, write=True) as db:
            await db.execute(text("INSERT INTO item (name) VALUES ('first')"))
            first_holds.set()
            await second_waits_on_its_thread()
            await db.execute(text("INSERT INTO item (name) VALUES ('first again')"))

    async def second() -> None:
        await first_holds.wait()
        async with transaction(make_sessionmaker(other), write=True) as db:
            await db.execute(text("INSERT INTO item (name) VALUES ('second')"))

    try:
        await asyncio.gather(first(), second())
    finally:
        await other.dispose()
    async with transaction(sessionmaker) as db:
        names = (await db.execute(text("SELECT name FROM item ORDER BY id"))).scalars().all()
    assert names == ["first", "first again", "second"]


async def test_after_a_failed_write_the_next_transaction_starts_clean(
    engine: AsyncEngine,
) -> None:
    """A statement that fails inside a write transaction (run on the loop's thread) rolls the
    transaction back; the connection then neither holds the lock nor runs statements off
    its thread: a second connection can take the lock at once."""
    sessionmaker = make_sessionmaker(engine)
    with pytest.raises(IntegrityError):
        async with transaction(sessionmaker, write=True) as db:
            await db.execute(text("INSERT INTO item (name) VALUES ('dup')"))
            await db.execute(text("INSERT INTO item (name) VALUES ('dup')"))
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert isinstance(raw, aiosqlite.Connection)
        await raw.execute("BEGIN IMMEDIATE")  # free at once: the failed writer let go
        await raw.execute("ROLLBACK")
    async with transaction(sessionmaker) as db:
        assert (await db.execute(text("SELECT count(*) FROM item"))).scalar_one() == 0
