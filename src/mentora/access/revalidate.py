"""Revalidation: ask Whop's check-access once per stale (user, creator), whoever asks.

Single flight on two levels:

- in one process, an `asyncio.Lock` per (user, creator): concurrent requests wait for the
  first one and then read its result from the database;
- across processes, a conditional UPDATE on the student row claims a short lease
  (`access_check_claimed_until`); a process that loses the claim polls the row until the
  winner stores its answer or the lease runs out. It works the same on SQLite and PostgreSQL.

A failed check stamps `access_check_failed_at`: nobody asks Whop again for that student for
`ACCESS_RETRY_SECONDS`, and after `ACCESS_BREAKER_FAILURES` failures in a row the process
stops asking anyone for as long (circuit breaker). Either way the caller gets
`unreachable=True` and the policy decides with the grace window; it never allows on an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mentora.access.policy import WhopAnswer
from mentora.audit.kinds import AuditKind
from mentora.audit.record import record
from mentora.db.models import Student
from mentora.db.uow import transaction
from mentora.foundation import Foundation
from mentora.sessions.store import revoke_for_user
from mentora.whop.client import WhopClient
from mentora.whop.errors import WhopError, WhopNotFound
from mentora.whop.schemas import AccessAnswer

log = structlog.get_logger("mentora.access")

# How often a process that lost the claim looks at the row again (real time).
POLL_SECONDS = 0.02
# The lease outlives one Whop call (timeout) by this much; a crashed winner frees it then.
LEASE_MARGIN_SECONDS = 5.0
VALID_LEVELS = frozenset({"customer", "admin"})


@dataclass(frozen=True)
class Revalidation:
    """The outcome: the answer to decide with, and whether Whop could not confirm it now."""

    answer: WhopAnswer
    unreachable: bool


@dataclass(frozen=True)
class StudentRow:
    """The access columns of one student row."""

    id: int
    access_level: str
    checked_at: datetime | None
    claimed_until: datetime | None
    failed_at: datetime | None

    @property
    def answer(self) -> WhopAnswer:
        """Whop's last successful answer as the policy reads it."""
        return WhopAnswer(access_level=self.access_level, checked_at=self.checked_at)


class Breaker:
    """A per-process circuit breaker over Whop's check-access (ASVS 16.5.2)."""

    def __init__(self, *, threshold: int, cooldown: timedelta) -> None:
        """Open after `threshold` failures in a row, for `cooldown`."""
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.failures = 0
        self.open_until: datetime | None = None

    def allows(self, now: datetime) -> bool:
        """True when a call may be tried (closed, or half-open after the cooldown)."""
        return self.open_until is None or now >= self.open_until

    def success(self) -> None:
        """Close the breaker."""
        self.failures = 0
        self.open_until = None

    def failure(self, now: datetime) -> None:
        """Count a failure; open when the threshold is reached."""
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + self.cooldown


async def check_creator_access(
    whop: WhopClient, whop_user_id: str, company_id: str, products: Iterable[str] = ()
) -> AccessAnswer:
    """Whop's answer for a user at a creator: the access products if any, else the company.

    A product check also answers `admin` for the company's team. An unknown user (404)
    means no access; every other failure raises `WhopError` for the caller to fail closed.
    """
    resources = sorted(set(products)) or [company_id]
    try:
        for resource in resources:
            answer = await whop.check_access(whop_user_id, resource)
            if answer.has_access or answer.access_level == "admin":
                return answer
    except WhopNotFound:
        pass
    return AccessAnswer(has_access=False, access_level="no_access")


class Revalidator:
    """Single-flight revalidation, one per app (a field of `Services.gate`)."""

    def __init__(self, base: Foundation) -> None:
        """Bind to the base; locks and the breaker live as long as they do."""
        self.base = base
        settings = base.settings
        self.ttl = timedelta(seconds=settings.access_ttl_seconds)
        self.retry = timedelta(seconds=settings.access_retry_seconds)
        self.timeout = settings.whop_http_timeout_seconds
        self.lease = timedelta(seconds=self.timeout + LEASE_MARGIN_SECONDS)
        self.breaker = Breaker(threshold=settings.access_breaker_failures, cooldown=self.retry)
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}
        self._waiters: dict[tuple[int, int], int] = {}

    def _fresh(self, row: StudentRow, now: datetime) -> bool:
        return row.checked_at is not None and now - row.checked_at < self.ttl

    async def revalidate(
        self,
        *,
        user_id: int,
        whop_user_id: str,
        creator_id: int,
        company_id: str,
        products: Iterable[str] = (),
    ) -> Revalidation:
        """Bring Whop's answer for (user, creator) up to date, at most one call at a time."""
        key = (user_id, creator_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            async with lock:
                return await self._revalidate(
                    user_id, whop_user_id, creator_id, company_id, tuple(products)
                )
        finally:
            self._waiters[key] -= 1
            if self._waiters[key] == 0:
                del self._waiters[key]
                del self._locks[key]

    async def _revalidate(
        self,
        user_id: int,
        whop_user_id: str,
        creator_id: int,
        company_id: str,
        products: tuple[str, ...],
    ) -> Revalidation:
        now = self.base.clock.now()
        row = await self._row(user_id, creator_id, now)
        if self._fresh(row, now):
            # Someone (in this process or another) answered while we queued.
            return Revalidation(row.answer, unreachable=False)
        if not self.breaker.allows(now):
            return Revalidation(row.answer, unreachable=True)
        if not await self._claim(row.id, now):
            return await self._await_other(row.id)
        try:
            # Bound the wait whatever the transport does: the gate's latency must stay
            # bounded by the timeout plus the breaker (M03).
            async with asyncio.timeout(self.timeout):
                answer = await check_creator_access(
                    self.base.whop, whop_user_id, company_id, products
                )
        except (WhopError, TimeoutError) as exc:
            self.breaker.failure(now)
            await self._release(row.id, failed_at=self.base.clock.now())
            log.warning(
                "access_revalidation_failed",
                error_code=exc.code if isinstance(exc, WhopError) else "whop_timeout",
                subject=whop_user_id,
                creator_id=creator_id,
                breaker_open=not self.breaker.allows(self.base.clock.now()),
            )
            return Revalidation(row.answer, unreachable=True)
        except BaseException:
            # Cancelled (the client went away) or a bug: free the claim for the next request,
            # without the failure back-off; if even this fails, the lease runs out.
            await self._release(row.id, failed_at=None)
            raise
        self.breaker.success()
        stored = await self._store(
            row, answer, user_id=user_id, creator_id=creator_id, subject=whop_user_id
        )
        return Revalidation(stored, unreachable=False)

    async def _row(self, user_id: int, creator_id: int, now: datetime) -> StudentRow:
        """Read the student's access columns, creating the row on first contact."""
        row = await self._read(user_id=user_id, creator_id=creator_id)
        if row is not None:
            return row
        try:
            async with transaction(self.base.sessionmaker, write=True) as db:
                await db.execute(
                    insert(Student).values(
                        user_id=user_id,
                        creator_id=creator_id,
                        access_level="no_access",
                        created_at=now,
                    )
                )
        except IntegrityError:
            pass  # another request created it first
        row = await self._read(user_id=user_id, creator_id=creator_id)
        assert row is not None  # just inserted, by us or by the winner of the race
        return row

    async def _read(
        self,
        *,
        user_id: int | None = None,
        creator_id: int | None = None,
        row_id: int | None = None,
    ) -> StudentRow | None:
        stmt = select(
            Student.id,
            Student.access_level,
            Student.access_checked_at,
            Student.access_check_claimed_until,
            Student.access_check_failed_at,
        )
        if row_id is not None:
            stmt = stmt.where(Student.id == row_id)
        else:
            stmt = stmt.where(Student.user_id == user_id, Student.creator_id == creator_id)
        async with self.base.sessionmaker() as db:
            found = (await db.execute(stmt)).one_or_none()
        return None if found is None else StudentRow(*found)

    async def _claim(self, row_id: int, now: datetime) -> bool:
        """Take the lease if nobody holds it, the answer is stale and no failure is recent."""
        stmt = (
            update(Student)
            .where(
                Student.id == row_id,
                or_(
                    Student.access_check_claimed_until.is_(None),
                    Student.access_check_claimed_until <= now,
                ),
                or_(
                    Student.access_checked_at.is_(None),
                    Student.access_checked_at <= now - self.ttl,
                ),
                or_(
                    Student.access_check_failed_at.is_(None),
                    Student.access_check_failed_at <= now - self.retry,
                ),
            )
            .values(access_check_claimed_until=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        async with transaction(self.base.sessionmaker, write=True) as db:
            result = await db.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def _await_other(self, row_id: int) -> Revalidation:
        """Another holder is asking Whop (or failed just now): wait for its answer, bounded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease.total_seconds()
        while True:
            row = await self._read(row_id=row_id)
            assert row is not None
            now = self.base.clock.now()
            if self._fresh(row, now):
                return Revalidation(row.answer, unreachable=False)
            in_flight = row.claimed_until is not None and row.claimed_until > now
            if not in_flight or loop.time() >= deadline:
                # Not fresh and nobody is asking: the holder failed, or backs off after a
                # failure, or died. Whop cannot confirm the state right now.
                return Revalidation(row.answer, unreachable=True)
            await asyncio.sleep(POLL_SECONDS)

    async def _release(self, row_id: int, *, failed_at: datetime | None) -> None:
        values: dict[str, Any] = {"access_check_claimed_until": None}
        if failed_at is not None:
            values["access_check_failed_at"] = failed_at
        async with transaction(self.base.sessionmaker, write=True) as db:
            await db.execute(
                update(Student)
                .where(Student.id == row_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def _store(
        self,
        row: StudentRow,
        answer: AccessAnswer,
        *,
        user_id: int,
        creator_id: int,
        subject: str,
    ) -> WhopAnswer:
        """Store Whop's answer; a user who just lost access loses their sessions here too."""
        now = self.base.clock.now()
        level = answer.access_level if answer.has_access else "no_access"
        if answer.access_level == "admin":
            level = "admin"
        values: dict[str, Any] = {
            "access_level": level,
            "access_checked_at": now,
            "access_check_claimed_until": None,
            "access_check_failed_at": None,
        }
        async with transaction(self.base.sessionmaker, write=True) as db:
            previous = (
                await db.execute(select(Student.access_level).where(Student.id == row.id))
            ).scalar_one()
            await db.execute(
                update(Student)
                .where(Student.id == row.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if previous in VALID_LEVELS and level not in VALID_LEVELS:
                # Revocation found by revalidation ends the user's sessions at this creator,
                # as a deactivation webhook would (M02, S09).
                ended = await revoke_for_user(
                    db, user_id, now=now, reason="access_revoked", creator_id=creator_id
                )
                record(
                    db,
                    kind=AuditKind.SESSION_REVOKED,
                    outcome="success",
                    reason="access_revoked",
                    now=now,
                    subject=subject,
                    creator_id=creator_id,
                    details={"sessions": ended, "source": "revalidation"},
                )
        return WhopAnswer(access_level=level, checked_at=now)
