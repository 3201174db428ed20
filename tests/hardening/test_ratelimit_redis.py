"""Shared limits through Redis (two limiters or two app instances = two processes), and what
happens when Redis is down: sign-in fails closed (503), webhooks are never blocked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.ratelimit.limiter import Limiter
from mentora.services import Services, build_services
from tests.hardening.helpers import SAME_ORIGIN, audit_rows, csrf_token
from tests.support.env import APP_URL
from tests.support.webhooks import WEBHOOK_PATH, event_body, signed_headers

pytestmark = pytest.mark.redis
NAVIGATE = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate"}
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused


@pytest.fixture
def overrides(redis_url: str) -> dict[str, Any]:
    """Every app in this module counts in the test Redis."""
    return {"redis_url": redis_url}


@pytest.fixture
async def second_app(
    settings: Settings, clock: FrozenClock, emulator: Any, services: Services
) -> AsyncIterator[httpx.AsyncClient]:
    """Another app instance with its own services (its own memory): a second process."""
    other = build_services(settings, clock=clock, transport=httpx.ASGITransport(app=emulator.app))
    app = create_app(settings, services=other)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=APP_URL
    ) as client:
        yield client
    await other.aclose()


async def test_r01_two_limiters_share_counts_and_one_refusal_event(
    settings: Settings, clock: FrozenClock
) -> None:
    """Two limiters on one Redis share a bucket and one first-refusal flag."""
    first, second = Limiter.from_settings(settings), Limiter.from_settings(settings)
    assert first.shared and second.shared
    rule = first.rules["login"]
    try:
        verdicts = []
        for n in range(14):
            limiter = first if n % 2 else second
            verdicts.append(await limiter.hit(rule.items, ("login", "192.0.2.1"), clock.now()))
    finally:
        await first.aclose()
        await second.aclose()
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 4
    assert [v.first_refusal for v in verdicts[10:]] == [True, False, False, False]
    assert {v.retry_after for v in verdicts[10:]} == {60}


async def test_r01_two_app_instances_share_the_login_limit(
    client: httpx.AsyncClient, second_app: httpx.AsyncClient, services: Services
) -> None:
    """Five login starts on each of two app instances use up one shared budget of ten."""
    for _ in range(5):
        assert (await client.get("/api/whop/auth", headers=NAVIGATE)).status_code == 302
        assert (await second_app.get("/api/whop/auth", headers=NAVIGATE)).status_code == 302
    assert (await client.get("/api/whop/auth", headers=NAVIGATE)).status_code == 429
    assert (await second_app.get("/api/whop/auth", headers=NAVIGATE)).status_code == 429
    assert len(await audit_rows(services, "excess_rate_limit_exceeded")) == 1


async def test_redis_down_sign_in_fails_closed_webhooks_pass(
    client: httpx.AsyncClient, signin: Any, services: Services, clock: FrozenClock
) -> None:
    """Redis down: sign-in gets 503, logout works, webhooks are never blocked."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    token = await csrf_token(client)
    await services.limiter.aclose()
    dead = services.settings.model_copy(update={"redis_url": DEAD_REDIS})
    services.limiter = Limiter.from_settings(dead)

    login = await client.get("/api/whop/auth", headers=NAVIGATE)
    assert login.status_code == 503 and login.headers["retry-after"] == "5"
    callback = await client.get("/api/whop/callback?code=a&state=b")
    assert callback.status_code == 503
    headers = {**SAME_ORIGIN, "x-csrf-token": token}
    assert (await client.post("/api/whop/refresh", headers=headers)).status_code == 503

    body = event_body("future.event", {"id": "x_1"})
    valid = await client.post(
        WEBHOOK_PATH, content=body, headers=signed_headers(body, at=clock.now())
    )
    assert valid.status_code == 200
    forged = await client.post(
        WEBHOOK_PATH,
        content=body,
        headers=signed_headers(body, at=clock.now(), secret="ws_forged_secret"),
    )
    assert forged.status_code == 401
    logout = await client.post(
        "/api/whop/logout", headers={**headers, "accept": "application/json"}
    )
    assert logout.status_code == 200
