"""O01-O10 through the real callback route: the emulator's token and userinfo answers are
tampered with on the way to the app, and each defect must end the sign-in (integration).

Every case asserts a 400, the audit reason, no session, and (O06) that userinfo was never
called with an unverified token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import func, select

from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.db.models import AuditEvent, UserSession
from mentora.emulator import DEMO
from mentora.services import Services, build_services
from tests.support.signin import SignIn

Mutation = Callable[[dict[str, Any], Any], str]


class Tamper:
    """An ASGI wrapper around the emulator that rewrites token and userinfo answers."""

    def __init__(self, emulator: Any) -> None:
        """Pass everything through until a mutation is set."""
        self.emulator = emulator
        self.id_token: Mutation | None = None
        self.drop_id_token = False
        self.userinfo_sub: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Forward to the emulator; rewrite the JSON body of /oauth/token or /oauth/userinfo."""
        path = scope.get("path", "")
        rewrite = (path == "/oauth/token" and (self.id_token or self.drop_id_token)) or (
            path == "/oauth/userinfo" and self.userinfo_sub
        )
        if not rewrite:
            await self.emulator.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.emulator.app(scope, receive, capture)
        body = json.loads(b"".join(chunks))
        if path == "/oauth/token" and "id_token" in body and self.id_token:
            claims = jwt.decode(body["id_token"], _any_key(self.emulator)).claims
            body["id_token"] = self.id_token(dict(claims), body)
        if path == "/oauth/token" and self.drop_id_token:
            body.pop("id_token", None)
        if path == "/oauth/userinfo" and self.userinfo_sub:
            body["sub"] = self.userinfo_sub
        raw = json.dumps(body).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


def _any_key(emulator: Any) -> Any:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(emulator.keys.jwks())


def _real_sign(emulator: Any) -> Callable[[dict[str, Any]], str]:
    return lambda claims: str(emulator.keys.sign(claims))


@pytest.fixture
def tamper(emulator: Any) -> Tamper:
    """The tampering wrapper (the app's Whop transport goes through it)."""
    return Tamper(emulator)


@pytest.fixture
async def services(
    settings: Settings, clock: FrozenClock, tamper: Tamper
) -> AsyncIterator[Services]:
    """Like the shared fixture, but Whop calls pass through the tampering wrapper."""
    from mentora.creators import ensure_configured_creator

    svc = build_services(settings, clock=clock, transport=httpx.ASGITransport(app=tamper))
    await ensure_configured_creator(svc, name="Demo Academy")
    yield svc
    await svc.aclose()


def _attacker_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_same_kid(emulator: Any) -> Mutation:
    """O01: a valid-looking token signed by another key under the real kid."""
    return lambda claims, _: jwt.encode(
        {"alg": "ES256", "kid": emulator.keys.active_kid}, claims, _attacker_key("x")
    )


def alg_none(emulator: Any) -> Mutation:
    """O02: an unsigned token."""
    return lambda claims, _: (
        f"{_b64({'alg': 'none', 'kid': emulator.keys.active_kid})}.{_b64(claims)}."
    )


def hs256_public_key(emulator: Any) -> Mutation:
    """O02: HS256 keyed with the public JWKS bytes."""
    secret = OctKey.import_key(json.dumps(emulator.keys.jwks()).encode())
    return lambda claims, _: jwt.encode(
        {"alg": "HS256", "kid": emulator.keys.active_kid}, claims, secret
    )


def claims_changed(emulator: Any, **changes: Any) -> Mutation:
    """O03-O07: correctly signed by Whop's key, with claims changed."""
    sign = _real_sign(emulator)

    def mutate(claims: dict[str, Any], _: Any) -> str:
        for key, value in changes.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return sign(claims)

    return mutate


def access_token_instead(emulator: Any) -> Mutation:
    """O09: the access token where the ID token belongs."""
    return lambda claims, body: str(body["access_token"])


CASES: dict[str, tuple[Callable[[Any], Mutation], str]] = {
    "o01_forged_signature_same_kid": (forged_same_kid, "id_token_signature"),
    "o02_alg_none": (alg_none, "id_token_alg"),
    "o02_hs256_with_public_key": (hs256_public_key, "id_token_alg"),
    "o03_wrong_issuer": (lambda e: claims_changed(e, iss="https://evil.test"), "id_token_iss"),
    "o03_issuer_trailing_slash": (
        lambda e: claims_changed(e, iss="https://whop.test/"),
        "id_token_iss",
    ),
    "o04_wrong_audience": (lambda e: claims_changed(e, aud="other-client"), "id_token_aud"),
    "o04_extra_audience": (lambda e: claims_changed(e, aud=["app_demo", "other"]), "id_token_aud"),
    "o04_foreign_azp": (lambda e: claims_changed(e, azp="other-client"), "id_token_azp"),
    "o05_expired": (lambda e: claims_changed(e, exp=1), "id_token_expired"),
    "o05_missing_iat": (lambda e: claims_changed(e, iat=None), "id_token_iat"),
    "o06_wrong_nonce": (lambda e: claims_changed(e, nonce="other"), "id_token_nonce"),
    "o06_missing_nonce": (lambda e: claims_changed(e, nonce=None), "id_token_nonce"),
    "o07_missing_sub": (lambda e: claims_changed(e, sub=None), "id_token_sub"),
    "o09_access_token_as_id_token": (access_token_instead, "id_token_malformed"),
}


async def _sessions(services: Services) -> int:
    async with services.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(UserSession))).scalar_one())


async def _reasons(services: Services) -> list[str | None]:
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(AuditEvent.reason).where(AuditEvent.kind == "authn_login_fail")
        )
        return list(rows.scalars().all())


@pytest.mark.parametrize("case", sorted(CASES))
async def test_defective_id_token_ends_the_sign_in(
    case: str, signin: SignIn, services: Services, emulator: Any, tamper: Tamper
) -> None:
    """Each ID-token defect: 400, its audit reason, no session, userinfo never called."""
    make, reason = CASES[case]
    tamper.id_token = make(emulator)
    userinfo_before = emulator.call_count("/oauth/userinfo")
    response = await signin.sign_in(DEMO.member_user_id)
    assert response.status_code == 400, response.text
    assert await _reasons(services) == [reason]
    assert await _sessions(services) == 0
    assert emulator.call_count("/oauth/userinfo") == userinfo_before


async def test_o10_userinfo_for_another_subject_ends_the_sign_in(
    signin: SignIn, services: Services, tamper: Tamper
) -> None:
    """Userinfo naming a different `sub` than the ID token: 400, no session."""
    tamper.userinfo_sub = DEMO.guest_user_id
    response = await signin.sign_in(DEMO.member_user_id)
    assert response.status_code == 400
    assert await _reasons(services) == ["userinfo_sub_mismatch"]
    assert await _sessions(services) == 0


async def test_o08_rotated_signing_key_is_fetched_once(
    signin: SignIn, services: Services, emulator: Any
) -> None:
    """After Whop rotates its key, the next sign-in refetches the JWKS once and succeeds."""
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    jwks_before = emulator.call_count("/.well-known/jwks.json")
    emulator.rotate_signing_key()
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    assert emulator.call_count("/.well-known/jwks.json") == jwks_before + 1


async def test_o08_random_kids_refetch_the_jwks_once_a_minute(
    signin: SignIn, services: Services, emulator: Any, tamper: Tamper, clock: FrozenClock
) -> None:
    """Tokens with random unknown kids are refused; they force exactly one JWKS refetch per
    minute: one for a burst, and one more once the minute has passed."""
    import secrets

    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    jwks_before = emulator.call_count("/.well-known/jwks.json")

    def random_kid(claims: dict[str, Any], _: Any) -> str:
        key = _attacker_key(secrets.token_hex(4))
        return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)

    tamper.id_token = random_kid
    for _ in range(6):  # stays under the per-IP sign-in rate limits
        assert (await signin.sign_in(DEMO.member_user_id)).status_code == 400
    assert emulator.call_count("/.well-known/jwks.json") - jwks_before == 1
    clock.advance(59)  # still inside the minute: no refetch
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 400
    assert emulator.call_count("/.well-known/jwks.json") - jwks_before == 1
    clock.advance(2)  # past the minute: the next unknown kid may refetch, once
    for _ in range(2):
        assert (await signin.sign_in(DEMO.member_user_id)).status_code == 400
    assert emulator.call_count("/.well-known/jwks.json") - jwks_before == 2
