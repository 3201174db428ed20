"""The rate-limit rules and their window maths: pure, with the clock passed in (R01-R03).

A rule is a name, the `limits` items that apply per client (several items give a burst and a
sustained window, as OWASP's credential-stuffing sheet advises), an optional ceiling shared by
all clients, and what happens when the shared store is unreachable.

Windows are fixed and aligned on the epoch, computed from the injected clock rather than from
the storage's own clock, so every process agrees on the current window and tests can move
time with a frozen clock instead of sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from limits import RateLimitItem, parse_many

from mentora.config import Settings


@dataclass(frozen=True)
class Rule:
    """One named limit.

    `fail_closed`: when the store is down, refuse (503) rather than let requests through.
    `failure_cost`: what a failed attempt adds on top of the request's own cost (callback).
    """

    name: str
    items: tuple[RateLimitItem, ...]
    ceiling: tuple[RateLimitItem, ...] = ()
    fail_closed: bool = True
    failure_cost: int = 0

    def describe(self) -> str:
        """The per-client limit in words, e.g. "10 per 1 minute"."""
        return "; ".join(str(item) for item in self.items)


@dataclass(frozen=True)
class Window:
    """One fixed window of `seconds`, numbered from the epoch."""

    index: int
    seconds: int

    @property
    def ends_at(self) -> float:
        """When the window closes, as a POSIX timestamp."""
        return float((self.index + 1) * self.seconds)


def window_for(now: datetime, seconds: int) -> Window:
    """The window that contains `now`."""
    return Window(index=math.floor(now.timestamp() / seconds), seconds=seconds)


def retry_after(now: datetime, window: Window) -> int:
    """Whole seconds until `window` closes (at least 1, as Retry-After needs)."""
    return max(1, math.ceil(window.ends_at - now.timestamp()))


def parse_items(text: str) -> tuple[RateLimitItem, ...]:
    """`"10/minute;50/hour"` as `limits` items; ValueError when malformed."""
    return tuple(parse_many(text))


def rules_from(settings: Settings) -> dict[str, Rule]:
    """Every rule, by name, from the RATELIMIT_* settings.

    Sign-in rules fail closed: an attacker who can take the store down must not get unlimited
    attempts. Logout and "sign out everywhere" fail open, because refusing a user the means to
    end their own sessions is worse than an unlimited logout. Webhook rejections fail open:
    the delivery is already refused with 401, the limit only escalates it to 429, and valid
    deliveries never reach the limiter at all.
    """
    ceiling = parse_items(settings.ratelimit_auth_global)
    return {
        "login": Rule("login", parse_items(settings.ratelimit_login), ceiling),
        "callback": Rule(
            "callback", parse_items(settings.ratelimit_callback), ceiling, failure_cost=1
        ),
        "refresh": Rule("refresh", parse_items(settings.ratelimit_refresh)),
        "logout": Rule("logout", parse_items(settings.ratelimit_logout), fail_closed=False),
        "account": Rule("account", parse_items(settings.ratelimit_account), fail_closed=False),
        "webhook_rejections": Rule(
            "webhook_rejections",
            parse_items(settings.ratelimit_webhook_rejections),
            fail_closed=False,
        ),
        "invalid_session_audit": Rule(
            "invalid_session_audit",
            parse_items(settings.ratelimit_invalid_session_audit),
            fail_closed=False,
        ),
    }
