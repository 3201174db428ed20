"""The one-hop SQLite dialect behaves like SQLAlchemy's aiosqlite dialect (integration, SQLite).

It subclasses SQLAlchemy's private aiosqlite adapter and reaches into aiosqlite's connection,
so it is only known to work on the exact releases it was written and measured against.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from mentora.db.engine import async_url, make_engine
from mentora.db.sqlite_onehop import BUILT_FOR

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pinned(package: str) -> str | None:
    """The exact version pyproject.toml pins `package` to, if it pins it with `==`."""
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for requirement in dependencies:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", requirement)
        if match and match.group(1).lower() == package:
            return match.group(2)
    return None


@pytest.mark.parametrize("package", sorted(BUILT_FOR))
def test_the_dialect_runs_on_the_releases_it_was_written_for(package: str) -> None:
    """pyproject.toml pins, and the environment has, the release the dialect was built on."""
    expected = BUILT_FOR[package]
    advice = (
        f"db/sqlite_onehop.py extends private internals of {package} {expected}. Before "
        f"moving {package}, port the dialect to the new release's aiosqlite adapter and "
        "re-run the A/B in docs/benchmarks.md (bench.ab, MENTORA_BENCH_SQLITE_ONEHOP=1 "
        "against 0), then update BUILT_FOR and the pin; or delete the dialect if it no "
        "longer wins."
    )
    assert _pinned(package) == expected, f"pyproject.toml must pin {package}=={expected}. {advice}"
    installed = importlib.metadata.version(package)
    assert installed == expected, f"{package} {installed} is installed. {advice}"


def test_sqlite_urls_use_the_one_hop_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain sqlite:// URLs map to the one-hop driver (SQLAlchemy's own only for the A/B)."""
    assert async_url("sqlite:///var/x.db").startswith("sqlite+mentora_aiosqlite:///")
    assert async_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    monkeypatch.setenv("MENTORA_BENCH_SQLITE_ONEHOP", "0")
    assert async_url("sqlite:///var/x.db").startswith("sqlite+aiosqlite:///")


async def test_rows_rowcount_lastrowid_and_errors(tmp_path: Path) -> None:
    """Selects return rows, writes report rowcount and lastrowid, errors stay DBAPI errors."""
    engine = make_engine(f"sqlite:///{tmp_path}/onehop.db")
    assert engine.dialect.driver == "mentora_aiosqlite"
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
