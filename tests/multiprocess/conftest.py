"""Fixtures for the multi-process tests: reachable services (skip locally, fail in CI), a fresh
PostgreSQL database per cluster, a real SMTP inbox, and one shared cluster per module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.multiprocess.helpers import Inbox, smtp_server
from tests.support.env import PG_ADMIN_URL, flushed_redis, service_missing
from tests.support.procs import (
    Cluster,
    fresh_database,
    private_postgres_missing,
    running_cluster,
)

# Sign-ins, refreshes and logouts all come from 127.0.0.1: the limits stay on (counted in
# Redis, so the tests exercise it) but high enough for a test's traffic.
GENEROUS_LIMITS = {
    "RATELIMIT_ENABLED": "true",
    "RATELIMIT_LOGIN": "1000/minute",
    "RATELIMIT_CALLBACK": "1000/minute",
    "RATELIMIT_AUTH_GLOBAL": "5000/minute",
    "RATELIMIT_REFRESH": "1000/minute",
    "RATELIMIT_LOGOUT": "1000/minute",
}


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """The shared PostgreSQL server's admin URL, or skip (fail in CI) when it is down."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        service_missing("PostgreSQL", exc)
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def shared_redis() -> str:
    """The shared Redis (its database flushed), or skip (fail in CI)."""
    return flushed_redis()


@pytest.fixture(scope="session")
def pg_server_tools() -> None:
    """PostgreSQL's server binaries and runuser, for a private cluster (skip, or fail in CI)."""
    missing = private_postgres_missing()
    if missing:
        service_missing("PostgreSQL server tools", RuntimeError(missing))


@pytest.fixture(scope="session")
def redis_server_binary() -> str:
    """The redis-server binary, for a private Redis (skip, or fail in CI)."""
    path = shutil.which("redis-server")
    if path is None:
        service_missing("redis-server", RuntimeError("redis-server is not installed"))
    return str(path)


@pytest.fixture(scope="module")
def inbox() -> Inbox:
    """The SMTP server's record of what the workers sent (slowed a little per message)."""
    return Inbox(delay=0.01)


@pytest.fixture(scope="module")
def smtp_url(inbox: Inbox) -> Iterator[str]:
    """A real SMTP server (aiosmtpd) on a free port."""
    with smtp_server(inbox) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(
    pg_admin: str, shared_redis: str, smtp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """2 app workers (`mentora serve --workers 2`) and 2 `mentora worker`, PostgreSQL + Redis."""
    log_dir: Path = tmp_path_factory.mktemp("cluster")
    with (
        fresh_database(pg_admin) as database_url,
        running_cluster(
            database_url,
            app_workers=2,
            workers=2,
            redis_url=shared_redis,
            log_dir=log_dir,
            SMTP_URL=smtp_url,
            SYNC_INTERVAL_SECONDS="0",
            **GENEROUS_LIMITS,
        ) as running,
    ):
        yield running
