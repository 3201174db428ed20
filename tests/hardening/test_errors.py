"""X03: forced failures (broken discovery, garbage JWKS, an exception nobody expected) give
a generic page or JSON with a request id, never internal detail or a stack trace."""

from __future__ import annotations

from typing import Any

import httpx

from tests.hardening.helpers import SAME_ORIGIN, CapturedLogs, ScriptedTransport, csrf_token
from tests.hardening.scripted import scripted, services  # noqa: F401 - fixtures

NAVIGATE = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate"}
LEAKS = ("Traceback", "Error", "evil.test", "jwks", "JWKS", "/srv/", "CANARY", 'File "')


def assert_generic(response: httpx.Response, status: int) -> None:
    """Generic body with the request id; no internal detail."""
    assert response.status_code == status, response.text
    request_id = response.headers["x-request-id"]
    assert request_id in response.text
    for leak in LEAKS:
        assert leak not in response.text, leak
    if response.headers["content-type"].startswith("application/json"):
        error = response.json()["error"]
        assert set(error) == {"code", "message", "request_id"}
        assert set(response.json()) == {"error"}


async def test_x03_broken_discovery_is_a_generic_503(
    client: httpx.AsyncClient, scripted: ScriptedTransport
) -> None:
    """A discovery document naming another issuer gives a generic 503 page and JSON."""
    scripted.rules["/.well-known/openid-configuration"] = lambda request: httpx.Response(
        200, json={"issuer": "https://evil.test", "code_challenge_methods_supported": ["S256"]}
    )
    page = await client.get("/api/whop/auth", headers=NAVIGATE)
    assert_generic(page, 503)
    assert page.headers["content-type"].startswith("text/html")
    api = await client.get("/api/whop/auth", headers={"accept": "application/json"})
    assert_generic(api, 503)


async def test_x03_garbage_jwks_is_a_generic_error(
    client: httpx.AsyncClient, signin: Any, scripted: ScriptedTransport
) -> None:
    """JWKS garbage fails the callback with a generic page, not a stack trace."""
    scripted.rules["/.well-known/jwks.json"] = lambda request: httpx.Response(
        200, content=b'{"keys": "\x00 not keys'
    )
    started = await signin.start()
    authorized = await signin.authorize(started.headers["location"], "user_demo_member")
    response = await signin.callback(authorized)
    assert response.status_code in (400, 503)
    assert_generic(response, response.status_code)
    assert signin.session_cookie() is None


def _explode(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("CANARY failure in /srv/mentora/x.py with code=CANARYCODE42 attached")


async def test_x03_unexpected_exception_is_a_generic_500(
    client: httpx.AsyncClient,
    signin: Any,
    scripted: ScriptedTransport,
    json_logs: CapturedLogs,
    clock: Any,
) -> None:
    """An unexpected exception is a generic 500; its traceback goes to the log, redacted."""
    started = await signin.start()
    authorized = await signin.authorize(started.headers["location"], "user_demo_member")
    scripted.rules["/oauth/token"] = _explode
    assert_generic(await signin.callback(authorized), 500)

    scripted.rules.clear()
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    token = await csrf_token(client)
    clock.advance(30)  # past the minimum interval between forced rotations
    scripted.rules["/oauth/token"] = _explode
    api = await client.post("/api/whop/refresh", headers={**SAME_ORIGIN, "x-csrf-token": token})
    assert_generic(api, 500)
    assert api.headers["content-type"].startswith("application/json")
    assert api.headers["cache-control"] == "no-store"
    errors = [line for line in json_logs.json_lines() if line["event"] == "unhandled_error"]
    assert len(errors) == 2 and "RuntimeError" in errors[0]["exception"]
    assert "CANARYCODE42" not in json_logs.text and "code=[redacted]" in json_logs.text


async def test_x03_unknown_routes_and_methods_are_generic(client: httpx.AsyncClient) -> None:
    """A 404 and a 405 on the API are generic JSON with a request id too."""
    assert_generic(await client.get("/api/whop/nope"), 404)
    assert_generic(await client.put("/api/whop/logout"), 405)
