"""`record()`: the one entry point that writes an audit row and its log line (L01, L05).

Events use the OWASP logging vocabulary (`authn_login_success`, `authz_fail`,
`webhook_rejected`, ...). Request context (IP, user agent, request id) comes from a context
variable set by the request middleware, so callers pass only what they know.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.db.models import AuditEvent

log = structlog.get_logger("mentora.audit")


@dataclass(frozen=True)
class AuditContext:
    """Where the current request came from."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    actor: str | None = None


_context: ContextVar[AuditContext] = ContextVar(
    "audit_context",
    default=AuditContext(),  # noqa: B039 - a frozen dataclass, never mutated
)


def audit_context() -> AuditContext:
    """The current request's audit context."""
    return _context.get()


def set_audit_context(context: AuditContext) -> None:
    """Bind the audit context for the rest of this request or task."""
    _context.set(context)


def bind_actor(actor: str) -> None:
    """Name the actor (a user id, `cli:<user>`, `whop`, `worker`) for later events."""
    ctx = _context.get()
    # Built directly: dataclasses.replace() introspects the fields on every call (hot path).
    _context.set(AuditContext(ctx.ip, ctx.user_agent, ctx.request_id, actor))


def record(
    session: AsyncSession,
    *,
    kind: str,
    outcome: str,
    now: datetime,
    reason: str | None = None,
    subject: str | None = None,
    creator_id: int | None = None,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit row to `session` (committed with the caller's transaction) and log it."""
    ctx = _context.get()
    event = AuditEvent(
        at=now,
        kind=kind,
        outcome=outcome,
        reason=reason,
        actor=actor or ctx.actor,
        subject=subject,
        creator_id=creator_id,
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:400] or None,
        request_id=ctx.request_id,
        details=details or {},
    )
    session.add(event)
    log.info(
        kind,
        outcome=outcome,
        reason=reason,
        actor=event.actor,
        subject=subject,
        creator_id=creator_id,
        ip=ctx.ip,
        user_agent=event.user_agent,
        request_id=ctx.request_id,
        **(details or {}),
    )
    return event
