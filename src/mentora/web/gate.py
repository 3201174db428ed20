"""FastAPI guards: `RequireMember`, `RequireCreator`, `member_gate(...)`, `EmbeddedMember`.

    @router.get("/lessons")
    async def lessons(access: RequireMember) -> ...

    @router.get("/masterclass", dependencies=[Depends(member_gate(tier="pro"))])

Each request is decided for the creator of its path (`/c/{route}/…`, web/spaces.py; the
default creator, `WHOP_COMPANY_ID`, for unprefixed paths), never for "the session's creator".
Every refusal writes one `authz_fail` audit event with the reason and raises `AccessDenied`
(403, or 503 "Whop unavailable"); API paths get JSON, browsers the access_denied.html page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, NoReturn

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mentora import metrics
from mentora.access.cache import Entry, GateCache
from mentora.access.errors import AccessDenied, EmbeddedTokenInvalid
from mentora.access.iframe import USER_TOKEN_HEADER, EmbeddedIdentity, embedded_identity
from mentora.access.policy import Decision, Requirement
from mentora.access.service import Evaluation, Subject
from mentora.audit.kinds import AuditKind
from mentora.audit.record import bind_actor, record_alone
from mentora.creators import creator_by_company
from mentora.db.models import Creator, Student, User
from mentora.db.uow import transaction
from mentora.errors import MentoraError
from mentora.services import Services
from mentora.sessions.tokens import hash_token, plausible
from mentora.web.cookie import SESSION_COOKIE
from mentora.web.deps import get_services
from mentora.web.principal import load_principal, require_session
from mentora.web.ratelimit import audit_within_budget
from mentora.web.spaces import creator_match, space_route, unknown_space
from mentora.web.state import request_state

GATE_MARKER = "__access_requirement__"


@dataclass
class Access:
    """A request that passed the gate: who, at which creator, and the decision."""

    user: User
    creator: Creator
    student: Student | None
    decision: Decision
    via: str  # "session" (cookie), "embedded" or "experience" (x-whop-user-token)

    @property
    def is_creator(self) -> bool:
        """True for the creator's team (Whop access level `admin`)."""
        return self.decision.reason == "creator"

    @property
    def tier(self) -> str | None:
        """The tier the user's membership grants (None for the creator's team)."""
        return self.decision.tier


async def deny(
    services: Services,
    request: Request,
    *,
    user: User,
    creator: Creator,
    decision: Decision,
    requirement: Requirement,
    via: str,
) -> NoReturn:
    """Record `authz_fail` with the reason, then raise the refusal."""
    now = services.clock.now()
    await record_alone(
        services.sessionmaker,
        kind=AuditKind.AUTHZ_FAIL,
        outcome="failure",
        reason=decision.reason,
        now=now,
        subject=user.whop_user_id,
        creator_id=creator.id,
        details={"path": request.url.path, "via": via, **requirement.describe()},
    )
    retry = services.settings.access_retry_seconds
    raise AccessDenied(
        decision.reason,
        purchase_url=services.settings.purchase_url,
        retry_after=retry,
        creator=creator,
    )


async def admit(
    services: Services,
    request: Request,
    subject: Subject,
    requirement: Requirement,
    via: str,
    resources: tuple[str, ...] = (),
) -> tuple[Access, Evaluation]:
    evaluation = await services.gate.evaluate(subject, requirement, resources=resources)
    decision = evaluation.decision
    metrics.count_decision(decision.allowed, decision.reason)
    if not decision.allowed:
        await deny(
            services,
            request,
            user=subject.user,
            creator=subject.creator,
            decision=decision,
            requirement=requirement,
            via=via,
        )
    access = Access(subject.user, subject.creator, subject.student, decision, via)
    return access, evaluation


def _from_cache(
    services: Services,
    cache: GateCache,
    request: Request,
    version: int | None,
    requirement: Requirement,
) -> Access | None:
    """The steady-state path: the same session, and nothing committed since it was read."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not plausible(token):
        return None
    hit = cache.admit(
        version,
        hash_token(token),
        requirement,
        now=services.clock.now(),
        sessions=services.session_policy,
        space=space_route(request) or "",
    )
    if hit is None:
        return None
    principal = hit.principal
    # What load_principal leaves on the request, so later dependencies and templates agree.
    request_state(request).adopt(principal)
    bind_actor(principal.user.whop_user_id)
    metrics.count_decision(hit.decision.allowed, hit.decision.reason)
    return Access(principal.user, principal.creator, principal.student, hit.decision, "session")


async def _known_space(services: Services, request: Request) -> None:
    """404 for a signed-out visitor at a space no creator has (instead of a sign-in that
    could only end at a 404)."""
    route = space_route(request)
    if route is None:
        return
    async with services.sessionmaker() as db:
        found = (
            await db.execute(
                select(Creator.id).where(creator_match(route, services.settings.whop_company_id))
            )
        ).first()
    if found is None:
        raise unknown_space()


def member_gate(
    *,
    tier: str | None = None,
    products: tuple[str, ...] = (),
    creator_only: bool = False,
) -> Callable[..., Awaitable[Access]]:
    """A dependency admitting signed-in users whose membership meets the requirement."""
    requirement = Requirement(tier=tier, product_ids=frozenset(products), creator_only=creator_only)

    async def gate(request: Request) -> Access:
        # Services are read directly: a sync dependency would cost a threadpool hop per request.
        services = get_services(request)
        cache = services.gate.cache
        version: int | None = None
        if cache is not None and not request_state(request).principal_loaded:
            # The version is read before any state, so an entry can only be older than it says.
            version = cache.version()
            cached = _from_cache(services, cache, request, version, requirement)
            if cached is not None:
                return cached
        loaded = await load_principal(request, services)
        if loaded is None:
            await _known_space(services, request)
        principal = await require_session(loaded)
        access, evaluation = await admit(services, request, principal, requirement, "session")
        if cache is not None and not evaluation.revalidated and not access.decision.degraded:
            cache.put(
                version,
                principal.session.token_hash,
                Entry(
                    principal, tuple(evaluation.memberships), evaluation.answer, evaluation.policy
                ),
                space=space_route(request) or "",
            )
        return access

    setattr(gate, GATE_MARKER, requirement)
    gate.__doc__ = f"Access gate: {requirement}"
    return gate


@dataclass
class _Subject:
    """An embedded user at a creator (the same shape `decide_for` reads from a Principal)."""

    user: User
    creator: Creator
    student: Student | None


async def embedded_subject(
    services: Services, whop_user_id: str, creator: Creator | None = None
) -> _Subject:
    """The user and student rows for an embedded user at `creator` (default: the configured
    creator, WHOP_COMPANY_ID), the user created on first sight."""
    now = services.clock.now()
    company = services.settings.whop_company_id
    async with services.sessionmaker() as db:
        if creator is None:
            creator = await creator_by_company(db, company)
        if creator is None:
            raise MentoraError(f"configured creator {company} missing")
        row = (
            await db.execute(
                select(User, Student)
                .outerjoin(
                    Student, (Student.user_id == User.id) & (Student.creator_id == creator.id)
                )
                .where(User.whop_user_id == whop_user_id)
            )
        ).one_or_none()
    if row is not None:
        return _Subject(user=row[0], creator=creator, student=row[1])
    try:
        async with transaction(services.sessionmaker, write=True) as db:
            user = User(whop_user_id=whop_user_id, created_at=now, updated_at=now)
            db.add(user)
            await db.flush()
    except IntegrityError:
        async with services.sessionmaker() as db:
            found = (
                await db.execute(select(User).where(User.whop_user_id == whop_user_id))
            ).scalar_one()
        return _Subject(user=found, creator=creator, student=None)
    return _Subject(user=user, creator=creator, student=None)


async def verified_identity(services: Services, request: Request) -> EmbeddedIdentity:
    """The Whop user Whop's iframe proxy vouches for (`x-whop-user-token`), or the refusal."""
    try:
        identity = await embedded_identity(
            services, services.user_token_keys, request.headers.get(USER_TOKEN_HEADER)
        )
    except EmbeddedTokenInvalid as exc:
        # Any client can send junk tokens at will: audited within the same per-client
        # budget as junk session cookies, so each one cannot buy a database write.
        await audit_within_budget(
            request,
            services,
            "invalid_session_audit",
            kind=AuditKind.AUTHN_LOGIN_FAIL,
            reason=f"embedded_{exc.check}",
            details={"path": request.url.path},
        )
        raise
    bind_actor(identity.user_id)
    return identity


def embedded_gate(
    *, tier: str | None = None, products: tuple[str, ...] = ()
) -> Callable[..., Awaitable[Access]]:
    """A dependency for routes served inside Whop's iframe: identity from the user token."""
    requirement = Requirement(tier=tier, product_ids=frozenset(products))

    async def embedded(request: Request) -> Access:
        services = get_services(request)
        if not services.settings.embedded_mode:
            # Outside embedded mode there is no proxy to vouch for the header: no such route.
            raise HTTPException(status_code=404)
        identity = await verified_identity(services, request)
        subject = await embedded_subject(services, identity.user_id)
        access, _ = await admit(services, request, subject, requirement, "embedded")
        return access

    setattr(embedded, GATE_MARKER, requirement)
    embedded.__doc__ = f"Embedded access gate: {requirement}"
    return embedded


def gated_endpoint(
    handler: Callable[[Access], Awaitable[Response]],
    gate: Callable[[Request], Awaitable[Access]] | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that runs `gate` (default: members) and answers `handler(access)`.

    For gated routes that take nothing but the request: FastAPI solving the gate as a
    dependency cost more per request than the gate's own decision (issue 17's profile of
    `bench.gate`), so these routes are plain Starlette routes calling the gate directly. They
    carry the gate's requirement like a dependency does, so route audits (M01) still see them.
    """
    gate = gate or member_gate()

    async def endpoint(request: Request) -> Response:
        return await handler(await gate(request))

    setattr(endpoint, GATE_MARKER, getattr(gate, GATE_MARKER))
    endpoint.__doc__ = handler.__doc__
    return endpoint


RequireMember = Annotated[Access, Depends(member_gate())]
RequireCreator = Annotated[Access, Depends(member_gate(creator_only=True))]
EmbeddedMember = Annotated[Access, Depends(embedded_gate())]


def is_gate(call: object) -> bool:
    """True for dependencies built by `member_gate` or `embedded_gate` (route audits, M01)."""
    return hasattr(call, GATE_MARKER)
