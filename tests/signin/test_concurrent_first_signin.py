"""Two first sign-ins of one person at once: one user row, one student row, no error."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from mentora.accounts import record_access, upsert_user
from mentora.creators import creator_by_company
from mentora.db.models import Student, User
from mentora.db.uow import transaction
from mentora.services import Services
from mentora.whop.schemas import AccessAnswer

SUBJECT = "user_concurrent_first"


async def _sign_in_rows(
    services: Services, hold: asyncio.Event | None, started: asyncio.Event
) -> int:
    """Create the rows as the callback does; with `hold`, keep the transaction open until set."""
    started.set()
    now = services.clock.now()
    answer = AccessAnswer(has_access=True, access_level="customer")
    async with transaction(services.sessionmaker, write=True) as db:
        creator = await creator_by_company(db, services.settings.whop_company_id)
        assert creator is not None
        user = await upsert_user(db, subject=SUBJECT, userinfo={"name": "Twin"}, now=now)
        await record_access(db, user=user, creator=creator, answer=answer, now=now)
        if hold is not None:
            await hold.wait()
        return user.id


async def test_overlapping_first_sign_ins_share_one_user_and_student(services: Services) -> None:
    """The second sign-in waits for the first one's rows instead of failing on the constraint."""
    release = asyncio.Event()
    first_started, second_started = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_sign_in_rows(services, release, first_started))
    await first_started.wait()
    await asyncio.sleep(0.2)  # the first transaction now holds its uncommitted rows
    second = asyncio.create_task(_sign_in_rows(services, None, second_started))
    await second_started.wait()
    await asyncio.sleep(0.2)  # the second reaches its INSERT and waits on the first
    release.set()
    first_id, second_id = await asyncio.gather(first, second)
    assert first_id == second_id
    async with services.sessionmaker() as db:
        users = await db.scalar(select(func.count()).where(User.whop_user_id == SUBJECT))
        students = await db.scalar(
            select(func.count()).select_from(Student).join(User).where(User.whop_user_id == SUBJECT)
        )
    assert (users, students) == (1, 1)
