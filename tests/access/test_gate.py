"""The gate on real routes: M01, M02, cross-creator isolation, refusal pages, zero Whop calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.responses import JSONResponse
from starlette.routing import Route

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.db.models import UserSession
from mentora.services import Services, build_services
from mentora.web.gate import Access, RequireCreator, is_gate, member_gate
from mentora.web.principal import load_principal, require_session
from tests.access.helpers import (
    audit_reasons,
    creator_id,
    live_sessions,
    seed,
    set_status,
    use_session,
)
from tests.support.env import APP_URL

# Routes that must carry the access gate (M01). Add every new gated route here.
GATED_PAGES = ["/content"]
GATED_APIS = ["/api/content"]
SPACE_ROUTES = ["/c/{route}", "/c/{route}/api/content"]  # decided for the creator of the path
# Gated on x-whop-user-token, not the cookie.
EMBEDDED_APIS = [
    "/api/embed/content",
    "/experiences/{experience_id}",
    "/experiences/{experience_id}/api/content",
]
CREATOR_ROUTES = [
    "/creator",
    "/creator/students",
    "/creator/deliveries",
    "/creator/deliveries/replay",
    "/creator/deliveries/reprocess",
    "/creator/audit",
    "/creator/sync",
]
# Every creator page again in each creator's space, decided for the creator of the path.
CREATOR_ROUTES += [f"/c/{{route}}{path}" for path in CREATOR_ROUTES]
# Routes that read the session but are allowed without the gate, and why.
SESSION_WITHOUT_GATE = {
    "/": "landing page; shows sign-in or a link to the dashboard",
    "/api/whop/logout": "signing out must work without a membership",
    "/api/whop/refresh": "token maintenance for the session itself",
    "/api/whop/verify": "reports the decision (decide_for) instead of refusing",
    "/dashboard": "lists every creator the user may reach; decides for the default creator "
    "through the gate itself, and a user who may reach none gets the gate's refusal",
    "/onboard": "a Whop admin sets up a company they are not yet a creator of",
    "/account/sessions": "a user whose access ended can still see and end their sessions",
    "/api/whop/sessions/revoke-all": "signing out everywhere must work without a membership",
    "/dev": "development only (emulator enabled, never production)",
    "/dev/memberships/{membership_id}/{action}": "development only",
}


def _calls(route: APIRoute | Route) -> list[Callable[..., Any]]:
    """Every dependency callable of a route, nested ones included; for a Starlette route
    (the gate called directly, `gated_endpoint`), its endpoint."""
    if not isinstance(route, APIRoute):
        return [route.endpoint]
    found: list[Callable[..., Any]] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is not None:
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def _flat(routes: list[Any], prefix: str = "") -> list[tuple[str, APIRoute | Route]]:
    """Every API or Starlette route with its full path, those of routers included in routers
    too (FastAPI keeps an included router as one wrapper route with the prefix in its include
    context)."""
    flat: list[tuple[str, APIRoute | Route]] = []
    for route in routes:
        if isinstance(route, APIRoute | Route):
            flat.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            flat.extend(_flat(route.original_router.routes, inner))
    return flat


def test_m01_every_session_route_is_gated_or_listed() -> None:
    """Every route that reads a session carries the access gate, or is listed with a reason."""
    from mentora.web.routes import ROUTERS

    # FastAPI 0.165 wraps included routers, so read the routes from the routers themselves.
    found = [pair for router in ROUTERS for pair in _flat(router.routes)]
    paths = {path for path, _ in found}
    must_be_gated = GATED_PAGES + GATED_APIS + EMBEDDED_APIS + CREATOR_ROUTES + SPACE_ROUTES
    assert set(must_be_gated) <= paths, "a gated route disappeared"
    missing = []
    for path, route in found:
        calls = _calls(route)
        gated = any(is_gate(call) for call in calls)
        uses_session = any(call in (load_principal, require_session) for call in calls)
        if path in must_be_gated:
            assert gated, f"{path} lost its access gate"
        elif uses_session and not gated and path not in SESSION_WITHOUT_GATE:
            missing.append(path)
    assert missing == [], f"routes reading a session without the access gate: {missing}"


@pytest.mark.parametrize("path", GATED_PAGES + GATED_APIS)
@pytest.mark.parametrize(
    ("who", "memberships", "level", "status"),
    [
        ("nobody", [], "no_access", 403),
        ("expired", [{"status": "expired", "updated_ago": 10}], "no_access", 403),
        ("member", [{"status": "active"}], "customer", 200),
    ],
)
async def test_m01_protected_routes(
    services: Services,
    client: httpx.AsyncClient,
    path: str,
    who: str,
    memberships: list[dict[str, Any]],
    level: str,
    status: int,
) -> None:
    """No membership → 403, expired → 403, valid → 200, on every gated route."""
    student = await seed(services, f"user_{who}", level=level, memberships=memberships)
    use_session(client, student)
    response = await client.get(path)
    assert response.status_code == status, response.text
    if status == 403:
        assert await audit_reasons(services) == ["no_membership" if who == "nobody" else "expired"]


async def test_m01_without_session_is_401(client: httpx.AsyncClient) -> None:
    """A gated API without a session answers 401 "please sign in", not 403 or 200."""
    response = await client.get("/api/content")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_invalid"


async def test_content_reports_creator_and_tier(
    services: Services, client: httpx.AsyncClient
) -> None:
    """The gated API returns the session's creator and the member's tier."""
    use_session(client, await seed(services, "user_a", memberships=[{"status": "trialing"}]))
    body = (await client.get("/api/content")).json()
    assert body["company_id"] == "biz_demo"
    assert (body["tier"], body["reason"], body["role"]) == ("member", "trialing", "student")


async def test_refusal_page_says_why_and_what_to_do(
    services: Services, client: httpx.AsyncClient
) -> None:
    """A browser gets an HTML page with the reason and a renew link to the purchase URL."""
    use_session(
        client,
        await seed(
            services,
            "user_x",
            level="no_access",
            memberships=[{"status": "canceled", "updated_ago": 5}],
        ),
    )
    page = await client.get("/content")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Membership canceled" in page.text
    assert 'href="https://whop.test/checkout"' in page.text
    assert 'data-reason="canceled"' in page.text
    api = await client.get("/api/content")
    assert api.json()["error"]["code"] == "canceled"
    assert api.headers["cache-control"] == "no-store"


async def test_m02_stored_deactivation_refuses_next_request(
    services: Services, client: httpx.AsyncClient
) -> None:
    """Once a deactivation is stored (as webhook or sync store it), the next request is 403."""
    student = await seed(services, "user_m", memberships=[{"status": "active"}])
    use_session(client, student)
    assert (await client.get("/api/content")).status_code == 200
    await set_status(services, "user_m", "expired")
    response = await client.get("/api/content")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "expired"


async def test_m02_revocation_reaches_every_process(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """A deactivation stored by one process is refused by another on its next request."""
    other = build_services(
        services.settings, clock=clock, transport=httpx.ASGITransport(app=emulator.app)
    )
    other_app = create_app(services.settings, services=other)
    student = await seed(services, "user_p", memberships=[{"status": "active"}])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other_app), base_url=APP_URL
        ) as second:
            assert (await second.get("/api/content", headers=student.cookie)).status_code == 200
            await set_status(services, "user_p", "canceled")  # written through process one
            response = await second.get("/api/content", headers=student.cookie)
            assert response.status_code == 403
    finally:
        await other.aclose()


async def test_m02_webhook_deactivation_ends_access_and_the_session(
    services: Services, client: httpx.AsyncClient, emulator: Any, signin: Any
) -> None:
    """Sign in through Whop, then a signed membership.deactivated webhook ends access and
    the session, so the next request is refused as signed out."""
    response = await signin.sign_in("user_demo_member")
    assert response.status_code == 303, response.text
    assert (await client.get("/api/content")).status_code == 200
    emulator.set_membership_status("mem_demo_member", "expired")
    await emulator.flush_webhooks()
    after = await client.get("/api/content")
    # The webhook that ends the membership also ends its sessions (S09): the cookie is dead.
    assert after.status_code == 401, after.text
    assert after.json()["error"]["code"] == "session_invalid"
    async with services.sessionmaker() as db:
        reasons = (await db.execute(select(UserSession.revoked_reason))).scalars().all()
    assert len(reasons) == 1 and reasons[0] is not None


async def test_cross_creator_isolation(services: Services, client: httpx.AsyncClient) -> None:
    """An active member of another creator is refused here; their own creator is shown there."""
    theirs = await seed(
        services,
        "user_other_member",
        company_id="biz_other",
        memberships=[{"status": "active", "product_id": "prod_other"}],
    )
    here = await seed(services, "user_other_member", level="no_access")
    assert (await client.get("/api/content", headers=here.cookie)).status_code == 403
    # The creator is the path's: the same session is admitted in Other School's space only.
    assert (await client.get("/api/content", headers=theirs.cookie)).status_code == 403
    body = (await client.get("/c/biz_other/api/content", headers=theirs.cookie)).json()
    assert body["company_id"] == "biz_other"
    assert await audit_reasons(services) == ["no_membership", "no_membership"]


async def test_unknown_company_membership_never_grants(
    services: Services, client: httpx.AsyncClient
) -> None:
    """A membership stored for a company that is not a known creator grants nothing."""
    student = await seed(services, "user_u", level="no_access")
    from mentora.db.uow import transaction
    from tests.access.helpers import membership_row

    async with transaction(services.sessionmaker, write=True) as db:
        db.add(
            membership_row("user_u", None, "biz_stranger", now=services.clock.now(), flagged=True)
        )
    response = await client.get("/api/content", headers=student.cookie)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_membership"


async def test_creator_role_and_creator_only_route(
    services: Services, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Whop's admin level is the creator role; a RequireCreator route refuses students."""

    async def creator_area(access: RequireCreator) -> JSONResponse:
        return JSONResponse({"role": access.decision.role})

    app.add_api_route("/api/test/creator", creator_area)
    team = await seed(services, "user_demo_creator", level="admin")
    member = await seed(services, "user_s", memberships=[{"status": "active"}])
    assert (await client.get("/api/test/creator", headers=team.cookie)).json() == {
        "role": "creator"
    }
    refused = await client.get("/api/test/creator", headers=member.cookie)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "creator_required"


async def test_tier_gate_on_a_route(
    services: Services, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """member_gate(tier=...) refuses a lower tier with tier_required."""

    async def pro_area(access: Access = Depends(member_gate(tier="pro"))) -> JSONResponse:  # noqa: B008
        return JSONResponse({"tier": access.tier})

    app.add_api_route("/api/test/pro", pro_area)
    member = await seed(services, "user_t", memberships=[{"status": "active"}])
    response = await client.get("/api/test/pro", headers=member.cookie)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tier_required"


async def test_steady_state_makes_zero_whop_calls(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """1,000 gated requests within the TTL make no call to Whop at all."""
    use_session(client, await seed(services, "user_busy", memberships=[{"status": "active"}]))
    emulator.reset_call_counts()
    for _ in range(20):
        responses = await asyncio.gather(*(client.get("/api/content") for _i in range(50)))
        assert {r.status_code for r in responses} == {200}
        clock.advance(14)  # 20 x 14 s = 280 s, inside the 300 s TTL
    assert emulator.call_count() == 0


async def test_m04_interleaved_users_see_their_own_result(
    services: Services, client: httpx.AsyncClient
) -> None:
    """Two users' requests interleaved under concurrency each get their own decision."""
    alice = await seed(services, "user_alice", memberships=[{"status": "active"}])
    bob = await seed(
        services,
        "user_bob",
        level="no_access",
        memberships=[{"status": "expired", "updated_ago": 5}],
    )
    order = [alice, bob] * 40
    responses = await asyncio.gather(*(client.get("/api/content", headers=s.cookie) for s in order))
    for student, response in zip(order, responses, strict=True):
        assert response.status_code == (200 if student is alice else 403)
    assert await live_sessions(services, alice.user_id) == 1
    assert set(await audit_reasons(services)) == {"expired"}
    assert await creator_id(services) == alice.creator_id


async def test_signed_in_member_sees_the_content_page(
    client: httpx.AsyncClient, signin: Any, emulator: Any
) -> None:
    """End to end: sign in through Whop, then the gated page renders without asking Whop again."""
    response = await signin.sign_in("user_demo_member", next_path="/content")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/content"
    emulator.reset_call_counts()
    page = await client.get("/content")
    assert page.status_code == 200
    assert 'id="access-content"' in page.text
    assert emulator.call_count("/api/v1/users/") == 0


async def test_signed_in_guest_is_refused_at_the_gate(
    client: httpx.AsyncClient, signin: Any
) -> None:
    """A Whop user without membership is signed in (a session belongs to a user) and the gate
    refuses them (403, no_membership)."""
    response = await signin.sign_in("user_demo_guest")
    assert response.status_code == 303
    assert (await client.get("/api/content")).status_code == 403
