"""The root of Mentora's error tree.

Every package raises subclasses of `MentoraError`. Each error carries a machine `code`, an HTTP
`status` and a `public_message` that is safe to show to anyone; details stay in the log.

    MentoraError
    ├── ConfigError                 (settings refused; raised at start-up, never over HTTP)
    ├── oauth.errors.OAuthError     (sign-in failures: state, iss, exchange, ID token, ...)
    ├── sessions.errors.SessionError
    ├── access.errors.AccessDenied
    ├── webhooks.errors.WebhookError
    ├── whop.errors.WhopError       (transport, API status, rate limits)
    ├── ratelimit.errors.RateLimited
    └── web.csrf.CsrfError
"""

from __future__ import annotations


class MentoraError(Exception):
    """Base of every error Mentora raises on purpose."""

    code: str = "error"
    status: int = 500
    public_message: str = "Something went wrong."

    def __init__(self, detail: str = "", *, code: str | None = None) -> None:
        """Keep `detail` for logs only; it never reaches a response."""
        super().__init__(detail or self.public_message)
        self.detail = detail
        if code is not None:
            self.code = code


class ConfigError(MentoraError):
    """A setting is missing or unsafe; the message names the setting."""

    code = "config_error"
    public_message = "The server is misconfigured."
