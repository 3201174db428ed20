"""Queue messages inside the caller's transaction, so an email exists iff its cause committed.

`dedupe_key` names the cause (e.g. `welcome:mem_1:2026-11-27T12:00:00Z`), so the same cause
reached twice, by a duplicate delivery, a replay or reconciliation, queues one message.
Alerts always write a log line; they are also emailed when CREATOR_ALERT_EMAIL is set.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.db.insert import insert_ignore
from mentora.db.models import OutboxMessage
from mentora.outbox.message import message_columns
from mentora.outbox.templates import render

log = structlog.get_logger("mentora.outbox")


async def enqueue_email(
    db: AsyncSession,
    *,
    dedupe_key: str,
    template: str,
    recipient: str,
    context: dict[str, object],
    now: datetime,
    kind: str = "email",
) -> bool:
    """Add a message unless one with `dedupe_key` exists; True when this call added it."""
    subject, body = render(template, context)
    row = message_columns(
        dedupe_key=dedupe_key,
        template=template,
        recipient=recipient,
        subject=subject,
        body=body,
        now=now,
        kind=kind,
    )
    statement = insert_ignore(db, OutboxMessage, row, conflict_on=["dedupe_key"]).returning(
        OutboxMessage.id
    )
    added = (await db.execute(statement)).scalar_one_or_none() is not None
    if added:
        log.info("outbox_queued", template=template, kind=kind)
    return added


async def raise_alert(
    db: AsyncSession,
    *,
    dedupe_key: str,
    template: str,
    context: dict[str, object],
    alert_email: str | None,
    now: datetime,
) -> None:
    """Log an operator alert now, and queue it as an email to `alert_email` when set."""
    log.warning("alert", template=template, dedupe_key=dedupe_key, **context)
    if alert_email:
        await enqueue_email(
            db,
            dedupe_key=f"alert:{dedupe_key}",
            template=template,
            recipient=alert_email,
            context=context,
            now=now,
            kind="alert",
        )
