"""The token endpoint client (oauth/tokens.py) against a raw loopback server: the bytes it sends
for each grant and client authentication method, and how it reads every kind of answer.

The client is built as the app builds it: the app's cookieless httpx client on the aiohttp
transport (src/mentora/foundation.py), nothing mocked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest

from mentora.oauth.discovery import ProviderMetadata
from mentora.oauth.errors import ExchangeFailed, RefreshFailed
from mentora.oauth.tokens import OAuthClient, TokenEndpointUnavailable
from mentora.whop.http import CookielessClient
from mentora.whop.transport import AiohttpTransport
from tests.support.rawserver import RawRequest, Server, keep_alive, response_bytes, serve

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TOKENS = {
    "access_token": "at_1",
    "refresh_token": "rt_1",
    "id_token": "header.claims.signature",
    "token_type": "Bearer",
    "expires_in": 600,
}


def json_answer(status: int, document: object) -> Callable[[RawRequest], bytes]:
    """A handler body: every request gets `status` with `document` as JSON."""
    body = json.dumps(document).encode()
    return lambda _: response_bytes(
        status, "Whatever", [("Content-Type", "application/json")], body
    )


@asynccontextmanager
async def token_server(
    answer: Callable[[RawRequest], bytes],
    *,
    secret: str | None = "s3cret",  # noqa: S107 - a test client's secret
    methods: str = "post",
) -> AsyncIterator[tuple[OAuthClient, ProviderMetadata, Server]]:
    """A raw server answering `answer`, the metadata naming it, and a client for it.

    `methods`: the client authentication methods the metadata advertises ("post", "basic",
    or "neither" of them)."""
    advertised = {
        "post": ("client_secret_post",),
        "basic": ("client_secret_basic",),
        "neither": ("private_key_jwt",),
    }[methods]
    async with serve(keep_alive(answer)) as server:
        meta = replace(
            ProviderMetadata.documented(server.base_url),
            token_auth_methods=("none", *advertised),
        )
        http = CookielessClient(
            transport=AiohttpTransport(),
            timeout=httpx.Timeout(10.0, connect=5.0),
            follow_redirects=False,
        )
        try:
            yield OAuthClient(client_id="app_1", client_secret=secret, http=http), meta, server
        finally:
            await http.aclose()


def form(request: RawRequest) -> dict[str, str]:
    """The request's form body."""
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True))


async def test_code_exchange_sends_the_grant_and_the_secret_in_the_body() -> None:
    """client_secret_post: one form POST to the token endpoint with code, verifier, redirect
    URI and the client's credentials; the answer's tokens are read."""
    async with token_server(json_answer(200, TOKENS)) as (client, meta, server):
        tokens = await client.exchange_code(
            meta, code="c_1", verifier="v" * 43, redirect_uri="https://app.test/cb", now=NOW
        )

    (request,) = server.requests
    assert (request.method, request.target) == (b"POST", b"/oauth/token")
    assert request.values(b"content-type") == [b"application/x-www-form-urlencoded;charset=UTF-8"]
    assert request.values(b"accept") == [b"application/json"]
    assert request.values(b"authorization") == []
    assert form(request) == {
        "grant_type": "authorization_code",
        "redirect_uri": "https://app.test/cb",
        "code": "c_1",
        "code_verifier": "v" * 43,
        "client_id": "app_1",
        "client_secret": "s3cret",
    }
    assert (tokens.access_token, tokens.refresh_token, tokens.id_token) == (
        "at_1",
        "rt_1",
        TOKENS["id_token"],
    )
    assert tokens.expires_at == NOW + timedelta(seconds=600)


@pytest.mark.parametrize("methods", ["basic", "neither"])
async def test_basic_authentication_unless_post_is_advertised(methods: str) -> None:
    """client_secret_basic, when only it is advertised, or neither secret method (RFC 6749's
    default): the credentials go in the Authorization header, not the body."""
    async with token_server(json_answer(200, TOKENS), methods=methods) as (client, meta, server):
        await client.exchange_code(
            meta, code="c", verifier="v", redirect_uri="https://a/cb", now=NOW
        )

    (request,) = server.requests
    expected = base64.b64encode(b"app_1:s3cret")
    assert request.values(b"authorization") == [b"Basic " + expected]
    assert "client_secret" not in form(request) and "client_id" not in form(request)


async def test_public_client_sends_its_id_and_no_secret() -> None:
    """A public client (no secret) authenticates with `none`: client_id in the body only."""
    async with token_server(json_answer(200, TOKENS), secret=None) as (client, meta, server):
        await client.exchange_code(
            meta, code="c", verifier="v", redirect_uri="https://a/cb", now=NOW
        )

    (request,) = server.requests
    assert form(request)["client_id"] == "app_1"
    assert "client_secret" not in form(request)
    assert request.values(b"authorization") == []


@pytest.mark.parametrize(
    ("status", "document"),
    [
        (400, {"error": "invalid_grant", "error_description": "code used"}),
        (200, {"error": "invalid_grant"}),  # an OAuth error is one whatever the status
        (200, {"token_type": "Bearer"}),  # no access token
        (200, {**TOKENS, "token_type": "mac"}),
        (200, ["not", "an", "object"]),
    ],
)
async def test_a_refused_or_unusable_exchange_is_exchange_failed(
    status: int, document: object
) -> None:
    """An OAuth error or an answer without a usable bearer token fails the exchange (400)."""
    async with token_server(json_answer(status, document)) as (client, meta, server):
        with pytest.raises(ExchangeFailed):
            await client.exchange_code(
                meta, code="c", verifier="v", redirect_uri="https://a/cb", now=NOW
            )
    assert len(server.requests) == 1  # never retried (C12)


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (500, []),
        (502, []),
        (503, []),
        (429, []),
        (403, []),
        # Not followed (C18): the code goes to no other host.
        (302, [("Location", "http://127.0.0.1:9/steal")]),
    ],
)
async def test_whop_trouble_at_the_token_endpoint_is_unavailable(
    status: int, headers: list[tuple[str, str]]
) -> None:
    """A 5xx or 429, an error page that is not JSON, or a redirect is the endpoint's trouble
    (503), sent once."""

    def page(_: RawRequest) -> bytes:
        return response_bytes(
            status, "Error", [("Content-Type", "text/html"), *headers], b"<h1>oops</h1>"
        )

    async with token_server(page) as (client, meta, server):
        with pytest.raises(TokenEndpointUnavailable):
            await client.exchange_code(
                meta, code="c", verifier="v", redirect_uri="https://a/cb", now=NOW
            )
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [503, 429])
async def test_an_oauth_error_with_a_5xx_or_429_is_unavailable_not_refused(status: int) -> None:
    """A 5xx or 429 is the endpoint's trouble (503) even when its body is an OAuth error,
    which with any other status fails the exchange."""
    answer = json_answer(status, {"error": "temporarily_unavailable"})
    async with token_server(answer) as (client, meta, _):
        with pytest.raises(TokenEndpointUnavailable):
            await client.exchange_code(
                meta, code="c", verifier="v", redirect_uri="https://a/cb", now=NOW
            )


async def test_refresh_sends_the_refresh_grant_and_keeps_a_token_not_rotated() -> None:
    """A refresh posts the refresh grant (with the company, when given); an answer without a
    new refresh token keeps the old one."""
    rotated_not = {k: v for k, v in TOKENS.items() if k != "refresh_token"}
    async with token_server(json_answer(200, rotated_not)) as (client, meta, server):
        tokens = await client.refresh(meta, refresh_token="rt_old", company_id="biz_1", now=NOW)

    assert form(server.requests[0]) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt_old",
        "company_id": "biz_1",
        "client_id": "app_1",
        "client_secret": "s3cret",
    }
    assert (tokens.access_token, tokens.refresh_token) == ("at_1", "rt_old")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("invalid_grant", RefreshFailed),
        ("unauthorized_client", RefreshFailed),
        ("temporarily_unavailable", TokenEndpointUnavailable),
    ],
)
async def test_a_refused_refresh_says_whether_the_grant_is_dead(
    error: str, expected: type[Exception]
) -> None:
    """invalid_grant and client errors end the grant (sign in again); other errors are the
    endpoint's trouble, and the grant is kept."""
    async with token_server(json_answer(400, {"error": error})) as (client, meta, _):
        with pytest.raises(expected):
            await client.refresh(meta, refresh_token="rt", company_id=None, now=NOW)


async def test_revoke_posts_the_refresh_token_with_its_hint() -> None:
    """Revocation (RFC 7009) posts the token and its type hint, authenticated; a 200 is True,
    an error is False and nothing raises."""
    async with token_server(json_answer(200, {})) as (client, meta, server):
        assert await client.revoke(meta, refresh_token="rt_9") is True
    (request,) = server.requests
    assert request.target == b"/oauth/revoke"
    assert form(request) == {
        "token": "rt_9",
        "token_type_hint": "refresh_token",
        "client_id": "app_1",
        "client_secret": "s3cret",
    }

    async with token_server(json_answer(503, {})) as (client, meta, _):
        assert await client.revoke(meta, refresh_token="rt_9") is False


async def test_revoke_of_an_unreachable_endpoint_is_false() -> None:
    """A refused connection is a failed revocation, never an exception."""
    async with token_server(json_answer(200, {})) as (client, meta, server):
        port = server.port
    gone = replace(meta, revocation_endpoint=f"http://127.0.0.1:{port}/oauth/revoke")
    http = CookielessClient(transport=AiohttpTransport())
    try:
        client = OAuthClient(client_id="app_1", client_secret=None, http=http)
        assert await client.revoke(gone, refresh_token="rt") is False
    finally:
        await http.aclose()
