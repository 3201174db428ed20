"""Integration: worker retries, dead letters, replay, concurrency and schedule (W12, W18)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.db.models import AuditEvent, Membership, WebhookDelivery, WorkerHeartbeat
from mentora.outbox.mailer import FileMailer
from mentora.services import Services
from mentora.webhooks import handlers
from mentora.webhooks.process import process_due, replay
from mentora.worker import run_once
from tests.support.env import make_settings
from tests.support.timeline import stamp
from tests.support.webhooks import membership_data, post_event

MAX_ATTEMPTS = 4


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Few attempts before dead-lettering, so the test stays short."""
    return make_settings(
        database_url, mail_dir=str(tmp_path / "mail"), webhook_max_attempts=MAX_ATTEMPTS
    )


async def _dispute(client: httpx.AsyncClient, clock: FrozenClock, membership_id: str) -> str:
    """Post a dispute about `membership_id`; returns its webhook id."""
    msg_id = f"msg_dispute_{membership_id}"
    data = {
        "id": f"dspt_{membership_id}",
        "status": "needs_response",
        "payment": {"id": "pay_1", "membership": {"id": membership_id}},
    }
    response = await post_event(client, "dispute.created", data, at=clock.now(), msg_id=msg_id)
    assert response.status_code == 200
    return msg_id


async def _store_membership(client: httpx.AsyncClient, clock: FrozenClock, mid: str) -> None:
    data = membership_data(mid, "active", updated_at=stamp(hours=-1))
    assert (await post_event(client, "membership.activated", data, at=clock.now())).is_success


async def _delivery(services: Services, webhook_id: str) -> WebhookDelivery:
    async with services.sessionmaker() as db:
        result = await db.execute(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
        )
        return result.scalar_one()


async def _kinds(services: Services, kind: str) -> list[AuditEvent]:
    async with services.sessionmaker() as db:
        return list((await db.execute(select(AuditEvent).where(AuditEvent.kind == kind))).scalars())


async def test_w18_backoff_dead_letter_alert_and_replay_once(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Failures back off with growing delays, end `dead` with one alert; replay applies once."""
    webhook_id = await _dispute(client, clock, "mem_w18")
    rng = random.Random(1)
    gaps = []
    with capture_logs() as logs:
        for _ in range(MAX_ATTEMPTS - 1):
            row = await _delivery(services, webhook_id)
            assert row.status == "failed" and row.next_attempt_at is not None
            gaps.append(row.next_attempt_at - clock.now())
            clock.current = row.next_attempt_at
            await process_due(services, rng=rng)
    row = await _delivery(services, webhook_id)
    assert row.status == "dead" and row.attempts == MAX_ATTEMPTS and row.next_attempt_at is None
    assert gaps == sorted(gaps) and gaps[0] < gaps[-1]
    alerts = [e for e in logs if e["event"] == "alert"]
    assert [a["template"] for a in alerts] == ["webhook_dead_alert"]
    assert alerts[0]["creator"] == "Demo Academy"  # the alert names whose delivery it was
    assert [e.reason for e in await _kinds(services, "webhook_failed")] == ["will_retry"] * (
        MAX_ATTEMPTS - 1
    ) + ["dead"]

    await _store_membership(client, clock, "mem_w18")  # the operator fixes the cause
    assert await replay(services, webhook_id) == "processed"
    assert await replay(services, webhook_id) == "processed"
    async with services.sessionmaker() as db:
        member = (await db.execute(select(Membership))).scalar_one()
    assert member.access_hold == "disputed"
    changes = [
        e for e in await _kinds(services, "membership_changed") if e.details["hold"] == "disputed"
    ]
    assert len(changes) == 1
    assert await replay(services, "msg_unknown") is None


async def test_w12_crash_after_effect_before_commit_leaves_row_for_retry(
    client: httpx.AsyncClient,
    services: Services,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker killed mid-effect commits nothing; the next pass applies the effect once."""
    webhook_id = await _dispute(client, clock, "mem_w12")
    await _store_membership(client, clock, "mem_w12")
    before = await _delivery(services, webhook_id)
    real = handlers.HANDLERS["dispute.created"]

    async def effect_then_die(db: Any, envelope: Any, ctx: Any) -> Any:
        await real(db, envelope, ctx)
        raise asyncio.CancelledError  # as if the process were killed before COMMIT

    monkeypatch.setitem(handlers.HANDLERS, "dispute.created", effect_then_die)
    clock.current = before.next_attempt_at
    with pytest.raises(asyncio.CancelledError):
        await process_due(services)
    after_crash = await _delivery(services, webhook_id)
    assert (after_crash.status, after_crash.attempts) == ("failed", before.attempts)
    async with services.sessionmaker() as db:
        assert (await db.execute(select(Membership.access_hold))).scalar_one() is None

    monkeypatch.setitem(handlers.HANDLERS, "dispute.created", real)
    report = await process_due(services)
    assert report.counts == {"processed": 1}
    async with services.sessionmaker() as db:
        assert (await db.execute(select(Membership.access_hold))).scalar_one() == "disputed"


async def test_w12_four_workers_process_each_row_once(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Four concurrent worker passes over ten due rows process each row exactly once."""
    ids = [await _dispute(client, clock, f"mem_c{i}") for i in range(10)]
    for i in range(10):
        await _store_membership(client, clock, f"mem_c{i}")
    clock.advance(3600)
    reports = await asyncio.gather(*(process_due(services) for _ in range(4)))
    assert sum(r.counts.get("processed", 0) for r in reports) == 10
    for webhook_id in ids:
        row = await _delivery(services, webhook_id)
        assert (row.status, row.attempts) == ("processed", 2)
    assert (
        len(
            [
                e
                for e in await _kinds(services, "webhook_processed")
                if e.details["source"] == "worker"
            ]
        )
        == 10
    )


async def test_run_once_beats_sends_and_syncs_on_schedule(
    services: Services, clock: FrozenClock, tmp_path: Path, emulator: Any
) -> None:
    """A pass writes a heartbeat and runs the sync once per interval, whoever asks."""
    mailer = FileMailer(tmp_path / "mail")
    first = await run_once(services, mailer, name="worker:test:1")
    second = await run_once(services, mailer, name="worker:test:2")
    assert first.sync is not None and first.sync.outcome == "ok"
    assert second.sync is None
    assert first.pruned == 0 and second.pruned is None
    clock.advance(services.settings.sync_interval_seconds)
    third = await run_once(services, mailer, name="worker:test:1")
    assert third.sync is not None
    async with services.sessionmaker() as db:
        names = sorted((await db.execute(select(WorkerHeartbeat.name))).scalars())
    assert names == ["lease:prune", "lease:sync", "worker:test:1", "worker:test:2"]
