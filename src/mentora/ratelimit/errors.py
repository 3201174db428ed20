"""Errors of the rate limiter; the web error handlers turn them into 429 / 503 with Retry-After.

RateLimited                 (429: this client, or everyone, is over a limit for now)
RateLimiterUnavailable      (503: the shared store is down and the rule fails closed)
"""

from __future__ import annotations

from mentora.errors import MentoraError


class RateLimited(MentoraError):
    """Too many requests in the current window; `retry_after` says when the window ends."""

    code = "rate_limited"
    status = 429
    public_message = "Too many requests. Please wait and try again."

    def __init__(self, detail: str = "", *, retry_after: int) -> None:
        """Keep the wait in seconds; the handler sends it as Retry-After."""
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"retry-after": str(retry_after)}


class RateLimiterUnavailable(MentoraError):
    """The shared counter store cannot be reached and this rule fails closed."""

    code = "rate_limiter_unavailable"
    status = 503
    public_message = "The service is temporarily unavailable. Please try again shortly."

    def __init__(self, detail: str = "", *, retry_after: int = 5) -> None:
        """Ask the client to come back shortly."""
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"retry-after": str(retry_after)}
