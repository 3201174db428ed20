"""Token endpoint calls (code exchange, refresh, revoke) and userinfo: requests built and
authenticated by Authlib, sent through the app's httpx client.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import structlog
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.client import DEFAULT_HEADERS
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from authlib.oauth2.rfc7009.parameters import prepare_revoke_token_request

from mentora.oauth.discovery import ProviderMetadata
from mentora.oauth.errors import ExchangeFailed, OAuthError, RefreshFailed

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


class TokenClientAuth(Protocol):
    """Authlib's `ClientAuth`: adds the client's credentials to a token endpoint request."""

    def prepare(
        self, method: str, uri: str, headers: dict[str, str], body: str
    ) -> tuple[str, dict[str, str], str]:
        """The request with the credentials added (header, body or URI, per the method)."""
        ...


class _Refused(Exception):
    """The token endpoint answered with an OAuth error (`error`, RFC 6749 §5.2)."""

    def __init__(self, error: str) -> None:
        """Keep the endpoint's `error` code."""
        super().__init__(error)
        self.error = error


class OAuthClient:
    """Calls the issuer's token, revocation and userinfo endpoints for one registered client.

    Requests are built by Authlib's RFC 6749 and RFC 7009 functions and authenticated by its
    `ClientAuth` (client_secret_post or _basic as the issuer advertises; `none`, the client id
    alone, for a public client), and sent through the app's one httpx client (no cookies, no
    redirects followed). Authlib's `AsyncOAuth2Client` did the same through a client built
    per call, whose construction, token state and second encoding of the form body (in its
    auth flow) cost a sign-in more CPU than the request itself.
    """

    def __init__(
        self, *, client_id: str, client_secret: str | None, http: httpx.AsyncClient
    ) -> None:
        """Remember the client credentials and the app's HTTP client."""
        self.client_id = client_id
        self._secret = client_secret
        self._http = http

    def _auth(self, meta: ProviderMetadata) -> TokenClientAuth:
        if not self._secret:
            method = "none"
        else:
            advertised = [
                m
                for m in ("client_secret_post", "client_secret_basic")
                if m in meta.token_auth_methods
            ]
            method = advertised[0] if advertised else "client_secret_basic"
        auth: TokenClientAuth = ClientAuth(self.client_id, self._secret, method)
        return auth

    async def _post_form(self, meta: ProviderMetadata, url: str, body: str) -> httpx.Response:
        """POST a form to one of the issuer's endpoints, the client authenticated."""
        url, headers, body = self._auth(meta).prepare("POST", url, dict(DEFAULT_HEADERS), body)
        return await self._http.post(url, content=body.encode(), headers=headers)

    async def _token(self, meta: ProviderMetadata, body: str, *, now: datetime) -> TokenSet:
        """Send a token request; the TokenSet, or why not (Authlib's reading of the answer:
        an OAuth `error` is the endpoint refusing, whatever the status)."""
        response = await self._post_form(meta, meta.token_endpoint, body)
        if response.status_code >= 500 or response.status_code == 429:
            # Whop's trouble, not a bad request: say so (503), never an OAuth error.
            raise TokenEndpointUnavailable(f"token endpoint answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            response.raise_for_status()  # a gateway's error page: the endpoint is unavailable
            raise ValueError(f"token response is not a JSON object (HTTP {response.status_code})")
        if "error" in data:
            raise _Refused(str(data["error"]))
        return TokenSet.from_response(data, now=now)

    async def exchange_code(
        self, meta: ProviderMetadata, *, code: str, verifier: str, redirect_uri: str, now: datetime
    ) -> TokenSet:
        """Redeem an authorization code once; any failure is ExchangeFailed (never retried, C12)."""
        body = prepare_token_request(
            "authorization_code", code=code, code_verifier=verifier, redirect_uri=redirect_uri
        )
        try:
            return await self._token(meta, body, now=now)
        except _Refused as exc:
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
        """Rotate the refresh token; invalid_grant means the user must sign in again. A
        response without a new refresh token keeps the old one (RFC 6749 §6)."""
        extra: dict[str, str] = {"company_id": company_id} if company_id else {}
        body = prepare_token_request("refresh_token", refresh_token=refresh_token, **extra)
        try:
            tokens = await self._token(meta, body, now=now)
        except _Refused as exc:
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
        if tokens.refresh_token is None:
            return replace(tokens, refresh_token=refresh_token)
        return tokens

    async def revoke(self, meta: ProviderMetadata, *, refresh_token: str) -> bool:
        """Best-effort revocation of a refresh token (C16); False when it did not go through."""
        body, _ = prepare_revoke_token_request(refresh_token, "refresh_token")
        try:
            response = await self._post_form(meta, meta.revocation_endpoint, body)
            return bool(200 <= response.status_code < 300)
        except httpx.HTTPError as exc:
            log.warning("token_revoke_failed", error=type(exc).__name__)
            return False

    async def userinfo(self, meta: ProviderMetadata, *, access_token: str) -> dict[str, Any]:
        """The userinfo claims, with the access token in the Authorization header only."""
        try:
            response = await self._http.get(
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
