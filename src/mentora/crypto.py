"""Encryption of secrets at rest (Whop tokens, PKCE verifiers) with key rotation."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mentora.errors import ConfigError, MentoraError


class TokenDecryptError(MentoraError):
    """A stored secret could not be decrypted with any configured key."""

    code = "token_undecryptable"
    status = 401
    public_message = "Please sign in again."


class TokenBox:
    """Encrypts with the first key, decrypts with any (MultiFernet), re-encrypts on rotation."""

    def __init__(self, keys: list[str]) -> None:
        """Build from urlsafe-base64 32-byte keys, the current key first."""
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "TOKEN_ENCRYPTION_KEYS must be comma-separated Fernet keys "
                "(make one with `mentora keys generate`)"
            ) from exc

    def encrypt(self, plaintext: str) -> bytes:
        """Encrypt `plaintext` with the current key."""
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        """Decrypt with whichever configured key made `ciphertext`."""
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            raise TokenDecryptError("no configured key decrypts this value") from exc

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt `ciphertext` under the current key."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken as exc:
            raise TokenDecryptError("no configured key decrypts this value") from exc


def generate_key() -> str:
    """A fresh key for TOKEN_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode()
