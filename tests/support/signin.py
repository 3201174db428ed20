"""Drive a real sign-in: app → emulator's authorize page → decision → app callback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from mentora.web.cookie import SESSION_COOKIE


@dataclass
class Authorized:
    """The callback URL the emulator redirected to, before the app has seen it."""

    callback_url: str
    params: dict[str, str]


class SignIn:
    """Steps of the sign-in flow, usable whole or one at a time."""

    def __init__(self, client: httpx.AsyncClient, emulator: Any) -> None:
        """Use `client` for the app and the emulator's ASGI app for Whop."""
        self.client = client
        self.emulator = emulator
        self.whop = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.config.issuer
        )

    async def start(self, next_path: str | None = None) -> httpx.Response:
        """GET /api/whop/auth as a browser navigation."""
        params = {"next": next_path} if next_path else None
        return await self.client.get(
            "/api/whop/auth",
            params=params,
            headers={"sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate"},
        )

    async def authorize(
        self, authorize_url: str, user_id: str, *, approve: bool = True
    ) -> Authorized:
        """Load the emulator's sign-in page, pick `user_id`, approve or cancel."""
        page = await self.whop.get(authorize_url)
        assert page.status_code == 200, page.text
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        import html

        fields = {k: html.unescape(v) for k, v in fields.items()}
        fields["user_id"] = user_id
        fields["decision"] = "approve" if approve else "deny"
        action = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
        target = action.group(1) if action else "/oauth/authorize"
        decided = await self.whop.post(target, data=fields)
        assert decided.status_code in (302, 303), decided.text
        location = decided.headers["location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return Authorized(callback_url=location, params=query)

    async def callback(self, authorized: Authorized) -> httpx.Response:
        """Deliver the authorization response to the app, as the browser would."""
        parts = urlsplit(authorized.callback_url)
        return await self.client.get(
            parts.path + ("?" + parts.query if parts.query else ""),
            headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"},
        )

    async def sign_in(self, user_id: str, next_path: str | None = None) -> httpx.Response:
        """The whole flow; returns the callback's response."""
        started = await self.start(next_path)
        assert started.status_code in (302, 303), started.text
        authorized = await self.authorize(started.headers["location"], user_id)
        return await self.callback(authorized)

    def session_cookie(self) -> str | None:
        """The session cookie the client holds now."""
        return self.client.cookies.get(SESSION_COOKIE)

    async def aclose(self) -> None:
        """Close the emulator client."""
        await self.whop.aclose()
