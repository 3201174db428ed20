"""Fast checks of the small security primitives: PKCE (C01), session tokens and CSRF tokens
(S01, X01), and token encryption with key rotation (C14)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet

from mentora.crypto import TokenBox, TokenDecryptError, generate_key
from mentora.errors import ConfigError
from mentora.oauth.pkce import make_verifier, s256_challenge
from mentora.sessions.tokens import (
    MAX_COOKIE_TOKEN_LENGTH,
    csrf_matches,
    csrf_token,
    fingerprint,
    hash_token,
    new_token,
    plausible,
)

OLD_KEY = "q0i3hEzM0e1nS9aRj8D0N2l5E7m3Xw2ZrB0rD3cF4aY="
NEW_KEY = "dGVzdC10b2tlbi1rZXktMDEyMzQ1Njc4OWFiY2RlZiE="


def test_c01_verifier_is_43_fresh_urlsafe_characters() -> None:
    """Each verifier is 32 random bytes in base64url: 43 characters, never repeated."""
    verifiers = {make_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    assert all(len(v) == 43 and v.replace("-", "").replace("_", "").isalnum() for v in verifiers)


def test_c01_s256_challenge_is_rfc7636() -> None:
    """RFC 7636 appendix B's example verifier gives its published challenge."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    digest = hashlib.sha256(b"x" * 43).digest()
    assert s256_challenge("x" * 43) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_s01_session_tokens_are_256_bit_and_stored_as_sha256() -> None:
    """43-character random tokens; the database gets SHA-256 bytes, logs a 16-hex prefix."""
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50 and {len(t) for t in tokens} == {43}
    token = "abc"
    assert hash_token(token) == hashlib.sha256(b"abc").digest()
    assert fingerprint(hash_token(token)) == hashlib.sha256(b"abc").hexdigest()[:16]
    assert hash_token("\udcff") == hashlib.sha256(b"\xff").digest()  # undecodable cookie bytes


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        (None, False),
        ("", False),
        ("a", True),
        ("a" * MAX_COOKIE_TOKEN_LENGTH, True),
        ("a" * (MAX_COOKIE_TOKEN_LENGTH + 1), False),
    ],
)
def test_s01_only_plausible_cookies_reach_the_database(token: str | None, ok: bool) -> None:
    """Empty and over-long cookie values are refused before any lookup."""
    assert plausible(token) is ok


def test_x01_csrf_token_is_bound_to_the_session_and_key() -> None:
    """HMAC-SHA256 of 'csrf:' + the session hash; another session or key does not match."""
    key, session = b"k" * 32, hash_token("session")
    expected = hmac.new(key, b"csrf:" + session, hashlib.sha256).hexdigest()
    assert csrf_token(key, session) == expected
    assert csrf_matches(key, session, expected)
    assert not csrf_matches(key, hash_token("other"), expected)
    assert not csrf_matches(b"j" * 32, session, expected)
    assert not csrf_matches(key, session, None) and not csrf_matches(key, session, "")


def test_c14_token_box_round_trips_and_hides_the_plaintext() -> None:
    """Encryption is Fernet under the first key; the ciphertext never holds the plaintext."""
    box = TokenBox([NEW_KEY, OLD_KEY])
    sealed = box.encrypt("at_secret_value")
    assert b"at_secret_value" not in sealed
    assert box.decrypt(sealed) == "at_secret_value"
    assert Fernet(NEW_KEY.encode()).decrypt(sealed) == b"at_secret_value"


def test_c14_rotation_moves_old_ciphertext_to_the_current_key() -> None:
    """A value sealed under the old key still opens, and `rotate` re-seals it under the new."""
    old = TokenBox([OLD_KEY]).encrypt("rt_value")
    box = TokenBox([NEW_KEY, OLD_KEY])
    assert box.decrypt(old) == "rt_value"
    rotated = box.rotate(old)
    assert Fernet(NEW_KEY.encode()).decrypt(rotated) == b"rt_value"
    assert TokenBox([NEW_KEY]).decrypt(rotated) == "rt_value"


def test_c14_unknown_key_and_garbage_are_a_decrypt_error() -> None:
    """Ciphertext from a key no longer configured, or not Fernet at all, is refused cleanly."""
    box = TokenBox([NEW_KEY])
    foreign = TokenBox([generate_key()]).encrypt("x")
    for bad in (foreign, b"not-a-token"):
        with pytest.raises(TokenDecryptError) as opened:
            box.decrypt(bad)
        assert str(opened.value) == "no configured key decrypts this value"
        with pytest.raises(TokenDecryptError) as rotated:
            box.rotate(bad)
        assert str(rotated.value) == "no configured key decrypts this value"


@pytest.mark.parametrize("keys", [["not-a-key"], [""], []])
def test_c14_malformed_keys_are_a_configuration_error(keys: list[str]) -> None:
    """A key that is not a Fernet key (or none at all) fails at start-up with the setting named."""
    with pytest.raises(ConfigError) as refused:
        TokenBox(keys)
    assert str(refused.value) == (
        "TOKEN_ENCRYPTION_KEYS must be comma-separated Fernet keys "
        "(make one with `mentora keys generate`)"
    )


def test_c14_generated_keys_are_fresh_fernet_keys() -> None:
    """`mentora keys generate` gives a usable, new key each time."""
    first, second = generate_key(), generate_key()
    assert first != second
    assert TokenBox([first]).decrypt(TokenBox([first]).encrypt("v")) == "v"
