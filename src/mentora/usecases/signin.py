"""Sign in with Whop: start a login, then finish it when Whop sends the browser back.

`start_sign_in` stores a login attempt (PKCE verifier, state, nonce, where to return) and
returns Whop's authorize URL. `complete_sign_in` runs the callback's checks in the
checklist's order (oauth.callback), asks Whop whether the user may reach the creator (exactly
as revalidation does, so sign-in and the gate never disagree), then provisions the user and,
when they have access, starts a session and stores their Whop tokens: one transaction. Every
outcome is audited and counted; the web layer turns the result into a redirect or a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora import metrics
from mentora.access.revalidate import check_creator_access
from mentora.accounts import record_access, upsert_user
from mentora.audit.kinds import AuditKind
from mentora.audit.record import audit_values, record_all, record_alone
from mentora.creators import CreatorRef
from mentora.db.models import Membership
from mentora.db.uow import transaction
from mentora.errors import MentoraError
from mentora.memberships.policy import gives_access
from mentora.oauth import callback as cb
from mentora.oauth import grants, login_attempt
from mentora.oauth.callback import VerifiedLogin
from mentora.oauth.errors import OAuthError
from mentora.oauth.redirects import DEFAULT_RETURN, safe_return_path
from mentora.services import Services
from mentora.sessions import store
from mentora.usecases.sync import reconcile
from mentora.whop.errors import WhopError
from mentora.whop.schemas import AccessAnswer

log = structlog.get_logger("mentora.signin")
CREATOR_HOME = "/creator"
NO_MEMBERSHIP = "Your Whop account has no active membership for this course."


@dataclass(frozen=True)
class LoginStarted:
    """Where to send the browser, and the token its login cookie must carry back."""

    authorize_url: str
    browser_token: str


@dataclass(frozen=True)
class SignedIn:
    """A new session: its cookie token and where to send the browser."""

    token: str
    destination: str


@dataclass(frozen=True)
class SignInRefused:
    """No session: the status, code and words to answer with (and the page, if any)."""

    status: int
    code: str
    message: str | None = None
    template: str = "error.html"
    context: dict[str, object] = field(default_factory=dict)


async def start_sign_in(
    services: Services, *, return_to: str | None, ip: str | None
) -> LoginStarted:
    """Store a login attempt and build Whop's authorize URL for it (C01, C07, C08)."""
    settings = services.settings
    meta = await services.provider.metadata()
    async with transaction(services.sessionmaker, write=True) as db:
        started = await login_attempt.start(
            db,
            box=services.tokens,
            issuer=meta.issuer,
            redirect_uri=settings.redirect_uri,
            return_to=safe_return_path(return_to),
            ip=ip,
            now=services.clock.now(),
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
    return LoginStarted(f"{meta.authorization_endpoint}?{query}", started.browser_token)


async def complete_sign_in(
    services: Services,
    *,
    params: Mapping[str, str],
    browser_token: str | None,
    ip: str | None,
    user_agent: str | None,
) -> SignedIn | SignInRefused:
    """Finish the sign-in Whop redirected back with: checks, then provision and a session."""
    checked = await _check(services, params, browser_token)
    if isinstance(checked, SignInRefused):
        return checked
    verified, creator, answer = checked
    token, drift = await _provision(services, verified, creator, answer, ip, user_agent)
    metrics.SIGN_INS.labels(
        outcome="success" if token else "failure", reason="ok" if token else "no_membership"
    ).inc()
    if token is None:
        await _revoke_unused_grant(services, verified.tokens.refresh_token)
        return SignInRefused(
            403,
            "no_membership",
            NO_MEMBERSHIP,
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
    return SignedIn(token, destination)


async def _check(
    services: Services, params: Mapping[str, str], browser_token: str | None
) -> tuple[VerifiedLogin, CreatorRef, AccessAnswer] | SignInRefused:
    """The callback's checks in the checklist's order, then Whop's access answer; a refusal
    is audited and counted here."""
    now = services.clock.now()
    try:
        login = await cb.consume_and_check(
            services.sessionmaker,
            box=services.tokens,
            browser_token=browser_token,
            params=dict(params),
            provider=services.provider,
            now=now,
        )
        verified = await cb.complete(
            login, code=params.get("code"), provider=services.provider, http=services.http, now=now
        )
        creator = await _configured_creator(services)
        policy = await services.gate.policies.get(creator.id)
        answer = await check_creator_access(
            services.whop, verified.subject, creator.whop_company_id, policy.access_products
        )
    except (OAuthError, WhopError) as exc:
        await record_alone(
            services.sessionmaker,
            kind=AuditKind.AUTHN_LOGIN_FAIL,
            outcome="failure",
            reason=exc.code,
            now=now,
            details={"error": exc.detail[:200]},
        )
        metrics.SIGN_INS.labels(outcome="failure", reason=exc.code).inc()
        status = 503 if isinstance(exc, WhopError) or exc.status == 503 else 400
        return SignInRefused(status, exc.code, exc.public_message)
    except MentoraError as exc:
        await record_alone(
            services.sessionmaker,
            kind=AuditKind.AUTHN_LOGIN_FAIL,
            outcome="failure",
            reason=exc.code,
            now=now,
        )
        return SignInRefused(400, exc.code)
    return verified, creator, answer


async def _provision(
    services: Services,
    verified: VerifiedLogin,
    creator: CreatorRef,
    answer: AccessAnswer,
    ip: str | None,
    user_agent: str | None,
) -> tuple[str | None, bool]:
    """Store the user and Whop's answer; with access, a session and its tokens (one
    transaction). Returns the session token (None: no access) and whether local state drifted."""
    now = services.clock.now()
    subject, creator_id = verified.subject, creator.id
    async with transaction(services.sessionmaker, write=True) as db:
        user_id = await upsert_user(db, subject=subject, userinfo=verified.userinfo, now=now)
        await record_access(db, user_id=user_id, creator_id=creator_id, answer=answer, now=now)
        drift = await _local_state_disagrees(db, subject, creator_id, answer)
        if not answer.has_access:
            await _audit(db, now, subject, creator_id, refused=True)
            return None, drift
        new = await store.create(
            db,
            user_id=user_id,
            creator_id=creator_id,
            now=now,
            policy=services.session_policy,
            ip=ip,
            user_agent=user_agent,
        )
        await grants.store_tokens(
            db,
            session_id=new.id,
            tokens=verified.tokens,
            box=services.tokens,
            company_id=None,
            now=now,
        )
        await _audit(db, now, subject, creator_id, access_level=answer.access_level)
        return new.token, drift


async def _audit(
    db: AsyncSession,
    now: datetime,
    subject: str,
    creator_id: int,
    *,
    refused: bool = False,
    access_level: str | None = None,
) -> None:
    """A sign-in's two audit rows in one statement: refused (login failed, no membership) or
    admitted (login succeeded with the access level, session created)."""
    if refused:
        rows = [
            audit_values(
                kind=kind,
                outcome="failure",
                reason="no_membership",
                now=now,
                subject=subject,
                creator_id=creator_id,
            )
            for kind in (AuditKind.AUTHN_LOGIN_FAIL, AuditKind.AUTHZ_FAIL)
        ]
    else:
        rows = [
            audit_values(
                kind=kind,
                outcome="success",
                now=now,
                subject=subject,
                creator_id=creator_id,
                details=details,
            )
            for kind, details in (
                (AuditKind.AUTHN_LOGIN_SUCCESS, {"access_level": access_level}),
                (AuditKind.SESSION_CREATED, None),
            )
        ]
    await record_all(db, rows)


async def _configured_creator(services: Services) -> CreatorRef:
    """The creator this deployment serves (its id is read once per process)."""
    creator = await services.creators.by_company(services.settings.whop_company_id)
    if creator is None:
        raise MentoraError("configured creator missing; run `mentora db upgrade`")
    return creator


async def _revoke_unused_grant(services: Services, refresh_token: str | None) -> None:
    """Revoke the grant of a user who gets no session (best effort)."""
    try:
        meta = await services.provider.metadata()
        if refresh_token:
            await services.provider.client.revoke(meta, refresh_token=refresh_token)
    except OAuthError:
        pass


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
    locally_granted = any(gives_access(status, hold) for status, hold in rows.all())
    return locally_granted != answer.has_access


async def _sync_user(services: Services, subject: str) -> None:
    """Reconcile one user's memberships with Whop (best effort; the worker's schedule backs it)."""
    try:
        await reconcile(services, trigger="signin", user_id=subject)
    except Exception as exc:
        log.warning("signin_sync_failed", error=type(exc).__name__)
