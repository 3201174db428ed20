"""The app is restarted in the middle of a webhook burst (W16): graceful stop, then a new one.

`mentora serve` gets SIGTERM on every process of its group (as systemd does); uvicorn stops
accepting, lets in-flight requests finish (20 s at most) and exits. While it is down the
emulator's deliveries fail at the transport, and its retries (2, 4, 8 s here; Whop: 10, 20,
40 s) reach the new app. Nothing acknowledged is lost, nothing is half-applied or applied twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.multiprocess.helpers import admin, assert_each_applied_once, sent_webhooks
from tests.support.procs import Cluster, fresh_database, new_id, running_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

BURST = 60


@pytest.fixture
def restart_cluster(pg_admin: str, tmp_path: Path) -> Iterator[Cluster]:
    """Two app workers and one worker; the emulator retries after 2, 4 and 8 s."""
    with (
        fresh_database(pg_admin) as database_url,
        running_cluster(
            database_url,
            app_workers=2,
            workers=1,
            retry_delays=(2.0, 4.0, 8.0),
            log_dir=tmp_path,
            SYNC_INTERVAL_SECONDS="0",
            RATELIMIT_ENABLED="false",
        ) as running,
    ):
        yield running


async def test_w16_restart_mid_burst_every_delivery_applied_once(
    restart_cluster: Cluster,
) -> None:
    """Stop the app gracefully mid-burst, start a new one: every delivery lands once."""
    cluster, url = restart_cluster, restart_cluster.database_url
    old_pids = set(cluster.app_pids())
    async with httpx.AsyncClient(timeout=60) as http:
        users = [
            await admin(http, cluster, "POST", "/users", {"username": new_id("rst")})
            for _ in range(BURST)
        ]

        async def burst() -> None:
            for user in users:
                await admin(
                    http,
                    cluster,
                    "POST",
                    "/memberships",
                    {"user_id": user["id"], "product_id": "prod_demo"},
                )
                await asyncio.sleep(0.05)

        async def restart() -> None:
            await asyncio.sleep(0.8)
            await asyncio.to_thread(cluster.stop_app)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.start_app)

        await asyncio.gather(burst(), restart())
        log = [w for w in await sent_webhooks(http, cluster) if w["type"] == "membership.activated"]

    assert len(log) == BURST
    assert not old_pids & set(cluster.app_pids())  # really a new set of processes
    answers = Counter(a["status_code"] for w in log for a in w["attempts"])
    # Refused connections while it was down, never an error answer from the app.
    assert set(answers) <= {200, None}, answers
    print("attempt answers", dict(answers))
    assert answers[None] > 0, answers
    assert {w["outcome"] for w in log} == {"delivered"}
    assert_each_applied_once(url, log, active=BURST)
