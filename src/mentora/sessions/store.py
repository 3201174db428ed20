"""Session rows: create, look up with idle and absolute timeouts, touch, revoke (S01-S09)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from mentora.db.models import UserSession, WhopToken
from mentora.db.uow import Db
from mentora.sessions.tokens import hash_token, new_token

# Write last_seen at most this often, to keep gated requests read-only most of the time.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    """Timeouts enforced server-side."""

    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class NewSession:
    """A created session: its row id and the raw token that goes in the cookie (only now)."""

    id: int
    token: str


SESSIONS = cast(Table, UserSession.__table__)
# Built once: building an INSERT costs more than running it.
_INSERT_SESSION = insert(SESSIONS).returning(SESSIONS.c.id)


async def create(
    db: Db,
    *,
    user_id: int,
    creator_id: int,
    now: datetime,
    policy: SessionPolicy,
    ip: str | None,
    user_agent: str | None,
) -> NewSession:
    """Insert a brand-new session row (a new token at every login, S04)."""
    token = new_token()
    row = {
        "token_hash": hash_token(token),
        "user_id": user_id,
        "creator_id": creator_id,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + policy.absolute,
        "revoked_at": None,
        "revoked_reason": None,
        "ip": ip,
        "user_agent": (user_agent or "")[:400] or None,
    }
    session_id = (await db.execute(_INSERT_SESSION, row)).scalar_one()
    return NewSession(id=int(session_id), token=token)


def expiry_reason(row: UserSession, *, now: datetime, policy: SessionPolicy) -> str | None:
    """Why `row` can no longer be used, or None when it is live (pure)."""
    if row.revoked_at is not None:
        return row.revoked_reason or "revoked"
    if now >= row.expires_at:
        return "absolute_timeout"
    if now - row.last_seen_at >= policy.idle:
        return "idle_timeout"
    return None


async def find(db: AsyncSession, token: str) -> UserSession | None:
    """The row for a cookie token, live or not; None for a token never issued (strict mode)."""
    result = await db.execute(
        select(UserSession).where(UserSession.token_hash == hash_token(token))
    )
    return result.scalar_one_or_none()


def needs_touch(row: UserSession, now: datetime) -> bool:
    """True when last_seen is old enough to be worth a write."""
    return now - row.last_seen_at >= TOUCH_INTERVAL


async def touch(db: AsyncSession, session_id: int, now: datetime) -> None:
    """Extend the idle timeout."""
    await db.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(last_seen_at=now)
    )


async def _forget_grants(db: AsyncSession, *conditions: ColumnElement[bool]) -> None:
    """Delete the stored Whop tokens of revoked sessions matching `conditions`.

    A revoked session never uses its grant again, so keeping the (encrypted) refresh token
    would only leave something to steal; whoever revokes at Whop reads it first.
    """
    ended = select(UserSession.id).where(UserSession.revoked_at.is_not(None), *conditions)
    await db.execute(delete(WhopToken).where(WhopToken.session_id.in_(ended)))


async def revoke(db: AsyncSession, session_id: int, *, now: datetime, reason: str) -> bool:
    """End one session and forget its Whop grant; True when it was live."""
    result = await db.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    await _forget_grants(db, UserSession.id == session_id)
    return bool(getattr(result, "rowcount", 0))


async def revoke_for_user(
    db: AsyncSession,
    user_id: int,
    *,
    now: datetime,
    reason: str,
    creator_id: int | None = None,
) -> int:
    """End every live session of a user (at one creator, or everywhere) and forget their Whop
    grants; returns how many sessions were live."""
    scope: list[ColumnElement[bool]] = [UserSession.user_id == user_id]
    if creator_id is not None:
        scope.append(UserSession.creator_id == creator_id)
    result = await db.execute(
        update(UserSession)
        .where(UserSession.revoked_at.is_(None), *scope)
        .values(revoked_at=now, revoked_reason=reason)
    )
    await _forget_grants(db, *scope)
    return int(getattr(result, "rowcount", 0))


async def revoke_all(db: AsyncSession, *, now: datetime, reason: str) -> int:
    """End every live session and forget every stored Whop grant (incident response)."""
    result = await db.execute(
        update(UserSession)
        .where(UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    await _forget_grants(db)
    return int(getattr(result, "rowcount", 0))
