"""R04: bounded request sizes. Bodies past the cap get 413 before anything parses them, and a
streamed body is not read to its end; over-long query strings get 414."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.types import Message

from mentora.db.models import WebhookDelivery
from mentora.services import Services
from mentora.web.routes import ROUTERS
from tests.hardening.helpers import audit_rows
from tests.support.webhooks import WEBHOOK_PATH

MB = 1024 * 1024


async def _deliveries(services: Services) -> int:
    async with services.sessionmaker() as db:
        return int(
            (await db.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one()
        )


async def test_r04_20mb_webhook_body_is_413_before_parsing(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A declared 20 MB webhook body gets 413 before any parsing or verification."""
    response = await client.post(
        WEBHOOK_PATH,
        content=b"{" + b" " * (20 * MB) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert await _deliveries(services) == 0
    assert await audit_rows(services, "webhook_rejected") == []


async def test_r04_streamed_body_stops_being_read_past_the_cap(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A streamed 20 MB body is cut off at the cap with 413; memory stays flat."""
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(320):  # 320 x 64 KiB = 20 MiB
            pulled += 64 * 1024
            yield b" " * (64 * 1024)

    response = await client.post(
        WEBHOOK_PATH, content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert pulled <= services.settings.webhook_max_body_bytes + 64 * 1024
    assert await _deliveries(services) == 0


def _every_route() -> list[tuple[str, str]]:
    """(method, path) for every route of the app's routers, path parameters filled in."""
    pairs = []
    for route in (route for router in ROUTERS for route in router.routes):
        for method in sorted(getattr(route, "methods", None) or ()):
            if method not in ("HEAD", "OPTIONS"):
                pairs.append((method, re.sub(r"\{[^}]+\}", "x", route.path)))
    return pairs


async def test_r04_large_body_on_every_route_is_413(client: httpx.AsyncClient) -> None:
    """The general cap (MAX_BODY_BYTES, 1 MiB) holds on every route of the app, whatever its
    method, before routing, authentication or CSRF checks look at the request."""
    routes = _every_route()
    assert ("POST", "/api/whop/logout") in routes and len(routes) > 20
    body = b"csrf_token=" + b"a" * (2 * MB)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    answers = {
        (method, path): (
            await client.request(method, path, content=body, headers=headers)
        ).status_code
        for method, path in routes
    }
    assert {key: status for key, status in answers.items() if status != 413} == {}


async def raw_get(app: Any, path: str, query: bytes, accept: str) -> tuple[int, bytes]:
    """Call the ASGI app directly: httpx refuses URLs over 64 KiB before sending them."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"mentora.test"), (b"accept", accept.encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("mentora.test", 443),
    }
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


async def test_r04_1mb_callback_query_is_414(app: Any, services: Services) -> None:
    """A 1 MB query gets 414 and a generic page; the code is not echoed or audited."""
    query = b"code=" + b"c" * MB + b"&state=s"
    status, body = await raw_get(app, "/api/whop/callback", query, "text/html")
    assert status == 414
    assert b"The address is too long." in body and b"ccccc" not in body
    status, body = await raw_get(app, "/api/whop/verify", query, "application/json")
    assert status == 414 and b'"code":"uri_too_long"' in body
    assert await audit_rows(services, "authn_login_fail") == []
