"""PostgreSQL: two transactions plan the same new membership at once. The second one's loader
cannot lock a row that does not exist yet, so it plans an insert; its INSERT waits for the
first transaction, then finds the row. What it inserted is deleted again and the events are
planned again over the committed row: one membership, the second change applied on top.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from mentora.db.models import Membership, OutboxMessage
from mentora.memberships.effects import ChangeSource
from mentora.memberships.plan import Change, MembershipEvent, Plan
from mentora.memberships.write import apply_events
from mentora.services import Services
from mentora.whop.schemas import MembershipSnapshot
from tests.support.timeline import START


def _event(status: str, minutes: int, kind: str, mem: str = "mem_race") -> MembershipEvent:
    snapshot = MembershipSnapshot(
        id=mem,
        status=status,
        company_id="biz_demo",
        user_id="user_race",
        product_id="prod_demo",
        plan_id=None,
        cancel_at_period_end=False,
        current_period_end=None,
        updated_at=START - timedelta(minutes=60 - minutes),
    )
    return MembershipEvent(
        snapshot=snapshot, source=ChangeSource.WEBHOOK, event=kind, email="race@example.com"
    )


async def _someone_waits_on_a_lock(services: Services) -> None:
    """Return once a backend of this database waits on a lock (deadline 10 s)."""
    deadline = asyncio.get_running_loop().time() + 10.0
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while True:
        async with services.engine.connect() as conn:
            if (await conn.execute(query)).scalar_one():
                return
        assert asyncio.get_running_loop().time() < deadline, "the second writer never waited"
        await asyncio.sleep(0.01)


# SQLite writers hold the database lock, so there is no such race to run there.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_membership_created_meanwhile_is_planned_again(services: Services) -> None:
    """The first transaction creates mem_race; the second, planned before the first commits,
    ends up updating that row instead of failing or creating a second one."""
    assert services.engine.dialect.name == "postgresql"
    now = services.clock.now()
    settings = services.settings

    async def second() -> Plan:
        async with services.sessionmaker() as db, db.begin():
            ended = _event("canceled", 2, "membership.deactivated")
            # Inserted before mem_race (one order), then deleted and inserted again.
            other = _event("active", 2, "membership.activated", mem="mem_other")
            return await apply_events(db, [ended, other], settings=settings, now=now)

    async with services.sessionmaker() as db, db.begin():
        joined = _event("active", 1, "membership.activated")
        await apply_events(db, [joined], settings=settings, now=now)
        later = asyncio.create_task(second())
        await _someone_waits_on_a_lock(services)
    planned = await later
    change, other = planned.results
    assert isinstance(change, Change) and isinstance(other, Change)
    assert not change.created and change.revoked and change.before_status == "active"
    assert other.created and other.granted
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(Membership.whop_membership_id, Membership.status).order_by(Membership.id)
        )
        assert list(rows.tuples()) == [("mem_race", "canceled"), ("mem_other", "active")]
        templates = await db.scalars(select(OutboxMessage.template).order_by(OutboxMessage.id))
        assert list(templates) == ["welcome", "access_ended", "welcome"]
