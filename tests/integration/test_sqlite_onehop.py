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
