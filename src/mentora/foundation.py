"""The bottom layer's shared parts: settings, clock, database, HTTP, the Whop client, the token box.

Domain packages take a `Foundation` (or the one part they need) and never `Services`, which sits
above them and adds the domain's own long-lived parts. `build_foundation` opens nothing: the
database pool and HTTP connections are made on first use and released by `aclose`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mentora import metrics
from mentora.clock import Clock, SystemClock
from mentora.config import Settings
from mentora.crypto import TokenBox
from mentora.db.engine import make_engine, make_sessionmaker
from mentora.whop.client import WhopClient
from mentora.whop.http import CookielessClient
from mentora.whop.transport import AiohttpTransport


@dataclass
class Foundation:
    """Settings and the clients every layer above reads through: one set per app or command."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport
    whop: WhopClient
    tokens: TokenBox

    @property
    def secret_key(self) -> bytes:
        """The HMAC key for CSRF tokens and other server-side MACs."""
        return self.settings.secret_key.get_secret_value().encode()

    async def aclose(self) -> None:
        """Release the HTTP pool and the database pool."""
        await self.http.aclose()
        await self.engine.dispose()


def build_foundation(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    engine: AsyncEngine | None = None,
) -> Foundation:
    """Build the parts; `transport` reroutes every outbound Whop call (tests, emulator)."""
    timeout = httpx.Timeout(settings.whop_http_timeout_seconds, connect=5.0)
    # No redirects: a provider endpoint must answer itself, never bounce us elsewhere (C18).
    transport = transport or AiohttpTransport()
    # No cookie store: one client serves every user's calls (whop.http).
    http = CookielessClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        headers={"user-agent": "mentora/0.1"},
    )
    engine = engine or make_engine(settings.database_url)
    if settings.sql_statement_metrics:
        metrics.count_statements(engine)
    return Foundation(
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
    )
