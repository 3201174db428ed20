"""Sign in with Whop end to end through the in-process emulator (integration)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select

from mentora.db.models import AuditEvent, UserSession, WhopToken
from mentora.emulator import DEMO
from mentora.services import Services
from mentora.web.cookie import LOGIN_COOKIE, SESSION_COOKIE
from tests.support.signin import SignIn


async def test_member_signs_in_and_reaches_dashboard(
    signin: SignIn, client: httpx.AsyncClient, services: Services
) -> None:
    """A member completes the flow, gets a session cookie and sees the dashboard."""
    response = await signin.sign_in(DEMO.member_user_id)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard"
    assert signin.session_cookie()
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert "Ada" in page.text
    async with services.sessionmaker() as db:
        kinds = (await db.execute(select(AuditEvent.kind))).scalars().all()
        assert "authn_login_success" in kinds
        assert (await db.execute(select(func.count()).select_from(UserSession))).scalar_one() == 1


async def test_non_member_is_signed_in_and_refused_at_the_door(
    signin: SignIn, client: httpx.AsyncClient, services: Services
) -> None:
    """A session belongs to a user: a Whop user with no membership anywhere is signed in,
    and the dashboard (no creator to list) answers with the no-access page and its reason."""
    response = await signin.sign_in(DEMO.guest_user_id)
    assert response.status_code == 303, response.text
    assert signin.session_cookie()
    page = await client.get("/dashboard")
    assert page.status_code == 403
    assert "membership" in page.text.lower()
    assert (await client.get("/api/content")).json()["error"]["code"] == "no_membership"
    async with services.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(UserSession))).scalar_one() == 1
        reasons = (
            (await db.execute(select(AuditEvent.reason).where(AuditEvent.kind == "authz_fail")))
            .scalars()
            .all()
        )
        assert set(reasons) == {"no_membership"}


async def test_c01_authorize_redirect_carries_pkce_and_config(signin: SignIn) -> None:
    """The authorize redirect uses S256 PKCE, code flow, the configured redirect URI and scopes."""
    response = await signin.start()
    assert response.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == "https://mentora.test/api/whop/callback"
    assert query["scope"] == "openid profile email"
    assert "code_verifier" not in response.headers["location"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN_COOKIE}=")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie


async def test_logout_ends_session_and_revokes_grant(
    signin: SignIn, client: httpx.AsyncClient, services: Services, emulator: Any
) -> None:
    """Logout with the CSRF token kills the session server-side, refuses the old cookie,
    revokes the member's grant at Whop (the emulator) and forgets the tokens here."""
    await signin.sign_in(DEMO.member_user_id)
    grants = [g for g in emulator.state.oauth.grants.values() if g.user_id == DEMO.member_user_id]
    assert [g.revoked for g in grants] == [False]
    cookie = signin.session_cookie()
    page = await client.get("/dashboard")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    out = await client.post(
        "/api/whop/logout",
        data={"csrf_token": token.group(1)},
        headers={"origin": "https://mentora.test"},
    )
    assert out.status_code == 303
    assert out.headers["clear-site-data"] == '"cookies"'
    client.cookies.set(SESSION_COOKIE, cookie or "", domain="mentora.test")
    again = await client.get("/api/whop/verify")
    assert again.status_code == 401
    assert [g.revoked for g in grants] == [True]
    async with services.sessionmaker() as db:
        # Revoked at Whop, then forgotten here: an ended session keeps no grant to steal.
        assert (await db.execute(select(func.count()).select_from(WhopToken))).scalar_one() == 0


async def test_signin_reconciles_the_user_only_when_local_state_disagrees(
    signin: SignIn, services: Services, emulator: Any
) -> None:
    """First sign-in (no membership row yet) pulls the user's memberships; the next does not."""
    from mentora.db.models import Membership, SyncRun

    await signin.sign_in(DEMO.member_user_id)
    async with services.sessionmaker() as db:
        runs = (await db.execute(select(SyncRun.trigger))).scalars().all()
        rows = (await db.execute(select(Membership.whop_membership_id))).scalars().all()
    assert runs == ["signin"]
    assert rows == [DEMO.member_membership_id]
    await signin.sign_in(DEMO.member_user_id)
    async with services.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(SyncRun))).scalar_one() == 1


async def test_logout_of_an_ended_session_just_clears_the_cookie(
    signin: SignIn, client: httpx.AsyncClient, services: Services
) -> None:
    """Signing out after the session already ended is a quiet success, not a CSRF refusal."""
    from mentora.db.uow import transaction
    from mentora.sessions import store

    await signin.sign_in(DEMO.member_user_id)
    async with transaction(services.sessionmaker, write=True) as db:
        await store.revoke_all(db, now=services.clock.now(), reason="test")
    out = await client.post("/api/whop/logout", headers={"origin": "https://mentora.test"})
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert SESSION_COOKIE in out.headers["set-cookie"]
    async with services.sessionmaker() as db:
        kinds = (await db.execute(select(AuditEvent.kind))).scalars().all()
    assert "malicious_csrf" not in kinds
    cross = await client.post("/api/whop/logout", headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
