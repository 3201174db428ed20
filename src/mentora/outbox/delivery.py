"""The worker step that sends due outbox messages: claim with a lease, send, record.

Sending talks to an SMTP server, so it cannot share a transaction with the claim. A claim sets
`claimed_until` (a lease) and commits; the result is written in a second transaction. A worker
that dies mid-send leaves the lease to expire and another worker sends again: delivery is at
least once, and the stable Message-ID lets the receiving side spot the duplicate.

A batch can outlast its lease (a slow SMTP server may take up to its timeout per message), so
each message's lease is renewed just before it is sent, and only if it is still this worker's:
a row whose lease ran out and was claimed by another worker is skipped, never sent twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime

import structlog
from sqlalchemy import or_, select, update

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record
from mentora.backoff import retry_delay
from mentora.db.models import OutboxMessage
from mentora.db.uow import transaction
from mentora.foundation import Foundation
from mentora.outbox.mailer import Email, Mailer, build_message

log = structlog.get_logger("mentora.outbox")

BATCH = 50


@dataclass
class DeliveryReport:
    """What one pass did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


def _lease(base: Foundation) -> timedelta:
    """How long a claimed message stays this worker's (OUTBOX_LEASE_SECONDS)."""
    return timedelta(seconds=base.settings.outbox_lease_seconds)


async def _claim(base: Foundation, limit: int) -> list[OutboxMessage]:
    """Lease up to `limit` due messages to this worker (skipping rows other workers hold)."""
    now = base.clock.now()
    lease = _lease(base)
    async with transaction(base.sessionmaker, write=True) as db:
        rows = (
            (
                await db.execute(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == "pending",
                        OutboxMessage.next_attempt_at <= now,
                        or_(
                            OutboxMessage.claimed_until.is_(None),
                            OutboxMessage.claimed_until <= now,
                        ),
                    )
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for row in rows:
            row.claimed_until = now + lease
            row.attempts += 1
        return list(rows)


async def _renew(base: Foundation, row: OutboxMessage) -> bool:
    """Extend this worker's lease on `row` before sending it; False when it is no longer ours.

    The UPDATE matches only the lease this worker wrote. If another worker claimed the row
    after the lease ran out, it wrote its own `claimed_until`, and the match fails (on
    PostgreSQL the row lock makes the two serialise, and the WHERE is re-checked).
    """
    until = base.clock.now() + _lease(base)
    async with transaction(base.sessionmaker, write=True) as db:
        result = await db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row.id,
                OutboxMessage.status == "pending",
                OutboxMessage.claimed_until == row.claimed_until,
            )
            .values(claimed_until=until)
        )
    if int(getattr(result, "rowcount", 0)) != 1:
        return False
    row.claimed_until = until
    return True


async def _finish(
    base: Foundation, row: OutboxMessage, error: str | None, rng: random.Random | None
) -> str:
    """Record the outcome of one send; returns `sent`, `retry` or `dead`."""
    now = base.clock.now()
    if error is None:
        values: dict[str, object] = {"status": "sent", "sent_at": now, "last_error": None}
        outcome = "sent"
    elif row.attempts >= base.settings.outbox_max_attempts:
        values = {"status": "dead", "last_error": error}
        outcome = "dead"
    else:
        values = {"next_attempt_at": now + retry_delay(row.attempts, rng=rng), "last_error": error}
        outcome = "retry"
    async with transaction(base.sessionmaker, write=True) as db:
        await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
            .values(claimed_until=None, **values)
        )
        if outcome == "dead":
            # An alert about a dead alert would loop: the log line and audit row are the alert.
            log.error("alert", template="outbox_dead", message_id=row.id, error=error)
            record(
                db,
                kind=AuditKind.OUTBOX_DEAD,
                outcome="failure",
                reason="max_attempts",
                now=now,
                details={"message_id": row.id, "template": row.template, "error": error},
            )
    return outcome


async def deliver_due(
    base: Foundation, mailer: Mailer, *, limit: int = BATCH, rng: random.Random | None = None
) -> DeliveryReport:
    """Send every due message (in batches of `limit`) and report the outcomes."""
    report = DeliveryReport()
    sender = base.settings.mail_from
    while True:
        rows = await _claim(base, limit)
        for row in rows:
            if not await _renew(base, row):
                log.info("outbox_lease_lost", message_id=row.id)
                continue
            email = Email(
                key=row.dedupe_key,
                sender=sender,
                recipient=row.recipient,
                subject=row.subject,
                body=row.body,
            )
            message = build_message(email, date_header=format_datetime(base.clock.now()))
            try:
                await mailer.send(message)
                error = None
            except Exception as exc:  # any failure is retried, never fatal
                error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("outbox_send_failed", message_id=row.id, error=error)
            outcome = await _finish(base, row, error, rng)
            if outcome == "sent":
                report.sent += 1
            elif outcome == "dead":
                report.dead += 1
            else:
                report.retried += 1
        if len(rows) < limit:
            return report
