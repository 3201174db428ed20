"""Rate limits per route and client: memory by default, Redis when REDIS_URL is set (R01-R03).

policy.py    the rules (from RATELIMIT_* settings) and window maths; pure
limiter.py   counting in a `limits` storage (memory or Redis); `LimiterDown` on failure
errors.py    `RateLimited` (429 + Retry-After), `RateLimiterUnavailable` (503)

Applying them to requests (`enforce`, `penalize`, `limited`, `audit_within_budget`) is the web
layer's: `mentora.web.ratelimit`. The package imports none of its modules, so `policy` imports
without the limiter's storage (tests/unit relies on it). Import each name from its module.
"""
