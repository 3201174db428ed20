"""Token endpoint calls (code exchange, refresh, revoke) and userinfo, through Authlib's
httpx OAuth2 client. A fresh client per call shares the app's transport, so concurrent
requests never share Authlib's per-client token state.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError

with warnings.catch_warnings():
    # Authlib announces, at import, a future move of this client to an "httpx2" package; it
    # works with the pinned httpx, and the notice printed on every CLI command told users
    # nothing they could act on.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from mentora.oauth.discovery import ProviderMetadata
from mentora.oauth.errors import ExchangeFailed, OAuthError, RefreshFailed
from mentora.whop.http import CookielessClient

log = structlog.get_logger("mentora.oauth")


class TokenEndpointUnavailable(OAuthError):
    """The token endpoint timed out or failed on its side (try again later)."""

    code = "token_endpoint_unavailable"
    status = 503
    public_message = "Whop could not be reached. Please try again in a moment."


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned; never logged, never sent to the browser."""

    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_at: datetime
    scope: str | None

    @classmethod
    def from_response(cls, data: dict[str, Any], *, now: datetime) -> TokenSet:
        """Parse a token response; raise ValueError when it lacks an access token."""
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("no access_token")
        if str(data.get("token_type", "bearer")).lower() != "bearer":
            raise ValueError("token_type is not bearer")
        try:
            expires_in = int(data.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600
        refresh = data.get("refresh_token")
        id_token = data.get("id_token")
        return cls(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            id_token=id_token if isinstance(id_token, str) and id_token else None,
            expires_at=now + timedelta(seconds=max(0, expires_in)),
            scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
        )


def _refuse_server_errors(response: httpx.Response) -> httpx.Response:
    """Authlib compliance hook: a 5xx or 429 token response becomes TokenEndpointUnavailable."""
    if response.status_code >= 500 or response.status_code == 429:
        raise TokenEndpointUnavailable(f"token endpoint answered {response.status_code}")
    return response


class _TokenClient(AsyncOAuth2Client, CookielessClient):  # type: ignore[misc]
    """Authlib's httpx OAuth2 client keeping no cookies from the token endpoint (whop.http)."""

    def __init__(self, **kwargs: Any) -> None:
        """Authlib's constructor (spelled out: mypy sees Authlib's client as untyped)."""
        super().__init__(**kwargs)


class OAuthClient:
    """Calls the issuer's token, revocation and userinfo endpoints for one registered client."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None,
        transport: httpx.AsyncBaseTransport,
        timeout: float,
    ) -> None:
        """Remember the client credentials and the shared transport."""
        self.client_id = client_id
        self._secret = client_secret
        self._transport = transport
        self._timeout = timeout

    def _auth_method(self, meta: ProviderMetadata) -> str:
        if not self._secret:
            return "none"
        for method in ("client_secret_post", "client_secret_basic"):
            if method in meta.token_auth_methods:
                return method
        return "client_secret_basic"

    def _client(self, meta: ProviderMetadata) -> _TokenClient:
        # Not closed after use: closing would close the shared transport.
        client = self._new_client(meta)
        # A 5xx or 429 from the token endpoint is Whop's trouble, not a bad request: say so
        # (503) instead of letting Authlib read it as an OAuth error.
        client.register_compliance_hook("access_token_response", _refuse_server_errors)
        client.register_compliance_hook("refresh_token_response", _refuse_server_errors)
        return client

    def _new_client(self, meta: ProviderMetadata) -> _TokenClient:
        return _TokenClient(
            client_id=self.client_id,
            client_secret=self._secret,
            token_endpoint_auth_method=self._auth_method(meta),
            revocation_endpoint_auth_method=self._auth_method(meta),
            transport=self._transport,
            timeout=self._timeout,
            follow_redirects=False,
        )

    async def exchange_code(
        self, meta: ProviderMetadata, *, code: str, verifier: str, redirect_uri: str, now: datetime
    ) -> TokenSet:
        """Redeem an authorization code once; any failure is ExchangeFailed (never retried, C12)."""
        try:
            token = await self._client(meta).fetch_token(
                meta.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                redirect_uri=redirect_uri,
            )
            return TokenSet.from_response(dict(token), now=now)
        except AuthlibOAuthError as exc:
            raise ExchangeFailed(
                f"token endpoint said {exc.error}", code="token_exchange_failed"
            ) from None
        except httpx.HTTPError as exc:
            raise TokenEndpointUnavailable(
                f"token endpoint unreachable: {type(exc).__name__}"
            ) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise ExchangeFailed(f"unusable token response: {type(exc).__name__}") from None

    async def refresh(
        self, meta: ProviderMetadata, *, refresh_token: str, company_id: str | None, now: datetime
    ) -> TokenSet:
        """Rotate the refresh token; invalid_grant means the user must sign in again."""
        extra: dict[str, str] = {"company_id": company_id} if company_id else {}
        try:
            token = await self._client(meta).refresh_token(
                meta.token_endpoint, refresh_token=refresh_token, **extra
            )
            return TokenSet.from_response(dict(token), now=now)
        except AuthlibOAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
                raise RefreshFailed(f"refresh refused: {exc.error}") from None
            raise TokenEndpointUnavailable(f"refresh failed: {exc.error}") from None
        except httpx.HTTPError as exc:
            raise TokenEndpointUnavailable(
                f"token endpoint unreachable: {type(exc).__name__}"
            ) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise TokenEndpointUnavailable(
                f"unusable refresh response: {type(exc).__name__}"
            ) from None

    async def revoke(self, meta: ProviderMetadata, *, refresh_token: str) -> bool:
        """Best-effort revocation of a refresh token (C16); False when it did not go through."""
        try:
            response = await self._client(meta).revoke_token(
                meta.revocation_endpoint,
                token=refresh_token,
                token_type_hint="refresh_token",  # noqa: S106 - a hint name, not a secret
            )
            return bool(200 <= response.status_code < 300)
        except (httpx.HTTPError, AuthlibOAuthError) as exc:
            log.warning("token_revoke_failed", error=type(exc).__name__)
            return False

    async def userinfo(
        self, meta: ProviderMetadata, *, access_token: str, http: httpx.AsyncClient
    ) -> dict[str, Any]:
        """The userinfo claims, with the access token in the Authorization header only."""
        try:
            response = await http.get(
                meta.userinfo_endpoint, headers={"authorization": f"Bearer {access_token}"}
            )
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ExchangeFailed(
                f"userinfo failed: {type(exc).__name__}", code="userinfo_failed"
            ) from None
        if not isinstance(data, dict):
            raise ExchangeFailed("userinfo is not an object", code="userinfo_failed")
        return data
