"""create_app(settings): the FastAPI application; nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mentora.clock import Clock
from mentora.config import Environment, Settings, load_settings
from mentora.services import Services, build_services
from mentora.web import errors
from mentora.web.hotpaths import MentoraApp
from mentora.web.middleware import RequestContextMiddleware, SecurityHeaders
from mentora.web.openapi import describe_bare_routes
from mentora.web.routes import ROUTERS, auth, content, webhooks
from mentora.web.state import AppState


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    services: Services | None = None,
) -> FastAPI:
    """Build the app. Tests inject a frozen `clock` and an emulator `transport`."""
    settings = settings or load_settings()
    services = services or build_services(settings, clock=clock, transport=transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.aclose()

    app = MentoraApp(
        title="Mentora",
        version="0.1.0",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None if settings.is_production else "/api/docs",
        redoc_url=None,
        openapi_url=None if settings.is_production else "/api/openapi.json",
    )
    app.state.mentora = AppState(
        services=services, dev_mode=settings.emulator_enabled and not settings.is_production
    )
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    describe_bare_routes(app, {**webhooks.OPENAPI, **content.OPENAPI})
    # The volume and the sign-in: served past the framework's outer layers (web/hotpaths.py).
    for method, path, endpoint in (*webhooks.HOT, *content.HOT, *auth.HOT):
        app.serve_hot(method, path, endpoint)
    app.mount(
        "/static",
        StaticFiles(directory=str(Path(__file__).parent / "web" / "static")),
        name="static",
    )
    frame_ancestors = "https://whop.com https://*.whop.com" if settings.embedded_mode else "'none'"
    app.add_middleware(
        RequestContextMiddleware,
        headers=SecurityHeaders(
            production=settings.is_production,
            frame_ancestors=frame_ancestors,
            form_action=settings.issuer,
        ),
        trusted_proxies=frozenset(settings.trusted_proxies),
        served_by=settings.mentora_env is Environment.test,
    )
    return app
