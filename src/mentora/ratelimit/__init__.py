"""Rate limits per route and client: memory by default, Redis when REDIS_URL is set (R01-R03).

policy.py    the rules (from RATELIMIT_* settings) and window maths; pure
limiter.py   counting in a `limits` storage (memory or Redis); `LimiterDown` on failure
errors.py    `RateLimited` (429 + Retry-After), `RateLimiterUnavailable` (503)

Applying them to requests (`enforce`, `penalize`, `limited`, `audit_within_budget`) is the web
layer's: `mentora.web.ratelimit`.
"""

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
    "rules_from",
]
