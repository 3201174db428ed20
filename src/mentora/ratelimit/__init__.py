"""Rate limits per route and client: memory by default, Redis when REDIS_URL is set (R01-R03).

policy.py    the rules (from RATELIMIT_* settings) and window maths; pure
limiter.py   counting in a `limits` storage (memory or Redis); `LimiterDown` on failure
enforce.py   `enforce`, `penalize`, `webhook_rejections`, `limited` for routes; `allowance`
             and `audit_within_budget`
errors.py    `RateLimited` (429 + Retry-After), `RateLimiterUnavailable` (503)
"""

from mentora.ratelimit.enforce import (
    allowance,
    audit_within_budget,
    enforce,
    limited,
    limiter_for,
    penalize,
    webhook_rejections,
)
from mentora.ratelimit.errors import RateLimited, RateLimiterUnavailable
from mentora.ratelimit.limiter import Limiter, LimiterDown, Verdict
from mentora.ratelimit.policy import Rule, rules_from

__all__ = [
    "Limiter",
    "LimiterDown",
    "RateLimited",
    "RateLimiterUnavailable",
    "Rule",
    "Verdict",
    "allowance",
    "audit_within_budget",
    "enforce",
    "limited",
    "limiter_for",
    "penalize",
    "rules_from",
    "webhook_rejections",
]
