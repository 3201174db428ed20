"""Post-login return targets: only local paths, otherwise the dashboard (C08)."""

from __future__ import annotations

from urllib.parse import unquote

DEFAULT_RETURN = "/dashboard"
MAX_LENGTH = 200


def safe_return_path(value: str | None) -> str:
    """Return `value` if it is a plain same-origin path, else the default (pure)."""
    if not value or len(value) > MAX_LENGTH:
        return DEFAULT_RETURN
    decoded = unquote(value)
    for candidate in (value, decoded):
        # A path that starts with one "/" has neither a scheme nor a host; "//" and any
        # backslash ("/\\host" is "//host" to browsers) could reach another site.
        if not candidate.startswith("/") or candidate.startswith("//"):
            return DEFAULT_RETURN
        if "\\" in candidate or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in candidate):
            return DEFAULT_RETURN
    if value.startswith("/api/"):
        return DEFAULT_RETURN
    return value
