"""Revalidation against the emulator: single flight, grace window, fail closed, revocation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mentora.access.revalidate import Revalidator
from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.services import Services, build_services
from tests.access.helpers import (
    audit_reasons,
    live_sessions,
    seed,
    student_level,
    use_session,
)
from tests.support.env import APP_URL

TTL = 300
GRACE = 900


def checks(emulator: Any, user: str = "") -> int:
    """Check-access calls the emulator served (for one user, or all)."""
    return int(emulator.call_count(f"/api/v1/users/{user}" if user else "/api/v1/users/"))


async def test_stale_state_revalidates_once_and_refreshes(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """Past the TTL one request asks Whop, stores the answer, and the next ones do not."""
    student = await seed(services, "user_demo_member")
    use_session(client, student)
    clock.advance(TTL)
    assert (await client.get("/api/content")).status_code == 200
    assert checks(emulator) == 1
    level, checked = await student_level(services, student.user_id, student.creator_id)
    assert (level, checked) == ("customer", clock.now())
    for _ in range(5):
        assert (await client.get("/api/content")).status_code == 200
    assert checks(emulator) == 1


async def test_twenty_concurrent_stale_requests_make_one_whop_call(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """20 concurrent requests with a stale decision share one check-access call."""
    use_session(client, await seed(services, "user_demo_member"))
    clock.advance(TTL + 1)
    emulator.reset_call_counts()
    responses = await asyncio.gather(*(client.get("/api/content") for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert checks(emulator) == 1


async def test_single_flight_across_processes(
    services: Services,
    client: httpx.AsyncClient,
    emulator: Any,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two app processes on one database, 10 stale requests each: still one Whop call."""
    other = build_services(
        services.settings, clock=clock, transport=httpx.ASGITransport(app=emulator.app)
    )
    other_app = create_app(services.settings, services=other)
    student = await seed(services, "user_demo_member")
    clock.advance(TTL + 1)
    emulator.reset_call_counts()
    # Slow Whop down so both processes really overlap: the loser must wait on the claim.
    emulator.add_fault("/api/v1/users/", latency=0.5, count=1)
    waits: list[int] = []
    for svc in (services, other):
        reval = svc.gate.revalidator
        original = reval._await_other

        async def counted(row_id: int, _original: Any = original) -> Any:
            waits.append(row_id)
            return await _original(row_id)

        monkeypatch.setattr(reval, "_await_other", counted)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other_app), base_url=APP_URL
        ) as second:
            responses = await asyncio.gather(
                *(
                    c.get("/api/content", headers=student.cookie)
                    for _ in range(10)
                    for c in (client, second)
                )
            )
    finally:
        await other.aclose()
    assert [r.status_code for r in responses] == [200] * 20
    assert checks(emulator) == 1
    assert len(waits) == 1  # the other process lost the database claim and waited


async def test_revalidation_finds_revocation_and_ends_sessions(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """A lost deactivation is caught at the TTL: refused, and the user's sessions end."""
    student = await seed(services, "user_demo_member", memberships=[{"status": "active"}])
    use_session(client, student)
    emulator.set_membership_status("mem_demo_member", "canceled")  # webhook lost: no app
    emulator.app_slot.target = None
    await emulator.flush_webhooks()
    assert (await client.get("/api/content")).status_code == 200  # still fresh
    clock.advance(TTL)
    response = await client.get("/api/content")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "whop_no_access"
    assert await live_sessions(services, student.user_id) == 0
    assert (await client.get("/api/content")).status_code == 401
    assert "access_revoked" in await audit_reasons(services, "session_revoked")


async def test_m03_fresh_stale_within_grace_then_fail_closed(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """Whop down: fresh → 200; stale within grace → 200 degraded; past grace → 503 page."""
    student = await seed(services, "user_demo_member", memberships=[{"status": "active"}])
    use_session(client, student)
    emulator.add_fault("/api/v1/users/", status=500)
    assert (await client.get("/api/content")).json()["degraded"] is False
    assert checks(emulator) == 0

    clock.advance(TTL + 10)
    stale = await client.get("/api/content")
    assert stale.status_code == 200
    assert stale.json()["degraded"] is True
    assert checks(emulator) == 1
    # Back-off: more requests during the outage do not hammer Whop.
    for _ in range(5):
        assert (await client.get("/api/content")).status_code == 200
    assert checks(emulator) == 1

    clock.advance(GRACE - TTL - 10)  # now exactly GRACE after the last successful check
    refused = await client.get("/api/content")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "stale_whop_unreachable"
    assert int(refused.headers["retry-after"]) > 0
    page = await client.get("/content")
    assert page.status_code == 503
    assert "Whop unavailable" in page.text
    assert "stale_whop_unreachable" in await audit_reasons(services)

    emulator.clear_faults()
    clock.advance(services.settings.access_retry_seconds)
    recovered = await client.get("/api/content")
    assert recovered.status_code == 200
    assert recovered.json()["degraded"] is False


async def test_m03_timeout_counts_as_unreachable(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """A Whop call slower than the HTTP timeout is abandoned; within grace the state holds."""
    services.settings.whop_http_timeout_seconds = 0.1
    # The revalidator reads the timeout when built: build the app's one again with 0.1 s.
    services.gate.revalidator = Revalidator(services)
    use_session(client, await seed(services, "user_demo_member"))
    emulator.add_fault("/api/v1/users/", latency=5.0)
    clock.advance(TTL)
    response = await asyncio.wait_for(client.get("/api/content"), timeout=4)
    assert response.status_code == 200
    assert response.json()["degraded"] is True


async def test_never_allow_on_error_without_a_successful_check(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A student Whop never confirmed is refused while Whop errors, even with an active row."""
    student = await seed(
        services, "user_demo_member", level=None, memberships=[{"status": "active"}]
    )
    use_session(client, student)
    emulator.add_fault("/api/v1/users/", status=429, retry_after=5)
    response = await client.get("/api/content")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stale_whop_unreachable"


async def test_breaker_stops_calls_for_everyone(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """After ACCESS_BREAKER_FAILURES failures in a row, nobody asks Whop until the cooldown."""
    threshold = services.settings.access_breaker_failures
    students = [await seed(services, f"user_b{i}") for i in range(threshold + 3)]
    emulator.add_fault("/api/v1/users/", status=503)
    clock.advance(TTL)
    for student in students:
        assert (await client.get("/api/content", headers=student.cookie)).status_code == 200
    assert checks(emulator) == threshold
    assert not services.gate.revalidator.breaker.allows(clock.now())
    clock.advance(services.settings.access_retry_seconds)
    assert services.gate.revalidator.breaker.allows(clock.now())


async def test_m04_concurrent_revalidation_keeps_users_apart(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """Two stale users revalidated concurrently each get Whop's answer for themselves."""
    member = await seed(services, "user_demo_member")
    guest = await seed(services, "user_demo_guest")
    clock.advance(TTL)
    order = [member, guest] * 10
    responses = await asyncio.gather(*(client.get("/api/content", headers=s.cookie) for s in order))
    for student, response in zip(order, responses, strict=True):
        assert response.status_code == (200 if student is member else 403), response.text
    assert checks(emulator, "user_demo_member") == 1
    assert checks(emulator, "user_demo_guest") == 1


async def test_cross_creator_revalidation_asks_for_this_creator(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """Revalidation asks about the session's creator: a member elsewhere is refused here."""
    student = await seed(services, "user_other_member", checked_at=clock.now() - timedelta(hours=1))
    response = await client.get("/api/content", headers=student.cookie)
    assert response.status_code == 403
    assert emulator.call_count("/api/v1/users/user_other_member/access/biz_demo") == 1
    assert emulator.call_count("/api/v1/users/user_other_member/access/biz_other") == 0


@pytest.mark.parametrize("user", ["user_demo_creator"])
async def test_admin_revalidates_to_creator_role(
    services: Services, client: httpx.AsyncClient, clock: FrozenClock, user: str
) -> None:
    """The company's team member gets Whop's `admin` level and the creator role."""
    student = await seed(services, user, level=None)
    body = (await client.get("/api/content", headers=student.cookie)).json()
    assert (body["role"], body["reason"]) == ("creator", "creator")
    assert (await student_level(services, student.user_id, student.creator_id))[0] == "admin"
