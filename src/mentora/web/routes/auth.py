"""Sign in with Whop: /api/whop/auth, /callback, /logout, /refresh, /verify.

Routes are thin: they read the request, call the oauth/sessions/accounts code and commit one
transaction at the edge. Every outcome writes an audit event; no token, code or state is ever
logged, rendered or put in a URL of ours.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mentora import metrics
from mentora.access.revalidate import check_creator_access
from mentora.access.service import decide_for, policy_for
from mentora.accounts import record_access, upsert_user
from mentora.audit.record import record
from mentora.creators import creator_by_company
from mentora.db.models import Membership
from mentora.db.uow import transaction
from mentora.errors import MentoraError
from mentora.memberships.policy import grants as membership_grants
from mentora.oauth import callback as cb
from mentora.oauth import grants
from mentora.oauth import transaction as login_tx
from mentora.oauth.errors import OAuthError
from mentora.oauth.provider import provider
from mentora.oauth.redirects import DEFAULT_RETURN, safe_return_path
from mentora.ratelimit.enforce import limited, penalize
from mentora.services import Services
from mentora.sessions import store
from mentora.sessions.cookie import LOGIN_COOKIE, SESSION_COOKIE, clear_cookie, set_cookie
from mentora.sessions.deps import CurrentSession, OptionalSession, Principal
from mentora.web.csrf import CsrfError, check_request_origin, require_csrf
from mentora.web.deps import ServicesDep
from mentora.web.errors import error_response
from mentora.whop.errors import WhopError
from mentora.whop.schemas import AccessAnswer

router = APIRouter(prefix="/api/whop", tags=["auth"])
log = structlog.get_logger("mentora.auth")
MAX_CALLBACK_QUERY = 4096
NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
CREATOR_HOME = "/creator"


def _client_ip(request: Request) -> str | None:
    ip = getattr(request.state, "client_ip", None)
    return ip if isinstance(ip, str) else None


@router.get("/auth", summary="Start Sign in with Whop", dependencies=[limited("login")])
async def start_login(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    """Create a login transaction and redirect to Whop's authorize endpoint (C01, C07, C08, S11)."""
    site = request.headers.get("sec-fetch-site")
    mode = request.headers.get("sec-fetch-mode")
    if site == "cross-site" or (mode is not None and mode != "navigate"):
        # Only a user's own navigation may start a login (S11).
        raise CsrfError(f"login start from {site}/{mode}")
    settings = services.settings
    oauth = provider(services)
    meta = await oauth.metadata()
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        started = await login_tx.start(
            db,
            box=services.tokens,
            issuer=meta.issuer,
            redirect_uri=settings.redirect_uri,
            return_to=safe_return_path(next),
            ip=_client_ip(request),
            now=now,
            ttl=timedelta(minutes=settings.login_transaction_minutes),
        )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.whop_client_id,
            "redirect_uri": settings.redirect_uri,
            "scope": " ".join(settings.scopes),
            "state": started.state,
            "nonce": started.nonce,
            "code_challenge": started.challenge,
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(
        f"{meta.authorization_endpoint}?{query}", status_code=302, headers=NO_STORE
    )
    set_cookie(
        response,
        LOGIN_COOKIE,
        started.browser_token,
        max_age=settings.login_transaction_minutes * 60,
    )
    return response


async def _check_membership(services: Services, subject: str) -> AccessAnswer:
    """Ask Whop whether the user may reach the configured creator, exactly as revalidation does
    (its access products if any, else the company), so sign-in and the gate never disagree."""
    async with services.sessionmaker() as db:
        creator = await creator_by_company(db, services.settings.whop_company_id)
    if creator is None:
        raise MentoraError("configured creator missing; run `mentora db upgrade`")
    policy = await policy_for(services, creator.id)
    return await check_creator_access(
        services.whop, subject, creator.whop_company_id, policy.access_products
    )


def _fail(
    request: Request,
    services: Services,
    status: int,
    code: str,
    message: str | None = None,
    template: str = "error.html",
    context: dict[str, object] | None = None,
) -> Response:
    response = error_response(
        request, status, code, message, headers=NO_STORE, template=template, context=context
    )
    clear_cookie(response, LOGIN_COOKIE)
    return response


@router.get(
    "/callback", summary="Whop's redirect back after sign-in", dependencies=[limited("callback")]
)
async def callback(request: Request, services: ServicesDep) -> Response:
    """Finish the sign-in: checks in the checklist's order, then provision and start a session."""
    now = services.clock.now()
    if len(request.url.query) > MAX_CALLBACK_QUERY:
        await penalize(request, services, "callback")  # failed callbacks count double (R01)
        return _fail(request, services, 414, "query_too_long")
    params = {key: value for key, value in request.query_params.items()}
    oauth = provider(services)
    try:
        login = await cb.consume_and_check(
            services.sessionmaker,
            box=services.tokens,
            browser_token=request.cookies.get(LOGIN_COOKIE),
            params=params,
            provider=oauth,
            now=now,
        )
        verified = await cb.complete(
            login, code=params.get("code"), provider=oauth, http=services.http, now=now
        )
        answer = await _check_membership(services, verified.subject)
    except (OAuthError, WhopError) as exc:
        await penalize(request, services, "callback")
        async with transaction(services.sessionmaker, write=True) as db:
            record(
                db,
                kind="authn_login_fail",
                outcome="failure",
                reason=exc.code,
                now=now,
                details={"error": exc.detail[:200]},
            )
        metrics.SIGN_INS.labels(outcome="failure", reason=exc.code).inc()
        status = 503 if isinstance(exc, WhopError) or exc.status == 503 else 400
        return _fail(request, services, status, exc.code, exc.public_message)
    except MentoraError as exc:
        await penalize(request, services, "callback")
        async with transaction(services.sessionmaker, write=True) as db:
            record(db, kind="authn_login_fail", outcome="failure", reason=exc.code, now=now)
        return _fail(request, services, 400, exc.code)

    async with transaction(services.sessionmaker, write=True) as db:
        creator = await creator_by_company(db, services.settings.whop_company_id)
        if creator is None:
            raise MentoraError("configured creator missing; run `mentora db upgrade`")
        user = await upsert_user(db, subject=verified.subject, userinfo=verified.userinfo, now=now)
        await record_access(db, user=user, creator=creator, answer=answer, now=now)
        drift = await _local_state_disagrees(db, verified.subject, creator.id, answer)
        if not answer.has_access:
            record(
                db,
                kind="authn_login_fail",
                outcome="failure",
                reason="no_membership",
                now=now,
                subject=user.whop_user_id,
                creator_id=creator.id,
            )
            record(
                db,
                kind="authz_fail",
                outcome="failure",
                reason="no_membership",
                now=now,
                subject=user.whop_user_id,
                creator_id=creator.id,
            )
            new = None
        else:
            new = store.create(
                db,
                user_id=user.id,
                creator_id=creator.id,
                now=now,
                policy=services.session_policy,
                ip=_client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
            await db.flush()
            grants.store_tokens(
                db,
                session_id=new.row.id,
                tokens=verified.tokens,
                box=services.tokens,
                company_id=None,
                now=now,
            )
            record(
                db,
                kind="authn_login_success",
                outcome="success",
                now=now,
                subject=user.whop_user_id,
                creator_id=creator.id,
                details={"access_level": answer.access_level},
            )
            record(
                db,
                kind="session_created",
                outcome="success",
                now=now,
                subject=user.whop_user_id,
                creator_id=creator.id,
            )
    metrics.SIGN_INS.labels(
        outcome="success" if new else "failure", reason="ok" if new else "no_membership"
    ).inc()
    if new is None:
        # Revoke the grant we will not use; the user gets no session (issue 2).
        try:
            meta = await oauth.metadata()
            if verified.tokens.refresh_token:
                await oauth.client.revoke(meta, refresh_token=verified.tokens.refresh_token)
        except OAuthError:
            pass
        return _fail(
            request,
            services,
            403,
            "no_membership",
            "Your Whop account has no active membership for this course.",
            template="no_access.html",
            context={"purchase_url": services.settings.purchase_url},
        )
    if drift:
        # Whop's answer and our membership rows disagree (first sign-in, a webhook that raced
        # the redirect or was lost): pull this user's memberships before the redirect, so the
        # page they land on shows them. Best effort and bounded by Whop's HTTP timeout; the
        # scheduled sync repairs whatever this misses.
        await _sync_user(services, verified.subject)
    destination = verified.return_to
    if destination == DEFAULT_RETURN and answer.access_level == "admin":
        destination = CREATOR_HOME  # no page asked for: the creator's team starts at /creator
    response = RedirectResponse(destination, status_code=303, headers=NO_STORE)
    clear_cookie(response, LOGIN_COOKIE)
    set_cookie(response, SESSION_COOKIE, new.token, max_age=None)
    return response


async def _local_state_disagrees(
    db: AsyncSession, subject: str, creator_id: int, answer: AccessAnswer
) -> bool:
    """True when no stored membership of the user matches Whop's check-access answer."""
    if answer.access_level == "admin":
        return False
    rows = await db.execute(
        select(Membership.status, Membership.access_hold).where(
            Membership.whop_user_id == subject, Membership.creator_id == creator_id
        )
    )
    locally_granted = any(membership_grants(status, hold) for status, hold in rows.all())
    return locally_granted != answer.has_access


async def _sync_user(services: Services, subject: str) -> None:
    """Reconcile one user's memberships with Whop (best effort; the worker's schedule backs it)."""
    from mentora.sync.reconcile import reconcile

    try:
        await reconcile(services, trigger="signin", user_id=subject)
    except Exception as exc:
        log.warning("signin_sync_failed", error=type(exc).__name__)


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
    now = services.clock.now()
    revoked_at_whop = await grants.revoke_grant(services, principal.session.id)
    async with transaction(services.sessionmaker, write=True) as db:
        await store.revoke(db, principal.session.id, now=now, reason="logout")
        record(
            db,
            kind="session_revoked",
            outcome="success",
            reason="logout",
            now=now,
            subject=principal.user.whop_user_id,
            creator_id=principal.creator.id,
        )
        record(
            db,
            kind="authn_token_revoked",
            outcome="success" if revoked_at_whop else "failure",
            reason="logout",
            now=now,
            subject=principal.user.whop_user_id,
            creator_id=principal.creator.id,
        )
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
    await require_csrf(
        request,
        app_url=services.settings.app_url,
        secret_key=services.secret_key,
        session_token=request.cookies.get(SESSION_COOKIE),
    )
    await grants.access_token(services, principal.session.id, force=True)
    return JSONResponse({"status": "refreshed"}, headers=NO_STORE)


@router.get("/verify", summary="The current session as JSON")
async def verify(services: ServicesDep, principal: CurrentSession) -> Response:
    """User, membership validity and tier for the current session, or 401."""
    await grants.access_token(services, principal.session.id)
    student = principal.student
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
    del student
    return JSONResponse(body, headers=NO_STORE)


async def _membership_view(services: Services, principal: Principal) -> dict[str, object]:
    """The access decision for the session's user at its creator (revalidating if stale)."""
    decision = await decide_for(services, principal)
    return {"valid": decision.allowed, "reason": decision.reason, "tier": decision.tier}


__all__ = ["router"]
