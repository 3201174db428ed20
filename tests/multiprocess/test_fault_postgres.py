"""PostgreSQL stops in the middle of a webhook burst (W10, W16), on a private cluster.

The shared server on 5432 is never touched: this test runs its own PostgreSQL 15 (initdb and
pg_ctl in a temp dir, as the `postgres` OS user) on a free port, and stops it with
`pg_ctl stop -m fast` (open transactions rolled back, every client disconnected) while the
emulator is sending webhooks to two app workers, then starts it again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.multiprocess.helpers import (
    SERVED_BY,
    admin,
    assert_each_applied_once,
    eventually,
    new_member,
    scalar,
    sent_webhooks,
    session_headers,
    sign_in,
    webhook_log_until,
)
from tests.support.procs import (
    Cluster,
    PrivatePostgres,
    fresh_database,
    new_id,
    private_postgres,
    running_cluster,
)

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

BURST = 60


def _answered(delivery: dict[str, Any], status: int) -> bool:
    """Whether one of the emulator's attempts at `delivery` got `status` from the app."""
    return any(a["status_code"] == status for a in delivery["attempts"])


@pytest.fixture
def pg(pg_server_tools: None) -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster that this test may stop."""
    with private_postgres() as server:
        yield server


@pytest.fixture
def pg_cluster(pg: PrivatePostgres, tmp_path: Path) -> Iterator[Cluster]:
    """2 app workers and 1 worker on the private server; the emulator retries after 2, 4, 8 s."""
    with (
        fresh_database(pg.admin_url) as database_url,
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


async def test_w16_postgres_down_mid_burst_503_then_every_retry_applied_once(
    pg: PrivatePostgres, pg_cluster: Cluster
) -> None:
    """Deliveries during the outage get 503; Whop's retries land after it, each applied once."""
    cluster = pg_cluster
    url = cluster.database_url
    pids_before = sorted(cluster.app_pids())
    async with httpx.AsyncClient(timeout=60) as http:
        member = await new_member(http, cluster, "pgm")
        await sent_webhooks(http, cluster)
        session = await sign_in(http, cluster, member.user_id)
        users = [
            await admin(http, cluster, "POST", "/users", {"username": new_id("burst")})
            for _ in range(BURST)
        ]
        before = {w["webhook_id"] for w in await sent_webhooks(http, cluster)}

        async def create(part: list[dict[str, Any]]) -> None:
            for user in part:
                await admin(
                    http,
                    cluster,
                    "POST",
                    "/memberships",
                    {"user_id": user["id"], "product_id": "prod_demo"},
                )

        async def new_log_until(
            check: Callable[[list[dict[str, Any]]], bool], what: str
        ) -> list[dict[str, Any]]:
            log = await webhook_log_until(
                http,
                cluster,
                lambda log: check([w for w in log if w["webhook_id"] not in before]),
                what=what,
            )
            return [w for w in log if w["webhook_id"] not in before]

        # The burst, in four parts (deliveries are logged in the order they were created):
        # the first is stored before the outage; the second races the server's stop (some
        # stored, some cut off mid-transaction); the third is sent while it is down; the
        # fourth after it is back.
        size = BURST // 4
        first, second, third, fourth = (users[n : n + size] for n in range(0, BURST, size))
        await create(first)
        await new_log_until(
            lambda log: len(log) == len(first) and all(_answered(w, 200) for w in log),
            "the first part is stored",
        )
        await asyncio.gather(asyncio.to_thread(pg.stop, "fast"), create(second))
        during = [
            await http.get(f"{cluster.app_url}/api/content", headers=session_headers(session))
            for _ in range(4)
        ]
        await create(third)
        down = len(first) + len(second)
        # The outage lasts until every delivery sent while it lasted was refused once (the
        # emulator retries them after 2, 4 and 8 s).
        await new_log_until(
            lambda log: (
                len(log) == down + len(third)
                and all(w["attempts"] for w in log)
                and all(_answered(w, 503) for w in log[down:])
            ),
            "the deliveries sent during the outage are refused",
        )
        await asyncio.to_thread(pg.start)
        await create(fourth)
        log = [w for w in await sent_webhooks(http, cluster) if w["webhook_id"] not in before]
        after = await http.get(f"{cluster.app_url}/api/content", headers=session_headers(session))

    # While the database was down, a gated request is a clear 503, never a 500.
    assert {r.status_code for r in during} == {503}, [r.text[:200] for r in during]
    assert all(r.json()["error"]["code"] == "database_unavailable" for r in during)
    assert after.status_code == 200
    # The emulator saw 503s (nothing was acknowledged without being stored), then successes.
    assert len(log) == BURST
    codes = Counter(a["status_code"] for w in log for a in w["attempts"])
    assert set(codes) <= {200, 503}, codes
    assert codes[503] > 0, codes
    retried = [w for w in log if len(w["attempts"]) > 1]
    print(f"attempt answers {dict(codes)}; {len(retried)} of {len(log)} deliveries retried")
    assert retried
    assert {w["outcome"] for w in log} == {"delivered"}, Counter(w["outcome"] for w in log)
    # Every delivery the emulator sent, retried or not, is stored once and applied once.
    assert_each_applied_once(url, log, active=BURST)
    # The processes rode the outage out: same app workers, and the worker beats again.
    assert sorted(cluster.app_pids()) == pids_before
    assert cluster.workers[0].alive()
    back_at = scalar(url, "SELECT now()")
    await eventually(
        lambda: (
            scalar(url, "SELECT max(beat_at) FROM worker_heartbeat WHERE name LIKE 'worker:%'")
            > back_at
        ),
        timeout=30,
        what="a worker heartbeat after the outage",
    )
    assert {r.headers[SERVED_BY] for r in during} <= {str(p) for p in pids_before}
    app_log = cluster.app.log(10**8) if cluster.app else ""
    assert "unhandled_error" not in app_log and "Traceback" not in app_log
