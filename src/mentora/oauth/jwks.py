"""The issuer's signing keys, cached, refetched at most once a minute on an unknown kid (O08)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
from joserfc.jwk import KeySet

from mentora.clock import Clock
from mentora.oauth.errors import IdTokenInvalid

CACHE_FOR = timedelta(hours=12)
REFETCH_COOLDOWN = timedelta(seconds=60)


class JwksCache:
    """A KeySet from `jwks_uri` with a bounded TTL; fails closed when it cannot be fetched."""

    def __init__(self, *, http: httpx.AsyncClient, clock: Clock) -> None:
        """Start empty."""
        self._http = http
        self._clock = clock
        self._keys: dict[str, KeySet] = {}
        self._fetched_at: dict[str, datetime] = {}
        # When an unknown kid last forced a refetch: such refetches are limited to one a
        # minute, so a flood of tokens with random kids cannot hammer the issuer (O08).
        self._forced_at: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def keys(self, jwks_uri: str, *, want_kid: str | None = None) -> KeySet:
        """Keys for `jwks_uri`; refetch when stale or (rate-limited) when `want_kid` is unknown."""
        now = self._clock.now()
        cached = self._keys.get(jwks_uri)
        fetched = self._fetched_at.get(jwks_uri)
        fresh = cached is not None and fetched is not None and now - fetched < CACHE_FOR
        if fresh and (want_kid is None or _has_kid(cached, want_kid)):
            assert cached is not None
            return cached
        async with self._lock:
            cached = self._keys.get(jwks_uri)
            fetched = self._fetched_at.get(jwks_uri)
            now = self._clock.now()
            if cached is not None and fetched is not None:
                fresh = now - fetched < CACHE_FOR
                if fresh and (want_kid is None or _has_kid(cached, want_kid)):
                    return cached
                forced = self._forced_at.get(jwks_uri)
                if fresh and forced is not None and now - forced < REFETCH_COOLDOWN:
                    return cached
                if fresh:
                    self._forced_at[jwks_uri] = now
            try:
                response = await self._http.get(jwks_uri)
                response.raise_for_status()
                key_set = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
                if cached is not None and fetched is not None and now - fetched < CACHE_FOR:
                    return cached
                raise IdTokenInvalid(
                    f"JWKS unavailable: {type(exc).__name__}", code="jwks_unavailable"
                ) from None
            except Exception as exc:  # joserfc raises its own errors on malformed keys
                raise IdTokenInvalid(
                    f"JWKS unusable: {type(exc).__name__}", code="jwks_unavailable"
                ) from None
            self.fetches += 1
            self._keys[jwks_uri] = key_set
            self._fetched_at[jwks_uri] = now
            return key_set


def _has_kid(key_set: KeySet | None, kid: str) -> bool:
    return key_set is not None and any(key.kid == kid for key in key_set.keys)
