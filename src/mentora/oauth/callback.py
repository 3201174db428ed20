"""The callback pipeline, in the order the checklist fixes (C03-C12, O01-O10).

provider error → login attempt (present, unused, unexpired, this browser) → `iss` → code exchange
→ ID token → userinfo `sub`. Nothing reaches the token endpoint before the first three pass,
and nothing uses the access token before the ID token is verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mentora.crypto import TokenBox
from mentora.db import uow
from mentora.oauth import login_attempt
from mentora.oauth.errors import IdTokenInvalid, IssuerMismatch, ProviderError, UserinfoMismatch
from mentora.oauth.provider import Provider
from mentora.oauth.tokens import TokenSet

MAX_ERROR_DESCRIPTION = 200


@dataclass(frozen=True)
class VerifiedLogin:
    """A user Whop vouched for: claims, userinfo and the tokens (kept server-side)."""

    subject: str
    claims: dict[str, Any]
    userinfo: dict[str, Any]
    tokens: TokenSet
    return_to: str


def check_issuer(presented: str | None, *, expected: str, required: bool) -> None:
    """RFC 9207: exact string match when present; missing is an error if the AS promises it."""
    if presented is None:
        if required:
            raise IssuerMismatch("iss missing from the authorization response")
        return
    if presented != expected:
        raise IssuerMismatch("iss does not match the login attempt's issuer")


async def consume_and_check(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    box: TokenBox,
    browser_token: str | None,
    params: dict[str, str],
    provider: Provider,
    now: datetime,
) -> login_attempt.ConsumedLogin:
    """Steps before any network call: consume the login attempt, then error, state, expiry, iss.

    The consumption commits on its own, so a login attempt is gone after its first use whatever
    the later checks decide (C03, C10).
    """
    async with uow.transaction(sessionmaker, write=True) as db:
        login = await login_attempt.consume(db, box=box, browser_token=browser_token)
    if "error" in params:
        description = params.get("error_description", "")[:MAX_ERROR_DESCRIPTION]
        raise ProviderError(f"provider error {params['error'][:64]!r}: {description!r}")
    login_attempt.check_state(login, presented=params.get("state"), now=now)
    meta = await provider.metadata()
    check_issuer(params.get("iss"), expected=login.issuer, required=meta.iss_parameter_supported)
    return login


async def complete(
    login: login_attempt.ConsumedLogin,
    *,
    code: str | None,
    provider: Provider,
    http: Any,
    now: datetime,
) -> VerifiedLogin:
    """Exchange the code, verify the ID token, read userinfo and check its subject."""
    if not code or len(code) > 2048:
        raise IdTokenInvalid("no authorization code", code="code_missing")
    meta = await provider.metadata()
    tokens = await provider.client.exchange_code(
        meta, code=code, verifier=login.verifier, redirect_uri=login.redirect_uri, now=now
    )
    if tokens.id_token is None:
        raise IdTokenInvalid("token response has no id_token", code="id_token_missing")
    claims = await provider.verify_id_token(tokens.id_token, nonce=login.nonce, now=now)
    info = await provider.client.userinfo(meta, access_token=tokens.access_token, http=http)
    if info.get("sub") != claims["sub"]:
        raise UserinfoMismatch("userinfo sub differs from the ID token")
    return VerifiedLogin(
        subject=str(claims["sub"]),
        claims=claims,
        userinfo=info,
        tokens=tokens,
        return_to=login.return_to,
    )
