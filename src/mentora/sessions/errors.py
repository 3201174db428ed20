"""Session errors: every one means "sign in again" to the browser."""

from __future__ import annotations

from mentora.errors import MentoraError


class SessionError(MentoraError):
    """No usable session (missing, unknown, expired or revoked)."""

    code = "session_invalid"
    status = 401
    public_message = "Please sign in."
