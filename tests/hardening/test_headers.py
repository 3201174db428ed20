"""X02: security headers on every route, no CORS, HSTS and HTTP->HTTPS only in production,
framing allowed only for Whop in embedded mode; `no-store` on private responses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from mentora.app import create_app
from mentora.config import load_settings
from mentora.web.routes import ROUTERS

EXTRA_PATHS = ["/", "/api/openapi.json", "/api/docs", "/static/app.css", "/no/such/page"]
AUTH_PATHS = [
    "/api/whop/auth",
    "/api/whop/callback",
    "/api/whop/logout",
    "/api/whop/refresh",
    "/api/whop/verify",
    "/api/whop/sessions/revoke-all",
    "/api/whop/webhooks",
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", re.IGNORECASE)
PROD = {
    "MENTORA_ENV": "production",
    "APP_URL": "https://learn.mentora.app",
    "SECRET_KEY": "k" * 48,
    "TOKEN_ENCRYPTION_KEYS": "q0i3hEzM0e1nS9aRj8D0N2l5E7m3Xw2ZrB0rD3cF4aY=",
    "WHOP_CLIENT_ID": "app_live123",
    "WHOP_CLIENT_SECRET": "s3cr3t-value-live",
    "WHOP_API_KEY": "apik_live_abc",
    "WHOP_WEBHOOK_SECRET": "ws_live_abcdef1234567890abcdef",
    "WHOP_COMPANY_ID": "biz_live",
    "METRICS_TOKEN": "m3tr1cs-t0ken-l1ve-0123456789abcdef",
    "TRUSTED_PROXIES": "10.0.0.5",
}


def get_paths() -> list[str]:
    """Every GET route without path parameters, plus pages, docs, assets and a 404."""
    paths = {
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, Route) and "GET" in (route.methods or ()) and "{" not in route.path
    }
    return sorted(paths | set(EXTRA_PATHS))


def check_headers(path: str, response: httpx.Response, *, signed_in: bool) -> None:
    """The X02 header set for one response."""
    h = response.headers
    where = f"{path} -> {response.status_code}"
    assert h["x-content-type-options"] == "nosniff", where
    assert h["referrer-policy"] == "no-referrer", where
    assert h["x-request-id"], where
    assert "access-control-allow-origin" not in h, where
    assert "strict-transport-security" not in h, where  # only in production
    private = path.startswith(("/api/", "/account", "/dashboard")) or (
        signed_in and not path.startswith("/static/")
    )
    if private:
        assert "no-store" in h.get("cache-control", ""), where
    if h.get("content-type", "").startswith("text/html"):
        csp = h["content-security-policy"]
        for directive in ("frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
            assert directive in csp, where
        script_src = re.search(r"script-src ([^;]+)", csp)
        assert script_src and script_src.group(1).strip() == "'self'", where
        assert h["x-frame-options"] == "DENY", where
        if path != "/api/docs":  # FastAPI's Swagger page is dev-only and inline by design
            assert not INLINE_SCRIPT.search(response.text), where


async def test_x02_header_snapshot_over_every_route(client: httpx.AsyncClient, signin: Any) -> None:
    """Every GET route, anonymous or signed in, carries the X02 headers and no CORS."""
    browser = {"accept": "text/html", "sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate"}
    for path in get_paths():
        check_headers(path, await client.get(path, headers=browser), signed_in=False)
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    for path in get_paths():
        if path == "/api/whop/auth":
            continue  # starting a new sign-in is not a signed-in page
        response = await client.get(path, headers={**browser, "origin": "https://evil.test"})
        check_headers(path, response, signed_in=True)


@pytest.mark.parametrize("path", AUTH_PATHS)
async def test_x02_no_cors_preflight_on_auth_routes(path: str, client: httpx.AsyncClient) -> None:
    """A preflight from https://evil.test gets no Access-Control-Allow-* at all."""
    response = await client.options(
        path,
        headers={
            "origin": "https://evil.test",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-csrf-token",
        },
    )
    assert response.status_code in (405, 404)
    assert not [name for name in response.headers if name.startswith("access-control-")]


@pytest.mark.parametrize("overrides", [{"embedded_mode": "true"}])
async def test_x02_embedded_mode_lets_only_whop_frame_pages(
    client: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    """With EMBEDDED_MODE, frame-ancestors names Whop's origins only, and DENY is dropped."""
    page = await client.get("/", headers={"accept": "text/html"})
    csp = page.headers["content-security-policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp)
    assert ancestors and ancestors.group(1).split() == ["https://whop.com", "https://*.whop.com"]
    assert "x-frame-options" not in page.headers


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[Any]:
    """A production-configured app (nothing here reaches Whop or the database)."""
    settings = load_settings({**PROD, "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"})
    app = create_app(settings)
    yield app
    await app.state.mentora.services.aclose()


def _client(app: Any, base_url: str, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 4321))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


async def test_x02_hsts_and_https_redirect_in_production(production: Any) -> None:
    """Production sends HSTS and 308-redirects HTTP to APP_URL, except health probes."""
    async with _client(production, "https://learn.mentora.app") as https:
        landing = await https.get("/", headers={"accept": "text/html"})
    assert landing.status_code == 200
    assert landing.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    async with _client(production, "http://evil.test") as http:
        moved = await http.post("/api/whop/logout?x=1")
        probe = await http.get("/healthz")
    assert moved.status_code == 308
    assert moved.headers["location"] == "https://learn.mentora.app/api/whop/logout?x=1"
    assert probe.status_code == 200


async def test_x02_forwarded_proto_believed_only_from_trusted_proxy(production: Any) -> None:
    """X-Forwarded-Proto counts only from a trusted proxy; others are redirected."""
    https = {"x-forwarded-proto": "https", "accept": "text/html"}
    async with _client(production, "http://learn.mentora.app", peer="10.0.0.5") as proxy:
        assert (await proxy.get("/", headers=https)).status_code == 200
    async with _client(production, "http://learn.mentora.app", peer="203.0.113.9") as direct:
        assert (await direct.get("/", headers=https)).status_code == 308
