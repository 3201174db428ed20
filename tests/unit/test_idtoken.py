"""O01-O09: ID token verification against tokens a local "forged OP" signs (unit, pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from mentora.oauth.errors import IdTokenInvalid
from mentora.oauth.idtoken import (
    LEEWAY_SECONDS,
    MAX_IAT_AGE_SECONDS,
    UnknownKeyId,
    verify_id_token,
)
from tests.support.timeline import START

NOW = START
TS = int(NOW.timestamp())
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


def _verify(
    token: str, keys: KeySet = PUBLIC, algorithms: tuple[str, ...] = ("ES256",)
) -> dict[str, Any]:
    return verify_id_token(
        token,
        key_set=keys,
        algorithms=algorithms,
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
    ("aud", "azp", "code"),
    [
        ("other-client", None, "id_token_aud"),
        ([CLIENT, "other"], None, "id_token_aud"),
        ([], None, "id_token_aud"),
        (None, None, "id_token_aud"),
        (CLIENT, "other-client", "id_token_azp"),
    ],
)
def test_o04_audience_and_azp(aud: Any, azp: Any, code: str) -> None:
    """A foreign, extra, empty or missing audience, or a foreign azp, is refused."""
    claims = _claims(aud=aud)
    if aud is None:
        claims.pop("aud", None)
    if azp is not None:
        claims["azp"] = azp
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(claims))
    assert err.value.code == code


@pytest.mark.parametrize("aud", [CLIENT, [CLIENT]])
def test_o04_our_client_alone_as_string_or_list_is_accepted(aud: Any) -> None:
    """`aud` may be our client id or a list holding only it (OIDC Core §2), with a matching
    azp or none."""
    assert _verify(_sign(_claims(aud=aud)))["aud"] == aud
    assert _verify(_sign(_claims(aud=aud, azp=CLIENT)))["azp"] == CLIENT


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"exp": TS - 3600}, "id_token_expired"),
        ({"exp": TS - LEEWAY_SECONDS - 1}, "id_token_expired"),
        ({"exp": None}, "id_token_expired"),
        ({"exp": "tomorrow"}, "id_token_expired"),
        ({"iat": None}, "id_token_iat"),
        ({"iat": True}, "id_token_iat"),
        ({"iat": TS + 86400}, "id_token_iat"),
        ({"iat": TS + LEEWAY_SECONDS + 1}, "id_token_iat"),
        ({"iat": TS - MAX_IAT_AGE_SECONDS - 1}, "id_token_iat"),
        ({"nbf": TS + LEEWAY_SECONDS + 1}, "id_token_nbf"),
        ({"nbf": "soon"}, "id_token_nbf"),
    ],
)
def test_o05_exp_iat_nbf_outside_their_windows(overrides: dict[str, Any], code: str) -> None:
    """Expired (past the leeway), missing or non-numeric exp; missing, non-numeric, future
    (past the leeway) or too old iat; nbf ahead of the leeway or non-numeric: refused."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(**overrides)))
    assert err.value.code == code


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": TS - LEEWAY_SECONDS},
        {"exp": TS - 1},
        {"iat": TS + LEEWAY_SECONDS},
        {"iat": TS - MAX_IAT_AGE_SECONDS},
        {"iat": TS + 0.5},
        {"nbf": TS + LEEWAY_SECONDS},
        {"nbf": TS},
        {"nbf": TS - 3600},
    ],
)
def test_o05_times_at_the_edges_of_their_windows_are_accepted(overrides: dict[str, Any]) -> None:
    """The leeway is inclusive at each edge: exp up to a minute ago, iat up to a minute ahead
    or ten minutes old, nbf up to a minute ahead; a fractional time is a number too."""
    assert _verify(_sign(_claims(**overrides)))["sub"] == "user_1"


@pytest.mark.parametrize("nonce", ["other", None])
def test_o06_nonce_must_match(nonce: str | None) -> None:
    """A different or missing nonce is refused."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(nonce=nonce)))
    assert err.value.code == "id_token_nonce"


@pytest.mark.parametrize("sub", [None, "", 42])
def test_o07_missing_empty_or_non_string_sub_rejected(sub: Any) -> None:
    """A token without `sub`, with an empty one or a number, is refused."""
    claims = _claims(sub=sub)
    if sub is None:
        claims.pop("sub", None)
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(claims))
    assert err.value.code == "id_token_sub"


def test_o08_unknown_kid_signals_refetch_and_kid_absent_single_key_accepted() -> None:
    """An unknown kid raises UnknownKeyId (the caller refetches); no kid with one key works."""
    rotated = _key("k2")
    with pytest.raises(UnknownKeyId) as err:
        _verify(_sign(_claims(), rotated))
    assert (err.value.kid, err.value.code) == ("k2", "id_token_unknown_kid")
    assert err.value.detail == "unknown kid 'k2'"
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


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("opaque-access-token", "ID token is not a compact JWS"),
        ("a.b", "ID token is not a compact JWS"),
        ("", "ID token is not a compact JWS"),
        ("a.b.c.d", "ID token is not a compact JWS"),
        ("x.y.z", "malformed ID token: DecodeError"),
        ("e30.e30.", "malformed ID token: MissingAlgorithmError"),
    ],
)
def test_o09_access_token_or_junk_is_not_an_id_token(token: str, detail: str) -> None:
    """An opaque access token or junk where the ID token belongs is refused as malformed, and
    the audit detail says whether it was not a JWS at all or which decoding step failed."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(token)
    assert (err.value.code, err.value.detail) == ("id_token_malformed", detail)


def test_an_allowed_algorithm_beyond_the_libraries_defaults_verifies() -> None:
    """An ES384 token verifies when the provider's allowlist names ES384 (the allowlist, not
    the JOSE library's default algorithms, decides), and not when it does not."""
    key = ECKey.generate_key("P-384", parameters={"kid": "k384"}, private=True)
    keys = KeySet([ECKey.import_key(key.as_dict(private=False))])
    token = jwt.encode({"alg": "ES384", "kid": "k384"}, _claims(), key, algorithms=["ES384"])
    assert _verify(token, keys, algorithms=("ES384",))["sub"] == "user_1"
    with pytest.raises(IdTokenInvalid) as err:
        _verify(token, keys)
    assert err.value.code == "id_token_alg"


@pytest.mark.parametrize(
    ("overrides", "code", "detail"),
    [
        ({"iss": "https://evil.test"}, "id_token_iss", "iss mismatch"),
        ({"aud": "other"}, "id_token_aud", "aud mismatch"),
        ({"azp": "other"}, "id_token_azp", "azp mismatch"),
        ({"exp": TS - 3600}, "id_token_expired", "expired or missing exp"),
        ({"iat": None}, "id_token_iat", "missing iat"),
        ({"iat": TS + 3600}, "id_token_iat", "iat out of range"),
        ({"nbf": TS + 3600}, "id_token_nbf", "not yet valid"),
        ({"nonce": "other"}, "id_token_nonce", "nonce mismatch"),
        ({"sub": ""}, "id_token_sub", "missing sub"),
    ],
)
def test_each_refusal_names_its_check_for_the_audit_trail(
    overrides: dict[str, Any], code: str, detail: str
) -> None:
    """The reason code (metrics, audit `reason`) and the detail (audit `details.error`) of each
    refusal say which check failed, so an operator reading a failed sign-in knows why."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(**overrides)))
    assert (err.value.code, err.value.detail) == (code, detail)


def test_signature_and_alg_refusals_name_their_check() -> None:
    """A wrong signature and a refused algorithm carry their own reason code and detail."""
    with pytest.raises(IdTokenInvalid) as err:
        _verify(_sign(_claims(), _key("k1")))
    assert (err.value.code, err.value.detail) == ("id_token_signature", "signature does not verify")
    secret = OctKey.import_key(b"0123456789abcdef0123456789abcdef")
    with pytest.raises(IdTokenInvalid) as err:
        _verify(jwt.encode({"alg": "HS256", "kid": "k1"}, _claims(), secret))
    assert (err.value.code, err.value.detail) == ("id_token_alg", "alg 'HS256' not allowed")
