"""Sign in with Whop: start a login, then finish it when Whop sends the browser back.

`start_sign_in` stores a login attempt (PKCE verifier, state, nonce, where to return) and
returns Whop's authorize URL. `complete_sign_in` runs the callback's checks in the
checklist's order (oauth.callback), asks Whop whether the user may reach each enabled creator
(exactly as revalidation does, so sign-in and the gate never disagree), then provisions the
user with each answer, starts a session and stores their Whop tokens: one transaction. A
session belongs to the user whatever Whop answers: every page decides for the creator of its
path. Every outcome is audited and counted; the web layer turns the result into a redirect
or a page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlencode

import structlog
from sqlalchemy import Table, bindparam, select

from mentora import metrics
from mentora.access.revalidate import check_creator_access
from mentora.accounts import record_access, upsert_user
from mentora.audit.kinds import AuditKind
from mentora.audit.record import audit_values, record_all, record_alone
from mentora.creators import CreatorRef
from mentora.db.models import Creator, Membership
from mentora.db.uow import Db, connection_transaction
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

# The callback's reads, built once on the tables: building them per call, through the ORM's
# compile path, cost more than running them.
CREATORS = cast(Table, Creator.__table__)
MEMBERSHIPS = cast(Table, Membership.__table__)
_ENABLED_CREATORS = (
    select(CREATORS.c.id, CREATORS.c.whop_company_id)
    .where(CREATORS.c.enabled.is_(True))
    .order_by(CREATORS.c.id)
)
_MEMBERSHIPS_AT = select(
    MEMBERSHIPS.c.creator_id, MEMBERSHIPS.c.status, MEMBERSHIPS.c.access_hold
).where(
    MEMBERSHIPS.c.whop_user_id == bindparam("subject"),
    MEMBERSHIPS.c.creator_id.in_(bindparam("creator_ids", expanding=True)),
)


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
    async with connection_transaction(services.engine, write=True) as db:
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
    verified, answers = checked
    token, drift = await _provision(services, verified, answers, ip, user_agent)
    anywhere = any(answer.has_access for _, answer in answers)
    metrics.SIGN_INS.labels(
        outcome="success", reason="ok" if anywhere else "no_membership_yet"
    ).inc()
    if drift:
        # Whop's answers and our membership rows disagree (first sign-in, a webhook that raced
        # the redirect or was lost, a creator onboarded since): pull this user's memberships
        # at every creator before the redirect, so the page they land on shows them. Best
        # effort and bounded by Whop's HTTP timeout; the scheduled sync repairs what it misses.
        await _sync_user(services, verified.subject)
    return SignedIn(token, _destination(services, verified.return_to, answers))


def _destination(
    services: Services, return_to: str, answers: list[tuple[CreatorRef, AccessAnswer]]
) -> str:
    """The page the sign-in started from; with none, the default creator's team starts at
    its creator pages and everyone else at the dashboard (every creator they may reach)."""
    if return_to != DEFAULT_RETURN:
        return return_to
    company = services.settings.whop_company_id
    for creator, answer in answers:
        if creator.whop_company_id == company and answer.access_level == "admin":
            return CREATOR_HOME
    return return_to


async def _check(
    services: Services, params: Mapping[str, str], browser_token: str | None
) -> tuple[VerifiedLogin, list[tuple[CreatorRef, AccessAnswer]]] | SignInRefused:
    """The callback's checks in the checklist's order, then Whop's access answer at every
    onboarded creator; a refusal is audited and counted here."""
    now = services.clock.now()
    try:
        login, creators = await _consume(services, browser_token)
        provider = services.provider
        cb.check_response(login, params=params, meta=await provider.metadata(), now=now)
        redeemed = await cb.redeem(login, code=params.get("code"), provider=provider, now=now)
        # Userinfo and check-access both wait on Whop and need only what the verified ID token
        # gave (the access token, the subject): asked together, the callback waits for the
        # slower one instead of both. Userinfo's refusal still comes first, as when it was
        # asked first; check-access is a read with our API key, harmless if it is wasted.
        verified, answers = await asyncio.gather(
            cb.confirm_userinfo(login, redeemed, provider=provider),
            _answers(services, creators, redeemed.subject),
            return_exceptions=True,
        )
        if isinstance(verified, BaseException):
            raise verified
        if isinstance(answers, BaseException):
            raise answers
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
    return verified, answers


async def _consume(
    services: Services, browser_token: str | None
) -> tuple[login_attempt.ConsumedLogin, list[CreatorRef]]:
    """Take this browser's login attempt out of the store and read the enabled creators, in
    one transaction that commits before any other check, so the attempt is gone after its
    first use whatever they decide (C03, C10). The creators are read now (a creator added
    since by any process counts) to spare the callback a transaction of its own."""
    async with connection_transaction(services.engine, write=True) as db:
        login = await login_attempt.consume(db, box=services.tokens, browser_token=browser_token)
        rows = (await db.execute(_ENABLED_CREATORS)).all()
    return login, [CreatorRef(id=row[0], whop_company_id=row[1]) for row in rows]


async def _answers(
    services: Services, creators: list[CreatorRef], subject: str
) -> list[tuple[CreatorRef, AccessAnswer]]:
    """Whop's check-access answer for the user at every enabled creator, asked concurrently
    (exactly as revalidation asks, so sign-in and the gate never disagree). A creator Whop
    could not answer for is left out; with no answer at all, its error is raised."""
    if not creators:
        raise MentoraError("no creator onboarded; run `mentora db upgrade`")

    async def ask(creator: CreatorRef) -> tuple[CreatorRef, AccessAnswer]:
        policy = await services.gate.policies.get(creator.id)
        answer = await check_creator_access(
            services.whop, subject, creator.whop_company_id, policy.access_products
        )
        return creator, answer

    results = await asyncio.gather(*(ask(creator) for creator in creators), return_exceptions=True)
    answers = [result for result in results if not isinstance(result, BaseException)]
    failures = [result for result in results if isinstance(result, BaseException)]
    for failure in failures:
        # Whop failing for one creator must not lock the user out of the others: its gate
        # asks again on the first request there. Anything but a Whop failure is a bug.
        if not isinstance(failure, WhopError) or not answers:
            raise failure
    return answers


async def _provision(
    services: Services,
    verified: VerifiedLogin,
    answers: list[tuple[CreatorRef, AccessAnswer]],
    ip: str | None,
    user_agent: str | None,
) -> tuple[str, bool]:
    """Store the user, Whop's answer at each creator, a session and its tokens (one
    transaction). A session belongs to the user: it is started whatever Whop answers, and
    every page decides for the creator of its path. Returns the session token and whether
    local state drifted from Whop's answers."""
    now = services.clock.now()
    subject = verified.subject
    async with connection_transaction(services.engine, write=True) as db:
        user_id = await upsert_user(db, subject=subject, userinfo=verified.userinfo, now=now)
        for creator, answer in answers:
            await record_access(db, user_id=user_id, creator_id=creator.id, answer=answer, now=now)
        drift = await _local_state_disagrees(db, subject, answers)
        home = _home_creator(services, answers)
        new = await store.create(
            db,
            user_id=user_id,
            creator_id=home,
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
        levels = {creator.whop_company_id: answer.access_level for creator, answer in answers}
        await _audit(db, now, subject, home, access_level=levels)
        return new.token, drift


def _home_creator(services: Services, answers: list[tuple[CreatorRef, AccessAnswer]]) -> int:
    """The creator a session is recorded under (audit rows, the students page's last seen):
    the default creator; access is never decided from it."""
    company = services.settings.whop_company_id
    for creator, _ in answers:
        if creator.whop_company_id == company:
            return creator.id
    return answers[0][0].id


async def _audit(
    db: Db,
    now: datetime,
    subject: str,
    creator_id: int,
    *,
    access_level: dict[str, str],
) -> None:
    """A sign-in's two audit rows in one statement: login succeeded (with Whop's access level
    at each creator) and session created."""
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


async def _local_state_disagrees(
    db: Db, subject: str, answers: list[tuple[CreatorRef, AccessAnswer]]
) -> bool:
    """True when, at some creator, no stored membership of the user matches Whop's answer
    (one statement for every creator)."""
    rows = await db.execute(
        _MEMBERSHIPS_AT,
        {"subject": subject, "creator_ids": [creator.id for creator, _ in answers]},
    )
    granted = {creator_id for creator_id, status, hold in rows.all() if gives_access(status, hold)}
    return any(
        answer.access_level != "admin" and (creator.id in granted) != answer.has_access
        for creator, answer in answers
    )


async def _sync_user(services: Services, subject: str) -> None:
    """Reconcile one user's memberships with Whop (best effort; the worker's schedule backs it)."""
    try:
        await reconcile(services, trigger="signin", user_id=subject)
    except Exception as exc:
        log.warning("signin_sync_failed", error=type(exc).__name__)
