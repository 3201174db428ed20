"""The issuer's OpenID metadata: fetched from `/.well-known/openid-configuration`, pinned to
the configured issuer (C13), required to offer PKCE S256 (C02), with Whop's documented
endpoints as the fallback when the document cannot be read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog

from mentora.clock import Clock
from mentora.oauth.errors import DiscoveryError

log = structlog.get_logger("mentora.oauth")
ALLOWED_ID_TOKEN_ALGS = ("ES256", "RS256", "EdDSA")  # asymmetric only; never none or HS*
CACHE_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints and capabilities we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    revocation_endpoint: str
    jwks_uri: str
    id_token_algs: tuple[str, ...]
    token_auth_methods: tuple[str, ...]
    iss_parameter_supported: bool
    from_discovery: bool

    @classmethod
    def documented(cls, issuer: str) -> ProviderMetadata:
        """Whop's documented endpoints (whop-platform.md §1.1), used when discovery fails."""
        return cls(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/oauth/authorize",
            token_endpoint=f"{issuer}/oauth/token",
            userinfo_endpoint=f"{issuer}/oauth/userinfo",
            revocation_endpoint=f"{issuer}/oauth/revoke",
            jwks_uri=f"{issuer}/.well-known/jwks.json",
            id_token_algs=("ES256",),
            token_auth_methods=("none", "client_secret_post", "client_secret_basic"),
            iss_parameter_supported=False,
            from_discovery=False,
        )


def parse_metadata(document: Any, *, expected_issuer: str) -> ProviderMetadata:
    """Validate a discovery document (pure); raise DiscoveryError naming what is wrong."""
    if not isinstance(document, dict):
        raise DiscoveryError("discovery document is not a JSON object")
    issuer = document.get("issuer")
    if issuer != expected_issuer:
        # Exact string comparison: a trailing slash is a different issuer (C13).
        raise DiscoveryError(f"discovery issuer {issuer!r} != configured {expected_issuer!r}")
    methods = document.get("code_challenge_methods_supported") or []
    if "S256" not in methods:
        raise DiscoveryError("issuer does not advertise PKCE S256")
    fallback = ProviderMetadata.documented(expected_issuer)
    algs = tuple(
        a
        for a in document.get("id_token_signing_alg_values_supported") or ["ES256"]
        if a in ALLOWED_ID_TOKEN_ALGS
    )
    if not algs:
        raise DiscoveryError("issuer offers no acceptable ID token algorithm")

    def endpoint(name: str, default: str) -> str:
        value = document.get(name) or default
        if not isinstance(value, str):
            raise DiscoveryError(f"{name} is not a string")
        if expected_issuer.startswith("https://") and not value.startswith("https://"):
            # Codes, secrets and tokens never leave over plain HTTP for an https issuer.
            raise DiscoveryError(f"{name} is not https: {value[:200]!r}")
        return value

    return ProviderMetadata(
        issuer=expected_issuer,
        authorization_endpoint=endpoint("authorization_endpoint", fallback.authorization_endpoint),
        token_endpoint=endpoint("token_endpoint", fallback.token_endpoint),
        userinfo_endpoint=endpoint("userinfo_endpoint", fallback.userinfo_endpoint),
        revocation_endpoint=endpoint("revocation_endpoint", fallback.revocation_endpoint),
        jwks_uri=endpoint("jwks_uri", fallback.jwks_uri),
        id_token_algs=algs,
        token_auth_methods=tuple(
            document.get("token_endpoint_auth_methods_supported") or fallback.token_auth_methods
        ),
        iss_parameter_supported=bool(
            document.get("authorization_response_iss_parameter_supported")
        ),
        from_discovery=True,
    )


class Discovery:
    """Caches the metadata for an hour; one fetch at a time."""

    def __init__(self, *, issuer: str, http: httpx.AsyncClient, clock: Clock) -> None:
        """Remember where to look."""
        self.issuer = issuer
        self._http = http
        self._clock = clock
        self._cached: ProviderMetadata | None = None
        self._fetched_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ProviderMetadata:
        """The current metadata (fetching when the cache is empty or old)."""
        now = self._clock.now()
        if self._cached and self._fetched_at and now - self._fetched_at < CACHE_FOR:
            return self._cached
        async with self._lock:
            now = self._clock.now()
            if self._cached and self._fetched_at and now - self._fetched_at < CACHE_FOR:
                return self._cached
            self._cached = await self._fetch()
            self._fetched_at = now
            return self._cached

    async def _fetch(self) -> ProviderMetadata:
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("oidc_discovery_unavailable", error=type(exc).__name__)
            if self._cached is not None:
                return self._cached
            return ProviderMetadata.documented(self.issuer)
        try:
            return parse_metadata(document, expected_issuer=self.issuer)
        except DiscoveryError as exc:
            log.critical("oidc_discovery_rejected", detail=exc.detail)
            raise
