"""Everything a use case needs, built once per app (or CLI command) and closed once.

`Services` is the `Foundation` (settings, clock, database, HTTP, Whop client, token box) plus
the domain's long-lived parts: the access gate with its caches and single-flight revalidator,
the key cache for Whop's user tokens, the OAuth provider, the rate limiter, the session
timeouts and the webhook intake queue. Every part is a typed field made in `build_services`;
nothing is built lazily on the side, and `aclose` releases all of it. Tests build `Services`
with a frozen clock and an `httpx` transport that reaches the emulator in-process; production
builds it with the system clock and real sockets. Nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from mentora.access.cache import GateCache
from mentora.access.experiences import ExperienceDirectory
from mentora.access.iframe import UserTokenKeys
from mentora.access.revalidate import Revalidator
from mentora.access.service import Gate, PolicyCache
from mentora.clock import Clock
from mentora.config import Settings
from mentora.creators import CreatorIds
from mentora.foundation import Foundation, build_foundation
from mentora.oauth.provider import Provider
from mentora.ratelimit.limiter import Limiter
from mentora.sessions.store import SessionPolicy
from mentora.webhooks.batch import Batchers


@dataclass
class Services(Foundation):
    """The foundation plus the domain parts shared by every request of one app.

    The parts are built from the services themselves (`__post_init__`), so every part reads
    the same settings, clock, database and HTTP client as the rest of the app.
    """

    session_policy: SessionPolicy
    gate: Gate = field(init=False)
    user_token_keys: UserTokenKeys = field(init=False)
    provider: Provider = field(init=False)
    limiter: Limiter = field(init=False)
    batchers: Batchers = field(init=False)
    creators: CreatorIds = field(init=False)
    experiences: ExperienceDirectory = field(init=False)

    def __post_init__(self) -> None:
        """Build the domain parts over this foundation."""
        self.gate = Gate(
            self,
            policies=PolicyCache(self),
            revalidator=Revalidator(self),
            cache=GateCache.for_database(self.settings.database_url),
            sessions=self.session_policy,
        )
        self.user_token_keys = UserTokenKeys.for_issuer(self)
        self.provider = Provider.for_settings(self)
        self.limiter = Limiter.from_settings(self.settings)
        self.batchers = Batchers(self)
        self.creators = CreatorIds(self)
        self.experiences = ExperienceDirectory(self)

    async def aclose(self) -> None:
        """Release every part: the gate's watcher, the limiter's Redis pool, HTTP, database."""
        if self.gate.cache is not None:
            self.gate.cache.close()
        await self.limiter.aclose()
        await super().aclose()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    engine: AsyncEngine | None = None,
) -> Services:
    """Build the services; `transport` reroutes every outbound Whop call (tests, emulator)."""
    base = build_foundation(settings, clock=clock, transport=transport, engine=engine)
    return Services(
        settings=base.settings,
        clock=base.clock,
        engine=base.engine,
        sessionmaker=base.sessionmaker,
        http=base.http,
        transport=base.transport,
        whop=base.whop,
        tokens=base.tokens,
        session_policy=SessionPolicy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        ),
    )
