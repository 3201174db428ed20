"""Redis dies under two app workers: docs/security.md's "When Redis is down", on real processes.

A private `redis-server` (never the shared one) holds the rate-limit counters; the test kills
it with SIGKILL, checks each rule in both workers, then starts it again on the same port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.multiprocess.conftest import GENEROUS_LIMITS
from tests.multiprocess.helpers import (
    SERVED_BY,
    csrf_headers,
    deactivation,
    from_each_worker,
    new_member,
    pinned_clients,
    post_delivery,
    scalar,
    sent_webhooks,
    session_headers,
    sign_in,
)
from tests.support.procs import (
    Cluster,
    PrivateRedis,
    fresh_database,
    private_redis,
    running_cluster,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e]

NAVIGATE = {"sec-fetch-mode": "navigate", "sec-fetch-site": "none", "accept": "text/html"}


@pytest.fixture
def redis_server(redis_server_binary: str, tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis server of this test's own."""
    with private_redis(tmp_path) as server:
        yield server


@pytest.fixture
def redis_cluster(pg_admin: str, redis_server: PrivateRedis, tmp_path: Path) -> Iterator[Cluster]:
    """Two app workers counting their limits in the private Redis."""
    with (
        fresh_database(pg_admin) as database_url,
        running_cluster(
            database_url,
            app_workers=2,
            workers=0,
            redis_url=redis_server.url,
            log_dir=tmp_path / "logs",
            SYNC_INTERVAL_SECONDS="0",
            **GENEROUS_LIMITS,
        ) as running,
    ):
        yield running


async def test_r01_redis_down_auth_fails_closed_webhooks_still_accepted(
    redis_server: PrivateRedis, redis_cluster: Cluster
) -> None:
    """Sign-in 503 (fail closed), logout and gated pages go on, valid webhooks stored."""
    cluster = redis_cluster
    async with httpx.AsyncClient(timeout=60) as http:
        members = [await new_member(http, cluster, "red") for _ in range(3)]
        await sent_webhooks(http, cluster)
        sessions = [await sign_in(http, cluster, m.user_id) for m in members]
    async with pinned_clients(cluster.app_url, per_worker=1) as pinned:
        workers = [(pid, client) for pid, (client,) in sorted(pinned.items())]
        for pid, client in workers:
            up = await client.get("/api/whop/auth", headers=NAVIGATE)
            assert up.status_code in (302, 303) and up.headers[SERVED_BY] == pid

        redis_server.kill()

        for n, (pid, client) in enumerate(workers):
            # Sign-in start, callback and refresh fail closed: a clear page or JSON, Retry-After.
            start = await client.get("/api/whop/auth", headers=NAVIGATE)
            assert start.status_code == 503 and start.headers[SERVED_BY] == pid
            assert start.headers["retry-after"] == "5"
            assert "text/html" in start.headers["content-type"]
            assert "temporarily unavailable" in start.text
            callback = await client.get(
                "/api/whop/callback?code=x&state=y", headers={"accept": "application/json"}
            )
            assert callback.status_code == 503
            assert callback.json()["error"]["code"] == "rate_limiter_unavailable"
            refresh = await client.post("/api/whop/refresh", headers=csrf_headers(sessions[0]))
            assert refresh.status_code == 503
            assert refresh.json()["error"]["code"] == "rate_limiter_unavailable"
            # Gated requests never touch the limiter.
            gated = await client.get("/api/content", headers=session_headers(sessions[0]))
            assert gated.status_code == 200 and gated.headers[SERVED_BY] == pid
            # A valid delivery is stored and applied; a forged one is still 401, not 429/503.
            body, headers = deactivation(members[1 + n])
            stored = await post_delivery(client, body, headers)
            assert stored.status_code == 200 and stored.json()["status"] == "processed"
            assert (
                scalar(
                    cluster.database_url,
                    "SELECT status FROM webhook_delivery WHERE webhook_id = %s",
                    headers["webhook-id"],
                )
                == "processed"
            )
            forged = await post_delivery(
                client, body, {**headers, "webhook-signature": "v1,Zm9yZ2Vk"}
            )
            assert forged.status_code == 401 and forged.headers[SERVED_BY] == pid

        # Logout fails open: people can always end their own session.
        pid, client = workers[0]
        out = await client.post(
            "/api/whop/logout",
            headers={**csrf_headers(sessions[0]), "accept": "application/json"},
        )
        assert out.status_code == 200 and out.json()["status"] == "signed_out"
        assert (
            await client.get("/api/content", headers=session_headers(sessions[0]))
        ).status_code == 401

        redis_server.start()  # same port: nothing restarts, the next request recovers

    back = await from_each_worker(
        cluster.app_url, "/api/whop/auth", NAVIGATE, {pid for pid, _ in workers}
    )
    assert {r.status_code for r in back} <= {302, 303}
    log = cluster.app.log(10**8) if cluster.app else ""
    assert "rate_limiter_unavailable" in log
    assert "unhandled_error" not in log and "Traceback" not in log
