"""The background worker: retries failed webhooks, sends the outbox, reconciles on schedule.

Any number of workers may run against one database: failed deliveries are taken one row at a
time with `FOR UPDATE SKIP LOCKED`, outbox messages are leased, and the scheduled sync is
claimed by a conditional UPDATE of the `lease:sync` row, so one worker per interval runs it.
Each loop writes a heartbeat row `worker:<host>:<pid>`. A failing step is logged and the
loop goes on; stop it with the `stop` event (or by cancelling the task).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import update

from mentora.audit.record import bind_actor
from mentora.db.insert import insert_ignore
from mentora.db.models import WorkerHeartbeat
from mentora.db.uow import transaction
from mentora.oauth import login_attempt
from mentora.outbox.delivery import DeliveryReport, deliver_due
from mentora.outbox.mailer import Mailer, build_mailer
from mentora.services import Services
from mentora.usecases.sync import Sleep, SyncResult, reconcile
from mentora.webhooks import store
from mentora.webhooks.process import RetryReport, process_due

log = structlog.get_logger("mentora.worker")

SYNC_LEASE = "lease:sync"
PRUNE_LEASE = "lease:prune"
PRUNE_EVERY = timedelta(days=1)
KEEP_DELIVERIES_DAYS = 30
DEFAULT_INTERVAL_SECONDS = 5.0
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class LoopReport:
    """What one pass of the loop did."""

    webhooks: RetryReport
    outbox: DeliveryReport
    sync: SyncResult | None
    pruned: int | None


def worker_name() -> str:
    """This process's heartbeat name."""
    return f"worker:{socket.gethostname()}:{os.getpid()}"


async def beat(services: Services, name: str) -> None:
    """Record that `name` is alive now."""
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        await db.execute(
            insert_ignore(db, WorkerHeartbeat, {"name": name, "beat_at": now}, conflict_on=["name"])
        )
        await db.execute(
            update(WorkerHeartbeat).where(WorkerHeartbeat.name == name).values(beat_at=now)
        )


async def claim_slot(services: Services, lease: str, every: timedelta) -> bool:
    """True for exactly one caller per `every`, across processes (a compare-and-set)."""
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        await db.execute(
            insert_ignore(
                db, WorkerHeartbeat, {"name": lease, "beat_at": _NEVER}, conflict_on=["name"]
            )
        )
        result = await db.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.name == lease, WorkerHeartbeat.beat_at <= now - every)
            .values(beat_at=now)
        )
        return int(getattr(result, "rowcount", 0)) == 1


async def run_once(
    services: Services,
    mailer: Mailer,
    *,
    name: str,
    rng: random.Random | None = None,
    sleep: Sleep = asyncio.sleep,
) -> LoopReport:
    """One pass: heartbeat, webhook retries, outbox, then sync and pruning when due."""
    await beat(services, name)
    webhooks = await process_due(services, rng=rng)
    outbox = await deliver_due(services, mailer, rng=rng)
    sync = None
    interval = services.settings.sync_interval_seconds
    if interval > 0 and await claim_slot(services, SYNC_LEASE, timedelta(seconds=interval)):
        sync = await reconcile(services, trigger="schedule", sleep=sleep)
    pruned = None
    if await claim_slot(services, PRUNE_LEASE, PRUNE_EVERY):
        async with transaction(services.sessionmaker, write=True) as db:
            pruned = await store.prune(db, now=services.clock.now(), keep_days=KEEP_DELIVERIES_DAYS)
            await login_attempt.purge_expired(db, now=services.clock.now())
    return LoopReport(webhooks=webhooks, outbox=outbox, sync=sync, pruned=pruned)


async def run_worker(
    services: Services,
    *,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    stop: asyncio.Event | None = None,
    mailer: Mailer | None = None,
) -> None:
    """Loop until `stop` is set (or the task is cancelled), pausing `interval` between passes."""
    stop = stop or asyncio.Event()
    mailer = mailer or build_mailer(services.settings)
    name = worker_name()
    bind_actor("worker")
    log.info("worker_started", name=name, interval=interval)
    while not stop.is_set():
        try:
            report = await run_once(services, mailer, name=name)
            if report.webhooks.total or report.outbox.sent or report.outbox.dead or report.sync:
                log.info(
                    "worker_pass",
                    webhooks=report.webhooks.counts,
                    sent=report.outbox.sent,
                    retried=report.outbox.retried,
                    dead=report.outbox.dead,
                    sync=report.sync.outcome if report.sync else None,
                )
        except Exception as exc:  # one bad pass (e.g. the database restarting) is not fatal
            log.error("worker_pass_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
    log.info("worker_stopped", name=name)
