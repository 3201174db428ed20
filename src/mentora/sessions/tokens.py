"""Pure session-token helpers: 256 random bits in the cookie, SHA-256 in the database (S01)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
MAX_COOKIE_TOKEN_LENGTH = 128


def new_token() -> str:
    """A fresh opaque token for a cookie (43 url-safe characters, 256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    """The digest stored server-side; a database read never yields a live cookie."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def fingerprint(token_hash: bytes) -> str:
    """A short, non-reversible id for logs (`sha256(token)[:16]`)."""
    return token_hash.hex()[:16]


def plausible(token: str | None) -> bool:
    """Cheap shape check before touching the database."""
    return bool(token) and len(token or "") <= MAX_COOKIE_TOKEN_LENGTH


def csrf_token(secret_key: bytes, token_hash: bytes) -> str:
    """The CSRF token bound to one session (HMAC of its hash; X01)."""
    return hmac.new(secret_key, b"csrf:" + token_hash, hashlib.sha256).hexdigest()


def csrf_matches(secret_key: bytes, token_hash: bytes, presented: str | None) -> bool:
    """Constant-time check of a presented CSRF token."""
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(secret_key, token_hash), presented)
