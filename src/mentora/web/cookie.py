"""Cookie transport, kept apart from storage: `__Host-` names, Secure, HttpOnly, Lax (S02, S03)."""

from __future__ import annotations

from starlette.responses import Response

SESSION_COOKIE = "__Host-mentora_session"
LOGIN_COOKIE = "__Host-mentora_login"


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    """Set a hardened host-only cookie: Path=/, Secure, HttpOnly, SameSite=Lax, no Domain."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax"
    )


def clear_cookie(response: Response, name: str) -> None:
    """Expire a cookie with the same attributes it was set with."""
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")
