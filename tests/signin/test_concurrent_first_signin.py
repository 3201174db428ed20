"""Two first sign-ins of one person at once: one user row, one student row, no error.

PostgreSQL only: on SQLite every writer takes the database lock at BEGIN, so two sign-ins
cannot overlap and a plain INSERT would pass too; PostgreSQL is where the race-safe insert
is what keeps the second sign-in from failing on the unique constraint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text

from mentora.accounts import record_access, upsert_user
from mentora.creators import creator_by_company
from mentora.db.models import Student, User
from mentora.db.uow import transaction
from mentora.services import Services
from mentora.whop.schemas import AccessAnswer

SUBJECT = "user_concurrent_first"


WAIT_SECONDS = 10.0


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(pg_template: str, pg_reset: Callable[[], None]) -> str:
    """PostgreSQL only (see the module's docstring), emptied for the test."""
    pg_reset()
    return pg_template


async def _sign_in_rows(
    services: Services, hold: asyncio.Event | None, inserted: asyncio.Event
) -> int:
    """Create the rows as the callback does; with `hold`, keep the transaction open until set."""
    now = services.clock.now()
    answer = AccessAnswer(has_access=True, access_level="customer")
    async with transaction(services.sessionmaker, write=True) as db:
        creator = await creator_by_company(db, services.settings.whop_company_id)
        assert creator is not None
        user_id = await upsert_user(db, subject=SUBJECT, userinfo={"name": "Twin"}, now=now)
        await record_access(db, user_id=user_id, creator_id=creator.id, answer=answer, now=now)
        inserted.set()
        if hold is not None:
            await hold.wait()
        return user_id


async def _until_a_backend_waits_on_a_lock(services: Services) -> None:
    """Poll pg_stat_activity until some session of this database is blocked on a row lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        async with services.sessionmaker() as db:
            if await db.scalar(query):
                return
        assert asyncio.get_running_loop().time() < deadline, "the second sign-in never blocked"
        await asyncio.sleep(0.01)


async def test_overlapping_first_sign_ins_share_one_user_and_student(services: Services) -> None:
    """The second sign-in waits for the first one's rows instead of failing on the constraint."""
    release = asyncio.Event()
    first_inserted, second_inserted = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_sign_in_rows(services, release, first_inserted))
    await asyncio.wait_for(first_inserted.wait(), WAIT_SECONDS)  # uncommitted rows held
    second = asyncio.create_task(_sign_in_rows(services, None, second_inserted))
    await _until_a_backend_waits_on_a_lock(services)  # the second's INSERT waits on the first
    assert not second_inserted.is_set()
    release.set()
    first_id, second_id = await asyncio.gather(first, second)
    assert first_id == second_id
    async with services.sessionmaker() as db:
        users = await db.scalar(select(func.count()).where(User.whop_user_id == SUBJECT))
        students = await db.scalar(
            select(func.count()).select_from(Student).join(User).where(User.whop_user_id == SUBJECT)
        )
    assert (users, students) == (1, 1)
