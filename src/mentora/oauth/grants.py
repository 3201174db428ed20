"""Encrypted Whop tokens per session, and single-flight refresh across requests and processes.

Refresh tokens rotate on every use and a reused one can kill the grant (C15), so at most one
refresh runs per grant: an asyncio lock per session in this process, and a database row lock
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's write lock) across processes. A refresher that
finds the row already rotated by someone else uses the new token instead of refreshing again.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record
from mentora.crypto import TokenBox
from mentora.db.models import UserSession, WhopToken
from mentora.db.uow import Db, transaction
from mentora.foundation import Foundation
from mentora.oauth.errors import RefreshFailed
from mentora.oauth.provider import Provider
from mentora.oauth.tokens import TokenSet
from mentora.sessions import store

_INSERT_TOKENS = insert(cast(Table, WhopToken.__table__))  # built once


async def store_tokens(
    db: Db,
    *,
    session_id: int,
    tokens: TokenSet,
    box: TokenBox,
    company_id: str | None,
    now: datetime,
) -> None:
    """Keep a new grant's tokens, encrypted, beside its session (C14)."""
    row = {
        "session_id": session_id,
        "access_token_enc": box.encrypt(tokens.access_token),
        "refresh_token_enc": box.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
        "expires_at": tokens.expires_at,
        "company_id": company_id,
        "version": 1,
        "updated_at": now,
    }
    await db.execute(_INSERT_TOKENS, row)


# A forced refresh this soon after the last rotation returns the fresh token instead: bursts of
# "refresh now" from several tabs or processes rotate the grant once.
FORCED_REFRESH_MIN_INTERVAL = timedelta(seconds=10)

_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def _lock_for(session_id: int) -> asyncio.Lock:
    lock = _locks.get(session_id)
    if lock is None:
        lock = asyncio.Lock()
        _locks[session_id] = lock
    return lock


async def _read(base: Foundation, session_id: int) -> WhopToken | None:
    async with base.sessionmaker() as db:
        return (
            await db.execute(select(WhopToken).where(WhopToken.session_id == session_id))
        ).scalar_one_or_none()


async def access_token(
    base: Foundation, provider: Provider, session_id: int, *, force: bool = False
) -> str:
    """A usable Whop access token for the session, refreshing (once, for everyone) if needed."""
    now = base.clock.now()
    leeway = timedelta(seconds=base.settings.refresh_leeway_seconds)
    current = await _read(base, session_id)
    if current is None:
        raise RefreshFailed("session has no Whop grant")
    if not force and current.expires_at - leeway > now:
        return base.tokens.decrypt(current.access_token_enc)
    seen_version = current.version
    async with _lock_for(session_id):
        return await _refresh_locked(
            base, provider, session_id, seen_version=seen_version, force=force
        )


async def _refresh_locked(
    base: Foundation, provider: Provider, session_id: int, *, seen_version: int, force: bool
) -> str:
    now = base.clock.now()
    leeway = timedelta(seconds=base.settings.refresh_leeway_seconds)
    failure: RefreshFailed | None = None
    async with transaction(base.sessionmaker, write=True) as db:
        row = (
            await db.execute(
                select(WhopToken).where(WhopToken.session_id == session_id).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise RefreshFailed("session has no Whop grant")
        rotated_meanwhile = row.version != seen_version
        just_rotated = now - row.updated_at < FORCED_REFRESH_MIN_INTERVAL
        still_valid = row.expires_at - leeway > now
        if rotated_meanwhile or (force and just_rotated) or (not force and still_valid):
            return base.tokens.decrypt(row.access_token_enc)
        if row.refresh_token_enc is None:
            raise RefreshFailed("grant has no refresh token")
        refresh_token = base.tokens.decrypt(row.refresh_token_enc)
        oauth = provider
        meta = await oauth.metadata()
        session = await db.get(UserSession, session_id)
        try:
            tokens = await oauth.client.refresh(
                meta, refresh_token=refresh_token, company_id=row.company_id, now=now
            )
        except RefreshFailed as exc:
            await _end_dead_grant(db, session_id, session, exc, now)
            failure = exc
        else:
            row.access_token_enc = base.tokens.encrypt(tokens.access_token)
            if tokens.refresh_token:
                row.refresh_token_enc = base.tokens.encrypt(tokens.refresh_token)
            row.expires_at = tokens.expires_at
            row.version = row.version + 1
            row.updated_at = now
            record(
                db,
                kind=AuditKind.AUTHN_TOKEN_CREATED,
                outcome="success",
                reason="refresh",
                now=now,
                subject=str(session.user_id) if session else None,
                creator_id=session.creator_id if session else None,
            )
            return tokens.access_token
    assert failure is not None
    raise failure


async def _end_dead_grant(
    db: AsyncSession,
    session_id: int,
    session: UserSession | None,
    exc: RefreshFailed,
    now: datetime,
) -> None:
    """The grant is dead (rotated elsewhere, revoked or reused): end the session, audited."""
    await store.revoke(db, session_id, now=now, reason="refresh_failed")
    record(
        db,
        kind=AuditKind.AUTHN_TOKEN_REUSE
        if "invalid_grant" in exc.detail
        else AuditKind.SESSION_REVOKED,
        outcome="failure",
        reason="refresh_failed",
        now=now,
        subject=str(session.user_id) if session else None,
        creator_id=session.creator_id if session else None,
    )


async def revoke_grant(base: Foundation, provider: Provider, session_id: int) -> bool:
    """Best-effort revocation of the session's refresh token at Whop (C16)."""
    row = await _read(base, session_id)
    if row is None or row.refresh_token_enc is None:
        return False
    oauth = provider
    try:
        meta = await oauth.metadata()
        refresh_token = base.tokens.decrypt(row.refresh_token_enc)
    except Exception:
        return False
    return await oauth.client.revoke(meta, refresh_token=refresh_token)


# Grants revoked at Whop at once: enough to get through thousands quickly, few enough to stay
# well inside Whop's rate limits.
REVOKE_PARALLEL = 8


async def revoke_grants(base: Foundation, provider: Provider, session_ids: Sequence[int]) -> int:
    """Best-effort `revoke_grant` for each session, a few at a time; how many Whop confirmed."""
    gate = asyncio.Semaphore(REVOKE_PARALLEL)

    async def one(session_id: int) -> bool:
        async with gate:
            try:
                return await revoke_grant(base, provider, session_id)
            except Exception:  # best effort: the sessions end whatever Whop says
                return False

    return sum(await asyncio.gather(*(one(sid) for sid in session_ids)))
