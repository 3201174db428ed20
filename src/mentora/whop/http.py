"""httpx clients for calls to Whop that keep no cookies.

One client serves every user's calls (check access, userinfo, token exchange), so a cookie
Whop set on one user's response must never ride along on another user's request: httpx's
client would keep it in its jar and send it on every later request to that host. These
clients ignore `Set-Cookie` and refuse cookies given to them. Reading a response's
`Set-Cookie` into httpx's jar was also the largest single cost of httpx's client layer on
the sign-in path (urllib request and response objects built per response).

The transport under them (whop.transport) keeps no cookies either (aiohttp's DummyCookieJar).
"""

from __future__ import annotations

from typing import Any

import httpx


class NoCookies(httpx.Cookies):
    """A client's cookie store that stays empty: responses are not read for cookies, and
    nothing may be put in it."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing the response sets."""

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Refuse: this client keeps no cookies."""
        raise TypeError("this HTTP client keeps no cookies")


class CookielessClient(httpx.AsyncClient):
    """`httpx.AsyncClient` whose cookie store stays empty (see the module docstring)."""

    def __init__(self, *, cookies: Any = None, **kwargs: Any) -> None:
        """httpx's constructor; `cookies` given here are refused, not silently dropped."""
        if cookies:
            raise TypeError("this HTTP client keeps no cookies")
        super().__init__(**kwargs)
        # The one transport every request goes to, when nothing routes requests elsewhere
        # (mounts; proxies from the environment are read only when no transport is given).
        transport = kwargs.get("transport")
        self._direct: httpx.AsyncBaseTransport | None = (
            transport if transport is not None and not kwargs.get("mounts") else None
        )

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send `request` as httpx does. The calls to Whop take the short way: no auth flow,
        no redirect to follow, no event hooks, no cookies and one transport leave httpx's
        send nothing to do but hand the request to the transport and read the answer, and its
        generators, hook loops and per-request logging cost a sign-in's three calls more CPU
        than their SQL statements. Anything else goes through httpx's own `send`."""
        direct = self._direct
        if (
            direct is None
            or stream
            or (auth is not None and auth is not httpx.USE_CLIENT_DEFAULT)
            or self.auth is not None
            or (
                self.follow_redirects
                if follow_redirects is httpx.USE_CLIENT_DEFAULT
                else bool(follow_redirects)
            )
            or self.event_hooks["request"]
            or self.event_hooks["response"]
            or "timeout" not in request.extensions
        ):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        response = await direct.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    @property
    def cookies(self) -> httpx.Cookies:
        """The client's cookie store: always empty. Built on first use, because Authlib's
        client runs httpx's constructor directly, past any constructor of ours."""
        kept: NoCookies | None = self.__dict__.get("_no_cookies")
        if kept is None:
            kept = self.__dict__["_no_cookies"] = NoCookies()
        return kept

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise TypeError("this HTTP client keeps no cookies")
