"""`CurrentSession`: the signed-in principal behind the session cookie, or 401.

One query loads the session with its user, creator and student row. Revocation is read from
the database on every request, so a revoke in any process takes effect on the next request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from starlette.requests import Request

from mentora.audit.kinds import AuditKind
from mentora.audit.record import bind_actor, record
from mentora.db.models import Creator, Student, User, UserSession
from mentora.db.uow import transaction
from mentora.errors import MentoraError
from mentora.services import Services
from mentora.sessions import store
from mentora.sessions.errors import SessionError
from mentora.sessions.principal import Principal
from mentora.sessions.tokens import csrf_token, fingerprint, hash_token, plausible
from mentora.web.cookie import SESSION_COOKIE
from mentora.web.deps import ServicesDep
from mentora.web.ratelimit import audit_within_budget
from mentora.web.spaces import creator_match, space_route, unknown_space
from mentora.web.state import request_state


async def load_principal(request: Request, services: ServicesDep) -> Principal | None:
    """The principal for the request's cookie, or None when there is no usable session."""
    state = request_state(request)
    if state.principal_loaded:
        return state.principal
    state.adopt(None)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    now = services.clock.now()
    if not plausible(token):
        return None
    token_hash = hash_token(token)
    route = space_route(request)
    row = await _session_row(services, token_hash, route)
    if row is None:
        # A cookie we never issued (or long purged): never adopt it (S01). Audited within a
        # per-client budget: a client replaying junk cookies must not buy one DB write each.
        await audit_within_budget(
            request,
            services,
            "invalid_session_audit",
            kind=AuditKind.SESSION_INVALID,
            reason="unknown_session",
            details={"session": fingerprint(token_hash)},
        )
        return None
    session, user, creator, student = row
    reason = store.expiry_reason(session, now=now, policy=services.session_policy)
    if reason is not None:
        await _expire(services, session, user.whop_user_id, session.creator_id, reason)
        return None
    if creator is None:
        if route is not None:
            raise unknown_space()
        raise MentoraError("configured creator missing; run `mentora db upgrade`")
    if store.needs_touch(session, now):
        async with transaction(services.sessionmaker, write=True) as db:
            await store.touch(db, session.id, now)
        session.last_seen_at = now
    principal = Principal(
        session=session,
        user=user,
        creator=creator,
        student=student,
        csrf_token=csrf_token(services.secret_key, token_hash),
    )
    bind_actor(user.whop_user_id)
    state.adopt(principal)
    return principal


async def _session_row(
    services: Services, token_hash: bytes, route: str | None
) -> tuple[UserSession, User, Creator | None, Student | None] | None:
    """The session with its user, and the request's creator (its path's) with the user's
    student row there: one statement. A session belongs to a user, not to a creator."""
    async with services.sessionmaker() as db:
        row = (
            await db.execute(
                select(UserSession, User, Creator, Student)
                .join(User, User.id == UserSession.user_id)
                .outerjoin(Creator, creator_match(route, services.settings.whop_company_id))
                .outerjoin(
                    Student,
                    (Student.user_id == UserSession.user_id) & (Student.creator_id == Creator.id),
                )
                .where(UserSession.token_hash == token_hash)
            )
        ).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def _expire(
    services: Services, session: UserSession, subject: str, creator_id: int | None, reason: str
) -> None:
    """End a session that timed out (once: a revoked one is left as it is), audited."""
    if session.revoked_at is not None:
        return
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        await store.revoke(db, session.id, now=now, reason=reason)
        record(
            db,
            kind=AuditKind.SESSION_EXPIRED,
            outcome="success",
            reason=reason,
            now=now,
            subject=subject,
            creator_id=creator_id,
        )


async def require_session(
    principal: Annotated[Principal | None, Depends(load_principal)],
) -> Principal:
    """The principal, or 401 "please sign in"."""
    if principal is None:
        raise SessionError("no live session")
    return principal


OptionalSession = Annotated[Principal | None, Depends(load_principal)]
CurrentSession = Annotated[Principal, Depends(require_session)]
