"""Reconciliation with Whop's API: read every membership, repair local state, report (W17).

Whop retries a webhook for about 70 seconds, so any longer outage loses events at the sender.
`reconcile` pages through each creator's memberships (`GET /memberships`), applies each
through the same newest-wins rule as webhooks, and then asks about every local membership
that still grants access but was not listed: Whop's answer is applied, and a 404 marks it
`missing`. Each correction writes `membership_reconciled` and has the same consequences as a
webhook (sessions, emails). Each run is a `SyncRun` row with a report.

Whop answers 429 with Retry-After when pushed; the run waits as asked a few times per page,
then stops as `partial`. Any other Whop failure ends the run as `failed` and raises an alert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import select

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record
from mentora.creators import refresh_profiles
from mentora.db.models import Creator, Membership, SyncRun
from mentora.db.uow import transaction
from mentora.memberships.effects import ChangeSource
from mentora.memberships.plan import Change, MembershipEvent
from mentora.memberships.policy import GRANTING_STATUSES, MISSING_STATUS
from mentora.memberships.write import apply_events
from mentora.outbox.queue import raise_alert
from mentora.services import Services
from mentora.whop.errors import WhopError, WhopNotFound, WhopRateLimited
from mentora.whop.schemas import MembershipSnapshot

log = structlog.get_logger("mentora.sync")

PAGE_SIZE = 100
MAX_RATE_LIMIT_WAITS = 5
MAX_WAIT_SECONDS = 60.0
MAX_LISTED_CORRECTIONS = 100
Sleep = Callable[[float], Awaitable[None]]
# Called after each page: (company id, memberships seen so far), for progress displays.
OnPage = Callable[[str, int], None]


class SyncIncomplete(Exception):
    """Whop kept answering 429: the run stops early, as `partial`."""


@dataclass
class SyncReport:
    """What one run saw and changed."""

    seen: int = 0
    created: int = 0
    corrected: int = 0
    unchanged: int = 0
    missing: int = 0
    pages: int = 0
    corrections: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    # Creators whose name Whop could not give this run (company id: why); they keep theirs.
    profile_errors: dict[str, str] = field(default_factory=dict)

    def count(self, change: Change) -> None:
        """Tally one applied snapshot."""
        if change.created:
            self.created += 1
        elif change.applied and (change.status_changed or change.granted or change.revoked):
            self.corrected += 1
            if len(self.corrections) < MAX_LISTED_CORRECTIONS:
                self.corrections.append(
                    {
                        "membership": change.whop_membership_id,
                        "user": change.whop_user_id,
                        "before": change.before_status,
                        "after": change.after_status,
                    }
                )
        else:
            self.unchanged += 1

    def as_json(self) -> dict[str, Any]:
        """The report stored on the SyncRun row."""
        return {
            "changed": self.created + self.corrected,
            "seen": self.seen,
            "created": self.created,
            "corrected": self.corrected,
            "unchanged": self.unchanged,
            "missing": self.missing,
            "pages": self.pages,
            "corrections": self.corrections,
            "error": self.error,
            "profile_errors": self.profile_errors,
        }


@dataclass(frozen=True)
class SyncResult:
    """A finished run: its id, outcome (`ok`, `partial`, `failed`) and report."""

    run_id: int
    outcome: str
    report: SyncReport


async def _apply(
    services: Services, snapshots: list[MembershipSnapshot], run_id: int, report: SyncReport
) -> None:
    """Apply one page of snapshots in one transaction."""
    now = services.clock.now()
    events = [
        MembershipEvent(snapshot=snapshot, source=ChangeSource.SYNC, reference=f"sync:{run_id}")
        for snapshot in snapshots
    ]
    async with transaction(services.sessionmaker, write=True) as db:
        planned = await apply_events(db, events, settings=services.settings, now=now)
    for change in planned.results:
        assert isinstance(change, Change)  # a membership event always yields its change
        report.count(change)


async def _with_patience(op: Callable[[], Awaitable[Any]], sleep: Sleep) -> Any:
    """Run a Whop call, waiting out 429s as Whop asks, a bounded number of times."""
    for _ in range(MAX_RATE_LIMIT_WAITS):
        try:
            return await op()
        except WhopRateLimited as exc:
            log.info("sync_rate_limited", retry_after=exc.retry_after)
            await sleep(min(MAX_WAIT_SECONDS, max(0.0, exc.retry_after)))
    raise SyncIncomplete("Whop kept answering 429")


async def _list_creator(
    services: Services,
    creator: Creator,
    user_id: str | None,
    run_id: int,
    report: SyncReport,
    sleep: Sleep,
    on_page: OnPage | None = None,
) -> set[str]:
    """Walk all pages for one creator; returns the membership ids Whop listed."""
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        after = cursor

        async def page(after: str | None = after) -> tuple[list[MembershipSnapshot], str | None]:
            return await services.whop.list_memberships(
                company_id=creator.whop_company_id, user_id=user_id, after=after, first=PAGE_SIZE
            )

        snapshots, cursor = await _with_patience(page, sleep)
        report.pages += 1
        report.seen += len(snapshots)
        # Whop filters by company, but a payload naming no company is still this creator's.
        snapshots = [
            s if s.company_id else replace(s, company_id=creator.whop_company_id) for s in snapshots
        ]
        seen.update(s.id for s in snapshots)
        await _apply(services, snapshots, run_id, report)
        if on_page is not None:
            on_page(creator.whop_company_id, report.seen)
        if not cursor or not snapshots:
            return seen


async def _recheck_unlisted(
    services: Services,
    creator: Creator,
    user_id: str | None,
    seen: set[str],
    run_id: int,
    report: SyncReport,
    sleep: Sleep,
) -> None:
    """Ask Whop about local rows that grant access but were not listed (deleted, moved)."""
    async with services.sessionmaker() as db:
        statement = select(Membership).where(
            Membership.creator_id == creator.id, Membership.status.in_(GRANTING_STATUSES)
        )
        if user_id is not None:
            statement = statement.where(Membership.whop_user_id == user_id)
        rows = [
            row
            for row in (await db.execute(statement)).scalars()
            if row.whop_membership_id not in seen
        ]
    for row in rows:
        membership_id = row.whop_membership_id

        async def fetch(membership_id: str = membership_id) -> MembershipSnapshot:
            return await services.whop.retrieve_membership(membership_id)

        try:
            snapshot = await _with_patience(fetch, sleep)
        except WhopNotFound:
            report.missing += 1
            snapshot = MembershipSnapshot(
                id=membership_id,
                status=MISSING_STATUS,
                company_id=row.whop_company_id,
                user_id=row.whop_user_id,
                product_id=row.whop_product_id,
                plan_id=row.whop_plan_id,
                cancel_at_period_end=False,
                current_period_end=row.current_period_end,
                updated_at=services.clock.now(),
            )
        await _apply(services, [snapshot], run_id, report)


async def reconcile(
    services: Services,
    *,
    trigger: str,
    user_id: str | None = None,
    creator_id: int | None = None,
    sleep: Sleep = asyncio.sleep,
    on_page: OnPage | None = None,
) -> SyncResult:
    """Run one reconciliation: every creator, or only `creator_id`; one Whop user only if
    `user_id` is given."""
    started = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        run = SyncRun(
            started_at=started,
            trigger=trigger[:32],
            outcome="running",
            report={},
            creator_id=creator_id,
        )
        db.add(run)
        await db.flush()
        run_id = run.id
        query = select(Creator).order_by(Creator.id)
        if creator_id is not None:
            query = query.where(Creator.id == creator_id)
        creators = list((await db.execute(query)).scalars())
    report = SyncReport()
    outcome = "ok"
    try:
        # Names first, so a run that fails on memberships still names creators as Whop does.
        # Only whole runs ask: a one-user run (at each sign-in) must not add calls to Whop.
        if user_id is None:
            companies = [c.whop_company_id for c in creators]
            profiles = await refresh_profiles(services, company_ids=companies)
            report.profile_errors = {p.company_id: p.error for p in profiles if p.error}
        for creator in creators:
            seen = await _list_creator(services, creator, user_id, run_id, report, sleep, on_page)
            await _recheck_unlisted(services, creator, user_id, seen, run_id, report, sleep)
    except SyncIncomplete as exc:
        outcome, report.error = "partial", str(exc)
    except WhopError as exc:
        outcome, report.error = "failed", f"{exc.code}: {exc.detail}"[:500]
    except Exception as exc:
        # Not Whop (the database, a bug): still close the run so it never stays "running".
        report.error = f"{type(exc).__name__}: {exc}"[:500]
        await _finish(services, run_id, trigger, "failed", report)
        raise
    await _finish(services, run_id, trigger, outcome, report)
    return SyncResult(run_id=run_id, outcome=outcome, report=report)


async def _finish(
    services: Services, run_id: int, trigger: str, outcome: str, report: SyncReport
) -> None:
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        run = await db.get(SyncRun, run_id)
        assert run is not None
        run.finished_at = now
        run.outcome = outcome
        run.report = report.as_json()
        record(
            db,
            kind=AuditKind.SYNC_COMPLETED if outcome == "ok" else AuditKind.SYNC_FAILED,
            outcome="success" if outcome == "ok" else "failure",
            reason=outcome,
            now=now,
            subject=f"sync:{run_id}",
            details={key: value for key, value in report.as_json().items() if key != "corrections"},
        )
        if outcome != "ok":
            await raise_alert(
                db,
                dedupe_key=f"sync_failed:{run_id}",
                template="sync_failed_alert",
                context={
                    "run_id": run_id,
                    "trigger": trigger,
                    "outcome": outcome,
                    "error": report.error or "",
                },
                alert_email=services.settings.creator_alert_email,
                now=now,
            )
