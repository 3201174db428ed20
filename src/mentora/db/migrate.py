"""Run Alembic migrations from code (`mentora db upgrade`, tests, `mentora dev`)."""

from __future__ import annotations

import errno
import math
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, pool, text
from sqlalchemy.engine import make_url

from mentora.db.engine import is_sqlite, sync_url

MIGRATIONS = Path(__file__).parent / "migrations"
# How long reading the revision waits for a database host that does not answer (libpq counts
# whole seconds, at least 2).
READ_TIMEOUT_SECONDS = 5.0


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and `database_url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (creating the SQLite file's folder if needed)."""
    if is_sqlite(database_url):
        from sqlalchemy.engine import make_url

        database = make_url(database_url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(database_url: str, *, timeout: float = READ_TIMEOUT_SECONDS) -> str | None:
    """The revision the database is at (None: never migrated; "a, b" if it has two heads), read
    without writing or creating anything, giving up after about `timeout` seconds (`mentora db
    current`, `doctor`).

    A SQLite file is opened read-only; one that does not exist raises FileNotFoundError (naming
    it) instead of being created. PostgreSQL is read in a read-only transaction, with
    `timeout` on connecting and on each statement. Raises SQLAlchemyError when the database
    cannot be reached or read, ConfigError or ValueError when the URL cannot be used."""
    engine = _read_only_engine(database_url, timeout)
    try:
        with engine.connect() as conn:
            if not is_sqlite(database_url):
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET statement_timeout = {math.ceil(timeout * 1000)}")
            # Alembic's own table (env.py keeps its default name), read without Alembic's
            # MigrationContext, which announces itself at INFO on every use. Two rows: a
            # database migrated along two branches.
            if not inspect(conn).has_table("alembic_version"):
                return None
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return ", ".join(sorted(rows)) or None
    finally:
        engine.dispose()


def _read_only_engine(database_url: str, timeout: float) -> Engine:
    url = sync_url(database_url)
    if not is_sqlite(database_url):
        # libpq counts whole seconds, at least 2; the URL's own connect_timeout is overridden
        # so that no setting makes the caller wait without bound.
        connect_timeout = max(2, math.ceil(timeout))
        return create_engine(
            url, poolclass=pool.NullPool, connect_args={"connect_timeout": connect_timeout}
        )
    database = make_url(database_url).database or ":memory:"
    if database == ":memory:":
        return create_engine(url, poolclass=pool.NullPool)
    path = Path(database)
    if not path.exists():
        # sqlite3 would create it (and `make_engine` its folder): report it missing instead.
        raise FileNotFoundError(errno.ENOENT, "no SQLite file", database)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return create_engine(
        "sqlite://",
        poolclass=pool.NullPool,
        creator=lambda: sqlite3.connect(uri, uri=True, timeout=timeout),
    )
