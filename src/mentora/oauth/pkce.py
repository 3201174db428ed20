"""PKCE (RFC 7636), S256 only: the verifier comes from the CSPRNG and never enters a URL (C01)."""

from __future__ import annotations

import secrets

from authlib.oauth2.rfc7636 import create_s256_code_challenge


def make_verifier() -> str:
    """A 43-character verifier (32 random bytes, base64url)."""
    return secrets.token_urlsafe(32)  # pragma: no mutate (None means the same 32 bytes)


def s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding."""
    return str(create_s256_code_challenge(verifier))
