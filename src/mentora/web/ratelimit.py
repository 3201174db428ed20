"""Applying the rules to requests: `enforce`, `penalize`, `webhook_rejections`, `limited`,
and `allowance` (a budget for optional work, never a refusal).

Keys are the client IP that the request middleware derived (`RequestState.client_ip`):
forwarded headers count only from TRUSTED_PROXIES, so a spoofed X-Forwarded-For is charged to
the real peer (R02). A refusal raises `RateLimited` (429 + Retry-After) and writes one
`excess_rate_limit_exceeded` audit event per key and window, however many requests follow.

When the store is down, sign-in rules fail closed (`RateLimiterUnavailable`, 503) and the
others let the request through; see `policy.rules_from` and docs/security.md.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Depends
from starlette.requests import Request

from mentora import metrics
from mentora.audit.kinds import AuditKind
from mentora.audit.record import record_alone
from mentora.ratelimit.errors import RateLimited, RateLimiterUnavailable
from mentora.ratelimit.limiter import LimiterDown, Verdict
from mentora.ratelimit.policy import Rule
from mentora.services import Services
from mentora.web.state import app_state, request_state

log = structlog.get_logger("mentora.ratelimit")
ALL_CLIENTS = "*"


def client_key(request: Request) -> str:
    """The client address the middleware resolved, or "unknown" when there is none."""
    return request_state(request).client_ip or "unknown"


async def enforce(
    request: Request, services: Services, name: str, key: str | None = None, *, cost: int = 1
) -> None:
    """Count this request against rule `name`; raise RateLimited when over the limit."""
    if not services.settings.ratelimit_enabled:
        return
    limiter = services.limiter
    rule = limiter.rules[name]
    key = key or client_key(request)
    now = services.clock.now()
    try:
        verdict = await limiter.hit(rule.items, (rule.name, key), now, cost=cost)
        if verdict.allowed and rule.ceiling:
            # Clients already over their own limit never reach (or use up) the shared ceiling.
            verdict = await limiter.hit(rule.ceiling, (rule.name, ALL_CLIENTS), now, cost=cost)
            key = ALL_CLIENTS if not verdict.allowed else key
    except LimiterDown as exc:
        if rule.fail_closed:
            log.error("rate_limiter_unavailable", rule=rule.name, error=exc.args[0])
            raise RateLimiterUnavailable(f"{rule.name}: store down ({exc.args[0]})") from None
        log.warning("rate_limiter_unavailable_failing_open", rule=rule.name, error=exc.args[0])
        return
    if verdict.allowed:
        return
    # Every refusal is counted, not only the audited first one: a lockout of all new
    # visitors by the shared ceiling shows as a climbing `scope="all_clients"` series.
    metrics.RATE_LIMITED.labels(rule=rule.name, scope=_scope(key)).inc()
    if verdict.first_refusal:
        await _audit_refusal(services, rule, key, verdict)
    raise RateLimited(f"{rule.name} over {verdict.limit}", retry_after=verdict.retry_after)


async def penalize(request: Request, services: Services, name: str, key: str | None = None) -> None:
    """Charge a failed attempt its extra cost (a failed callback counts double); never raises."""
    if not services.settings.ratelimit_enabled:
        return
    limiter = services.limiter
    rule = limiter.rules[name]
    if rule.failure_cost <= 0:
        return
    try:
        await limiter.add(
            rule.items,
            (rule.name, key or client_key(request)),
            services.clock.now(),
            cost=rule.failure_cost,
        )
    except LimiterDown as exc:
        # The request has failed already; the next one meets the fail-closed check in enforce.
        log.warning("rate_limiter_penalty_lost", rule=rule.name, error=exc.args[0])


async def webhook_rejections(request: Request, services: Services) -> None:
    """Count one webhook delivery that FAILED verification; raise RateLimited past the limit.

    Call it only after verification has refused the delivery: valid deliveries must never be
    counted or limited, since Whop retries only three times in about 70 seconds (R03).
    """
    await enforce(request, services, "webhook_rejections")


async def allowance(request: Request, services: Services, name: str) -> bool:
    """Count this request against rule `name`; True while the client is within it.

    For work that is optional past a limit (auditing junk cookies), not for refusals: it never
    raises, and a store that is down or a disabled limiter answers True.
    """
    if not services.settings.ratelimit_enabled:
        return True
    limiter = services.limiter
    rule = limiter.rules[name]
    try:
        verdict = await limiter.hit(
            rule.items, (rule.name, client_key(request)), services.clock.now()
        )
    except LimiterDown as exc:
        log.warning("rate_limiter_unavailable_failing_open", rule=rule.name, error=exc.args[0])
        return True
    return verdict.allowed


async def audit_within_budget(
    request: Request, services: Services, rule: str, *, kind: AuditKind, **fields: Any
) -> bool:
    """Write one `kind` audit row (outcome failure) while the client is within `rule`; past
    it, only count the skipped row. For events a client can trigger at will by replaying a
    cookie: each would otherwise buy one database write. True when the row was written."""
    if not await allowance(request, services, rule):
        metrics.AUDIT_SKIPPED.labels(kind=kind).inc()
        return False
    await record_alone(
        services.sessionmaker, kind=kind, outcome="failure", now=services.clock.now(), **fields
    )
    return True


def limited(name: str) -> Any:
    """A route dependency that enforces rule `name` before any other dependency runs."""

    async def dependency(request: Request) -> None:
        """Enforce the rule for this request."""
        services = app_state(request).services
        await enforce(request, services, name)

    return Depends(dependency)


def _scope(key: str) -> str:
    return "all_clients" if key == ALL_CLIENTS else "client"


async def _audit_refusal(services: Services, rule: Rule, key: str, verdict: Verdict) -> None:
    scope = _scope(key)
    try:
        await record_alone(
            services.sessionmaker,
            kind=AuditKind.EXCESS_RATE_LIMIT_EXCEEDED,
            outcome="failure",
            reason=rule.name,
            now=services.clock.now(),
            details={
                "limit": verdict.limit,
                "scope": scope,
                "retry_after": verdict.retry_after,
            },
        )
    except Exception as exc:  # a 429 must stay a 429 when the audit store fails
        log.error("rate_limit_refusal_unrecorded", rule=rule.name, error=type(exc).__name__)
