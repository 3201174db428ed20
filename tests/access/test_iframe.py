"""Embedded mode: `x-whop-user-token` verification and the iframe-gated route."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from mentora.access.errors import EmbeddedTokenInvalid
from mentora.access.iframe import check_claims
from mentora.clock import FrozenClock
from mentora.services import Services
from tests.access.helpers import audit_reasons, seed

HEADER = "x-whop-user-token"
JWKS = "/.well-known/jwks.json"
MEMBER = "user_demo_member"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_for(emulator: Any, **overrides: Any) -> dict[str, Any]:
    """Claims as Whop's proxy sets them for the demo member."""
    now = int(emulator.now().timestamp())
    claims = {
        "iss": "urn:whopcom:exp-proxy",
        "aud": "app_demo",
        "sub": MEMBER,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return claims


async def embedded(client: httpx.AsyncClient, token: str | bytes | None) -> httpx.Response:
    """GET the iframe route with (or without) a user token and no cookie."""
    headers = {HEADER: token} if token is not None else {}
    client.cookies.clear()
    return await client.get("/api/embed/content", headers=headers)


async def test_valid_token_is_the_identity(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A token the emulator signs identifies the user; a member gets content, no cookie needed."""
    response = await embedded(client, emulator.mint_user_token(MEMBER))
    assert response.status_code == 200, response.text
    assert response.json()["company_id"] == "biz_demo"
    assert "set-cookie" not in response.headers
    # First contact provisioned the student and asked Whop once; the next request does not.
    assert emulator.call_count("/api/v1/users/") == 1
    again = await embedded(client, emulator.mint_user_token(MEMBER))
    assert again.status_code == 200
    assert emulator.call_count("/api/v1/users/") == 1
    assert emulator.call_count(JWKS) == 1


async def test_valid_token_of_a_non_member_is_refused(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A verified identity still goes through the gate: no membership → 403 and authz_fail."""
    response = await embedded(client, emulator.mint_user_token("user_demo_guest"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_membership"
    assert await audit_reasons(services) == ["no_membership"]


async def test_embedded_uses_stored_state(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A user already known locally is decided from local state, without calling Whop."""
    await seed(services, MEMBER, memberships=[{"status": "active"}], session=False)
    response = await embedded(client, emulator.mint_user_token(MEMBER))
    assert response.json()["reason"] == "active"
    assert emulator.call_count("/api/v1/users/") == 0


@pytest.mark.parametrize(
    ("case", "overrides", "check"),
    [
        ("expired", {"exp_in": -20}, "expired"),
        ("wrong_audience", {"aud": "app_someone_else"}, "audience"),
        ("audience_array", {"aud": ["app_demo"]}, "audience"),
        ("wrong_issuer", {"iss": "https://whop.test"}, "issuer"),
        ("no_subject", {"sub": None}, "subject"),
    ],
)
async def test_bad_claims_are_refused(
    services: Services,
    client: httpx.AsyncClient,
    emulator: Any,
    case: str,
    overrides: dict[str, Any],
    check: str,
) -> None:
    """Expired, wrong audience (or an array), wrong issuer, no subject → 401, audited."""
    overrides = dict(overrides)
    expires_in = int(overrides.pop("exp_in", 300))
    claims = claims_for(emulator, **overrides)
    claims["exp"] = claims["iat"] + expires_in  # past the 5 s leeway when negative
    claims = {k: v for k, v in claims.items() if v is not None}
    token = emulator.keys.sign(claims)
    response = await embedded(client, token)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "embedded_token_invalid"
    assert await audit_reasons(services, "authn_login_fail") == [f"embedded_{check}"]


async def test_forged_key_is_refused(client: httpx.AsyncClient, emulator: Any) -> None:
    """A token signed by another P-256 key under Whop's kid fails the signature check."""
    forged_key = ECKey.generate_key("P-256", private=True)
    header = {"alg": "ES256", "kid": emulator.keys.active_kid, "typ": "JWT"}
    token = jwt.encode(header, claims_for(emulator), forged_key, algorithms=["ES256"])
    response = await embedded(client, token)
    assert response.status_code == 401


async def test_alg_none_is_refused(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """An unsigned token (`alg: none`) is refused before any key is looked at."""
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims_for(emulator))}."
    response = await embedded(client, token)
    assert response.status_code == 401
    assert await audit_reasons(services, "authn_login_fail") == ["embedded_algorithm"]
    assert emulator.call_count(JWKS) == 0


async def test_hs256_with_public_key_is_refused(client: httpx.AsyncClient, emulator: Any) -> None:
    """Algorithm confusion: HS256 keyed with the published public key is refused."""
    public = json.dumps(emulator.keys.jwks()["keys"][0]).encode()
    token = jwt.encode(
        {"alg": "HS256", "kid": emulator.keys.active_kid},
        claims_for(emulator),
        OctKey.import_key(public),
        algorithms=["HS256"],
    )
    assert (await embedded(client, token)).status_code == 401


@pytest.mark.parametrize(
    "token", [None, "", "garbage", "a.b", "a.b.c.d", "é.é.é".encode("latin-1"), "x" * 5000]
)
async def test_missing_or_malformed_token(
    client: httpx.AsyncClient, token: str | bytes | None
) -> None:
    """No token or junk in the header → 401, never 500."""
    response = await embedded(client, token)
    assert response.status_code == 401


async def test_key_rotation_refetches_once(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A new kid forces one JWKS refetch; junk kids right after do not refetch again."""
    assert (await embedded(client, emulator.mint_user_token(MEMBER))).status_code == 200
    emulator.rotate_signing_key()
    assert (await embedded(client, emulator.mint_user_token(MEMBER))).status_code == 200
    assert emulator.call_count(JWKS) == 2
    header = {"alg": "ES256", "kid": "kid-nobody-has", "typ": "JWT"}
    junk = jwt.encode(header, claims_for(emulator), ECKey.generate_key("P-256", private=True))
    for _ in range(5):
        assert (await embedded(client, junk)).status_code == 401
    assert emulator.call_count(JWKS) == 2  # rate-limited: within the 30 s cooldown


async def test_unknown_kid_refetch_after_cooldown(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """After the cooldown an unknown kid may refetch once more."""
    assert (await embedded(client, emulator.mint_user_token(MEMBER))).status_code == 200
    header = {"alg": "ES256", "kid": "kid-nobody-has", "typ": "JWT"}
    junk = jwt.encode(header, claims_for(emulator), ECKey.generate_key("P-256", private=True))
    await embedded(client, junk)
    assert emulator.call_count(JWKS) == 2
    clock.advance(31)
    await embedded(client, junk)
    assert emulator.call_count(JWKS) == 3


async def test_jwks_unreachable_fails_closed(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """Without any key (JWKS down) no token verifies: 503, not 200."""
    emulator.add_fault(JWKS, status=500)
    response = await embedded(client, emulator.mint_user_token(MEMBER))
    assert response.status_code == 503
    assert services.user_token_keys.fetches == 0


async def test_embedded_route_absent_when_mode_off(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """With EMBEDDED_MODE off the iframe route does not exist (404), even with a valid token."""
    services.settings.embedded_mode = False
    response = await embedded(client, emulator.mint_user_token(MEMBER))
    assert response.status_code == 404


def test_claims_check_is_strict_about_audience_type(clock: FrozenClock) -> None:
    """The pure claims check refuses a list audience even when it contains the app id."""
    now = int(clock.now().timestamp())
    base = {"iss": "urn:whopcom:exp-proxy", "sub": MEMBER, "exp": now + 60}
    assert check_claims({**base, "aud": "app_demo"}, app_id="app_demo", now=clock.now()).user_id
    with pytest.raises(EmbeddedTokenInvalid):
        check_claims({**base, "aud": ["app_demo"]}, app_id="app_demo", now=clock.now())


async def test_token_without_kid_tries_every_key(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A token naming no kid is checked against every published key (O08), and accepted."""
    emulator.rotate_signing_key()
    active = emulator.keys._keys[-1]  # the emulator's signing key, used here without its kid
    token = jwt.encode({"alg": "ES256", "typ": "JWT"}, claims_for(emulator), active)
    response = await embedded(client, token)
    assert response.status_code == 200, response.text
