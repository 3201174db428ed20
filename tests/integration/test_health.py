"""Health, readiness and metrics endpoints (integration)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mentora.clock import FrozenClock
from mentora.db.models import WorkerHeartbeat
from mentora.db.uow import transaction
from mentora.emulator import DEMO
from mentora.services import Services
from tests.support.signin import SignIn


async def test_healthz_is_up(client: httpx.AsyncClient) -> None:
    """/healthz answers without touching anything."""
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_needs_a_recent_worker_heartbeat(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Not ready without a worker heartbeat; ready with a fresh one; not ready when it is stale."""
    first = await client.get("/readyz")
    assert first.status_code == 503 and first.json()["checks"]["worker"] == "no heartbeat"
    async with transaction(services.sessionmaker, write=True) as db:
        db.add(WorkerHeartbeat(name="worker-1", beat_at=clock.now()))
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    clock.advance(600)
    assert (await client.get("/readyz")).status_code == 503


async def _sample(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """The value of one sample scraped from /metrics (0 when the series is not there yet)."""
    body = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


async def test_metrics_count_each_sign_in_once(client: httpx.AsyncClient, signin: SignIn) -> None:
    """Each successful sign-in adds exactly one to mentora_sign_ins_total{success,ok}."""
    series = {"outcome": "success", "reason": "ok"}
    before = await _sample(client, "mentora_sign_ins_total", **series)
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    assert await _sample(client, "mentora_sign_ins_total", **series) == before + 1
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    assert await _sample(client, "mentora_sign_ins_total", **series) == before + 2


async def test_metrics_token_required_when_set(
    emulator: object, sqlite_url: str, clock: FrozenClock
) -> None:
    """With METRICS_TOKEN set, /metrics needs the bearer token."""
    from mentora.app import create_app
    from mentora.services import build_services
    from tests.support.env import APP_URL, make_settings

    settings = make_settings(sqlite_url, metrics_token="scrape-me")
    services = build_services(settings, clock=clock)
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_URL) as c:
        assert (await c.get("/metrics")).status_code == 401
        ok = await c.get("/metrics", headers={"authorization": "Bearer scrape-me"})
        assert ok.status_code == 200
    await services.aclose()


async def test_ping_is_a_trivial_post(client: httpx.AsyncClient) -> None:
    """POST /api/ping answers 204 with no body (the benchmarks' baseline)."""
    response = await client.post("/api/ping", json={})
    assert response.status_code == 204 and response.content == b""
