"""The sync button's side: run a reconciliation for the team, and show recent runs' reports.

The button reconciles only the team's own creator. What a creator sees of past runs is its
own runs (button, `creators add`, onboarding) and the worker's runs over every creator,
narrowed to their own memberships: the corrections whose membership belongs to them, and
the outcome. Another creator's own runs are never listed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from mentora.db.models import Membership, SyncRun
from mentora.services import Services
from mentora.usecases.sync import SyncResult, reconcile

# A run still "running" after this long was cut short (a crash); it no longer blocks the button.
STALE_RUN = timedelta(minutes=10)
# Waits asked by Whop's 429s are capped in a request: the team is watching a spinner.
MAX_WAIT_SECONDS = 2.0
# Sign-in reconciles the one user signing in; those runs say nothing about the creator's state.
PER_USER_TRIGGERS = ("signin",)


@dataclass(frozen=True)
class RunView:
    """One reconciliation run as the creator sees it."""

    id: int
    trigger: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    corrections: list[dict[str, Any]] = field(default_factory=list)


async def _capped_sleep(seconds: float) -> None:
    await asyncio.sleep(min(MAX_WAIT_SECONDS, seconds))


def _concerns(creator_id: int) -> Any:
    """Runs over every creator, or over this one; never another creator's own runs."""
    return or_(SyncRun.creator_id.is_(None), SyncRun.creator_id == creator_id)


async def busy(services: Services, creator_id: int) -> bool:
    """True while another run for this creator (or for all) started recently and is going."""
    since = services.clock.now() - STALE_RUN
    async with services.sessionmaker() as db:
        found = await db.execute(
            select(SyncRun.id)
            .where(
                SyncRun.outcome == "running",
                SyncRun.started_at >= since,
                SyncRun.trigger.not_in(PER_USER_TRIGGERS),
                _concerns(creator_id),
            )
            .limit(1)
        )
        return found.scalar_one_or_none() is not None


async def run_now(services: Services, trigger: str, *, creator_id: int) -> SyncResult:
    """Reconcile one creator now, in this request (429 waits capped at MAX_WAIT_SECONDS each)."""
    return await reconcile(services, trigger=trigger, creator_id=creator_id, sleep=_capped_sleep)


def _error_code(error: object) -> str | None:
    """Only the error's code word ("whop_unavailable"), never Whop's detail text."""
    if not isinstance(error, str) or not error:
        return None
    return error.split(":", 1)[0][:64]


async def recent_runs(services: Services, creator_id: int, limit: int = 5) -> list[RunView]:
    """The newest whole-creator runs, each with the corrections that concern this creator."""
    async with services.sessionmaker() as db:
        runs = list(
            (
                await db.execute(
                    select(SyncRun)
                    .where(SyncRun.trigger.not_in(PER_USER_TRIGGERS), _concerns(creator_id))
                    .order_by(SyncRun.id.desc())
                    .limit(limit)
                )
            ).scalars()
        )
        mentioned = {
            str(c.get("membership"))
            for run in runs
            for c in (run.report or {}).get("corrections", [])
            if isinstance(c, dict)
        }
        ours: set[str] = set()
        if mentioned:
            found = await db.execute(
                select(Membership.whop_membership_id).where(
                    Membership.whop_membership_id.in_(mentioned),
                    Membership.creator_id == creator_id,
                )
            )
            ours = set(found.scalars())
    views = []
    for run in runs:
        report = run.report if isinstance(run.report, dict) else {}
        corrections = [
            c
            for c in report.get("corrections", [])
            if isinstance(c, dict) and str(c.get("membership")) in ours
        ]
        views.append(
            RunView(
                id=run.id,
                trigger=run.trigger,
                outcome=run.outcome,
                started_at=run.started_at,
                finished_at=run.finished_at,
                error=_error_code(report.get("error")),
                corrections=corrections,
            )
        )
    return views
