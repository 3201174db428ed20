"""Sign in with Whop: /api/whop/auth, /callback, /logout, /refresh, /verify.

Routes are thin: they read the request, call the use cases (usecases.signin, .signout) and
turn their results into redirects, cookies and pages. Every outcome writes an audit event; no
token, code or state is ever logged, rendered or put in a URL of ours.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import request_response
from starlette.types import ASGIApp

from mentora.oauth import grants
from mentora.services import Services
from mentora.sessions.principal import Principal
from mentora.usecases import signin, signout
from mentora.web.cookie import LOGIN_COOKIE, SESSION_COOKIE, clear_cookie, set_cookie
from mentora.web.csrf import CsrfError, check_request_origin, require_csrf, require_session_csrf
from mentora.web.deps import ServicesDep
from mentora.web.principal import CurrentSession, OptionalSession
from mentora.web.ratelimit import enforce, limited, penalize
from mentora.web.responses import error_response
from mentora.web.state import app_state, request_state

router = APIRouter(prefix="/api/whop", tags=["auth"])
log = structlog.get_logger("mentora.auth")
MAX_CALLBACK_QUERY = 4096
NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


# The two requests of every sign-in: served past the framework's outer layers
# (web/hotpaths.py), by the same functions their routes call. The rate limit comes first, as
# `limited` puts it before any other dependency.
AUTH_PATH = "/api/whop/auth"
CALLBACK_PATH = "/api/whop/callback"


async def start_login_endpoint(request: Request) -> Response:
    """Create a login transaction and redirect to Whop's authorize endpoint (C01, C07, C08, S11)."""
    services = app_state(request).services
    await enforce(request, services, "login")
    site = request.headers.get("sec-fetch-site")
    mode = request.headers.get("sec-fetch-mode")
    if site == "cross-site" or (mode is not None and mode != "navigate"):
        # Only a user's own navigation may start a login (S11).
        raise CsrfError(f"login start from {site}/{mode}")
    started = await signin.start_sign_in(
        services, return_to=request.query_params.get("next"), ip=request_state(request).client_ip
    )
    response = RedirectResponse(started.authorize_url, status_code=302, headers=NO_STORE)
    max_age = services.settings.login_transaction_minutes * 60
    set_cookie(response, LOGIN_COOKIE, started.browser_token, max_age=max_age)
    return response


async def callback_endpoint(request: Request) -> Response:
    """Finish the sign-in (usecases.signin): a session cookie and a redirect, or a refusal."""
    services = app_state(request).services
    await enforce(request, services, "callback")
    if len(request.url.query) > MAX_CALLBACK_QUERY:
        result: signin.SignedIn | signin.SignInRefused = signin.SignInRefused(414, "query_too_long")
    else:
        result = await signin.complete_sign_in(
            services,
            params=dict(request.query_params.items()),
            browser_token=request.cookies.get(LOGIN_COOKIE),
            ip=request_state(request).client_ip,
            user_agent=request.headers.get("user-agent"),
        )
    if isinstance(result, signin.SignInRefused):
        if result.status != 403:
            await penalize(request, services, "callback")  # failed callbacks count double (R01)
        response = error_response(
            request,
            result.status,
            result.code,
            result.message,
            headers=NO_STORE,
            template=result.template,
            context=result.context,
        )
    else:
        response = RedirectResponse(result.destination, status_code=303, headers=NO_STORE)
        set_cookie(response, SESSION_COOKIE, result.token, max_age=None)
    clear_cookie(response, LOGIN_COOKIE)
    return response


@router.get("/auth", summary="Start Sign in with Whop")
async def start_login(request: Request, next: str | None = None) -> Response:
    """Create a login transaction and redirect to Whop's authorize endpoint (C01, C07, C08, S11).

    `next` is the path to return to after sign-in; declared here for the schema, read by
    `start_login_endpoint`."""
    return await start_login_endpoint(request)


@router.get("/callback", summary="Whop's redirect back after sign-in")
async def callback(request: Request) -> Response:
    """Finish the sign-in (usecases.signin): a session cookie and a redirect, or a refusal."""
    return await callback_endpoint(request)


HOT: tuple[tuple[str, str, ASGIApp], ...] = (
    ("GET", AUTH_PATH, request_response(start_login_endpoint)),
    ("GET", CALLBACK_PATH, request_response(callback_endpoint)),
)


@router.post("/logout", summary="Sign out", dependencies=[limited("logout")])
async def logout(request: Request, services: ServicesDep, principal: OptionalSession) -> Response:
    """End the session server-side, revoke the Whop refresh token, clear the cookie (S08, C16)."""
    token = request.cookies.get(SESSION_COOKIE)
    if principal is None:
        # Nothing to end (timed out, revoked by a webhook, or never signed in): clear the
        # cookie and say so. Not a CSRF attempt, so no `malicious_csrf` noise in the audit.
        check_request_origin(request, services.settings.app_url)
        return _signed_out(request)
    await require_csrf(
        request,
        app_url=services.settings.app_url,
        secret_key=services.secret_key,
        session_token=token,
    )
    await signout.sign_out(services, principal)
    return _signed_out(request)


def _signed_out(request: Request) -> Response:
    """The answer to a logout: JSON or a redirect home, with the cookie cleared."""
    wants_json = "application/json" in request.headers.get("accept", "")
    response: Response
    if wants_json:
        response = JSONResponse({"status": "signed_out"}, headers=NO_STORE)
    else:
        response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    response.headers["clear-site-data"] = '"cookies"'
    clear_cookie(response, SESSION_COOKIE)
    return response


@router.post("/refresh", summary="Rotate the Whop tokens now", dependencies=[limited("refresh")])
async def refresh(request: Request, services: ServicesDep, principal: CurrentSession) -> Response:
    """Force a refresh of the session's Whop grant (single-flight, C15)."""
    await require_session_csrf(request, services)
    await grants.access_token(services, services.provider, principal.session.id, force=True)
    return JSONResponse({"status": "refreshed"}, headers=NO_STORE)


@router.get("/verify", summary="The current session as JSON")
async def verify(services: ServicesDep, principal: CurrentSession) -> Response:
    """User, membership validity and tier for the current session, or 401."""
    await grants.access_token(services, services.provider, principal.session.id)
    body = {
        "user": {
            "id": principal.user.whop_user_id,
            "username": principal.user.username,
            "name": principal.user.name,
        },
        "creator": {
            "company_id": principal.creator.whop_company_id,
            "name": principal.creator.name,
        },
        "membership": await _membership_view(services, principal),
        "role": "creator" if principal.is_creator else "student",
        "session": {"expires_at": principal.session.expires_at.isoformat()},
    }
    return JSONResponse(body, headers=NO_STORE)


async def _membership_view(services: Services, principal: Principal) -> dict[str, object]:
    """The access decision for the session's user at its creator (revalidating if stale)."""
    decision = await services.gate.decide_for(principal)
    return {"valid": decision.allowed, "reason": decision.reason, "tier": decision.tier}


__all__ = ["router"]
