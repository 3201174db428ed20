"""The one-hop SQLite dialect behaves like SQLAlchemy's aiosqlite dialect (integration, SQLite)."""

from __future__ import annotations

from sqlalchemy import text

from mentora.db.engine import async_url, make_engine


def test_sqlite_urls_use_the_one_hop_dialect() -> None:
    """Plain sqlite:// URLs map to the one-hop driver; PostgreSQL keeps psycopg."""
    assert async_url("sqlite:///var/x.db").startswith("sqlite+mentora_aiosqlite:///")
    assert async_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


async def test_rows_rowcount_lastrowid_and_errors(tmp_path: object) -> None:
    """Selects return rows, writes report rowcount and lastrowid, errors stay DBAPI errors."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(f"sqlite:///{tmp_path}/onehop.db")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
        inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert inserted.lastrowid == 1 and inserted.rowcount == 1
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
        returned = (
            await conn.execute(text("INSERT INTO t (v) VALUES ('d') RETURNING id"))
        ).scalar()
        assert returned == 4
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
    await engine.dispose()


async def test_statements_run_inline_only_while_holding_the_write_lock(tmp_path: object) -> None:
    """After BEGIN IMMEDIATE statements run on the event loop; reads, BEGIN and COMMIT do not."""
    import threading

    import pytest
    from sqlalchemy.exc import IntegrityError

    from mentora.db.engine import IMMEDIATE

    engine = make_engine(f"sqlite:///{tmp_path}/inline.db")
    loop_thread = threading.get_ident()
    seen: list[tuple[str, bool]] = []

    def trace(sql: str) -> None:
        verb = " ".join(sql.split()[:2]) if sql.startswith("BEGIN") else sql.split()[0]
        seen.append((verb, threading.get_ident() == loop_thread))

    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        raw._conn.set_trace_callback(trace)
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
        await conn.commit()
        seen.clear()
        await conn.execute(text("SELECT 1"))  # a read transaction: the driver thread
        await conn.rollback()
        await conn.execution_options(**{IMMEDIATE: True})
        await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        await conn.execute(text("UPDATE t SET v = 'b'"))
        await conn.commit()
        await conn.execution_options(**{IMMEDIATE: False})
        await conn.execute(text("SELECT v FROM t"))  # after COMMIT: back on the thread
        await conn.rollback()
        assert [(verb, inline) for verb, inline in seen if verb != "ROLLBACK"] == [
            ("BEGIN", False),
            ("SELECT", False),
            ("BEGIN IMMEDIATE", False),
            ("INSERT", True),
            ("UPDATE", True),
            ("COMMIT", False),
            ("BEGIN", False),
            ("SELECT", False),
        ]
        await conn.execution_options(**{IMMEDIATE: True})
        with pytest.raises(IntegrityError):  # an inline failure is the usual DBAPI error
            await conn.execute(text("INSERT INTO t (v) VALUES ('b')"))
        await conn.rollback()
        await conn.execution_options(**{IMMEDIATE: False})
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        assert seen[-2:] == [("BEGIN", False), ("SELECT", False)]
    await engine.dispose()
