"""OIDC discovery, the authorize page, and the token/userinfo/revoke endpoints."""

from __future__ import annotations

import base64

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from mentora.emulator import DEMO, Emulator, EmulatorConfig
from tests.emulator.helpers import (
    CLIENT_ID,
    ISSUER,
    REDIRECT_URI,
    OAuthDriver,
    StepClock,
    pkce_pair,
    query_of,
)


async def test_discovery_lists_endpoints_under_the_issuer(whop: httpx.AsyncClient) -> None:
    """The discovery document names the exact issuer and Whop-shaped endpoints."""
    doc = (await whop.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/oauth/authorize"
    assert doc["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert doc["userinfo_endpoint"] == f"{ISSUER}/oauth/userinfo"
    assert doc["revocation_endpoint"] == f"{ISSUER}/oauth/revoke"
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    assert "none" in doc["token_endpoint_auth_methods_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True


async def test_jwks_publishes_p256_keys_and_keeps_rotated_ones(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """JWKS has ES256 P-256 keys with kids; a rotated-out key stays published."""
    first = (await whop.get("/.well-known/jwks.json")).json()["keys"]
    assert [(k["kty"], k["crv"], k["alg"]) for k in first] == [("EC", "P-256", "ES256")]
    assert "d" not in first[0]  # never the private part
    new_kid = emu.rotate_signing_key()
    kids = [k["kid"] for k in (await whop.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids == [first[0]["kid"], new_kid]


async def test_authorize_page_lists_users_member_first(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """The sign-in page shows every user, the member preselected, and the consent text."""
    _, challenge = pkce_pair()
    page = await whop.get("/oauth/authorize", params=oauth.authorize_params(challenge))
    assert page.status_code == 200
    html = page.text
    positions = [html.index(f'value="{u}"') for u in (DEMO.member_user_id, DEMO.guest_user_id)]
    assert positions == sorted(positions)
    assert f'value="{DEMO.member_user_id}" checked' in html
    assert "See your email address" in html
    assert 'name="decision" value="approve"' in html and 'value="cancel"' in html
    assert '<input type="hidden" name="code_challenge"' in html


async def test_login_hint_preselects_a_user(whop: httpx.AsyncClient, oauth: OAuthDriver) -> None:
    """`login_hint` picks which radio button is checked."""
    _, challenge = pkce_pair()
    params = {**oauth.authorize_params(challenge), "login_hint": DEMO.creator_user_id}
    html = (await whop.get("/oauth/authorize", params=params)).text
    assert f'value="{DEMO.creator_user_id}" checked' in html
    assert f'value="{DEMO.member_user_id}" checked' not in html


async def test_full_code_flow_with_pkce_and_verified_id_token(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """Code + PKCE → tokens; the ID token verifies against the JWKS with iss/aud/nonce."""
    auth = await oauth.authorize(DEMO.member_user_id)
    assert auth.params["state"] == "state-123"
    assert auth.params["iss"] == ISSUER
    response = await oauth.exchange(auth)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid profile email"

    keys = KeySet.import_key_set((await whop.get("/.well-known/jwks.json")).json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["ES256"])
    assert id_token.header["alg"] == "ES256" and id_token.header["kid"]
    JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": "nonce-456"},
        sub={"essential": True, "value": DEMO.member_user_id},
    ).validate(id_token.claims)
    assert isinstance(id_token.claims["aud"], str)
    assert id_token.claims["email"] == "ada@example.test"
    assert id_token.claims["name"] == "Ada Member"

    info = await oauth.userinfo(tokens["access_token"])
    assert info.status_code == 200
    assert info.json() == {
        "sub": DEMO.member_user_id,
        "name": "Ada Member",
        "preferred_username": "ada",
        "picture": info.json()["picture"],
        "email": "ada@example.test",
        "email_verified": True,
    }


async def test_openid_only_scope_gives_only_sub(oauth: OAuthDriver) -> None:
    """Without profile/email scopes, userinfo carries only `sub`."""
    tokens = await oauth.sign_in(DEMO.guest_user_id, scope="openid")
    assert (await oauth.userinfo(tokens["access_token"])).json() == {"sub": DEMO.guest_user_id}


async def test_token_endpoint_accepts_json_bodies(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """The code exchange works with a JSON body, as Whop's guide sends it."""
    auth = await oauth.authorize()
    response = await whop.post(
        "/oauth/token",
        json={
            "grant_type": "authorization_code",
            "code": auth.code,
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "code_verifier": auth.verifier,
        },
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "override",
    [
        {"code_verifier": "x" * 50},
        {"code_verifier": None},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": None},
    ],
    ids=["wrong-verifier", "missing-verifier", "redirect-mismatch", "missing-redirect"],
)
async def test_bad_code_exchange_is_invalid_grant(
    oauth: OAuthDriver, override: dict[str, str | None]
) -> None:
    """Verifier and redirect_uri mistakes are `invalid_grant` (400, JSON)."""
    response = await oauth.exchange(await oauth.authorize(), **override)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"]


async def test_code_reuse_kills_the_tokens_of_the_first_redemption(oauth: OAuthDriver) -> None:
    """A replayed code is invalid_grant and the access token it first minted dies."""
    auth = await oauth.authorize()
    first = (await oauth.exchange(auth)).json()
    assert (await oauth.userinfo(first["access_token"])).status_code == 200
    replay = await oauth.exchange(auth)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    dead = await oauth.userinfo(first["access_token"])
    assert dead.status_code == 401 and dead.json()["error"] == "invalid_token"
    refreshed = await oauth.refresh(first["refresh_token"])
    assert refreshed.json()["error"] == "invalid_grant"


async def test_code_expires(oauth: OAuthDriver, emu_clock: StepClock) -> None:
    """A code older than code_ttl_seconds is refused."""
    auth = await oauth.authorize()
    emu_clock.advance(301)
    assert (await oauth.exchange(auth)).json()["error"] == "invalid_grant"


async def test_access_token_expires(oauth: OAuthDriver, emu_clock: StepClock) -> None:
    """Userinfo answers 401 once the access token's hour is up."""
    tokens = await oauth.sign_in()
    emu_clock.advance(3601)
    assert (await oauth.userinfo(tokens["access_token"])).status_code == 401


async def test_refresh_rotates_and_reuse_kills_the_grant(oauth: OAuthDriver) -> None:
    """Each refresh returns a new refresh token; replaying an old one kills the newest too."""
    tokens = await oauth.sign_in()
    second = await oauth.refresh(tokens["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["access_token"] != tokens["access_token"]
    keys = KeySet.import_key_set((await oauth.whop.get("/.well-known/jwks.json")).json())
    assert "nonce" not in jwt.decode(rotated["id_token"], keys).claims

    replay = await oauth.refresh(tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    newest = await oauth.refresh(rotated["refresh_token"])
    assert newest.json()["error"] == "invalid_grant"
    assert (await oauth.userinfo(rotated["access_token"])).status_code == 401


async def test_company_scoped_refresh_needs_the_same_company_id(oauth: OAuthDriver) -> None:
    """A grant made with company_id refreshes only when that company_id is sent again."""
    tokens = await oauth.sign_in(company_id=DEMO.company_id)
    missing = await oauth.refresh(tokens["refresh_token"])
    assert missing.json()["error"] == "invalid_grant"
    ok = await oauth.refresh(tokens["refresh_token"], company_id=DEMO.company_id)
    assert ok.status_code == 200, ok.text


async def test_revoke_then_refresh_is_invalid_grant(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """Revoking the refresh token kills it and its access tokens; unknown tokens get 200."""
    tokens = await oauth.sign_in()
    revoked = await whop.post(
        "/oauth/revoke", json={"token": tokens["refresh_token"], "client_id": CLIENT_ID}
    )
    assert revoked.status_code == 200
    assert (await oauth.refresh(tokens["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await oauth.userinfo(tokens["access_token"])).status_code == 401
    unknown = await whop.post(
        "/oauth/revoke",
        data={"token": "nope", "client_id": CLIENT_ID, "token_type_hint": "refresh_token"},
    )
    assert unknown.status_code == 200


async def test_unregistered_redirect_gets_an_error_page_not_a_redirect(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """A redirect_uri off the registered list (even by a slash) never gets redirected to."""
    _, challenge = pkce_pair()
    for bad in (REDIRECT_URI + "/", "https://evil.test/callback"):
        params = oauth.authorize_params(challenge, redirect_uri=bad)
        page = await whop.get("/oauth/authorize", params=params)
        assert page.status_code == 400
        assert "location" not in page.headers
        assert "Redirect URI not registered" in page.text
        posted = await whop.post(
            "/oauth/authorize", data={**params, "user_id": DEMO.member_user_id}
        )
        assert posted.status_code == 400 and "location" not in posted.headers
    unknown_client = await whop.get(
        "/oauth/authorize", params=oauth.authorize_params(challenge, client_id="app_nope")
    )
    assert unknown_client.status_code == 400 and "Unknown application" in unknown_client.text


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"scope": "profile email"}, "invalid_scope"),
    ],
)
async def test_authorize_errors_redirect_with_state_and_iss(
    whop: httpx.AsyncClient, oauth: OAuthDriver, override: dict[str, str], error: str
) -> None:
    """Problems after the redirect URI is trusted go back to it with error, state and iss."""
    _, challenge = pkce_pair()
    response = await whop.get(
        "/oauth/authorize", params=oauth.authorize_params(challenge, **override)
    )
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = query_of(response.headers["location"])
    assert query["error"] == error
    assert query["state"] == "state-123" and query["iss"] == ISSUER


async def test_cancel_redirects_with_access_denied(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """The Cancel button sends access_denied with a description, state and iss."""
    _, challenge = pkce_pair()
    params = oauth.authorize_params(challenge)
    response = await whop.post(
        "/oauth/authorize", data={**params, "user_id": DEMO.member_user_id, "decision": "cancel"}
    )
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied" and query["error_description"]
    assert query["state"] == "state-123" and query["iss"] == ISSUER
    assert "code" not in query


async def test_confidential_client_must_authenticate(
    emu_config: EmulatorConfig, emu_clock: StepClock
) -> None:
    """With confidential=True the token endpoint wants client_secret (post or Basic)."""
    emu_config.confidential = True
    emu = Emulator(emu_config, clock=emu_clock.now)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url=ISSUER
    ) as whop:
        oauth = OAuthDriver(whop)
        missing = await oauth.exchange(await oauth.authorize())
        assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
        wrong = await oauth.exchange(await oauth.authorize(), client_secret="wrong")
        assert wrong.status_code == 401
        posted = await oauth.exchange(
            await oauth.authorize(), client_secret=emu_config.client_secret
        )
        assert posted.status_code == 200, posted.text
        auth = await oauth.authorize()
        basic = base64.b64encode(f"{CLIENT_ID}:{emu_config.client_secret}".encode()).decode()
        response = await whop.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": auth.code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": auth.verifier,
            },
            headers={"Authorization": f"Basic {basic}"},
        )
        assert response.status_code == 200, response.text
    await emu.aclose()


async def test_token_endpoint_grant_type_errors(whop: httpx.AsyncClient) -> None:
    """Unknown grant types and unknown clients get the standard error codes."""
    unsupported = await whop.post(
        "/oauth/token", data={"grant_type": "password", "client_id": CLIENT_ID}
    )
    assert unsupported.json()["error"] == "unsupported_grant_type"
    bad_client = await whop.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "client_id": "app_x", "refresh_token": "r"},
    )
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
