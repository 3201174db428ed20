"""The app stack's fixtures: databases (SQLite and PostgreSQL), a frozen clock, the emulator
in-process, the app wired to it through httpx.ASGITransport, and a helper that signs a user in.

Only the test directories that use them load them: their conftest.py does
`from tests.support.fixtures import *`. The root conftest does not, so `tests/unit` never
imports the app, the database layer or the emulator (tests/test_boundaries.py checks it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.db.migrate import upgrade
from mentora.services import Services, build_services
from tests.support.asgi import LateBoundASGI
from tests.support.env import (
    APP_URL,
    ISSUER,
    PG_ADMIN_URL,
    TEST_ENV,
    flushed_redis,
    make_settings,
    service_missing,
)
from tests.support.signin import SignIn
from tests.support.timeline import START

__all__ = [
    "app",
    "client",
    "clock",
    "database_url",
    "emulator",
    "emulator_config",
    "pg_reset",
    "pg_template",
    "redis_url",
    "services",
    "settings",
    "signin",
    "sqlite_template",
    "sqlite_url",
]

# aiosmtpd logs every connection at INFO from its own thread, which can outlive pytest's
# captured stream and print "--- Logging error ---" noise; its warnings still show.
logging.getLogger("mail.log").setLevel(logging.WARNING)

T = TypeVar("T")
_PER_RUN = pytest.StashKey[dict[str, Any]]()


def _once_per_run(request: pytest.FixtureRequest, key: str, make: Callable[[], Iterator[T]]) -> T:
    """The value `make` yields, made once for the whole run and closed when the run ends.

    Each conftest that imports these fixtures holds its own copy of every session fixture, with
    its own cache; without this, every test directory would migrate its own template database.
    """
    made = request.config.stash.setdefault(_PER_RUN, {})
    if key not in made:
        steps = make()
        made[key] = next(steps)
        request.config.add_cleanup(lambda: next(steps, None))
    value: T = made[key]
    return value


def _postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped when the generator is resumed."""
    name = f"mentora_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(
            PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        service_missing("PostgreSQL", exc)
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated PostgreSQL database for this test run, dropped at the end."""
    return _once_per_run(request, "pg_template", _postgres_database)


@pytest.fixture(scope="session")
def sqlite_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A migrated SQLite file that each test copies (migrating once keeps tests fast)."""

    def migrated() -> Iterator[Path]:
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade(f"sqlite:///{path}")
        yield path

    return _once_per_run(request, "sqlite_template", migrated)


class _PostgresReset:
    """Empties the test database between tests over one kept connection pool.

    DELETE with triggers off (`session_replication_role = replica`: no foreign-key order, and
    the append-only audit guards stay out of the way) plus restarted sequences costs about
    15 ms; TRUNCATE of every table cost about 220 ms, which PostgreSQL tests paid each time.
    """

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with self.engine.connect() as conn:
            self.tables = list(
                conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables"
                        " WHERE schemaname='public' AND tablename <> 'alembic_version'"
                    )
                ).scalars()
            )
            self.sequences = list(
                conn.execute(
                    text("SELECT sequencename FROM pg_sequences WHERE schemaname='public'")
                ).scalars()
            )

    def __call__(self) -> None:
        """Delete every row and restart every sequence, as a fresh migration leaves them."""
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in self.tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
            for sequence in self.sequences:
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


@pytest.fixture(scope="session")
def pg_reset(request: pytest.FixtureRequest, pg_template: str) -> _PostgresReset:
    """The reset for this run's PostgreSQL database (its pool closed before the drop)."""

    def kept() -> Iterator[_PostgresReset]:
        reset = _PostgresReset(pg_template)
        yield reset
        reset.engine.dispose()

    return _once_per_run(request, "pg_reset", kept)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A clean, migrated database: every DB test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "mentora.db"
        target.write_bytes(sqlite_template.read_bytes())
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_template")
    request.getfixturevalue("pg_reset")()
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A clean, migrated SQLite database only (for tests that are not about the backend)."""
    target = tmp_path / "mentora.db"
    target.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{target}"


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at START (noon of the real date); tests move it with `advance()`."""
    return FrozenClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for the app under test."""
    return make_settings(database_url, mail_dir=str(tmp_path / "mail"))


@pytest.fixture
def emulator_config() -> Any:
    """The emulator's configuration (tests may override fields before `emulator` is built)."""
    from mentora.emulator import EmulatorConfig

    return EmulatorConfig(
        issuer=ISSUER,
        client_id=TEST_ENV["WHOP_CLIENT_ID"],
        client_secret=TEST_ENV["WHOP_CLIENT_SECRET"],
        redirect_uris=[f"{APP_URL}/api/whop/callback"],
        api_key=TEST_ENV["WHOP_API_KEY"],
        webhook_url=f"{APP_URL}/api/whop/webhooks",
        webhook_secret=TEST_ENV["WHOP_WEBHOOK_SECRET"],
        retry_delays=(0.0, 0.0, 0.0),
        seed_demo=True,
    )


@pytest.fixture
async def emulator(emulator_config: Any, clock: FrozenClock) -> AsyncIterator[Any]:
    """The Whop emulator, in-process; its webhooks reach the app under test."""
    from mentora.emulator import Emulator

    app_slot = LateBoundASGI()
    webhook_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_slot), base_url=APP_URL
    )
    emu = Emulator(emulator_config, webhook_client=webhook_client, clock=clock.now)
    emu.app_slot = app_slot
    yield emu
    await webhook_client.aclose()


@pytest.fixture
async def services(
    settings: Settings, clock: FrozenClock, emulator: Any
) -> AsyncIterator[Services]:
    """The app's services, with every Whop call routed to the emulator."""
    svc = build_services(settings, clock=clock, transport=httpx.ASGITransport(app=emulator.app))
    from mentora.creators import ensure_configured_creator

    await ensure_configured_creator(svc, name="Demo Academy")
    yield svc
    await svc.aclose()


@pytest.fixture
def app(services: Services, emulator: Any) -> Any:
    """The Mentora app under test (the emulator's webhooks are delivered to it)."""
    application = create_app(services.settings, services=services)
    emulator.app_slot.target = application
    return application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client for the app (Secure cookies need https)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url=APP_URL,
        follow_redirects=False,
    ) as c:
        yield c


@pytest.fixture
def signin(client: httpx.AsyncClient, emulator: Any) -> SignIn:
    """Drives a full sign-in through the emulator's pages."""
    return SignIn(client, emulator)


@pytest.fixture
def redis_url() -> str:
    """A reachable Redis (the test database, flushed), or skip locally / fail in CI."""
    return flushed_redis()
