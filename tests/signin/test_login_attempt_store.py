"""The login attempt store: the per-IP cap counts live attempts only, and the worker's prune
pass (not every sign-in) deletes expired ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from mentora.clock import FrozenClock
from mentora.db.models import LoginAttempt
from mentora.db.uow import transaction
from mentora.oauth import login_attempt
from mentora.outbox.mailer import FileMailer
from mentora.services import Services
from mentora.worker import run_once

TTL = timedelta(minutes=10)


async def _start(services: Services, ip: str) -> None:
    """One /auth's worth of login attempt from `ip`."""
    async with transaction(services.sessionmaker, write=True) as db:
        await login_attempt.start(
            db,
            box=services.tokens,
            issuer="https://issuer.test",
            redirect_uri="https://app.test/api/whop/callback",
            return_to="/",
            ip=ip,
            now=services.clock.now(),
            ttl=TTL,
        )


async def _count(services: Services, *, live: bool) -> int:
    """Stored attempts, live (unexpired) or all."""
    query = select(func.count()).select_from(LoginAttempt)
    if live:
        query = query.where(LoginAttempt.expires_at > services.clock.now())
    async with services.sessionmaker() as db:
        return int((await db.execute(query)).scalar_one())


async def test_cap_counts_live_attempts_and_evicts_the_oldest(
    services: Services, clock: FrozenClock
) -> None:
    """Expired attempts of an IP neither count against its cap nor survive an eviction."""
    for _ in range(5):
        await _start(services, "192.0.2.7")
    clock.advance(TTL.total_seconds())  # those five are now expired
    for _ in range(login_attempt.MAX_PENDING_PER_IP):
        await _start(services, "192.0.2.7")
    assert await _count(services, live=True) == login_attempt.MAX_PENDING_PER_IP
    await _start(services, "192.0.2.7")  # past the cap: the oldest live one and the expired go
    assert await _count(services, live=True) == login_attempt.MAX_PENDING_PER_IP
    assert await _count(services, live=False) == login_attempt.MAX_PENDING_PER_IP


async def test_worker_prune_pass_deletes_expired_attempts(
    services: Services, clock: FrozenClock, tmp_path: Path
) -> None:
    """A sign-in leaves other IPs' expired attempts alone; the worker's prune pass deletes them."""
    await _start(services, "192.0.2.8")
    clock.advance(TTL.total_seconds())
    await _start(services, "192.0.2.9")
    assert await _count(services, live=False) == 2
    report = await run_once(services, FileMailer(tmp_path / "mail"), name="worker:test")
    assert report.pruned is not None  # the prune pass ran
    assert await _count(services, live=False) == 1 == await _count(services, live=True)
