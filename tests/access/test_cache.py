"""The gate's per-process cache is exact: any commit, anywhere, sends the next request to the DB."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text, update

from mentora.clock import FrozenClock
from mentora.db.engine import sync_url
from mentora.db.models import UserSession
from mentora.db.uow import transaction
from mentora.services import Services
from tests.access.helpers import seed, use_session

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _cache(services: Services) -> Any:
    cache = services.gate.cache
    assert cache is not None, "SQLite file databases get the gate cache"
    return cache


@SQLITE_ONLY
async def test_steady_state_requests_hit_the_cache(
    services: Services, client: httpx.AsyncClient
) -> None:
    """Repeated gated requests with nothing committed in between are served from the cache."""
    use_session(client, await seed(services, "user_c", memberships=[{"status": "active"}]))
    for _ in range(10):
        assert (await client.get("/api/content")).status_code == 200
    assert _cache(services).hits == 9


@SQLITE_ONLY
async def test_commit_from_another_process_is_seen_at_once(
    services: Services, client: httpx.AsyncClient
) -> None:
    """A deactivation committed by another connection (another process) refuses the next request."""
    student = await seed(services, "user_d", memberships=[{"status": "active"}])
    use_session(client, student)
    for _ in range(3):
        assert (await client.get("/api/content")).status_code == 200
    # A plain sqlite3 connection, as a separate worker or the CLI would commit.
    engine = create_engine(sync_url(services.settings.database_url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE membership SET status = 'canceled', source_updated_at = :at "
                "WHERE whop_user_id = 'user_d'"
            ),
            {"at": services.clock.now().replace(tzinfo=None)},
        )
    engine.dispose()
    response = await client.get("/api/content")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "canceled"


@SQLITE_ONLY
async def test_revoked_session_is_seen_at_once(
    services: Services, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """A session revoked in the database is refused on the very next request (401)."""
    student = await seed(services, "user_r", memberships=[{"status": "active"}])
    use_session(client, student)
    assert (await client.get("/api/content")).status_code == 200
    assert (await client.get("/api/content")).status_code == 200
    async with transaction(services.sessionmaker, write=True) as db:
        await db.execute(update(UserSession).values(revoked_at=clock.now(), revoked_reason="test"))
    assert (await client.get("/api/content")).status_code == 401


@SQLITE_ONLY
async def test_time_rules_run_on_every_hit(
    services: Services,
    client: httpx.AsyncClient,
    emulator: Any,
    clock: FrozenClock,
) -> None:
    """A cached state still expires by time: period end passes → refused; TTL → revalidated."""
    ending = {"status": "active", "cancel_at_period_end": True, "period_end_in": 30}
    use_session(client, await seed(services, "user_e", memberships=[ending]))
    assert (await client.get("/api/content")).json()["reason"] == "canceling_until_period_end"
    assert (await client.get("/api/content")).status_code == 200
    clock.advance(30)
    refused = await client.get("/api/content")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "expired"


@SQLITE_ONLY
async def test_ttl_expiry_on_a_cached_state_asks_whop(
    services: Services,
    client: httpx.AsyncClient,
    emulator: Any,
    clock: FrozenClock,
) -> None:
    """Crossing the TTL while cached takes the full path and revalidates once."""
    use_session(client, await seed(services, "user_demo_member"))
    for _ in range(3):
        assert (await client.get("/api/content")).status_code == 200
    clock.advance(services.settings.access_ttl_seconds)
    assert (await client.get("/api/content")).status_code == 200
    assert emulator.call_count("/api/v1/users/") == 1


@SQLITE_ONLY
async def test_admission_at_one_creator_never_admits_at_another(
    services: Services, client: httpx.AsyncClient
) -> None:
    """The cache key includes the space: a session cached as admitted at the default creator
    is decided afresh (and refused) at Other School's space, with nothing committed between."""
    from tests.pages.helpers import creator_id

    await creator_id(services, "biz_other")
    use_session(client, await seed(services, "user_k", memberships=[{"status": "active"}]))
    assert (await client.get("/api/content")).status_code == 200
    assert (await client.get("/api/content")).status_code == 200
    hits = _cache(services).hits
    assert hits == 1
    refused = await client.get("/c/biz_other/api/content")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "no_membership"
    assert _cache(services).hits == hits
