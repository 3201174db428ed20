"""The callback pipeline, in the order the checklist fixes (C03-C12, O01-O10).

login attempt consumed → provider error → state, expiry → `iss` (`check_response`) → code
exchange → ID token (`redeem`) → userinfo `sub` (`confirm_userinfo`). Nothing reaches the token
endpoint before the first checks pass, and nothing uses the access token before the ID token is
verified. The sign-in usecase runs them in this order (usecases.signin).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mentora.oauth import login_attempt
from mentora.oauth.discovery import ProviderMetadata
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


def check_response(
    login: login_attempt.ConsumedLogin,
    *,
    params: Mapping[str, str],
    meta: ProviderMetadata,
    now: datetime,
) -> None:
    """The checks after the login attempt is consumed, before any network call: provider
    error, state, expiry, `iss` (pure). The caller consumes the attempt first, in a transaction
    of its own that commits whatever these checks decide, so an attempt is gone after its
    first use (C03, C10)."""
    if "error" in params:
        description = params.get("error_description", "")[:MAX_ERROR_DESCRIPTION]
        raise ProviderError(f"provider error {params['error'][:64]!r}: {description!r}")
    login_attempt.check_state(login, presented=params.get("state"), now=now)
    check_issuer(params.get("iss"), expected=login.issuer, required=meta.iss_parameter_supported)


@dataclass(frozen=True)
class Redeemed:
    """The code exchanged and the ID token verified: whom Whop vouches for, and the tokens."""

    subject: str
    claims: dict[str, Any]
    tokens: TokenSet


async def redeem(
    login: login_attempt.ConsumedLogin,
    *,
    code: str | None,
    provider: Provider,
    now: datetime,
) -> Redeemed:
    """Exchange the code and verify the ID token; nothing may use the access token before."""
    if not code or len(code) > 2048:
        raise IdTokenInvalid("no authorization code", code="code_missing")
    meta = await provider.metadata()
    tokens = await provider.client.exchange_code(
        meta, code=code, verifier=login.verifier, redirect_uri=login.redirect_uri, now=now
    )
    if tokens.id_token is None:
        raise IdTokenInvalid("token response has no id_token", code="id_token_missing")
    claims = await provider.verify_id_token(tokens.id_token, nonce=login.nonce, now=now)
    return Redeemed(subject=str(claims["sub"]), claims=claims, tokens=tokens)


async def confirm_userinfo(
    login: login_attempt.ConsumedLogin,
    redeemed: Redeemed,
    *,
    provider: Provider,
) -> VerifiedLogin:
    """Read userinfo with the (verified) grant's access token and check its subject."""
    meta = await provider.metadata()
    info = await provider.client.userinfo(meta, access_token=redeemed.tokens.access_token)
    if info.get("sub") != redeemed.claims["sub"]:
        raise UserinfoMismatch("userinfo sub differs from the ID token")
    return VerifiedLogin(
        subject=redeemed.subject,
        claims=redeemed.claims,
        userinfo=info,
        tokens=redeemed.tokens,
        return_to=login.return_to,
    )
