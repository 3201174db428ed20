"""Sign-out: one session at the user's request, or every session of a user (or of everyone).

`sign_out` ends the session a browser holds (logout). `end_sessions` ends every live session
of one user, or of everyone, for the user's "sign out everywhere" and the operator's
`mentora sessions revoke`: it revokes the stored Whop grants first (best effort, a few at a
time), then ends the sessions and forgets the grants in one transaction, and audits both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record
from mentora.db.models import UserSession, WhopToken
from mentora.db.uow import transaction
from mentora.oauth import grants
from mentora.services import Services
from mentora.sessions import store
from mentora.sessions.principal import Principal

EVERYONE = "*"


@dataclass(frozen=True)
class Revocation:
    """What ending sessions did: sessions ended, stored grants, how many Whop revoked."""

    sessions: int
    grants: int
    revoked_at_whop: int | None  # None when Whop was not asked


async def sign_out(services: Services, principal: Principal) -> bool:
    """End this session and revoke its Whop grant (best effort); True if Whop confirmed."""
    now = services.clock.now()
    revoked = await grants.revoke_grant(services, services.provider, principal.session.id)
    async with transaction(services.sessionmaker, write=True) as db:
        await store.revoke(db, principal.session.id, now=now, reason="logout")
        for kind, confirmed in (
            (AuditKind.SESSION_REVOKED, True),
            (AuditKind.AUTHN_TOKEN_REVOKED, revoked),
        ):
            record(
                db,
                kind=kind,
                outcome="success" if confirmed else "failure",
                reason="logout",
                now=now,
                subject=principal.user.whop_user_id,
                creator_id=principal.creator.id,
            )
    return revoked


async def _stored_grants(services: Services, user_id: int | None) -> list[int]:
    """The sessions (of one user, or all) that still hold a Whop grant."""
    stored = select(WhopToken.session_id).join(UserSession, UserSession.id == WhopToken.session_id)
    if user_id is not None:
        stored = stored.where(UserSession.user_id == user_id)
    async with services.sessionmaker() as db:
        return list((await db.execute(stored)).scalars())


async def end_sessions(
    services: Services,
    *,
    user_id: int | None,
    subject: str,
    actor: str,
    reason: str,
    creator_id: int | None = None,
    at_whop: bool = True,
) -> Revocation:
    """End every live session of user `user_id` (None: of everyone) and forget their grants.

    With `at_whop`, each stored grant is revoked at Whop first (best effort: the sessions end
    whatever Whop says). `subject` names the target in the audit rows (a Whop user id, or
    EVERYONE); `actor` who asked.
    """
    session_ids = await _stored_grants(services, user_id)
    revoked: int | None = None
    if at_whop:
        revoked = await grants.revoke_grants(services, services.provider, session_ids)
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        if user_id is not None:
            count = await store.revoke_for_user(db, user_id, now=now, reason=reason)
        else:
            count = await store.revoke_all(db, now=now, reason=reason)
        record(
            db,
            kind=AuditKind.SESSION_REVOKED,
            outcome="success",
            reason=reason,
            now=now,
            actor=actor,
            subject=subject,
            creator_id=creator_id,
            details={"sessions": count},
        )
        if session_ids:
            record(
                db,
                kind=AuditKind.AUTHN_TOKEN_REVOKED,
                outcome="success" if revoked == len(session_ids) else "failure",
                reason=reason if at_whop else "skipped_whop",
                now=now,
                actor=actor,
                subject=subject,
                creator_id=creator_id,
                details={"grants": len(session_ids), "revoked": revoked or 0},
            )
    return Revocation(count, len(session_ids), revoked)
