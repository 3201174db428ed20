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
