"""ID token verification (OIDC Core §3.1.3.7), pure: keys, time and expectations passed in.

Order: header (alg pinned to an asymmetric allowlist, O02) → key by kid (O08) → signature (O01)
→ iss exact (O03) → aud/azp (O04) → exp/iat (O05) → nonce in constant time (O06) → sub (O07).
Every failure is an `IdTokenInvalid` whose `code` names the check.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from mentora.oauth.errors import IdTokenInvalid

LEEWAY_SECONDS = 60
MAX_IAT_AGE_SECONDS = 600


class UnknownKeyId(IdTokenInvalid):
    """The token names a key id the key set does not have (the caller may refetch once)."""

    code = "id_token_unknown_kid"

    def __init__(self, kid: str) -> None:
        """Remember which kid was asked for."""
        super().__init__(f"unknown kid {kid!r}")
        self.kid = kid


def read_header(token: str) -> dict[str, Any]:
    """The token's protected header, unverified (to choose the key)."""
    try:
        header = extract_compact(token.encode()).protected
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise IdTokenInvalid(
            f"malformed ID token: {type(exc).__name__}", code="id_token_malformed"
        ) from None
    return dict(header)


def verify_id_token(
    token: str,
    *,
    key_set: KeySet,
    algorithms: Sequence[str],
    issuer: str,
    client_id: str,
    nonce: str,
    now: datetime,
) -> dict[str, Any]:
    """Return the verified claims, or raise IdTokenInvalid (UnknownKeyId for an unknown kid)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise IdTokenInvalid("ID token is not a compact JWS", code="id_token_malformed")
    header = read_header(token)
    alg = header.get("alg")
    if alg not in algorithms:
        raise IdTokenInvalid(f"alg {alg!r} not allowed", code="id_token_alg")
    kid = header.get("kid")
    if kid is not None:
        candidates = [key for key in key_set.keys if key.kid == kid]
        if not candidates:
            raise UnknownKeyId(str(kid))
    else:
        candidates = list(key_set.keys)
    claims: dict[str, Any] | None = None
    for key in candidates:
        try:
            claims = dict(jwt.decode(token, key, algorithms=[str(alg)]).claims)
            break
        except JoseError:
            continue
        except (ValueError, TypeError):
            raise IdTokenInvalid("undecodable ID token", code="id_token_malformed") from None
    if claims is None:
        raise IdTokenInvalid("signature does not verify", code="id_token_signature")
    check_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce, now=now)
    return claims


def check_claims(
    claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str, now: datetime
) -> None:
    """Validate the registered claims and the nonce (pure)."""
    if claims.get("iss") != issuer:
        raise IdTokenInvalid("iss mismatch", code="id_token_iss")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if not audiences or audiences != [client_id]:
        # Our client id, and no other (untrusted) audience beside it.
        raise IdTokenInvalid("aud mismatch", code="id_token_aud")
    if "azp" in claims and claims["azp"] != client_id:
        raise IdTokenInvalid("azp mismatch", code="id_token_azp")
    ts = now.timestamp()
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    if exp is None or ts > exp + LEEWAY_SECONDS:
        raise IdTokenInvalid("expired or missing exp", code="id_token_expired")
    if iat is None:
        raise IdTokenInvalid("missing iat", code="id_token_iat")
    if iat > ts + LEEWAY_SECONDS or ts - iat > MAX_IAT_AGE_SECONDS:
        raise IdTokenInvalid("iat out of range", code="id_token_iat")
    nbf = claims.get("nbf")
    nbf_value = _number(nbf)
    if nbf is not None and (nbf_value is None or nbf_value > ts + LEEWAY_SECONDS):
        raise IdTokenInvalid("not yet valid", code="id_token_nbf")
    presented = claims.get("nonce")
    if not isinstance(presented, str) or not hmac.compare_digest(
        presented.encode(), nonce.encode()
    ):
        raise IdTokenInvalid("nonce mismatch", code="id_token_nonce")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise IdTokenInvalid("missing sub", code="id_token_sub")


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
