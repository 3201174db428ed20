"""`record()`: the one entry point that writes an audit row and its log line (L01, L05).

Events use the OWASP logging vocabulary (`authn_login_success`, `authz_fail`,
`webhook_rejected`, ...). Request context (IP, user agent, request id) comes from a context
variable set by the request middleware, so callers pass only what they know.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Unpack, cast

import structlog
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mentora.audit.fields import AuditContext as AuditContext
from mentora.audit.fields import AuditFields as AuditFields
from mentora.db.models import AuditEvent
from mentora.db.uow import Db, transaction

log = structlog.get_logger("mentora.audit")
# Built once: a batch's rows come at execution.
_INSERT = insert(cast(Table, AuditEvent.__table__))


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


@contextmanager
def audit_context_as(context: AuditContext) -> Iterator[None]:
    """Audit under `context` for the block: work done on behalf of another request."""
    token = _context.set(context)
    try:
        yield
    finally:
        _context.reset(token)


def bind_actor(actor: str) -> None:
    """Name the actor (a user id, `cli:<user>`, `whop`, `worker`) for later events."""
    ctx = _context.get()
    # Built directly: dataclasses.replace() introspects the fields on every call (hot path).
    _context.set(AuditContext(ctx.ip, ctx.user_agent, ctx.request_id, actor))


def audit_values(**fields: Unpack[AuditFields]) -> dict[str, Any]:
    """One audit row's columns under the current request context; logs the event."""
    return audit_values_in(_context.get(), fields)


def audit_values_in(ctx: AuditContext, fields: AuditFields) -> dict[str, Any]:
    """`audit_values` under `ctx`, for rows made on behalf of other requests (a batch's):
    without swapping the context variable for each row."""
    kind, outcome, reason = fields["kind"], fields["outcome"], fields.get("reason")
    subject, creator_id = fields.get("subject"), fields.get("creator_id")
    details = fields.get("details") or {}
    values = {
        "at": fields["now"],
        "kind": kind,
        "outcome": outcome,
        "reason": reason,
        "actor": fields.get("actor") or ctx.actor,
        "subject": subject,
        "creator_id": creator_id,
        "ip": ctx.ip,
        "user_agent": (ctx.user_agent or "")[:400] or None,
        "request_id": ctx.request_id,
        "details": details,
    }
    log.info(
        kind,
        outcome=outcome,
        reason=reason,
        actor=values["actor"],
        subject=subject,
        creator_id=creator_id,
        ip=ctx.ip,
        user_agent=values["user_agent"],
        request_id=ctx.request_id,
        **details,
    )
    return values


def record(session: AsyncSession, **fields: Unpack[AuditFields]) -> AuditEvent:
    """Add one audit row to `session` (committed with the caller's transaction) and log it."""
    event = AuditEvent(**audit_values(**fields))
    session.add(event)
    return event


async def record_all(session: Db, rows: list[dict[str, Any]]) -> None:
    """Insert rows made by `audit_values` in one statement (no ORM objects: a batch's rows)."""
    if rows:
        await session.execute(_INSERT, rows)


async def record_alone(
    sessionmaker: async_sessionmaker[AsyncSession], **fields: Unpack[AuditFields]
) -> None:
    """Write one audit row in its own short transaction: for events that change nothing else
    (refusals, failures), so the caller holds no write transaction for them."""
    async with transaction(sessionmaker, write=True) as db:
        record(db, **fields)
