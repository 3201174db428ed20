"""Fault injection and call counting."""

from __future__ import annotations

import httpx

from mentora.emulator import DEMO, Emulator, EmulatorConfig

API_KEY = {"Authorization": "Bearer demo-api-key"}
ACCESS = f"/api/v1/users/{DEMO.member_user_id}/access/{DEMO.company_id}"


async def test_fixed_500_for_the_next_n_calls(whop: httpx.AsyncClient) -> None:
    """A 500 fault with count=2 fails two matching calls, then the endpoint recovers."""
    added = await whop.post(
        "/_emulator/admin/faults",
        json={"path_prefix": "/api/v1/users/", "status": 500, "count": 2},
    )
    assert added.status_code == 201
    statuses = [(await whop.get(ACCESS, headers=API_KEY)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    other = await whop.get(f"/api/v1/memberships/{DEMO.member_membership_id}", headers=API_KEY)
    assert other.status_code == 200  # a different prefix is untouched


async def test_429_carries_retry_after_in_each_error_shape(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """429 faults send Retry-After; REST uses the v1 error shape, OAuth the RFC 6749 one."""
    emu.add_fault("/api/v1/", status=429, retry_after=7, count=1)
    emu.add_fault("/oauth/token", status=429, count=1)
    rest = await whop.get(ACCESS, headers=API_KEY)
    assert rest.status_code == 429 and rest.headers["retry-after"] == "7"
    assert rest.json()["error"]["code"] == "rate_limited"
    token = await whop.post("/oauth/token", data={"grant_type": "refresh_token"})
    assert token.status_code == 429 and token.headers["retry-after"] == "1"
    assert token.json()["error"] == "rate_limit_exceeded"


async def test_latency_fault_delays_without_failing(emu_config: EmulatorConfig) -> None:
    """A latency-only fault waits its latency (through the emulator's sleep) and still serves
    the call; once cleared, calls wait for nothing."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    emu = Emulator(emu_config, sleep=sleep)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url=emu_config.issuer
    ) as whop:
        emu.add_fault("/api/v1/memberships", latency=0.2)
        response = await whop.get("/api/v1/memberships", headers=API_KEY)
        assert response.status_code == 200 and waits == [0.2]
        cleared = await whop.delete("/_emulator/admin/faults")
        assert cleared.json() == {"data": []}
        assert (await whop.get("/api/v1/memberships", headers=API_KEY)).status_code == 200
        assert waits == [0.2]
    await emu.aclose()


async def test_call_counts_cover_whop_endpoints_only(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """OAuth/REST calls are counted by path; admin and the control page are not."""
    await whop.get(ACCESS, headers=API_KEY)
    await whop.get(ACCESS, headers=API_KEY)
    await whop.get("/.well-known/jwks.json")
    await whop.get("/_emulator/admin/users")
    await whop.get("/")
    assert emu.call_count("/api/v1/users/") == 2
    assert emu.call_count() == 3
    calls = (await whop.get("/_emulator/admin/calls")).json()
    assert calls["total"] == 3 and calls["by_path"][ACCESS] == 2
    await whop.delete("/_emulator/admin/calls")
    assert emu.call_count() == 0
