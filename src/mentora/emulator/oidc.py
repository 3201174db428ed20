"""OIDC discovery, JWKS, and the token, userinfo and revocation endpoints."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mentora.emulator.grants import Issued, OAuthError
from mentora.emulator.httputil import (
    NO_STORE,
    BadRequest,
    basic_credentials,
    bearer_token,
    oauth_error,
    read_params,
)

if TYPE_CHECKING:
    from mentora.emulator.app import Emulator

SCOPES_SUPPORTED = ["openid", "profile", "email"]


def discovery_document(issuer: str) -> dict[str, Any]:
    """Return the OpenID Provider metadata, with every endpoint under the issuer."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
        ],
        "scopes_supported": SCOPES_SUPPORTED,
        "subject_types_supported": ["public"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "preferred_username",
            "picture",
            "email",
            "email_verified",
        ],
        "authorization_response_iss_parameter_supported": True,
    }


def routes(emu: Emulator) -> list[BaseRoute]:
    """Return the OIDC routes bound to an emulator."""

    def authenticate_client(http: Request, params: dict[str, str]) -> str:
        """Authenticate the client (none, client_secret_post or client_secret_basic)."""
        basic = basic_credentials(http)
        secret: str | None
        if http.headers.get("authorization", "").lower().startswith("basic") and basic is None:
            raise OAuthError("invalid_client", "Malformed HTTP Basic credentials.", 401)
        if basic is not None:
            client_id, secret = basic
            if params.get("client_id") not in (None, client_id):
                raise OAuthError("invalid_request", "client_id differs from the Basic user.")
        else:
            client_id = params.get("client_id", "")
            secret = params.get("client_secret")
        if not client_id:
            raise OAuthError("invalid_client", "client_id is required.", 401)
        if client_id != emu.config.client_id:
            raise OAuthError("invalid_client", f"Unknown client {client_id!r}.", 401)
        if secret is not None:
            if not hmac.compare_digest(secret.encode(), emu.config.client_secret.encode()):
                raise OAuthError("invalid_client", "Client authentication failed.", 401)
        elif emu.config.confidential:
            raise OAuthError("invalid_client", "This client must send its client_secret.", 401)
        return client_id

    def token_response(issued: Issued) -> Response:
        """Render a successful token response (an ID token only when openid was granted)."""
        grant = issued.grant
        body: dict[str, Any] = {
            "access_token": issued.access.token,
            "refresh_token": issued.refresh.token,
            "token_type": "Bearer",
            "expires_in": emu.config.access_token_ttl_seconds,
            "scope": grant.scope,
        }
        if "openid" in grant.scopes:
            body["id_token"] = id_token(issued)
        return JSONResponse(body, headers=NO_STORE)

    def id_token(issued: Issued) -> str:
        """Sign the ID token; the nonce goes only into the one from the code exchange."""
        grant = issued.grant
        now = emu.now()
        user = emu.state.users.get(grant.user_id)
        claims: dict[str, Any] = {
            "iss": emu.config.issuer,
            "sub": grant.user_id,
            "aud": grant.client_id,
            "azp": grant.client_id,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + emu.config.access_token_ttl_seconds,
            "auth_time": int(grant.auth_time.timestamp()),
        }
        if issued.first and grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if user is not None:
            claims.update(profile_claims(user.id, grant.scopes))
        return emu.keys.sign(claims)

    def profile_claims(user_id: str, scopes: set[str]) -> dict[str, Any]:
        """Return the userinfo claims the scopes allow."""
        user = emu.state.users[user_id]
        claims: dict[str, Any] = {"sub": user.id}
        if "profile" in scopes:
            claims.update(
                name=user.name, preferred_username=user.username, picture=user.picture_url
            )
        if "email" in scopes:
            claims.update(email=user.email, email_verified=True)
        return claims

    async def token(http: Request) -> Response:
        """POST /oauth/token: authorization_code and refresh_token grants."""
        try:
            params = await read_params(http)
            grant_type = params.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is required.")
            if grant_type not in ("authorization_code", "refresh_token"):
                raise OAuthError(
                    "unsupported_grant_type", "Use authorization_code or refresh_token."
                )
            client_id = authenticate_client(http, params)
            if grant_type == "authorization_code":
                code = params.get("code")
                if not code:
                    raise OAuthError("invalid_request", "code is required.")
                issued = emu.state.oauth.redeem_code(
                    code,
                    client_id=client_id,
                    redirect_uri=params.get("redirect_uri"),
                    code_verifier=params.get("code_verifier"),
                    now=emu.now(),
                )
            else:
                refresh = params.get("refresh_token")
                if not refresh:
                    raise OAuthError("invalid_request", "refresh_token is required.")
                issued = emu.state.oauth.refresh(
                    refresh,
                    client_id=client_id,
                    company_id=params.get("company_id") or None,
                    now=emu.now(),
                )
        except BadRequest as exc:
            return oauth_error("invalid_request", str(exc))
        except OAuthError as exc:
            return oauth_error(exc.error, exc.description, exc.status)
        return token_response(issued)

    async def userinfo(http: Request) -> Response:
        """GET /oauth/userinfo: the signed-in user's claims, by scope."""
        raw = bearer_token(http)
        record = emu.state.oauth.live_access_token(raw, emu.now()) if raw else None
        if record is None or record.user_id not in emu.state.users:
            return oauth_error(
                "invalid_token", "The access token is missing, expired or revoked.", 401
            )
        claims = profile_claims(record.user_id, set(record.scope.split()))
        return JSONResponse(claims, headers=NO_STORE)

    async def revoke(http: Request) -> Response:
        """POST /oauth/revoke: RFC 7009; unknown tokens still get 200."""
        try:
            params = await read_params(http)
            authenticate_client(http, params)
        except BadRequest as exc:
            return oauth_error("invalid_request", str(exc))
        except OAuthError as exc:
            return oauth_error(exc.error, exc.description, exc.status)
        value = params.get("token")
        if not value:
            return oauth_error("invalid_request", "token is required.")
        emu.state.oauth.revoke(value)
        return Response(status_code=200, headers=NO_STORE)

    async def discovery(http: Request) -> Response:
        """GET /.well-known/openid-configuration."""
        return JSONResponse(discovery_document(emu.config.issuer))

    async def jwks(http: Request) -> Response:
        """GET /.well-known/jwks.json: every signing key, the retired ones included."""
        return JSONResponse(emu.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})

    return [
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
    ]
