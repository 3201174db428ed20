"""Run the emulator and the app on real loopback sockets (end-to-end tests and benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import httpx
import uvicorn

from mentora.app import create_app
from mentora.config import Settings, load_settings
from mentora.creators import ensure_configured_creator
from mentora.db.migrate import upgrade
from mentora.emulator import Emulator, EmulatorConfig
from mentora.services import Services, build_services
from mentora.web.cookie import LOGIN_COOKIE, SESSION_COOKIE


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


STARTUP_SECONDS = 10.0


async def serve(app: Any, port: int, **options: Any) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """uvicorn serving `app` on 127.0.0.1:`port`, once it accepts connections.

    `options` override the quiet defaults (no access log, warnings only). Raises when uvicorn
    exits during start-up (the error it exited with) or is not up within STARTUP_SECONDS.
    """
    config = {"access_log": False, "log_level": "warning", **options}
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off", **config)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    while not server.started:
        if task.done():
            task.result()  # uvicorn's own error, e.g. the port is taken
            raise RuntimeError(f"uvicorn on port {port} stopped before it started")
        if loop.time() > deadline:
            server.should_exit = True
            await task
            raise TimeoutError(f"uvicorn on port {port} did not start in {STARTUP_SECONDS} s")
        await asyncio.sleep(0.02)
    return server, task


@contextlib.asynccontextmanager
async def running_stack(database_url: str, **env: str) -> AsyncIterator[Stack]:
    """Start emulator + app on free ports with `database_url`; stop both afterwards."""
    # The emulator is plain http on loopback; the variable is restored on the way out, so
    # later tests in this process run with Authlib's HTTPS check on again.
    with mock.patch.dict(os.environ, {"AUTHLIB_INSECURE_TRANSPORT": "1"}):
        async with _running_stack(database_url, **env) as stack:
            yield stack


@contextlib.asynccontextmanager
async def _running_stack(database_url: str, **env: str) -> AsyncIterator[Stack]:
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
    emu_server, emu_task = await serve(emulator.app, emu_port)
    app_server, app_task = await serve(app, app_port)
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
    http: httpx.AsyncClient, stack: Stack, user_id: str, next_path: str | None = None
) -> tuple[httpx.Response, str | None]:
    """A browser-like sign-in over real sockets, cookies carried by hand (they are Secure);
    `next_path` is the page it started from."""
    start = await http.get(
        f"{stack.app_url}/api/whop/auth",
        params={"next": next_path} if next_path else None,
        headers={"sec-fetch-mode": "navigate"},
    )
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
