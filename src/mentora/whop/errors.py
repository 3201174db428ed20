"""Errors from talking to Whop's REST API.

WhopError
├── WhopUnavailable   (timeout, connection error, 5xx: try again later)
│   └── WhopRateLimited (429; `retry_after` seconds)
├── WhopAuthError     (401/403: our credential is wrong or lacks a scope)
│   └── WhopPermissionDenied (403: the credential is good but lacks a permission)
├── WhopNotFound      (404)
└── WhopBadResponse   (a response we could not understand)
"""

from __future__ import annotations

from mentora.errors import MentoraError


class WhopError(MentoraError):
    """Base of every failure calling Whop."""

    code = "whop_error"
    status = 502
    public_message = "Whop could not be reached. Please try again in a moment."


class WhopUnavailable(WhopError):
    """Whop timed out, refused the connection or answered 5xx."""

    code = "whop_unavailable"
    status = 503


class WhopRateLimited(WhopUnavailable):
    """Whop answered 429."""

    code = "whop_rate_limited"

    def __init__(self, detail: str = "", *, retry_after: float = 1.0) -> None:
        """Remember how long Whop asked us to wait."""
        super().__init__(detail)
        self.retry_after = retry_after


class WhopAuthError(WhopError):
    """Our credential was refused (401) or lacks a permission (403)."""

    code = "whop_auth_error"


class WhopPermissionDenied(WhopAuthError):
    """Whop accepted our credential but it lacks the permission the call needs (403)."""

    code = "whop_permission_denied"


class WhopNotFound(WhopError):
    """The resource does not exist at Whop."""

    code = "whop_not_found"
    status = 404


class WhopBadResponse(WhopError):
    """Whop answered with something we could not parse."""

    code = "whop_bad_response"
