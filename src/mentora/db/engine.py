"""Engine and session factory: SQLite (WAL) by default, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState

from mentora.db.onetrip import WRITE_BEGIN, onetrip_dbapi
from mentora.errors import ConfigError

IMMEDIATE = "mentora_write"
# `scheme://user:password@`: the password part, wherever a URL turns up in a message.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s@]+)@", re.IGNORECASE
)


def async_url(database_url: str) -> str:
    """Map a plain `sqlite:///` or `postgresql://` URL to the async driver Mentora uses."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    else:
        raise ConfigError(f"DATABASE_URL must be sqlite:// or postgresql://, not {backend}://")
    return url.render_as_string(hide_password=False)


def sync_url(database_url: str) -> str:
    """The same database through a synchronous driver (Alembic, CLI)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite")
    elif backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    else:
        raise ConfigError(f"DATABASE_URL must be sqlite:// or postgresql://, not {backend}://")
    return url.render_as_string(hide_password=False)


def describe_error(exc: BaseException, database_url: str | None = None) -> str:
    """One line for a database error, as the CLI prints it after `database: `: its class and
    the driver's first line, which names the host and the cause.

    The SQL and the parameters after that line are left out (they may carry user data), and so
    is any password: one written as part of a URL, and `database_url`'s own (as written, or
    percent-decoded) wherever it appears."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    line = _URL_PASSWORD.sub(r"\g<head>***@", line)
    if database_url is not None:
        line = _without_password(line, database_url)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _without_password(line: str, database_url: str) -> str:
    try:
        password = make_url(database_url).password
    except (ArgumentError, ValueError):  # unparsable: hide what a URL's password would be
        found = _URL_PASSWORD.search(database_url)
        password = found.group("password") if found else None
    if not password:
        return line
    for form in {str(password), quote(str(password), safe="")}:
        line = line.replace(form, "***")
    return line


def is_sqlite(database_url: str) -> bool:
    """True when DATABASE_URL names a SQLite database."""
    return make_url(database_url).get_backend_name() == "sqlite"


def make_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, a busy timeout and foreign keys."""
    url = async_url(database_url)
    if is_sqlite(database_url):
        database = make_url(database_url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            module=onetrip_dbapi(),
            # The pool's rollback on every check-in is a trip to aiosqlite's thread even after
            # a commit, when there is nothing to roll back: `_reset_on_return` rolls back only
            # a connection still in a transaction.
            pool_reset_on_return=None,
            **kwargs,
        )
        event.listen(engine.sync_engine, "reset", _reset_on_return)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # No checkpoint inside a commit: the adapter runs commits on the event loop's thread
            # and checkpoints every so many of them on aiosqlite's (db.onetrip).
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()
            # The driver must not BEGIN on its own: the "begin" hook below does it.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the lock at BEGIN (IMMEDIATE) so they queue on busy_timeout instead
            # of failing when a read snapshot tries to upgrade; readers stay concurrent (WAL).
            if conn.get_execution_options().get(IMMEDIATE):
                conn.exec_driver_sql(WRITE_BEGIN)  # the adapter knows the lock is then held
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _reset_on_return(dbapi_conn: Any, _record: Any, state: PoolResetState) -> None:
    """Roll back a SQLite connection coming back to the pool if it is still in a transaction
    (SQLAlchemy's default reset, without its trip when there is none)."""
    if not state.asyncio_safe:
        return  # garbage collection, outside the loop: SQLAlchemy's own reset skips it too
    try:
        open_transaction = dbapi_conn.driver_connection.in_transaction
    except ValueError:  # aiosqlite's connection is closed: no transaction left
        return
    if open_transaction:
        dbapi_conn.rollback()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
