"""The one write path for membership changes: load what the events need, plan, execute.

Webhook deliveries (one or a batch), the worker's retries, replays, holds and reconciliation
all come through `apply_events`, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mentora.config import Settings
from mentora.memberships.execute import MoreAudit, PlanConflict, execute
from mentora.memberships.holds import MembershipNotStored
from mentora.memberships.load import KnownCreators, load
from mentora.memberships.plan import Event, Plan, PlanContext, plan


async def apply_events(
    db: AsyncSession,
    events: Sequence[Event],
    *,
    settings: Settings,
    now: datetime,
    known: KnownCreators | None = None,
    more_audit: MoreAudit | None = None,
) -> Plan:
    """Plan `events` in order over the rows they need and write the plan; returns it (its
    `results` say what each event did). `known`: creators the caller read already;
    `more_audit`: the caller's audit rows about the plan, written with the plan's
    (`execute.execute`).

    Raises MembershipNotStored, writing nothing, when a hold names a membership with no row.
    On PostgreSQL a membership the plan creates may be created meanwhile by another
    transaction (the loader cannot lock a row that does not exist yet): the executor undoes
    what it wrote, and the events are loaded and planned again over the committed row, once.
    """
    events = list(events)
    try:
        return await _plan_and_write(db, events, settings, now, known, more_audit)
    except PlanConflict:
        return await _plan_and_write(db, events, settings, now, known, more_audit)


async def _plan_and_write(
    db: AsyncSession,
    events: list[Event],
    settings: Settings,
    now: datetime,
    known: KnownCreators | None,
    more_audit: MoreAudit | None,
) -> Plan:
    loaded = await load(db, events, known)
    planned = plan(loaded, events, PlanContext(settings=settings, now=now))
    if planned.not_stored:
        raise MembershipNotStored(planned.not_stored[0])
    await execute(db, planned, more_audit=more_audit)
    return planned
