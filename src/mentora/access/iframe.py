"""Embedded-app identity: verify Whop's `x-whop-user-token` (whop-platform.md §4).

Whop's iframe proxy adds a short-lived ES256 JWT to requests aimed at the app's own origin:
iss `urn:whopcom:exp-proxy`, aud = the app id (one string, never an array), sub = the user
id, exp. Keys come from the issuer's JWKS (`{issuer}/.well-known/jwks.json`), cached for 12
hours; a token naming an unknown kid forces one refetch at most every 30 seconds (rotation
without letting junk kids hammer Whop), as Whop's own SDKs do. The algorithm is pinned
before any key is touched, so `alg: none`, HS256 with the public key as secret and other
confusions are refused outright.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from mentora.access.errors import EmbeddedTokenInvalid, EmbeddedUnavailable
from mentora.clock import Clock
from mentora.foundation import Foundation

log = structlog.get_logger("mentora.access")

USER_TOKEN_HEADER = "x-whop-user-token"  # noqa: S105 - a header name
USER_TOKEN_ISSUER = "urn:whopcom:exp-proxy"  # noqa: S105 - an issuer name
ALGORITHM = "ES256"
CACHE_FOR = timedelta(hours=12)
REFETCH_COOLDOWN = timedelta(seconds=30)
MAX_TOKEN_LENGTH = 4096
# Tolerated clock difference with Whop on exp/nbf/iat, in seconds.
LEEWAY_SECONDS = 5
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class EmbeddedIdentity:
    """Who Whop's proxy says is asking: the Whop user id and the app id the token is for."""

    user_id: str
    app_id: str


class UserTokenKeys:
    """Whop's user-token signing keys: cached, refetched on an unknown kid (rate-limited)."""

    def __init__(self, *, http: httpx.AsyncClient, clock: Clock, url: str) -> None:
        """Start empty; the first token triggers the first fetch."""
        self._http = http
        self._clock = clock
        self.url = url
        self._keys: KeySet | None = None
        self._fetched_at: datetime | None = None
        self._forced_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    @classmethod
    def for_issuer(cls, base: Foundation) -> UserTokenKeys:
        """The key cache for the configured issuer's JWKS, fetched with `base`'s client."""
        url = base.settings.issuer.rstrip("/") + "/.well-known/jwks.json"
        return cls(http=base.http, clock=base.clock, url=url)

    def _usable(self, kid: str | None, now: datetime) -> bool:
        if self._keys is None or self._fetched_at is None or now - self._fetched_at >= CACHE_FOR:
            return False
        return kid is None or any(key.kid == kid for key in self._keys.keys)

    async def keys_for(self, kid: str | None) -> KeySet:
        """The key set to verify a token naming `kid` (None: the token names no key)."""
        if self._usable(kid, self._clock.now()):
            assert self._keys is not None
            return self._keys
        async with self._lock:
            now = self._clock.now()
            if self._usable(kid, now):
                assert self._keys is not None
                return self._keys
            expired = self._fetched_at is None or now - self._fetched_at >= CACHE_FOR
            if not expired:
                # The cache is current but lacks this kid: a rotation, or a forged kid.
                if self._forced_at is not None and now - self._forced_at < REFETCH_COOLDOWN:
                    assert self._keys is not None
                    return self._keys
                self._forced_at = now
            return await self._fetch(now)

    async def _fetch(self, now: datetime) -> KeySet:
        try:
            response = await self._http.get(self.url, headers={"accept": "application/json"})
            response.raise_for_status()
            key_set = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, TypeError, KeyError, JoseError) as exc:
            log.warning("user_token_jwks_unavailable", error=type(exc).__name__)
            if self._keys is not None:
                return self._keys
            raise EmbeddedUnavailable(
                f"user-token JWKS unavailable: {type(exc).__name__}"
            ) from None
        self.fetches += 1
        self._keys = key_set
        self._fetched_at = now
        return key_set


def _header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, or EmbeddedTokenInvalid."""
    if len(token) > MAX_TOKEN_LENGTH or not _COMPACT.match(token):
        raise EmbeddedTokenInvalid("not a compact JWS", code="malformed")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError) as exc:
        raise EmbeddedTokenInvalid(
            f"unreadable header: {type(exc).__name__}", code="malformed"
        ) from None
    return dict(header)


def _candidates(key_set: KeySet, kid: str | None) -> list[ECKey]:
    keys = [key for key in key_set.keys if isinstance(key, ECKey)]
    if kid is not None:
        keys = [key for key in keys if key.kid == kid]
    return keys


def check_claims(claims: dict[str, Any], *, app_id: str, now: datetime) -> EmbeddedIdentity:
    """Check iss, aud (one string equal to the app id), sub, exp, nbf and iat (pure)."""
    if claims.get("iss") != USER_TOKEN_ISSUER:
        raise EmbeddedTokenInvalid("wrong issuer", code="issuer")
    audience = claims.get("aud")
    if not isinstance(audience, str) or audience != app_id:
        raise EmbeddedTokenInvalid("wrong audience", code="audience")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 64:
        raise EmbeddedTokenInvalid("missing subject", code="subject")
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()), leeway=LEEWAY_SECONDS, exp={"essential": True}
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise EmbeddedTokenInvalid(f"claims: {exc.error}", code="expired") from None
    return EmbeddedIdentity(user_id=subject, app_id=audience)


async def verify_user_token(
    token: str | None, *, keys: UserTokenKeys, app_id: str, now: datetime
) -> EmbeddedIdentity:
    """Verify an `x-whop-user-token` and return who it names; EmbeddedTokenInvalid otherwise."""
    if not token:
        raise EmbeddedTokenInvalid("no user token", code="missing")
    header = _header(token)
    if header.get("alg") != ALGORITHM:
        raise EmbeddedTokenInvalid(f"alg {header.get('alg')!r} refused", code="algorithm")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise EmbeddedTokenInvalid("kid is not a string", code="malformed")
    candidates = _candidates(await keys.keys_for(kid), kid)
    if not candidates:
        raise EmbeddedTokenInvalid("unknown signing key", code="unknown_key")
    for key in candidates:
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except JoseError:
            continue
        return check_claims(dict(decoded.claims), app_id=app_id, now=now)
    raise EmbeddedTokenInvalid("bad signature", code="signature")


async def embedded_identity(
    base: Foundation, keys: UserTokenKeys, token: str | None
) -> EmbeddedIdentity:
    """Verify the request's user token against the app's settings and clock."""
    return await verify_user_token(
        token,
        keys=keys,
        app_id=base.settings.whop_app_id,
        now=base.clock.now(),
    )
