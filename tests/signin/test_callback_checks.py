"""Checklist C03-C16 and S01-S11 through the real callback route with the emulator in-process.

Each negative case asserts the refusal, that the token endpoint was not called, that no session
was created, and the audit reason.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.creators import ensure_configured_creator
from mentora.db.models import AuditEvent, LoginAttempt, UserSession, WhopToken
from mentora.emulator import DEMO
from mentora.services import Services, build_services
from mentora.web.cookie import LOGIN_COOKIE, SESSION_COOKIE
from tests.support.env import APP_URL
from tests.support.recording import RecordingTransport
from tests.support.signin import SignIn


async def _count(services: Services, model: Any) -> int:
    async with services.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def _fail_reasons(services: Services) -> list[str | None]:
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(AuditEvent.reason).where(AuditEvent.kind == "authn_login_fail")
        )
        return list(rows.scalars().all())


async def _authorized(signin: SignIn, user: str = DEMO.member_user_id) -> Any:
    started = await signin.start()
    return await signin.authorize(started.headers["location"], user)


def _with(authorized: Any, **changes: str | None) -> Any:
    params = dict(authorized.params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    authorized.callback_url = "/api/whop/callback?" + urlencode(params)
    return authorized


async def _assert_refused(
    response: httpx.Response,
    services: Services,
    emulator: Any,
    reason: str,
    token_calls_before: int,
    status: int = 400,
) -> None:
    assert response.status_code == status, response.text
    assert emulator.call_count("/oauth/token") == token_calls_before
    assert await _count(services, UserSession) == 0
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert reason in await _fail_reasons(services)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("state", [None, "", "wrong-state"])
async def test_c03_missing_or_wrong_state_rejected(
    signin: SignIn, services: Services, emulator: Any, state: str | None
) -> None:
    """No state or a wrong state: 400, no token call, no session, audit state_mismatch."""
    authorized = _with(await _authorized(signin), state=state)
    before = emulator.call_count("/oauth/token")
    response = await signin.callback(authorized)
    await _assert_refused(response, services, emulator, "state_mismatch", before)


async def test_c03_state_from_another_browser_rejected(
    signin: SignIn, services: Services, emulator: Any, app: Any
) -> None:
    """Another browser's valid state does not match this browser's transaction (C03c, C04)."""
    victim = await _authorized(signin)  # this browser's own transaction, never completed
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_URL) as other:
        attacker = SignIn(other, emulator)
        stolen = await _authorized(attacker)  # the attacker's code and state
    del victim
    before = emulator.call_count("/oauth/token")
    response = await signin.callback(stolen)
    await _assert_refused(response, services, emulator, "state_mismatch", before)


async def test_c03_transaction_is_single_use(
    signin: SignIn, services: Services, emulator: Any, client: httpx.AsyncClient
) -> None:
    """A replayed callback finds no transaction: 400, no second token call (C03d, C12)."""
    authorized = await _authorized(signin)
    first = await signin.callback(authorized)
    assert first.status_code == 303
    client.cookies.delete(SESSION_COOKIE)
    client.cookies.set(LOGIN_COOKIE, "reused", domain="mentora.test")
    before = emulator.call_count("/oauth/token")
    again = await signin.callback(authorized)
    assert again.status_code == 400
    assert emulator.call_count("/oauth/token") == before
    assert "state_missing" in await _fail_reasons(services)


async def test_c03_expired_transaction_rejected(
    signin: SignIn, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """A transaction older than 10 minutes is refused (C03e)."""
    authorized = await _authorized(signin)
    clock.advance(601)
    before = emulator.call_count("/oauth/token")
    response = await signin.callback(authorized)
    await _assert_refused(response, services, emulator, "state_expired", before)


@pytest.mark.parametrize("iss", ["https://whop.test/", "https://evil.test", None])
async def test_c06_issuer_mismatch_rejected_before_exchange(
    signin: SignIn, services: Services, emulator: Any, iss: str | None
) -> None:
    """A wrong, trailing-slash or (advertised but) missing `iss` is refused before the exchange."""
    authorized = _with(await _authorized(signin), iss=iss)
    before = emulator.call_count("/oauth/token")
    response = await signin.callback(authorized)
    await _assert_refused(response, services, emulator, "iss_mismatch", before)


async def test_c07_redirect_uri_ignores_host_headers(client: httpx.AsyncClient) -> None:
    """Host and X-Forwarded-Host never change the redirect_uri sent to Whop."""
    response = await client.get(
        "/api/whop/auth",
        headers={
            "host": "evil.test",
            "x-forwarded-host": "evil.test",
            "x-forwarded-proto": "http",
            "sec-fetch-mode": "navigate",
            "sec-fetch-site": "none",
        },
    )
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["redirect_uri"] == ["https://mentora.test/api/whop/callback"]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test",
        "//evil.test",
        "/\\evil.test",
        "\\\\evil.test",
        "/%2F%2Fevil.test",
        "javascript:alert(1)",
        "data:text/html,x",
        "http:/evil.test",
        "/ok\r\nLocation: https://evil.test",
        "/" + "a" * 5000,
    ],
)
async def test_c08_next_is_never_an_open_redirect(
    signin: SignIn, services: Services, target: str
) -> None:
    """Every hostile `next` ends on a local path (the dashboard)."""
    started = await signin.start(target)
    assert started.status_code == 302
    authorized = await signin.authorize(started.headers["location"], DEMO.member_user_id)
    response = await signin.callback(authorized)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


async def test_c08_local_next_is_kept(signin: SignIn) -> None:
    """A plain local path survives the round trip."""
    response = await signin.sign_in(DEMO.member_user_id, next_path="/account/sessions")
    assert response.headers["location"] == "/account/sessions"


async def test_c09_callback_redirects_to_clean_url_with_headers(signin: SignIn) -> None:
    """Success is a 303 to a path without query, with no-store and no-referrer."""
    response = await signin.sign_in(DEMO.member_user_id)
    assert response.status_code == 303
    assert "?" not in response.headers["location"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_c10_provider_error_consumes_transaction_and_escapes(
    signin: SignIn, services: Services, emulator: Any
) -> None:
    """error=access_denied: 400 page, description not reflected, transaction gone, no token call."""
    started = await signin.start()
    authorized = await signin.authorize(
        started.headers["location"], DEMO.member_user_id, approve=False
    )
    assert authorized.params["error"] == "access_denied"
    authorized = _with(authorized, error_description="<script>alert(1)</script>")
    before = emulator.call_count("/oauth/token")
    response = await signin.callback(authorized)
    await _assert_refused(response, services, emulator, "provider_error", before)
    assert "<script>" not in response.text
    assert await _count(services, LoginAttempt) == 0


async def test_c11_only_code_flow_requested(signin: SignIn) -> None:
    """The authorize request asks for `code` and never puts tokens in a URL."""
    started = await signin.start()
    location = started.headers["location"]
    assert "response_type=code&" in location
    assert "access_token=" not in location and "id_token=" not in location


async def test_c14_no_issued_token_ever_reaches_the_browser(
    settings: Settings, clock: FrozenClock, emulator: Any
) -> None:
    """Every token the emulator issued (ID token, first and rotated access and refresh tokens)
    is absent from every response the browser got; the database holds ciphertext only."""
    recorder = RecordingTransport(httpx.ASGITransport(app=emulator.app))
    services = build_services(settings, clock=clock, transport=recorder)
    await ensure_configured_creator(services, name="Demo Academy")
    app = create_app(settings, services=services)
    emulator.app_slot.target = app
    seen: list[httpx.Response] = []
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=APP_URL
        ) as client:
            seen.append(await SignIn(client, emulator).sign_in(DEMO.member_user_id))
            seen.append(await client.get("/dashboard"))
            seen.append(await client.get("/api/whop/verify"))
            token = re.search(r'name="csrf_token" value="([^"]+)"', seen[1].text)
            assert token
            clock.advance(60)  # past the minimum interval between forced rotations
            headers = {"x-csrf-token": token.group(1), "origin": APP_URL}
            seen.append(await client.post("/api/whop/refresh", headers=headers))
            seen.append(await client.get("/dashboard"))
            seen.append(await client.get("/api/whop/verify"))
        async with services.sessionmaker() as db:
            row = (await db.execute(select(WhopToken))).scalar_one()
    finally:
        await services.aclose()
    assert [r.status_code for r in seen] == [303, 200, 200, 200, 200, 200]
    grants = [
        response.json()
        for request, response in recorder.exchanges
        if request.url.path == "/oauth/token" and response.status_code == 200
    ]
    assert len(grants) == 2  # the code exchange, then the forced rotation
    issued = [g[name] for g in grants for name in ("access_token", "refresh_token", "id_token")]
    assert len(set(issued)) == 6
    for response in seen:
        blob = response.text + str(response.headers.multi_items())
        leaked = [value for value in issued if value in blob]
        assert leaked == [], response.request.url
    access = services.tokens.decrypt(row.access_token_enc)
    assert access == grants[-1]["access_token"]
    assert access.encode() not in row.access_token_enc
    assert grants[-1]["refresh_token"].encode() not in (row.refresh_token_enc or b"")


async def test_c15_ten_concurrent_requests_refresh_once(
    signin: SignIn, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """Ten concurrent requests with an expired access token make one token call; all succeed."""
    import asyncio

    await signin.sign_in(DEMO.member_user_id)
    for _ in range(2):  # stay inside the idle timeout while the access token ages
        clock.advance(1500)
        assert (await client.get("/api/whop/verify")).status_code == 200
    clock.advance(400)  # now within the 5-minute refresh leeway of the 1-hour expiry
    before = emulator.call_count("/oauth/token")
    responses = await asyncio.gather(*(client.get("/api/whop/verify") for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert emulator.call_count("/oauth/token") == before + 1


async def test_c15_forced_refresh_rotates_and_is_single_flight(
    signin: SignIn, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """Ten concurrent POST /refresh with the CSRF token rotate the grant once; all succeed."""
    import asyncio

    await signin.sign_in(DEMO.member_user_id)
    page = await client.get("/dashboard")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    clock.advance(60)  # past the minimum interval between forced rotations
    before = emulator.call_count("/oauth/token")
    headers = {"x-csrf-token": token.group(1), "origin": APP_URL}
    responses = await asyncio.gather(
        *(client.post("/api/whop/refresh", headers=headers) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [200] * 10
    assert emulator.call_count("/oauth/token") == before + 1


async def test_c16_logout_revokes_refresh_token_at_whop(
    signin: SignIn, client: httpx.AsyncClient, services: Services, emulator: Any
) -> None:
    """After logout, the stored refresh token is dead at Whop (invalid_grant)."""

    await signin.sign_in(DEMO.member_user_id)
    async with services.sessionmaker() as db:
        row = (await db.execute(select(WhopToken))).scalar_one()
    refresh = services.tokens.decrypt(row.refresh_token_enc or b"")
    page = await client.get("/dashboard")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    out = await client.post(
        "/api/whop/logout", data={"csrf_token": token.group(1)}, headers={"origin": APP_URL}
    )
    assert out.status_code == 303
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.config.issuer
    ) as whop:
        reply = await whop.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": "app_demo",
                "client_secret": "test-client-secret",
            },
        )
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_grant"


async def test_s01_unknown_cookie_is_never_adopted(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A session id the server never issued gets 401 and a session_invalid audit event."""
    client.cookies.set(SESSION_COOKIE, "x" * 43, domain="mentora.test")
    response = await client.get("/api/whop/verify")
    assert response.status_code == 401
    async with services.sessionmaker() as db:
        kinds = (await db.execute(select(AuditEvent.kind))).scalars().all()
    assert "session_invalid" in kinds


async def test_s02_session_cookie_attributes(signin: SignIn) -> None:
    """Session cookie: __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain or Max-Age."""
    response = await signin.sign_in(DEMO.member_user_id)
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]
    assert len(cookies) == 1
    attrs = [part.strip().lower() for part in cookies[0].split(";")[1:]]
    assert sorted(attrs) == sorted(["httponly", "path=/", "samesite=lax", "secure"])


async def test_s04_new_session_each_login_old_value_dead(
    signin: SignIn, client: httpx.AsyncClient
) -> None:
    """A pre-set cookie is replaced at login; two logins give two different tokens."""
    client.cookies.set(SESSION_COOKIE, "attacker-known", domain="mentora.test")
    await signin.sign_in(DEMO.member_user_id)
    first = signin.session_cookie()
    assert first and first != "attacker-known"
    await signin.sign_in(DEMO.member_user_id)
    second = signin.session_cookie()
    assert second and second != first
    client.cookies.set(SESSION_COOKIE, "attacker-known", domain="mentora.test")
    assert (await client.get("/api/whop/verify")).status_code == 401


async def test_s06_idle_timeout(
    signin: SignIn, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Activity at 29 minutes extends the session; 31 idle minutes end it."""
    await signin.sign_in(DEMO.member_user_id)
    clock.advance(29 * 60)
    assert (await client.get("/api/whop/verify")).status_code == 200
    clock.advance(29 * 60)
    assert (await client.get("/api/whop/verify")).status_code == 200
    clock.advance(31 * 60)
    assert (await client.get("/api/whop/verify")).status_code == 401


async def test_s07_absolute_timeout(
    signin: SignIn, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Requests every 5 minutes still end at 12 hours."""
    await signin.sign_in(DEMO.member_user_id)
    for _ in range(int(12 * 60 / 5) - 1):
        clock.advance(300)
        response = await client.get("/dashboard")
        assert response.status_code == 200
    clock.advance(600)
    assert (await client.get("/api/whop/verify")).status_code == 401


async def test_s08_logout_requires_post_and_replay_fails(
    signin: SignIn, client: httpx.AsyncClient
) -> None:
    """GET /logout is 405; a POST without the CSRF token is 403."""
    await signin.sign_in(DEMO.member_user_id)
    assert (await client.get("/api/whop/logout")).status_code == 405
    refused = await client.post("/api/whop/logout", headers={"origin": APP_URL})
    assert refused.status_code == 403
    cross = await client.post("/api/whop/logout", headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    assert (await client.get("/api/whop/verify")).status_code == 200


async def test_s11_cross_site_login_start_refused(client: httpx.AsyncClient) -> None:
    """A cross-site, non-navigation request cannot start a login."""
    response = await client.get(
        "/api/whop/auth", headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"}
    )
    assert response.status_code == 403
    assert "location" not in response.headers


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_token_endpoint_outage_is_503_not_a_client_error(
    signin: SignIn, services: Services, emulator: Any, status: int
) -> None:
    """Whop's token endpoint failing on its side gives a 503 page, one call, and no session."""
    authorized = await _authorized(signin)
    emulator.add_fault("/oauth/token", status=status, retry_after=1.0 if status == 429 else None)
    before = emulator.call_count("/oauth/token")
    response = await signin.callback(authorized)
    assert response.status_code == 503
    assert "Whop could not be reached" in response.text
    assert emulator.call_count("/oauth/token") == before + 1
    assert await _count(services, UserSession) == 0
    assert "token_endpoint_unavailable" in await _fail_reasons(services)
