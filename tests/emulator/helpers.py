"""Helpers for the emulator tests: a steppable clock, an OAuth driver, a webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.types import Receive, Scope, Send

ISSUER = "http://whop.emulator.test"
REDIRECT_URI = "http://127.0.0.1:8000/api/whop/callback"
CLIENT_ID = "app_demo"


class StepClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        """Start at `start` (default: real now, so webhook timestamps verify)."""
        self.current = start or datetime.now(UTC)

    def now(self) -> datetime:
        """Return the current instant."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.current += timedelta(seconds=seconds)


def pkce_pair() -> tuple[str, str]:
    """Return (verifier, S256 challenge), computed independently of the emulator."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    """Return a redirect's query parameters as a flat dict."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Authorized:
    """The outcome of an approved authorize step."""

    code: str
    verifier: str
    params: dict[str, str]


class OAuthDriver:
    """Drives the emulator's OAuth endpoints the way a PKCE client would."""

    def __init__(self, whop: httpx.AsyncClient) -> None:
        """Use `whop`, a client bound to the emulator app."""
        self.whop = whop

    def authorize_params(self, challenge: str, **overrides: str) -> dict[str, str]:
        """Return a valid authorize query, with overrides."""
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile email",
            "state": "state-123",
            "nonce": "nonce-456",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return params

    async def authorize(self, user_id: str = "user_demo_member", **overrides: str) -> Authorized:
        """Load the sign-in page, approve as `user_id`, and return the code."""
        verifier, challenge = pkce_pair()
        params = self.authorize_params(challenge, **overrides)
        page = await self.whop.get("/oauth/authorize", params={**params, "login_hint": user_id})
        assert page.status_code == 200, page.text
        decided = await self.whop.post(
            "/oauth/authorize", data={**params, "user_id": user_id, "decision": "approve"}
        )
        assert decided.status_code == 302, decided.text
        query = query_of(decided.headers["location"])
        return Authorized(code=query["code"], verifier=verifier, params=query)

    async def exchange(self, auth: Authorized, **overrides: str | None) -> httpx.Response:
        """POST the code exchange (form-encoded); None in overrides drops a field."""
        body: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": auth.code,
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "code_verifier": auth.verifier,
        }
        body.update(overrides)
        return await self.whop.post(
            "/oauth/token", data={k: v for k, v in body.items() if v is not None}
        )

    async def refresh(self, refresh_token: str, **extra: str) -> httpx.Response:
        """POST a refresh_token grant as JSON (Whop's guide sends JSON)."""
        body = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
        }
        return await self.whop.post("/oauth/token", json={**body, **extra})

    async def sign_in(self, user_id: str = "user_demo_member", **overrides: str) -> dict[str, Any]:
        """Authorize and exchange; return the token response."""
        response = await self.exchange(await self.authorize(user_id, **overrides))
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def userinfo(self, access_token: str) -> httpx.Response:
        """GET /oauth/userinfo with a bearer token."""
        return await self.whop.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )


@dataclass
class Received:
    """One webhook request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny ASGI webhook endpoint answering with scripted statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record the raw request and answer with the next scripted status."""
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(headers=headers, body=body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
