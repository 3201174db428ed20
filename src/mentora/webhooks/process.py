"""Running a stored delivery's effect: at intake, on retry by the worker, and on replay.

The effect runs in a SAVEPOINT inside the caller's transaction. If it raises, only the effect
is undone: the delivery row stays, marked `failed` with a backed-off `next_attempt_at`, and
after WEBHOOK_MAX_ATTEMPTS it is `dead` and an alert is raised (W12, W18). The worker takes
one row per transaction with `FOR UPDATE SKIP LOCKED`, so several workers never run the same
row at once, and a worker killed mid-effect leaves the row untouched for the next one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.audit.kinds import AuditKind
from mentora.audit.record import AuditFields, audit_context, record
from mentora.backoff import retry_delay
from mentora.config import Settings
from mentora.creators import alert_address, creator_by_company
from mentora.db.models import WebhookDelivery
from mentora.db.uow import transaction
from mentora.foundation import Foundation
from mentora.memberships.effects import ChangeContext, ChangeSource
from mentora.outbox.queue import raise_alert
from mentora.webhooks import store
from mentora.webhooks.apply import Work, apply_deliveries
from mentora.webhooks.envelope import parse_envelope
from mentora.webhooks.handlers import Outcome
from mentora.webhooks.status import DeliveryStatus

log = structlog.get_logger("mentora.webhooks")


async def run_effect(
    db: AsyncSession,
    row: WebhookDelivery,
    *,
    settings: Settings,
    now: datetime,
    source: ChangeSource,
    rng: random.Random | None = None,
    counted: bool = False,
) -> str:
    """Apply `row`'s effect once and record how it ended; returns the row's new status.

    `counted` says the caller already counted this attempt (intake does, in its INSERT).
    """
    if not counted:
        row.attempts += 1
        # Flushed before the savepoint, so undoing the effect cannot undo the attempt count.
        await db.flush()
    ctx = ChangeContext(settings=settings, now=now, source=source, reference=row.webhook_id)
    try:
        envelope = parse_envelope(row.body.encode("utf-8"))
        async with db.begin_nested():
            [outcome] = await apply_deliveries(db, [Work(envelope, ctx, audit_context())])
    except Exception as exc:  # any effect failure is retried, never lost
        return await _failed(db, row, f"{type(exc).__name__}: {exc}"[:1000], settings, now, rng)
    return _finished(db, row, outcome, now=now, source=source)


def processed_event(
    *,
    webhook_id: str,
    event_type: str,
    outcome: Outcome,
    source: ChangeSource,
    attempt: int,
    now: datetime,
) -> AuditFields:
    """The `webhook_processed` audit event for a delivery whose effect ran."""
    return {
        "kind": AuditKind.WEBHOOK_PROCESSED,
        "outcome": "success",
        "reason": outcome.note or outcome.status,
        "now": now,
        "subject": webhook_id,
        "details": {
            "type": event_type,
            "status": outcome.status,
            "source": source,
            "attempt": attempt,
        },
    }


def _finished(
    db: AsyncSession, row: WebhookDelivery, outcome: Outcome, *, now: datetime, source: ChangeSource
) -> str:
    row.status = outcome.status
    row.processed_at = now
    row.next_attempt_at = None
    row.last_error = None
    record(
        db,
        **processed_event(
            webhook_id=row.webhook_id,
            event_type=row.event_type,
            outcome=outcome,
            source=source,
            attempt=row.attempts,
            now=now,
        ),
    )
    return row.status


async def _failed(
    db: AsyncSession,
    row: WebhookDelivery,
    error: str,
    settings: Settings,
    now: datetime,
    rng: random.Random | None,
) -> str:
    row.last_error = error
    dead = row.attempts >= settings.webhook_max_attempts
    row.status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
    row.next_attempt_at = None if dead else now + retry_delay(row.attempts, rng=rng)
    log.warning(
        "webhook_effect_failed",
        webhook_id=row.webhook_id,
        type=row.event_type,
        attempt=row.attempts,
        error=error,
    )
    record(
        db,
        kind=AuditKind.WEBHOOK_FAILED,
        outcome="failure",
        reason="dead" if dead else "will_retry",
        now=now,
        subject=row.webhook_id,
        details={"type": row.event_type, "attempt": row.attempts, "error": error},
    )
    if dead:
        creator = await creator_by_company(db, row.company_id)
        await raise_alert(
            db,
            dedupe_key=f"webhook_dead:{row.webhook_id}:{row.attempts}",
            template="webhook_dead_alert",
            context={
                # Whose delivery it is: the creator's name, else the company Whop named.
                "creator": creator.name if creator else (row.company_id or "no company"),
                "webhook_id": row.webhook_id,
                "event_type": row.event_type,
                "attempts": row.attempts,
                "error": error,
            },
            alert_email=alert_address(creator, settings.creator_alert_email),
            now=now,
        )
    return row.status


@dataclass
class RetryReport:
    """What one worker pass over failed deliveries did, by resulting status."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        """How many deliveries were attempted."""
        return sum(self.counts.values())


async def process_due(
    base: Foundation, *, limit: int = 100, rng: random.Random | None = None
) -> RetryReport:
    """Retry failed deliveries whose time has come, one row per transaction."""
    counts: dict[str, int] = {}
    for _ in range(limit):
        now = base.clock.now()
        async with transaction(base.sessionmaker, write=True) as db:
            row = (
                await db.execute(
                    select(WebhookDelivery)
                    .where(
                        WebhookDelivery.status == DeliveryStatus.FAILED,
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if row is None:
                break
            status = await run_effect(
                db, row, settings=base.settings, now=now, source=ChangeSource.WORKER, rng=rng
            )
        counts[status] = counts.get(status, 0) + 1
    return RetryReport(counts)


async def replay(base: Foundation, webhook_id: str) -> str | None:
    """Process a stored delivery again now, whatever its status (operator action).

    The attempt count starts afresh, so a dead delivery gets a full set of retries after
    the cause is fixed. Handlers are idempotent, so replaying a processed one changes nothing
    that is already current. Returns the new status, or None when the id is unknown.
    """
    now = base.clock.now()
    async with transaction(base.sessionmaker, write=True) as db:
        row = await store.find(db, webhook_id, lock=True)
        if row is None:
            return None
        row.attempts = 0
        return await run_effect(
            db, row, settings=base.settings, now=now, source=ChangeSource.REPLAY
        )
