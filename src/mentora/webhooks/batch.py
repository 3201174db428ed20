"""Group commit for webhook intake: deliveries that arrive together share one transaction.

A verified delivery joins this process's queue. One task per process drains it: holding the
intake lock, it takes what is queued (up to WEBHOOK_BATCH_MAX) and stores and applies it in
one transaction: one multi-row INSERT claims the webhook ids, the handlers run in arrival
order, and their membership effects are planned together and written with a fixed number of
statements per table (`webhooks.apply`). Each delivery's answer waits for that commit, so a
2xx still means stored and applied (W10). A delivery that arrives alone takes the
one-at-a-time path (`intake.store_and_apply`), as before batching.

If the database does not answer before the batch is claimed, every delivery in it gets 503
at once (trying each alone would wait out the same failure once per delivery). If anything
else in a batch raises, the whole transaction rolls back and every delivery in it goes
through the one-at-a-time path, which keeps a failing effect in its own savepoint (a failed,
retryable row) and answers 503 when the database is down. A batch therefore changes how many
statements a delivery costs, never how it ends. Why: one SQL statement through the async
stack costs about as much CPU as a whole trivial request, and a delivery alone needs a dozen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from mentora import metrics
from mentora.audit.record import (
    AuditContext,
    audit_context,
    audit_context_as,
    audit_values_in,
)
from mentora.db.uow import transaction
from mentora.foundation import Foundation
from mentora.memberships.effects import ChangeContext, ChangeSource
from mentora.webhooks import store
from mentora.webhooks.apply import Work, apply_deliveries
from mentora.webhooks.envelope import Envelope
from mentora.webhooks.errors import WebhookStoreUnavailable
from mentora.webhooks.handlers import Outcome
from mentora.webhooks.intake import DUPLICATE, store_and_apply
from mentora.webhooks.process import processed_event
from mentora.webhooks.status import DeliveryStatus
from mentora.webhooks.verify import VerifiedDelivery

log = structlog.get_logger("mentora.webhooks")

# What a database that is not taking writes raises (refused, dropped or timed-out connections).
UNREACHABLE = (OperationalError, InterfaceError, OSError, TimeoutError)


class _Unreachable(Exception):
    """The batch could not even be claimed because the database did not answer."""


@dataclass
class _Pending:
    """One delivery waiting for its batch, and the request's audit context."""

    delivery: VerifiedDelivery
    envelope: Envelope
    headers: Mapping[str, str]
    audit: AuditContext
    answer: asyncio.Future[str] = field(repr=False)


def _read_unawaited(answer: asyncio.Future[str]) -> None:
    """Read the outcome of an answer whose request is gone; a failure is logged, not lost."""
    if not answer.cancelled() and answer.exception() is not None:
        log.info("webhook_answer_unclaimed", error=repr(answer.exception()))


class Batcher:
    """This process's intake queue (one per event loop)."""

    def __init__(self, base: Foundation, loop: asyncio.AbstractEventLoop) -> None:
        """A batcher for `base`, serving requests on `loop`."""
        self.base = base
        self.loop = loop
        self._queue: list[_Pending] = []
        self._lock = asyncio.Lock()  # held while a batch runs: one transaction at a time
        self._draining: asyncio.Task[None] | None = None
        # Set while the drain lingers for more deliveries (`_linger`): resolved at `_wanted`.
        self._enough: asyncio.Future[None] | None = None
        self._wanted = 0

    async def submit(
        self, delivery: VerifiedDelivery, envelope: Envelope, headers: Mapping[str, str]
    ) -> str:
        """Store and apply the delivery with whatever is queued beside it; its final status."""
        item = _Pending(delivery, envelope, headers, audit_context(), self.loop.create_future())
        self._queue.append(item)
        if self._enough is not None and len(self._queue) >= self._wanted:
            if not self._enough.done():
                self._enough.set_result(None)
        if self._draining is None:
            self._draining = self.loop.create_task(self._drain())
        try:
            # Shielded: cancelling the wait must not cancel an answer a batch will settle.
            return await asyncio.shield(item.answer)
        except asyncio.CancelledError:
            self._abandon(item)
            raise

    async def _drain(self) -> None:
        """Run batches of what is queued until the queue is empty, one batch at a time.

        A task of its own, not the request that found the queue idle: a client that hangs up
        must not cancel the others' transaction, and the requests in a batch wake once, when
        their answers are settled, rather than passing a lock along one after another.
        """
        try:
            async with self._lock:
                last = 0
                while self._queue:
                    limit = self.base.settings.webhook_batch_max
                    if last > 1 and len(self._queue) < limit:
                        # In flight: those queued, and those the last batch just answered.
                        await self._linger(min(limit, len(self._queue) + last))
                    batch, self._queue = self._queue[:limit], self._queue[limit:]
                    last = len(batch)
                    await self._run(batch)
        finally:
            self._draining = None

    async def _linger(self, wanted: int) -> None:
        """Wait up to WEBHOOK_BATCH_LINGER_MS for `wanted` deliveries to be queued.

        Under a burst, the senders a batch just answered send again while the next batch is
        being taken. Without this wait, the deliveries queued meanwhile would make a batch of
        their own, and the burst would keep splitting into two batches that take turns (one
        delivery and all the rest, or two halves), each paying a whole transaction. So the
        next batch waits, briefly, for as many as are in flight: those queued and those just
        answered (capped by WEBHOOK_BATCH_MAX): at 16 a batch, a batch's fixed cost was a
        seventh of each delivery's CPU. Only after a batch of more than one: a delivery
        arriving alone is never held back, and the wait is at most the linger.
        """
        self._wanted = wanted
        self._enough = self.loop.create_future()
        try:
            async with asyncio.timeout(self.base.settings.webhook_batch_linger_ms / 1000):
                await self._enough
        except TimeoutError:
            pass  # take what has come
        finally:
            self._enough = None

    def _abandon(self, item: _Pending) -> None:
        """The request went away (client hung up, server shutting down) before its answer.

        Still queued: it leaves the queue unstored; without a 2xx Whop delivers it again. Already
        in a batch: the batch settles its answer, which is then read here, since no request is
        left to await it (asyncio reports an unread exception as lost at garbage collection).
        """
        if any(queued is item for queued in self._queue):
            self._queue = [queued for queued in self._queue if queued is not item]
            item.answer.cancel()
        else:
            item.answer.add_done_callback(_read_unawaited)

    async def _run(self, batch: list[_Pending]) -> None:
        """Settle every answer in `batch`; never raises."""
        metrics.WEBHOOK_BATCH_SIZE.observe(len(batch))
        try:
            if len(batch) > 1:
                try:
                    await self._together(batch)
                    return
                except _Unreachable as exc:
                    # Trying each delivery alone would wait out the same failure once per
                    # delivery, one after another: answer 503 to all now, and Whop retries.
                    log.error("webhook_store_failed", size=len(batch), error=str(exc))
                    for item in batch:
                        item.answer.set_exception(WebhookStoreUnavailable("store_failed", str(exc)))
                    return
                except Exception as exc:  # any other failure: each delivery on its own
                    log.warning("webhook_batch_split", size=len(batch), error=type(exc).__name__)
            for item in batch:
                await self._alone(item)
        finally:
            for item in batch:
                if not item.answer.done():
                    item.answer.set_exception(WebhookStoreUnavailable("store_failed", "batch"))

    async def _alone(self, item: _Pending) -> None:
        with audit_context_as(item.audit):
            try:
                status = await store_and_apply(
                    self.base, item.delivery, item.envelope, item.headers
                )
            except Exception as exc:  # handed to the request that is waiting for it
                item.answer.set_exception(exc)
                return
        item.answer.set_result(status)

    async def _together(self, batch: list[_Pending]) -> None:
        now = self.base.clock.now()
        first: dict[str, _Pending] = {}
        for item in batch:
            first.setdefault(item.delivery.webhook_id, item)
        claimed = False
        try:
            async with transaction(self.base.sessionmaker, write=True) as db:
                claims = [(i.delivery, i.envelope, i.headers) for i in first.values()]
                # Claimed as processed, as nearly all end: only the others are updated.
                rows = await store.claim_many(
                    db, claims, now=now, attempts=1, assumed=DeliveryStatus.PROCESSED
                )
                claimed = True
                statuses = await self._apply(db, first, rows, now)
        except UNREACHABLE as exc:
            if not claimed:
                raise _Unreachable(type(exc).__name__) from exc
            raise
        for item in batch:
            webhook_id = item.delivery.webhook_id
            status = statuses[webhook_id] if first[webhook_id] is item else DUPLICATE
            if status == DUPLICATE:
                log.info("webhook_duplicate", webhook_id=webhook_id, type=item.envelope.event_type)
            item.answer.set_result(status)

    async def _apply(
        self, db: AsyncSession, first: dict[str, _Pending], rows: dict[str, int], now: datetime
    ) -> dict[str, str]:
        """Apply the claimed deliveries' effects as one plan, then write their outcomes."""
        claimed = [(webhook_id, item) for webhook_id, item in first.items() if webhook_id in rows]
        work = [
            Work(
                item.envelope,
                ChangeContext(
                    settings=self.base.settings,
                    now=now,
                    source=ChangeSource.WEBHOOK,
                    reference=webhook_id,
                ),
                item.audit,
            )
            for webhook_id, item in claimed
        ]

        def processed_rows(outcomes: list[Outcome]) -> list[dict[str, Any]]:
            # Written by the plan's audit INSERT, after its rows: one statement fewer.
            audit_rows: list[dict[str, Any]] = []
            for (webhook_id, item), outcome in zip(claimed, outcomes, strict=True):
                event = processed_event(
                    webhook_id=webhook_id,
                    event_type=item.envelope.event_type,
                    outcome=outcome,
                    source=ChangeSource.WEBHOOK,
                    attempt=1,
                    now=now,
                )
                audit_rows.append(audit_values_in(item.audit, event))
            return audit_rows

        outcomes = await apply_deliveries(db, work, outcome_audit=processed_rows)
        statuses = dict.fromkeys(first, DUPLICATE)
        finished: list[tuple[int, str]] = []
        for (webhook_id, _), outcome in zip(claimed, outcomes, strict=True):
            statuses[webhook_id] = outcome.status
            finished.append((rows[webhook_id], outcome.status))
        await store.finish_many(db, finished, now=now, assumed=DeliveryStatus.PROCESSED)
        return statuses


class Batchers:
    """One `Batcher` per event loop for one app (`Services.batchers`): requests on the same
    loop share a queue; a test or a restarted loop gets a fresh one."""

    def __init__(self, base: Foundation) -> None:
        """Batchers that store and apply through `base`."""
        self.base = base
        self._current: Batcher | None = None

    def for_running_loop(self) -> Batcher:
        """The batcher of the running event loop."""
        loop = asyncio.get_running_loop()
        if self._current is None or self._current.loop is not loop:
            self._current = Batcher(self.base, loop)
        return self._current
