"""Rate limits on the sign-in routes and on rejected webhooks (R01-R03), with a frozen clock:
windows come from the injected clock, so recovery is shown by advancing it, never by sleeping.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mentora import metrics
from mentora.clock import FrozenClock
from mentora.db.models import WebhookDelivery
from mentora.services import Services
from tests.hardening.helpers import SAME_ORIGIN, audit_rows, csrf_token
from tests.support.webhooks import WEBHOOK_PATH, event_body, signed_headers

NAVIGATE = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate"}


async def _login(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.get("/api/whop/auth", headers={**NAVIGATE, **headers})


async def _bad_callback(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/api/whop/callback?code=forged&state=forged")


async def test_r01_login_limit_429_with_retry_after_then_recovers(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Login: 10/min/IP, then 429 + Retry-After, one event per window, recovery."""
    for _ in range(10):
        assert (await _login(client)).status_code == 302
    clock.advance(15)
    refused = [await _login(client) for _ in range(5)]
    assert {r.status_code for r in refused} == {429}
    assert refused[0].headers["retry-after"] == "45"
    assert "Too many requests" in refused[0].text
    assert len(await audit_rows(services, "excess_rate_limit_exceeded")) == 1
    clock.advance(45)
    assert (await _login(client)).status_code == 302
    for _ in range(9):
        await _login(client)
    assert (await _login(client)).status_code == 429
    events = await audit_rows(services, "excess_rate_limit_exceeded")
    assert [(e.reason, e.ip, e.details["scope"]) for e in events] == [
        ("login", "127.0.0.1", "client")
    ] * 2


async def test_r01_failed_callbacks_count_double(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Failed callbacks cost 2 of the 20/min budget: the 11th failure gets 429."""
    for _ in range(10):
        assert (await _bad_callback(client)).status_code == 400
    refused = await client.get(
        "/api/whop/callback?code=forged&state=forged", headers={"accept": "application/json"}
    )
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 60
    body = refused.json()["error"]
    assert body["code"] == "rate_limited" and body["request_id"] == refused.headers["x-request-id"]
    assert [e.reason for e in await audit_rows(services, "excess_rate_limit_exceeded")] == [
        "callback"
    ]
    clock.advance(60)
    assert (await _bad_callback(client)).status_code == 400


async def test_r01_successful_callback_counts_once(
    client: httpx.AsyncClient, signin: Any, clock: FrozenClock
) -> None:
    """A good callback costs 1: ten failures still fit after it, the 11th does not."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    for _ in range(10):
        assert (await _bad_callback(client)).status_code == 400
    assert (await _bad_callback(client)).status_code == 429


@pytest.mark.parametrize(
    "overrides", [{"trusted_proxies": "127.0.0.1", "ratelimit_auth_global": "12/minute"}]
)
async def test_r01_global_ceiling_across_clients(
    client: httpx.AsyncClient, services: Services, overrides: dict[str, str]
) -> None:
    """Distinct clients share the global ceiling, audited once with scope all_clients, and
    every refusal counted in mentora_rate_limited_total{scope="all_clients"}."""
    labels = {"rule": "login", "scope": "all_clients"}
    before = metrics.REGISTRY.get_sample_value("mentora_rate_limited_total", labels) or 0.0
    statuses = [
        (await _login(client, **{"x-forwarded-for": f"198.51.100.{n}"})).status_code
        for n in range(15)
    ]
    assert statuses == [302] * 12 + [429] * 3
    events = await audit_rows(services, "excess_rate_limit_exceeded")
    assert [(e.reason, e.details["scope"]) for e in events] == [("login", "all_clients")]
    after = metrics.REGISTRY.get_sample_value("mentora_rate_limited_total", labels) or 0.0
    assert after - before == 3


async def test_r02_spoofed_forwarded_for_is_charged_to_the_peer(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Rotating X-Forwarded-For from an untrusted peer is charged to the peer."""
    statuses = [
        (await _login(client, **{"x-forwarded-for": f"203.0.113.{n}"})).status_code
        for n in range(12)
    ]
    assert statuses == [302] * 10 + [429] * 2
    (event,) = await audit_rows(services, "excess_rate_limit_exceeded")
    assert event.ip == "127.0.0.1"


@pytest.mark.parametrize("overrides", [{"trusted_proxies": "127.0.0.1"}])
async def test_r02_trusted_proxy_forwarded_for_separates_clients(
    client: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    """Behind a trusted proxy each forwarded client has its own bucket."""
    for _ in range(10):
        assert (await _login(client, **{"x-forwarded-for": "198.51.100.7"})).status_code == 302
    assert (await _login(client, **{"x-forwarded-for": "198.51.100.7"})).status_code == 429
    assert (await _login(client, **{"x-forwarded-for": "198.51.100.8"})).status_code == 302


@pytest.mark.parametrize(
    "overrides", [{"ratelimit_refresh": "3/minute", "ratelimit_logout": "2/minute"}]
)
async def test_r01_refresh_and_logout_are_limited(
    client: httpx.AsyncClient, signin: Any, services: Services
) -> None:
    """Refresh and logout answer 429 past their limits too (limits lowered here)."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    token = await csrf_token(client)
    headers = {**SAME_ORIGIN, "x-csrf-token": token}
    refreshes = [
        (await client.post("/api/whop/refresh", headers=headers)).status_code for _ in range(4)
    ]
    assert refreshes == [200, 200, 200, 429]
    logouts = [
        (await client.post("/api/whop/logout", headers=SAME_ORIGIN)).status_code for _ in range(3)
    ]
    assert logouts == [403, 403, 429]


async def test_r03_valid_deliveries_never_limited_invalid_ones_are(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """500 valid deliveries all pass; invalid ones get 401 x30, then 429."""
    for _ in range(500):
        body = event_body("future.event", {"id": "x_1"})
        response = await client.post(
            WEBHOOK_PATH, content=body, headers=signed_headers(body, at=clock.now())
        )
        assert response.status_code == 200
    async with services.sessionmaker() as db:
        stored = (await db.execute(select(func.count()).select_from(WebhookDelivery))).scalar()
    assert stored == 500
    statuses = []
    for _ in range(500):
        body = event_body("future.event", {"id": "x_2"})
        headers = signed_headers(body, at=clock.now(), secret="ws_not_the_secret")
        statuses.append(
            (await client.post(WEBHOOK_PATH, content=body, headers=headers)).status_code
        )
    assert statuses == [401] * 30 + [429] * 470
    assert len(await audit_rows(services, "webhook_rejected")) == 30
    assert len(await audit_rows(services, "excess_rate_limit_exceeded")) == 1
    body = event_body("future.event", {"id": "x_3"})
    valid = await client.post(
        WEBHOOK_PATH, content=body, headers=signed_headers(body, at=clock.now())
    )
    assert valid.status_code == 200


async def test_junk_session_cookies_are_audited_within_a_per_client_budget(
    app: Any, client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Unknown session cookies: 401 every time, but only 20 audit rows a minute per client."""
    from mentora import metrics
    from mentora.web.cookie import SESSION_COOKIE

    def skipped() -> float:
        labels = {"kind": "session_invalid"}
        name = "mentora_audit_events_skipped_total"
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = skipped()
    answers = []
    for n in range(30):
        junk = f"{n:02d}" + "x" * 41  # plausible shape, never issued
        answers.append(
            await client.get("/api/whop/verify", headers={"cookie": f"{SESSION_COOKIE}={junk}"})
        )
    assert {r.status_code for r in answers} == {401}
    assert {r.json()["error"]["code"] for r in answers} == {"session_invalid"}
    assert len(await audit_rows(services, "session_invalid")) == 20
    assert skipped() - before == 10
    # Another client has its own budget, and the budget comes back with the next window.
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 4000)),
        base_url=client.base_url,
    )
    async with other:
        await other.get("/api/whop/verify", headers={"cookie": f"{SESSION_COOKIE}={'y' * 43}"})
    clock.advance(60)
    await client.get("/api/whop/verify", headers={"cookie": f"{SESSION_COOKIE}={'z' * 43}"})
    rows = await audit_rows(services, "session_invalid")
    assert len(rows) == 22
    assert sorted({row.ip for row in rows}) == ["127.0.0.1", "203.0.113.9"]
