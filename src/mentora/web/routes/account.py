"""The signed-in user's own sessions: `GET /account/sessions` and "sign out everywhere" (S09).

`POST /api/whop/sessions/revoke-all` is cookie-authenticated and state-changing, so it needs
the session's CSRF token and a same-origin request (X01). It ends every live session of the
user, this one included, revokes their Whop grants (best effort, as at logout) and writes one
audit event naming the user as both actor and target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mentora.db.models import UserSession
from mentora.services import Services
from mentora.sessions import store
from mentora.sessions.principal import Principal
from mentora.usecases import signout
from mentora.web.cookie import SESSION_COOKIE, clear_cookie
from mentora.web.csrf import require_session_csrf
from mentora.web.deps import ServicesDep
from mentora.web.principal import CurrentSession, OptionalSession
from mentora.web.ratelimit import limited
from mentora.web.templating import render
from mentora.web.views.browsers import browser_name

router = APIRouter(tags=["account"])
NO_STORE = {"cache-control": "no-store"}


@dataclass(frozen=True)
class SessionView:
    """One live session as the sessions page shows it."""

    id: int
    created_at: str
    last_seen_at: str
    ip: str | None
    browser: str | None  # "Chrome on Linux"
    user_agent: str | None  # the raw header, shown on hover
    current: bool


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


async def live_sessions(services: Services, user_id: int) -> list[UserSession]:
    """The user's sessions that still work (not revoked, not timed out), newest activity first."""
    now = services.clock.now()
    async with services.sessionmaker() as db:
        rows = (
            await db.execute(
                select(UserSession)
                .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
                .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
            )
        ).scalars()
        policy = services.session_policy
        return [row for row in rows if store.expiry_reason(row, now=now, policy=policy) is None]


@router.get("/account/sessions", include_in_schema=False)
async def sessions_page(
    request: Request, services: ServicesDep, principal: OptionalSession
) -> Response:
    """Where the user is signed in, with a "sign out everywhere" button."""
    if principal is None:
        return RedirectResponse("/api/whop/auth?next=/account/sessions", status_code=303)
    views = [
        SessionView(
            id=row.id,
            created_at=_when(row.created_at),
            last_seen_at=_when(row.last_seen_at),
            ip=row.ip,
            browser=browser_name(row.user_agent),
            user_agent=(row.user_agent or "")[:120] or None,
            current=row.id == principal.session.id,
        )
        for row in await live_sessions(services, principal.user.id)
    ]
    return render(request, "account_sessions.html", {"sessions": views})


@router.post(
    "/api/whop/sessions/revoke-all",
    summary="Sign out everywhere",
    dependencies=[limited("account")],
)
async def revoke_all_sessions(
    request: Request, services: ServicesDep, principal: CurrentSession
) -> Response:
    """End every session of the signed-in user, this one included (S09)."""
    await require_session_csrf(request, services)
    ended = await sign_out_everywhere(services, principal)
    response: Response
    if "application/json" in request.headers.get("accept", ""):
        body = {"status": "signed_out_everywhere", "sessions": ended}
        response = JSONResponse(body, headers=NO_STORE)
    else:
        response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    response.headers["clear-site-data"] = '"cookies"'
    clear_cookie(response, SESSION_COOKIE)
    return response


async def sign_out_everywhere(services: Services, principal: Principal) -> int:
    """Revoke the user's Whop grants (best effort), then every session; returns how many."""
    user = principal.user
    done = await signout.end_sessions(
        services,
        user_id=user.id,
        subject=user.whop_user_id,
        actor=user.whop_user_id,
        reason="user_revoke_all",
        creator_id=principal.creator.id,
    )
    return done.sessions
