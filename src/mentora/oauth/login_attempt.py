"""Login attempts: created at /auth, consumed exactly once at /callback (C03, S05)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.crypto import TokenBox
from mentora.db.models import LoginAttempt
from mentora.db.uow import Db
from mentora.oauth.errors import LoginAttemptError
from mentora.oauth.pkce import make_verifier, s256_challenge
from mentora.sessions.tokens import hash_token

MAX_PENDING_PER_IP = 20


@dataclass(frozen=True)
class StartedLogin:
    """What /auth needs to redirect: the browser cookie value and the authorize parameters."""

    browser_token: str
    state: str
    nonce: str
    challenge: str


async def start(
    db: Db,
    *,
    box: TokenBox,
    issuer: str,
    redirect_uri: str,
    return_to: str,
    ip: str | None,
    now: datetime,
    ttl: timedelta,
) -> StartedLogin:
    """Store a new login attempt (evicting this IP's oldest past the cap) and return its secrets.

    One statement unless the IP is at the cap (`_INSERT_UNDER_CAP`).
    """
    browser_token = secrets.token_urlsafe(32)
    verifier = make_verifier()
    started = StartedLogin(
        browser_token=browser_token,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        challenge=s256_challenge(verifier),
    )
    row = {
        "browser_hash": hash_token(browser_token),
        "state": started.state,
        "nonce": started.nonce,
        "code_verifier_enc": box.encrypt(verifier),
        "issuer": issuer,
        "redirect_uri": redirect_uri,
        "return_to": return_to,
        "ip": ip,
        "created_at": now,
        "expires_at": now + ttl,
    }
    if (await db.execute(_INSERT_UNDER_CAP, row)).first() is None:
        assert ip is not None  # an attempt without an IP counts nobody's (NULL matches nothing)
        await _evict_oldest(db, ip=ip, now=now)
        await db.execute(_INSERT_UNDER_CAP, row)
    return started


LOGINS = cast(Table, LoginAttempt.__table__)
_COLUMNS = (
    "browser_hash",
    "state",
    "nonce",
    "code_verifier_enc",
    "issuer",
    "redirect_uri",
    "return_to",
    "ip",
    "created_at",
    "expires_at",
)
_PARAMS = {name: bindparam(name, type_=LOGINS.c[name].type) for name in _COLUMNS}
# The attempt is inserted only while its IP has fewer than the cap live (unexpired) ones: the
# count and the insert in one statement, built once. Expired attempts are refused at the
# callback and not counted; the worker's prune pass deletes them (`purge_expired`).
_INSERT_UNDER_CAP = (
    insert(LOGINS)
    .from_select(
        list(_COLUMNS),
        select(*_PARAMS.values()).where(
            select(func.count())
            .select_from(LOGINS)
            .where(LOGINS.c.ip == _PARAMS["ip"], LOGINS.c.expires_at > _PARAMS["created_at"])
            .scalar_subquery()
            < MAX_PENDING_PER_IP
        ),
    )
    .returning(LOGINS.c.id)
)  # no row: at the cap (rowcount is not reliable here on psycopg)


async def _evict_oldest(db: Db, *, ip: str, now: datetime) -> None:
    """Make room for one more attempt from `ip`: delete its expired attempts and its oldest
    live ones past the cap."""
    live = (LoginAttempt.ip == ip) & (LoginAttempt.expires_at > now)
    pending = (await db.execute(select(func.count()).where(live))).scalar_one()
    oldest = (
        select(LoginAttempt.id)
        .where(live)
        .order_by(LoginAttempt.created_at, LoginAttempt.id)
        .limit(max(0, pending - MAX_PENDING_PER_IP + 1))
    )
    await db.execute(
        delete(LoginAttempt).where(
            LoginAttempt.ip == ip,
            (LoginAttempt.expires_at <= now) | LoginAttempt.id.in_(oldest),
        )
    )


async def purge_expired(db: AsyncSession, *, now: datetime) -> int:
    """Delete every expired login attempt (the worker's prune pass); how many went."""
    result = await db.execute(delete(LoginAttempt).where(LoginAttempt.expires_at <= now))
    return int(getattr(result, "rowcount", 0))


# Built once, on the table rather than the mapped class: SQLAlchemy's ORM path (bulk-delete
# bookkeeping, loading the RETURNING rows) cost more than the statement on every callback.
_CONSUME = (
    delete(LOGINS)
    .where(LOGINS.c.browser_hash == bindparam("browser_hash"))
    .returning(
        LOGINS.c.state,
        LOGINS.c.nonce,
        LOGINS.c.code_verifier_enc,
        LOGINS.c.issuer,
        LOGINS.c.redirect_uri,
        LOGINS.c.return_to,
        LOGINS.c.expires_at,
    )
)


@dataclass(frozen=True)
class ConsumedLogin:
    """A login attempt taken out of the store: it can never be used again."""

    state: str
    nonce: str
    verifier: str
    issuer: str
    redirect_uri: str
    return_to: str
    expires_at: datetime


async def consume(db: Db, *, box: TokenBox, browser_token: str | None) -> ConsumedLogin:
    """Delete and return this browser's login attempt; LoginAttemptError when there is none."""
    if not browser_token or len(browser_token) > 128:
        raise LoginAttemptError("no login attempt cookie", code="state_missing")
    row = (await db.execute(_CONSUME, {"browser_hash": hash_token(browser_token)})).one_or_none()
    if row is None:
        raise LoginAttemptError("login attempt unknown or already used", code="state_missing")
    return ConsumedLogin(
        state=row.state,
        nonce=row.nonce,
        verifier=box.decrypt(row.code_verifier_enc),
        issuer=row.issuer,
        redirect_uri=row.redirect_uri,
        return_to=row.return_to,
        expires_at=row.expires_at,
    )


def check_state(login: ConsumedLogin, *, presented: str | None, now: datetime) -> None:
    """The presented state must equal the login attempt's (constant time) and be in time (pure)."""
    if not presented or not hmac.compare_digest(presented.encode(), login.state.encode()):
        raise LoginAttemptError("state mismatch", code="state_mismatch")
    if now >= login.expires_at:
        raise LoginAttemptError("login attempt expired", code="state_expired")
