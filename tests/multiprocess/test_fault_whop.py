"""Whop slow (5 s), erroring (500) or rate-limiting (429), through the emulator's faults.

Two app workers with WHOP_HTTP_TIMEOUT_SECONDS=1 (so a 5 s Whop costs a request about 1 s),
ACCESS_TTL_SECONDS=1 (so a gated request revalidates soon after sign-in) and
ACCESS_GRACE_SECONDS=6. Every answer must be a clear page or JSON (503, or the documented
sign-in refusal), retries bounded (counted at the emulator), and never a 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.multiprocess.helpers import (
    SERVED_BY,
    Member,
    admin,
    calls,
    from_each_worker,
    new_member,
    pinned_clients,
    scalar,
    sent_webhooks,
    session_headers,
    sign_in,
    sign_in_response,
)
from tests.support.procs import MENTORA, Cluster, fresh_database, running_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

TTL, GRACE = 1.0, 6.0
NAVIGATE = {"sec-fetch-mode": "navigate", "accept": "text/html"}
CHECK_ACCESS = "/api/v1/users/"


@pytest.fixture(scope="module")
def whop_cluster(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two app workers that give up on Whop after 1 s."""
    with (
        fresh_database(pg_admin) as database_url,
        running_cluster(
            database_url,
            app_workers=2,
            workers=0,
            log_dir=tmp_path_factory.mktemp("whop"),
            WHOP_HTTP_TIMEOUT_SECONDS="1",
            ACCESS_TTL_SECONDS=str(int(TTL)),
            ACCESS_GRACE_SECONDS=str(int(GRACE)),
            ACCESS_RETRY_SECONDS="30",
            SYNC_INTERVAL_SECONDS="0",
            RATELIMIT_ENABLED="false",
        ) as running,
    ):
        yield running
        log = running.app.log(10**8) if running.app else ""
        assert "unhandled_error" not in log and "Traceback" not in log


@pytest.fixture
async def http(whop_cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    """A client bounded well above the app's own 1 s Whop timeout; faults cleared afterwards."""
    async with httpx.AsyncClient(timeout=20) as client:
        yield client
        await admin(client, whop_cluster, "DELETE", "/faults")


async def _fault(http: httpx.AsyncClient, cluster: Cluster, **fault: Any) -> None:
    await admin(http, cluster, "POST", "/faults", fault)


async def _member(http: httpx.AsyncClient, cluster: Cluster, prefix: str) -> Member:
    member = await new_member(http, cluster, prefix)
    await sent_webhooks(http, cluster)
    return member


async def _sync_run(cluster: Cluster) -> tuple[int, dict[str, Any], str]:
    """`mentora sync run` as its own process: exit status, JSON report, stderr."""
    proc = await asyncio.create_subprocess_exec(
        MENTORA,
        "sync",
        "run",
        env=cluster.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, json.loads(out), err.decode()


def _checked_at(cluster: Cluster, user_id: str) -> datetime:
    """When the app stored Whop's last answer for `user_id`: TTL and grace count from it."""
    checked: datetime | None = scalar(
        cluster.database_url,
        "SELECT s.access_checked_at FROM student s JOIN user_account u ON u.id = s.user_id"
        " WHERE u.whop_user_id = %s",
        user_id,
    )
    assert checked is not None
    return checked


async def _until(moment: datetime) -> None:
    """Wait until the app processes' clock (this machine's real clock) reaches `moment`.

    The app's TTL and grace run on that clock, so this waits for a state the app computes
    from its stored check time, not for a guessed duration.
    """
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def _no_500(*responses: httpx.Response) -> None:
    """Only clear answers: below 500, or 503 (temporarily unavailable, with a reason)."""
    for response in responses:
        assert response.status_code < 500 or response.status_code == 503, (
            response.status_code,
            response.text[:300],
        )


async def test_m03_whop_slow_signin_503_gate_degrades_then_refuses_bounded(
    whop_cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """5 s Whop: sign-in 503 page; stale gate allowed within grace, then 503; one call in all."""
    cluster = whop_cluster
    member = await _member(http, cluster, "slow")
    await _fault(http, cluster, path_prefix=CHECK_ACCESS, latency=5.0)
    before = await calls(http, cluster, CHECK_ACCESS)
    refused, cookie = await sign_in_response(http, cluster, member.user_id)
    _no_500(refused)
    assert refused.status_code == 503 and cookie is None
    assert "text/html" in refused.headers["content-type"]
    assert "Whop could not be reached" in refused.text
    assert await calls(http, cluster, CHECK_ACCESS) - before == 1  # no retry

    await admin(http, cluster, "DELETE", "/faults")
    session = await sign_in(http, cluster, member.user_id)
    checked = _checked_at(cluster, member.user_id)
    await _until(checked + timedelta(seconds=TTL))  # stale: the next request revalidates
    await _fault(http, cluster, path_prefix=CHECK_ACCESS, latency=5.0)
    before = await calls(http, cluster, CHECK_ACCESS)
    async with pinned_clients(cluster.app_url, per_worker=1) as pinned:
        answers = [
            await client.get("/api/content", headers=session_headers(session))
            for group in pinned.values()
            for client in group * 3
        ]
        _no_500(*answers)
        # Within the grace period the last known state holds, marked degraded.
        assert [a.status_code for a in answers] == [200] * 6
        assert all(a.json()["degraded"] for a in answers)
        assert len({a.headers[SERVED_BY] for a in answers}) == 2
        # One slow call to Whop for six requests in two processes: the failure is shared.
        assert await calls(http, cluster, CHECK_ACCESS) - before == 1

    assert datetime.now(UTC) < checked + timedelta(seconds=GRACE), "the six took the grace"
    await _until(checked + timedelta(seconds=GRACE))
    # Past the grace period, in both workers (new connections: the old ones idled out).
    pids = set(pinned)
    apis = await from_each_worker(cluster.app_url, "/api/content", session_headers(session), pids)
    pages = await from_each_worker(
        cluster.app_url, "/content", {**session_headers(session), **NAVIGATE}, pids
    )
    _no_500(*apis, *pages)
    for api in apis:
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "stale_whop_unreachable"
        assert "retry-after" in api.headers
    for page in pages:
        assert page.status_code == 503 and "text/html" in page.headers["content-type"]
        assert "Whop" in page.text
    assert await calls(http, cluster, CHECK_ACCESS) - before == 1  # still within the back-off


async def test_whop_500_signin_503_token_500_refused_sync_fails_once(
    whop_cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """Whop 500s: a 503 page, the documented sign-in refusal, a failed sync; one call each."""
    cluster = whop_cluster
    member = await _member(http, cluster, "err")
    await _fault(http, cluster, path_prefix=CHECK_ACCESS, status=500)
    before = await calls(http, cluster, CHECK_ACCESS)
    refused, cookie = await sign_in_response(http, cluster, member.user_id)
    _no_500(refused)
    assert refused.status_code == 503 and cookie is None
    assert "Whop could not be reached" in refused.text
    assert await calls(http, cluster, CHECK_ACCESS) - before == 1

    await admin(http, cluster, "DELETE", "/faults")
    await _fault(http, cluster, path_prefix="/oauth/token", status=500)
    before = await calls(http, cluster, "/oauth/token")
    refused, cookie = await sign_in_response(http, cluster, member.user_id)
    _no_500(refused)
    # The code is single-use, so it is never retried: Whop is said to be unavailable (503),
    # and the user signs in again later.
    assert refused.status_code == 503 and cookie is None
    assert "Whop could not be reached" in refused.text
    assert await calls(http, cluster, "/oauth/token") - before == 1

    await admin(http, cluster, "DELETE", "/faults")
    await _fault(http, cluster, path_prefix="/api/v1/memberships", status=500)
    before = await calls(http, cluster, "/api/v1/memberships")
    status, report, stderr = await _sync_run(cluster)
    assert status == 1 and report["outcome"] == "failed"
    assert "whop_unavailable" in report["error"]
    assert "Traceback" not in stderr
    assert await calls(http, cluster, "/api/v1/memberships") - before == 1


async def test_whop_429_signin_503_gate_degrades_sync_waits_five_times(
    whop_cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """Whop 429 + Retry-After: sign-in 503, gate degraded, sync honours it 5 times then stops."""
    cluster = whop_cluster
    member = await _member(http, cluster, "lim")
    session = await sign_in(http, cluster, member.user_id)
    await _fault(http, cluster, path_prefix=CHECK_ACCESS, status=429, retry_after=1)
    await _until(_checked_at(cluster, member.user_id) + timedelta(seconds=TTL))
    before = await calls(http, cluster, CHECK_ACCESS)
    gated = await http.get(f"{cluster.app_url}/api/content", headers=session_headers(session))
    _no_500(gated)
    assert gated.status_code == 200 and gated.json()["degraded"] is True
    other = await _member(http, cluster, "lim")
    refused, cookie = await sign_in_response(http, cluster, other.user_id)
    _no_500(refused)
    assert refused.status_code == 503 and cookie is None
    assert await calls(http, cluster, CHECK_ACCESS) - before == 2  # one each, no retries

    await admin(http, cluster, "DELETE", "/faults")
    await _fault(http, cluster, path_prefix="/api/v1/memberships", status=429, retry_after=1)
    before = await calls(http, cluster, "/api/v1/memberships")
    status, report, stderr = await _sync_run(cluster)
    assert status == 1 and report["outcome"] == "partial"
    assert "Traceback" not in stderr
    assert await calls(http, cluster, "/api/v1/memberships") - before == 5
