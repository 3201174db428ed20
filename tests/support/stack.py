"""Run the emulator and the app on real loopback sockets (end-to-end tests and benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn

from mentora.app import create_app
from mentora.config import Settings, load_settings
from mentora.creators import ensure_configured_creator
from mentora.db.migrate import upgrade
from mentora.emulator import Emulator, EmulatorConfig
from mentora.services import Services, build_services
from mentora.sessions.cookie import LOGIN_COOKIE, SESSION_COOKIE


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running emulator and app."""

    app_url: str
    issuer: str
    emulator: Emulator
    services: Services
    settings: Settings


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            access_log=False,
            log_config=None,
            lifespan="off",
            log_level="warning",
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    return server, task


@contextlib.asynccontextmanager
async def running_stack(database_url: str, **env: str) -> AsyncIterator[Stack]:
    """Start emulator + app on free ports with `database_url`; stop both afterwards."""
    import os

    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the emulator is plain http on loopback
    app_port, emu_port = free_port(), free_port()
    app_url, issuer = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{emu_port}"
    settings = load_settings(
        {
            "MENTORA_ENV": "test",
            "APP_URL": app_url,
            "DATABASE_URL": database_url,
            "WHOP_OAUTH_ISSUER": issuer,
            "WHOP_API_BASE_URL": f"{issuer}/api/v1",
            "WHOP_CLIENT_ID": "app_demo",
            "WHOP_CLIENT_SECRET": "e2e-client-secret",
            "WHOP_API_KEY": "e2e-api-key",
            "WHOP_WEBHOOK_SECRET": "ws_e2e_webhook_secret",
            "WHOP_COMPANY_ID": "biz_demo",
            "MAIL_DIR": "",
            **env,
        }
    )
    upgrade(database_url)
    emulator = Emulator(
        EmulatorConfig(
            issuer=issuer,
            client_id="app_demo",
            client_secret="e2e-client-secret",
            redirect_uris=[settings.redirect_uri],
            api_key="e2e-api-key",
            webhook_url=f"{app_url}/api/whop/webhooks",
            webhook_secret="ws_e2e_webhook_secret",
            retry_delays=(0.2, 0.2, 0.2),
        )
    )
    services = build_services(settings)
    await ensure_configured_creator(services, name="Demo Academy")
    app = create_app(settings, services=services)
    emu_server, emu_task = await _serve(emulator.app, emu_port)
    app_server, app_task = await _serve(app, app_port)
    try:
        yield Stack(
            app_url=app_url, issuer=issuer, emulator=emulator, services=services, settings=settings
        )
    finally:
        app_server.should_exit = True
        emu_server.should_exit = True
        await asyncio.gather(app_task, emu_task, return_exceptions=True)
        await services.aclose()


def _cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            value = header.split(";", 1)[0].split("=", 1)[1]
            return value or None
    return None


async def browser_sign_in(
    http: httpx.AsyncClient, stack: Stack, user_id: str
) -> tuple[httpx.Response, str | None]:
    """A browser-like sign-in over real sockets, cookies carried by hand (they are Secure)."""
    start = await http.get(f"{stack.app_url}/api/whop/auth", headers={"sec-fetch-mode": "navigate"})
    login_cookie = _cookie(start, LOGIN_COOKIE)
    page = await http.get(start.headers["location"])
    fields = {
        k: unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    fields.update(user_id=user_id, decision="approve")
    action = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
    decided = await http.post(
        f"{stack.issuer}{action.group(1) if action else '/oauth/authorize'}", data=fields
    )
    callback = decided.headers["location"]
    parts = urlsplit(callback)
    done = await http.get(
        f"{stack.app_url}{parts.path}?{parts.query}",
        headers={"cookie": f"{LOGIN_COOKIE}={login_cookie}", "sec-fetch-mode": "navigate"},
    )
    return done, _cookie(done, SESSION_COOKIE)
