"""Retry delays for the worker: exponential, capped, with "equal jitter" (W18).

Half of each delay is fixed and half random, so retries from many rows spread out while the
delays still never shrink from one attempt to the next until they reach the cap (at the cap
they vary between half the cap and the cap).
"""

from __future__ import annotations

import random
from datetime import timedelta

_jitter = random.Random()  # noqa: S311 - spreading retries, not a secret


def retry_delay(
    attempt: int,
    *,
    base_seconds: float = 30.0,
    cap_seconds: float = 3600.0,
    rng: random.Random | None = None,
) -> timedelta:
    """The wait after failed attempt number `attempt` (1 = the first failure)."""
    ceiling = min(cap_seconds, base_seconds * 2 ** max(0, attempt - 1))
    half = ceiling / 2
    return timedelta(seconds=half + (rng or _jitter).uniform(0, half))
