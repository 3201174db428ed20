"""ES256 signing keys: the JWKS the emulator publishes and the JWTs it signs."""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, KeySetSerialization


class KeyRing:
    """P-256 keys; the newest signs, and older ones stay published so tokens still verify."""

    def __init__(self) -> None:
        """Start with one freshly generated key."""
        self._keys: list[ECKey] = []
        self.rotate()

    @property
    def active_kid(self) -> str:
        """Return the kid of the key that signs new tokens."""
        return self._kid(self._keys[-1])

    def rotate(self) -> str:
        """Generate a new active key, keep the old ones in the JWKS, and return the new kid."""
        kid = f"emu-{secrets.token_hex(6)}"
        key = ECKey.generate_key(
            "P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"}, private=True
        )
        self._keys.append(key)
        return kid

    def jwks(self) -> KeySetSerialization:
        """Return the public JWK Set (what `/.well-known/jwks.json` serves)."""
        return KeySet(list(self._keys)).as_dict(private=False)

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign claims as an ES256 JWT whose header names the active key's kid."""
        key = self._keys[-1]
        header = {"alg": "ES256", "kid": self._kid(key), "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=["ES256"])

    @staticmethod
    def _kid(key: ECKey) -> str:
        """Return a key's kid (always set by `rotate`)."""
        kid = key.kid
        assert kid is not None  # every key is generated with a kid
        return kid
