"""Iframe `x-whop-user-token` minting and signing-key rotation."""

from __future__ import annotations

import json

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from whop_sdk.lib.verify_user_token import verify_user_token

from mentora.emulator import DEMO, Emulator


async def test_minted_user_token_has_whop_iframe_claims(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """ES256, kid, iss urn:whopcom:exp-proxy, aud app id (a string), sub user id, exp."""
    token = emu.mint_user_token(DEMO.member_user_id)
    keys = KeySet.import_key_set((await whop.get("/.well-known/jwks.json")).json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256" and decoded.header["kid"]
    claims = decoded.claims
    assert claims["iss"] == "urn:whopcom:exp-proxy"
    assert claims["aud"] == emu.config.client_id
    assert claims["sub"] == DEMO.member_user_id
    assert claims["exp"] - claims["iat"] == 300


async def test_whop_sdk_verifies_minted_tokens(whop: httpx.AsyncClient, emu: Emulator) -> None:
    """whop-sdk's own verify_user_token accepts the token with the emulator's public key."""
    jwk = (await whop.get("/.well-known/jwks.json")).json()["keys"][-1]
    token = emu.mint_user_token(DEMO.creator_user_id, app_id="app_demo")
    payload = verify_user_token(token, app_id="app_demo", public_key=json.dumps(jwk))
    assert (payload.user_id, payload.app_id) == (DEMO.creator_user_id, "app_demo")


async def test_overrides_and_admin_minting(whop: httpx.AsyncClient, emu: Emulator) -> None:
    """Overrides replace claims (for negative tests); the admin API mints for known users."""
    token = emu.mint_user_token(DEMO.member_user_id, iss="https://evil.test", exp=1)
    claims = jwt.decode(token, KeySet.import_key_set(emu.keys.jwks())).claims
    assert claims["iss"] == "https://evil.test" and claims["exp"] == 1
    minted = await whop.post(
        f"/_emulator/admin/users/{DEMO.guest_user_id}/token", json={"expires_in": 60}
    )
    claims = jwt.decode(minted.json()["token"], KeySet.import_key_set(emu.keys.jwks())).claims
    assert claims["sub"] == DEMO.guest_user_id and claims["exp"] - claims["iat"] == 60
    assert (await whop.post("/_emulator/admin/users/user_nope/token")).status_code == 404


async def test_rotation_signs_with_the_new_kid(emu: Emulator) -> None:
    """After rotation new tokens name the new kid; old tokens still verify from the JWKS."""
    old = emu.mint_user_token(DEMO.member_user_id)
    new_kid = emu.rotate_signing_key()
    new = emu.mint_user_token(DEMO.member_user_id)
    keys = KeySet.import_key_set(emu.keys.jwks())
    assert jwt.decode(new, keys).header["kid"] == new_kid
    assert jwt.decode(old, keys).header["kid"] != new_kid
