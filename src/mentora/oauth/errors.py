"""Sign-in errors; each carries the audit reason code and a generic public message.

OAuthError
├── ProviderError        (Whop sent ?error=..., e.g. access_denied)
├── LoginAttemptError    (state missing, unknown, expired, other browser: C03/C04)
├── IssuerMismatch       (RFC 9207 `iss` wrong or missing: C06)
├── ExchangeFailed       (token endpoint refused or failed: C05/C12)
├── IdTokenInvalid       (signature, alg, iss, aud, exp, iat, nonce, sub: O01-O09)
├── UserinfoMismatch     (userinfo `sub` differs: O10)
├── RefreshFailed        (invalid_grant on refresh: the session ends, C15)
└── DiscoveryError       (the issuer's metadata is unusable: C02/C13)
"""

from __future__ import annotations

from mentora.errors import MentoraError


class OAuthError(MentoraError):
    """A sign-in step failed; `code` is the audit reason."""

    code = "oauth_error"
    status = 400
    public_message = "We could not sign you in. Please try again."


class ProviderError(OAuthError):
    """Whop redirected back with an error."""

    code = "provider_error"


class LoginAttemptError(OAuthError):
    """The login attempt is missing, already used, expired or from another browser."""

    code = "state_mismatch"


class IssuerMismatch(OAuthError):
    """The authorization response named another issuer (mix-up defence)."""

    code = "iss_mismatch"


class ExchangeFailed(OAuthError):
    """The code could not be exchanged for tokens."""

    code = "token_exchange_failed"


class IdTokenInvalid(OAuthError):
    """The ID token failed verification."""

    code = "id_token_invalid"


class UserinfoMismatch(OAuthError):
    """Userinfo describes a different subject than the ID token."""

    code = "userinfo_sub_mismatch"


class RefreshFailed(OAuthError):
    """The refresh token was refused; the user must sign in again."""

    code = "refresh_failed"
    status = 401
    public_message = "Your sign-in has expired. Please sign in again."


class DiscoveryError(OAuthError):
    """The provider's metadata is unusable (issuer mismatch, no S256, unreachable)."""

    code = "discovery_failed"
    status = 503
    public_message = "Sign-in is temporarily unavailable. Please try again shortly."
