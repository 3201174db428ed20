"""Counting hits in a `limits` storage: in process memory by default, Redis when REDIS_URL is
set so that every app process shares the same counters (R01).

The window number is part of each counter's key (see `policy.window_for`), so the storage's
own expiry only collects old counters. Any failure to reach the store becomes `LimiterDown`;
`web.ratelimit` decides per rule whether that refuses the request or lets it through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from mentora.config import Settings
from mentora.ratelimit.policy import Rule, retry_after, rules_from, window_for

T = TypeVar("T")
KEY_PREFIX = "mentora:ratelimit"
# A limiter that waits on a sick Redis would turn a store outage into a pile-up of requests.
REDIS_TIMEOUT_SECONDS = 0.5
STORE_ERRORS: tuple[type[BaseException], ...] = (StorageError, RedisError, OSError, TimeoutError)


class LimiterDown(Exception):
    """The counter store could not be reached or answered with an error."""


@dataclass(frozen=True)
class Verdict:
    """The answer for one hit: allowed, or refused until `retry_after` seconds have passed.

    `first_refusal` is True for exactly one refused hit per key and window, across every
    process sharing the store; it is what keeps the audit trail to one event per window.
    """

    allowed: bool
    retry_after: int = 0
    first_refusal: bool = False
    limit: str = ""


ALLOWED = Verdict(allowed=True)


def storage_uri(redis_url: str) -> str:
    """`redis://…` as the `async+redis://…` URI that `limits` expects."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


def make_storage(redis_url: str | None) -> Storage:
    """Redis storage for a configured REDIS_URL, else memory storage for this process."""
    if not redis_url:
        return MemoryStorage(wrap_exceptions=True)
    return RedisStorage(
        storage_uri(redis_url),
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=KEY_PREFIX,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


class Limiter:
    """Fixed-window counters over a `limits` storage, keyed by rule, client and window."""

    def __init__(self, storage: Storage, rules: dict[str, Rule]) -> None:
        """Count in `storage`; `rules` are looked up by name."""
        self.storage = storage
        self.rules = rules
        self._counter = FixedWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limiter:
        """The limiter the settings describe (REDIS_URL, RATELIMIT_*)."""
        return cls(make_storage(settings.redis_url), rules_from(settings))

    @property
    def shared(self) -> bool:
        """True when the counters live in Redis, shared by every process."""
        return isinstance(self.storage, RedisStorage)

    async def hit(
        self,
        items: Sequence[RateLimitItem],
        identity: Sequence[str],
        now: datetime,
        *,
        cost: int = 1,
    ) -> Verdict:
        """Count `cost` against every item for `identity`; refused if any item is exceeded."""
        refused: list[tuple[RateLimitItem, int, int]] = []
        for item in items:
            window = window_for(now, item.get_expiry())
            within = await _guard(self._counter.hit(item, *identity, str(window.index), cost=cost))
            if not within:
                refused.append((item, retry_after(now, window), window.index))
        if not refused:
            return ALLOWED
        item, wait, index = max(refused, key=lambda entry: entry[1])
        marker = RateLimitItemPerSecond(1, item.get_expiry())
        first = await _guard(self._counter.hit(marker, "refused", str(item), *identity, str(index)))
        return Verdict(allowed=False, retry_after=wait, first_refusal=first, limit=str(item))

    async def add(
        self, items: Sequence[RateLimitItem], identity: Sequence[str], now: datetime, *, cost: int
    ) -> None:
        """Count `cost` more against `identity` without asking for a verdict (penalties)."""
        for item in items:
            window = window_for(now, item.get_expiry())
            await _guard(self._counter.hit(item, *identity, str(window.index), cost=cost))

    async def aclose(self) -> None:
        """Close the Redis connection pool, if any."""
        if isinstance(self.storage, RedisStorage):
            client = getattr(self.storage.bridge, "storage", None)
            closer = getattr(client, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except STORE_ERRORS:
                    pass


async def _guard(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except STORE_ERRORS as exc:
        raise LimiterDown(type(exc).__name__) from None
