"""The app is restarted in the middle of a webhook burst (W16): graceful stop, then a new one.

`mentora serve` gets SIGTERM on every process of its group (as systemd does); uvicorn stops
accepting, lets in-flight requests finish (20 s at most) and exits. While it is down the
emulator's deliveries fail at the transport, and its retries reach the new app. Nothing
acknowledged is lost, nothing is half-applied or applied twice.

Every step waits on a condition, not on time: the stop comes once part of the burst has been
delivered, the second half of the burst is sent only once the app is down, and the emulator
holds its deliveries (POST /webhooks/hold) from the first refused attempt until the new app
answers, so a restart that takes long on a busy machine cannot outlast the retry schedule.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.multiprocess.helpers import (
    admin,
    assert_each_applied_once,
    sent_webhooks,
    webhook_log_until,
)
from tests.support.procs import Cluster, fresh_database, new_id, running_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

BURST = 60


@pytest.fixture
def restart_cluster(pg_admin: str, tmp_path: Path) -> Iterator[Cluster]:
    """Two app workers and one worker; the emulator retries after 1, 2 and 4 s."""
    with (
        fresh_database(pg_admin) as database_url,
        running_cluster(
            database_url,
            app_workers=2,
            workers=1,
            retry_delays=(1.0, 2.0, 4.0),
            log_dir=tmp_path,
            SYNC_INTERVAL_SECONDS="0",
            RATELIMIT_ENABLED="false",
        ) as running,
    ):
        yield running


def _activations(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [w for w in log if w["type"] == "membership.activated"]


def _delivered(log: list[dict[str, Any]]) -> int:
    return sum(w["outcome"] == "delivered" for w in _activations(log))


def _refused(log: list[dict[str, Any]]) -> bool:
    """True once some attempt found nobody listening (no HTTP status at all)."""
    return any(a["status_code"] is None for w in _activations(log) for a in w["attempts"])


async def test_w16_restart_mid_burst_every_delivery_applied_once(
    restart_cluster: Cluster,
) -> None:
    """Stop the app gracefully mid-burst, start a new one: every delivery lands once."""
    cluster, url = restart_cluster, restart_cluster.database_url
    old_pids = set(cluster.app_pids())
    app_down = asyncio.Event()
    async with httpx.AsyncClient(timeout=60) as http:
        users = [
            await admin(http, cluster, "POST", "/users", {"username": new_id("rst")})
            for _ in range(BURST)
        ]

        async def burst() -> None:
            for number, user in enumerate(users):
                if number == BURST // 2:
                    await app_down.wait()  # the second half meets a stopped app
                body = {"user_id": user["id"], "product_id": "prod_demo"}
                await admin(http, cluster, "POST", "/memberships", body)

        async def restart() -> None:
            await webhook_log_until(
                http, cluster, lambda log: _delivered(log) >= 10, what="10 deliveries applied"
            )
            await asyncio.to_thread(cluster.stop_app)
            app_down.set()
            await webhook_log_until(http, cluster, _refused, what="a refused delivery attempt")
            await admin(http, cluster, "POST", "/webhooks/hold")
            await asyncio.to_thread(cluster.start_app)  # returns once every worker answers
            await admin(http, cluster, "POST", "/webhooks/release")

        await asyncio.gather(burst(), restart())
        log = _activations(await sent_webhooks(http, cluster))

    assert len(log) == BURST
    assert not old_pids & set(cluster.app_pids())  # really a new set of processes
    answers = Counter(a["status_code"] for w in log for a in w["attempts"])
    # Refused connections while it was down, never an error answer from the app.
    assert set(answers) <= {200, None}, answers
    assert answers[None] > 0, answers
    assert {w["outcome"] for w in log} == {"delivered"}
    assert_each_applied_once(url, log, active=BURST)
