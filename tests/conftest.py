"""Shared fixtures: databases (SQLite and PostgreSQL), a frozen clock, the emulator in-process,
the app wired to it through httpx.ASGITransport, and a helper that signs a user in.

PostgreSQL and Redis tests skip on a laptop where the service is unreachable, and fail in CI
(CI=true), where `.ci/run` starts both.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.config import Settings, load_settings
from mentora.db.migrate import upgrade
from mentora.services import Services, build_services
from tests.support.asgi import LateBoundASGI
from tests.support.signin import SignIn
from tests.support.timeline import START

# aiosmtpd logs every connection at INFO from its own thread, which can outlive pytest's
# captured stream and print "--- Logging error ---" noise; its warnings still show.
logging.getLogger("mail.log").setLevel(logging.WARNING)

PG_ADMIN_URL = os.environ.get(
    "MENTORA_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MENTORA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

APP_URL = "https://mentora.test"
ISSUER = "https://whop.test"
TEST_ENV: dict[str, str] = {
    "MENTORA_ENV": "test",
    "APP_URL": APP_URL,
    "WHOP_OAUTH_ISSUER": ISSUER,
    "WHOP_API_BASE_URL": f"{ISSUER}/api/v1",
    "WHOP_PURCHASE_URL": f"{ISSUER}/checkout",
    "WHOP_CLIENT_ID": "app_demo",
    "WHOP_CLIENT_SECRET": "test-client-secret",
    "WHOP_API_KEY": "test-api-key",
    "WHOP_WEBHOOK_SECRET": "ws_test_webhook_secret",
    "WHOP_APP_ID": "app_demo",
    "WHOP_COMPANY_ID": "biz_demo",
    "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
    "TOKEN_ENCRYPTION_KEYS": "dGVzdC10b2tlbi1rZXktMDEyMzQ1Njc4OWFiY2RlZiE=",
    "MAIL_DIR": "",
}


def _service_missing(what: str, exc: BaseException) -> None:
    message = f"{what} unreachable: {exc}"
    if IN_CI:
        pytest.fail(f"{message} (CI must start it; see .ci/run)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def environment_unchanged() -> Iterator[None]:
    """Every test leaves the process environment as it found it (after monkeypatch's undo):
    a variable left behind, such as AUTHLIB_INSECURE_TRANSPORT, would change later tests."""
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    yield
    after = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == [], f"the test left these environment variables changed: {changed}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run, dropped at the end."""
    name = f"mentora_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(
            PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _service_missing("PostgreSQL", exc)
        raise
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once keeps tests fast)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


class _PostgresReset:
    """Empties the test database between tests over one kept connection pool.

    DELETE with triggers off (`session_replication_role = replica`: no foreign-key order, and
    the append-only audit guards stay out of the way) plus restarted sequences costs about
    15 ms; TRUNCATE of every table cost about 220 ms, which PostgreSQL tests paid each time.
    """

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
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
def pg_reset(pg_template: str) -> Iterator[_PostgresReset]:
    """The reset for this run's PostgreSQL database (its pool closed before the drop)."""
    reset = _PostgresReset(pg_template)
    yield reset
    reset.engine.dispose()


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


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Test settings pointing at the in-process emulator's issuer."""
    env = {**TEST_ENV, "DATABASE_URL": database_url}
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    return load_settings(env)


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
    """A reachable Redis (database 15, flushed), or skip locally / fail in CI."""
    import redis

    try:
        conn = redis.Redis.from_url(REDIS_URL)
        conn.ping()
        conn.flushdb()
        conn.close()
    except Exception as exc:
        _service_missing("Redis", exc)
    return REDIS_URL
