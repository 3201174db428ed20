"""O01-O09: ID token verification against tokens a local "forged OP" signs (unit, pure)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from mentora.oauth.errors import IdTokenInvalid
from mentora.oauth.idtoken import UnknownKeyId, verify_id_token

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ISSUER = "https://whop.test"
CLIENT = "app_demo"
NONCE = "n-0S6_WzA2Mj"


def _key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


GOOD = _key("k1")
PUBLIC = KeySet([ECKey.import_key(GOOD.as_dict(private=False))])


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user_1",
        "aud": CLIENT,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
        "nonce": NONCE,
    }
    for key, value in overrides.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def _sign(claims: dict[str, Any], key: Any = GOOD, header: dict[str, Any] | None = None) -> str:
    return jwt.encode(header or {"alg": "ES256", "kid": key.kid}, claims, key)


def _verify(token: str, keys: KeySet = PUBLIC) -> dict[str, Any]:
    return verify_id_token(
        token,
        key_set=keys,
        algorithms=("ES256",),
        issuer=ISSUER,
        client_id=CLIENT,
        nonce=NONCE,
        now=NOW,
    )


def test_valid_token_accepted() -> None:
    """A correctly signed token with every claim right verifies."""
    assert _verify(_sign(_claims()))["sub"] == "user_1"


def test_o01_attacker_key_reusing_kid_rejected() -> None:
    """A token signed by another key under the real kid fails the signature check."""
    attacker = _key("k1")
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(), attacker))
    assert err.value.code == "id_token_signature"


def test_o02_alg_none_rejected() -> None:
    """An unsigned (`alg: none`) token is refused."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "k1"}).encode()).rstrip(
        b"="
    )
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode()).rstrip(b"=")
    with pytest.raises(IdTokenInvalid) as err:
        _verify(f"{header.decode()}.{body.decode()}.")
    assert err.value.code == "id_token_alg"


def test_o02_hs256_with_public_key_bytes_rejected() -> None:
    """HS256 keyed with the public key's bytes (alg confusion) is refused."""
    secret = OctKey.import_key(json.dumps(GOOD.as_dict(private=False)).encode())
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, _claims(), secret)
    with pytest.raises(IdTokenInvalid) as err:
        _verify(token)
    assert err.value.code == "id_token_alg"


@pytest.mark.parametrize("iss", ["https://evil.test", "https://whop.test/"])
def test_o03_wrong_issuer_rejected(iss: str) -> None:
    """iss must equal the issuer exactly (a trailing slash differs)."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(iss=iss)))
    assert err.value.code == "id_token_iss"


@pytest.mark.parametrize(
    ("aud", "azp"),
    [("other-client", None), ([CLIENT, "other"], None), (None, None), (CLIENT, "other-client")],
)
def test_o04_audience_and_azp(aud: Any, azp: Any) -> None:
    """A foreign, extra or missing audience, or a foreign azp, is refused."""
    claims = _claims(aud=aud)
    if aud is None:
        claims.pop("aud", None)
    if azp is not None:
        claims["azp"] = azp
    with pytest.raises(IdTokenInvalid):
        _verify(_sign(claims))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(NOW.timestamp()) - 3600},
        {"iat": None},
        {"iat": int(NOW.timestamp()) + 86400},
        {"exp": None},
    ],
)
def test_o05_exp_and_iat(overrides: dict[str, Any]) -> None:
    """Expired, missing iat, future iat or missing exp is refused."""
    with pytest.raises(IdTokenInvalid):
        _verify(_sign(_claims(**overrides)))


@pytest.mark.parametrize("nonce", ["other", None])
def test_o06_nonce_must_match(nonce: str | None) -> None:
    """A different or missing nonce is refused."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(nonce=nonce)))
    assert err.value.code == "id_token_nonce"


def test_o07_missing_sub_rejected() -> None:
    """A token without `sub` is refused."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(sub=None)))
    assert err.value.code == "id_token_sub"


def test_o08_unknown_kid_signals_refetch_and_kid_absent_single_key_accepted() -> None:
    """An unknown kid raises UnknownKeyId (the caller refetches); no kid with one key works."""
    rotated = _key("k2")
    with pytest.raises(UnknownKeyId):
        _verify(_sign(_claims(), rotated))
    assert _verify(_sign(_claims(), GOOD, header={"alg": "ES256"}))["sub"] == "user_1"


def test_o08_kid_absent_multiple_keys_tries_each() -> None:
    """With several keys and no kid, each key is tried."""
    other = _key("k0")
    keys = KeySet(
        [
            ECKey.import_key(other.as_dict(private=False)),
            ECKey.import_key(GOOD.as_dict(private=False)),
        ]
    )
    assert _verify(_sign(_claims(), GOOD, header={"alg": "ES256"}), keys)["sub"] == "user_1"


@pytest.mark.parametrize("token", ["opaque-access-token", "a.b", "", "x.y.z"])
def test_o09_access_token_or_junk_is_not_an_id_token(token: str) -> None:
    """An opaque access token or junk where the ID token belongs is refused cleanly."""
    with pytest.raises(IdTokenInvalid):
        _verify(token)
