"""Everything a request or worker step needs, built once per app from settings.

Tests build `Services` with a frozen clock and an `httpx` transport that reaches the emulator
in-process; production builds it with the system clock and real sockets. Nothing here is
created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mentora.clock import Clock, SystemClock
from mentora.config import Settings
from mentora.crypto import TokenBox
from mentora.db.engine import make_engine, make_sessionmaker
from mentora.sessions.store import SessionPolicy
from mentora.whop.client import WhopClient


@dataclass
class Services:
    """The app's collaborators; `extras` lets optional parts (limiter, metrics) hang off it."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport
    whop: WhopClient
    tokens: TokenBox
    session_policy: SessionPolicy
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def secret_key(self) -> bytes:
        """The HMAC key for CSRF tokens and other server-side MACs."""
        return self.settings.secret_key.get_secret_value().encode()

    async def aclose(self) -> None:
        """Release connections (HTTP pool, database pool, the rate limiter's Redis pool)."""
        limiter = self.extras.get("limiter")
        if limiter is not None:
            await limiter.aclose()
        await self.http.aclose()
        await self.engine.dispose()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    engine: AsyncEngine | None = None,
) -> Services:
    """Build the services; `transport` reroutes every outbound Whop call (tests, emulator)."""
    timeout = httpx.Timeout(settings.whop_http_timeout_seconds, connect=5.0)
    # No redirects: a provider endpoint must answer itself, never bounce us elsewhere (C18).
    transport = transport or httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20), retries=0
    )
    http = httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        headers={"user-agent": "mentora/0.1"},
    )
    engine = engine or make_engine(settings.database_url)
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        http=http,
        transport=transport,
        whop=WhopClient(
            api_base_url=settings.api_base_url,
            api_key=settings.whop_api_key.get_secret_value(),
            http=http,
            timeout=settings.whop_http_timeout_seconds,
        ),
        tokens=TokenBox(settings.token_keys),
        session_policy=SessionPolicy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        ),
    )
