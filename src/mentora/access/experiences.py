"""Which creator an experience belongs to: Whop's experience retrieve, cached per process.

Whop runs an installed app inside a company's experience (`exp_...`) and sends the app the
experience id, never the company. The company is asked from Whop once, then remembered for
EXPERIENCE_CACHE_SECONDS (an experience never moves to another company); that Whop does not
know an id is remembered for EXPERIENCE_MISS_CACHE_SECONDS. When Whop cannot answer, an
expired entry still serves (the company of an experience does not change); with nothing
remembered, the caller gets the WhopError and answers "Whop unavailable".
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from mentora.foundation import Foundation
from mentora.whop.errors import WhopError, WhopNotFound
from mentora.whop.schemas import ExperienceInfo

log = structlog.get_logger("mentora.access")

# Whop's ids: a prefix and an opaque token of letters, digits, `_` or `-`.
EXPERIENCE_ID = re.compile(r"^exp_[A-Za-z0-9_-]{1,64}$")
# Enough for every experience of many creators; beyond it the least recently used goes.
MAX_ENTRIES = 10_000


def plausible_experience_id(value: str) -> bool:
    """True for an `exp_` id made of safe characters (anything else is a 404, unasked)."""
    return EXPERIENCE_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class _Entry:
    info: ExperienceInfo | None  # None: Whop does not know this experience
    expires: datetime


class ExperienceDirectory:
    """Experience → company, remembered per process (one per app: `Services.experiences`)."""

    def __init__(self, base: Foundation) -> None:
        """Ask through `base.whop`, time with `base.clock`, keep for the configured times."""
        self.base = base
        self.ttl = timedelta(seconds=base.settings.experience_cache_seconds)
        self.miss_ttl = timedelta(seconds=base.settings.experience_miss_cache_seconds)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}

    async def resolve(self, experience_id: str) -> ExperienceInfo | None:
        """The experience with its company, or None when Whop does not know it.

        Raises WhopError when Whop cannot answer and nothing (not even expired) is remembered.
        One request per experience asks Whop at a time; the others wait for its answer.
        """
        fresh = self._fresh(experience_id)
        if fresh is not None:
            return fresh.info
        lock = self._locks.setdefault(experience_id, asyncio.Lock())
        self._waiters[experience_id] = self._waiters.get(experience_id, 0) + 1
        try:
            async with lock:
                fresh = self._fresh(experience_id)
                if fresh is not None:
                    return fresh.info
                return await self._ask(experience_id)
        finally:
            self._waiters[experience_id] -= 1
            if self._waiters[experience_id] == 0:
                del self._waiters[experience_id]
                del self._locks[experience_id]

    def _fresh(self, experience_id: str) -> _Entry | None:
        entry = self._entries.get(experience_id)
        if entry is None or entry.expires <= self.base.clock.now():
            return None
        self._entries.move_to_end(experience_id)
        return entry

    async def _ask(self, experience_id: str) -> ExperienceInfo | None:
        now = self.base.clock.now()
        try:
            info: ExperienceInfo | None = await self.base.whop.retrieve_experience(experience_id)
        except WhopNotFound:
            info = None
        except WhopError as exc:
            stale = self._entries.get(experience_id)
            log.warning(
                "experience_lookup_failed",
                experience_id=experience_id,
                error_code=exc.code,
                served_stale=stale is not None,
            )
            if stale is not None:
                return stale.info
            raise
        self._entries[experience_id] = _Entry(
            info, now + (self.ttl if info is not None else self.miss_ttl)
        )
        self._entries.move_to_end(experience_id)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)
        return info
