"""The test environment: the app's and the emulator's addresses, test secrets, the shared
PostgreSQL and Redis, and `make_settings`. Light on purpose (no app, database or emulator
import), so helpers and conftests can use it without loading the app stack.

PostgreSQL and Redis tests skip on a laptop where the service is unreachable, and fail in CI
(CI=true), where `.ci/run` starts both.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import pytest

from mentora.config import Settings, load_settings

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


def service_missing(what: str, exc: BaseException) -> NoReturn:
    """Skip the test because a service is unreachable, or fail it in CI, which must start it."""
    message = f"{what} unreachable: {exc}"
    if IN_CI:
        pytest.fail(f"{message} (CI must start it; see .ci/run)")
    pytest.skip(message)


def flushed_redis() -> str:
    """The shared test Redis (its database flushed), or skip locally / fail in CI."""
    import redis  # here, not at the top: this module stays light for the pure unit tests

    try:
        conn = redis.Redis.from_url(REDIS_URL)
        conn.ping()
        conn.flushdb()
        conn.close()
    except Exception as exc:
        service_missing("Redis", exc)
    return REDIS_URL


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Test settings pointing at the in-process emulator's issuer."""
    env = {**TEST_ENV, "DATABASE_URL": database_url}
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    return load_settings(env)
