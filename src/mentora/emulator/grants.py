"""OAuth bookkeeping: authorization codes, grants, access and refresh tokens.

Pure logic with no HTTP in it, so the token rules (single-use codes, PKCE, refresh
rotation with reuse detection, revocation) can be read in one place.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# RFC 7636 §4.1: 43-128 characters from the unreserved set.
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class OAuthError(Exception):
    """An RFC 6749 error: `error` code, human description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        """Keep the three parts so the route can render `{error, error_description}`."""
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge for a verifier (base64url, no padding)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_token(prefix: str) -> str:
    """Return an opaque random token; the prefix only helps a human reading logs."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


@dataclass
class AuthCode:
    """An issued authorization code and everything the token exchange must check."""

    code: str
    client_id: str
    redirect_uri: str
    user_id: str
    scope: str
    nonce: str | None
    code_challenge: str
    company_id: str | None
    auth_time: datetime
    expires_at: datetime
    grant_id: str | None = None  # set on first redemption; a second one kills this grant

    @property
    def scopes(self) -> set[str]:
        """Return the granted scopes as a set."""
        return set(self.scope.split())


@dataclass
class Grant:
    """One user's consent to one client: the family of tokens born from one code."""

    id: str
    client_id: str
    user_id: str
    scope: str
    company_id: str | None
    auth_time: datetime
    nonce: str | None
    revoked: bool = False
    refresh_tokens: list[str] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)

    @property
    def scopes(self) -> set[str]:
        """Return the granted scopes as a set."""
        return set(self.scope.split())


@dataclass
class AccessToken:
    """An opaque bearer token accepted by userinfo and the REST API until it expires."""

    token: str
    grant_id: str
    user_id: str
    scope: str
    expires_at: datetime
    revoked: bool = False


@dataclass
class RefreshToken:
    """A refresh token; `rotated` once it has been exchanged for a newer one."""

    token: str
    grant_id: str
    rotated: bool = False


@dataclass
class Issued:
    """What a successful token request hands back."""

    grant: Grant
    access: AccessToken
    refresh: RefreshToken
    first: bool  # True for the code exchange (the ID token then carries the nonce)


class OAuthStore:
    """In-memory codes, grants and tokens with Whop's exchange and rotation rules."""

    def __init__(self, *, code_ttl_seconds: int, access_token_ttl_seconds: int) -> None:
        """Start empty; the TTLs come from the emulator config."""
        self.code_ttl = timedelta(seconds=code_ttl_seconds)
        self.access_ttl = timedelta(seconds=access_token_ttl_seconds)
        self.codes: dict[str, AuthCode] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}

    def clear(self) -> None:
        """Forget every code, grant and token."""
        self.codes.clear()
        self.grants.clear()
        self.access_tokens.clear()
        self.refresh_tokens.clear()

    def create_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        user_id: str,
        scope: str,
        nonce: str | None,
        code_challenge: str,
        company_id: str | None,
        now: datetime,
    ) -> AuthCode:
        """Issue a single-use code for an approved authorization request."""
        code = AuthCode(
            code=new_token("code"),
            client_id=client_id,
            redirect_uri=redirect_uri,
            user_id=user_id,
            scope=scope,
            nonce=nonce,
            code_challenge=code_challenge,
            company_id=company_id,
            auth_time=now,
            expires_at=now + self.code_ttl,
        )
        self.codes[code.code] = code
        return code

    def redeem_code(
        self,
        code: str,
        *,
        client_id: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        now: datetime,
    ) -> Issued:
        """Exchange a code for tokens, enforcing single use, expiry, client, redirect, PKCE."""
        record = self.codes.get(code)
        if record is None:
            raise OAuthError("invalid_grant", "The authorization code is unknown.")
        if record.grant_id is not None:
            # RFC 6749 §4.1.2: a replayed code means it leaked, so everything it minted dies.
            self.revoke_grant(record.grant_id)
            raise OAuthError("invalid_grant", "The authorization code was already used.")
        if now >= record.expires_at:
            raise OAuthError("invalid_grant", "The authorization code has expired.")
        if client_id != record.client_id:
            raise OAuthError("invalid_grant", "The code was issued to another client.")
        if redirect_uri != record.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorize request.")
        if not code_verifier:
            raise OAuthError("invalid_grant", "code_verifier is required (PKCE).")
        if not _VERIFIER_RE.match(code_verifier):
            raise OAuthError("invalid_grant", "code_verifier is malformed.")
        if not hmac.compare_digest(s256(code_verifier), record.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match code_challenge.")
        grant = Grant(
            id=new_token("grant"),
            client_id=record.client_id,
            user_id=record.user_id,
            scope=record.scope,
            company_id=record.company_id,
            auth_time=record.auth_time,
            nonce=record.nonce,
        )
        self.grants[grant.id] = grant
        record.grant_id = grant.id
        access, refresh = self._mint(grant, now)
        return Issued(grant=grant, access=access, refresh=refresh, first=True)

    def refresh(
        self, token: str, *, client_id: str, company_id: str | None, now: datetime
    ) -> Issued:
        """Rotate a refresh token; replaying an old one kills the whole grant."""
        record = self.refresh_tokens.get(token)
        if record is None:
            raise OAuthError("invalid_grant", "The refresh token is unknown.")
        grant = self.grants[record.grant_id]
        if grant.revoked:
            raise OAuthError("invalid_grant", "The refresh token has been revoked.")
        if record.rotated:
            # A rotated token coming back means two parties hold it: revoke the family.
            self.revoke_grant(grant.id)
            raise OAuthError("invalid_grant", "The refresh token was already used.")
        if client_id != grant.client_id:
            raise OAuthError("invalid_grant", "The refresh token was issued to another client.")
        if grant.company_id is not None and company_id != grant.company_id:
            raise OAuthError("invalid_grant", "company_id must match the one used at sign-in.")
        record.rotated = True
        access, refresh = self._mint(grant, now)
        return Issued(grant=grant, access=access, refresh=refresh, first=False)

    def revoke(self, token: str) -> None:
        """Revoke a refresh token's grant, or a single access token; unknown is a no-op."""
        refresh = self.refresh_tokens.get(token)
        if refresh is not None:
            self.revoke_grant(refresh.grant_id)
            return
        access = self.access_tokens.get(token)
        if access is not None:
            access.revoked = True

    def revoke_grant(self, grant_id: str) -> None:
        """Kill a grant: its refresh tokens stop refreshing and its access tokens stop working."""
        grant = self.grants[grant_id]
        grant.revoked = True
        for token in grant.access_tokens:
            self.access_tokens[token].revoked = True

    def live_access_token(self, token: str, now: datetime) -> AccessToken | None:
        """Return the access token if it exists, is not revoked and has not expired."""
        record = self.access_tokens.get(token)
        if record is None or record.revoked or now >= record.expires_at:
            return None
        if self.grants[record.grant_id].revoked:
            return None
        return record

    def _mint(self, grant: Grant, now: datetime) -> tuple[AccessToken, RefreshToken]:
        """Create a fresh access/refresh pair on a grant."""
        access = AccessToken(
            token=new_token("at"),
            grant_id=grant.id,
            user_id=grant.user_id,
            scope=grant.scope,
            expires_at=now + self.access_ttl,
        )
        refresh = RefreshToken(token=new_token("rt"), grant_id=grant.id)
        self.access_tokens[access.token] = access
        self.refresh_tokens[refresh.token] = refresh
        grant.access_tokens.append(access.token)
        grant.refresh_tokens.append(refresh.token)
        return access, refresh
