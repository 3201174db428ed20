"""Rate limits per route and client: memory by default, Redis when REDIS_URL is set (R01-R03).

policy.py    the rules (from RATELIMIT_* settings) and window maths; pure
limiter.py   counting in a `limits` storage (memory or Redis); `LimiterDown` on failure
enforce.py   `enforce`, `penalize`, `webhook_rejections`, `limited` for routes; `allowance`
             and `audit_within_budget`
errors.py    `RateLimited` (429 + Retry-After), `RateLimiterUnavailable` (503)

The package imports none of its modules, so `policy` imports without the web stack that
`enforce` needs (tests/unit relies on it). Import each name from its module.
"""
