"""Apply the effects of stored deliveries, in arrival order, as one plan.

Each delivery's handler runs first (payment records, alerts, the lookups a refund needs) and
names the membership effects it asks for; those of every delivery are then planned together
(`memberships.plan`) and written in bulk (`memberships.write`). A single delivery is a batch
of one. The creators the deliveries name are read once: to flag those an operator disabled,
and for the planner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mentora.audit.record import AuditContext, audit_context_as, record_all
from mentora.memberships.effects import ChangeContext
from mentora.memberships.load import KnownCreators, read_creators
from mentora.memberships.plan import Change, Event, Plan, Result
from mentora.memberships.write import apply_events
from mentora.webhooks.envelope import Envelope
from mentora.webhooks.handlers import Outcome, Step, company_of, handle
from mentora.webhooks.status import DeliveryStatus


@dataclass(frozen=True)
class Work:
    """One stored delivery to apply: its envelope, context and request's audit context."""

    envelope: Envelope
    ctx: ChangeContext
    audit: AuditContext


async def _creators(db: AsyncSession, envelopes: Sequence[Envelope]) -> KnownCreators:
    """The creators of the companies `envelopes` name (one read; the planner reuses it)."""
    companies = frozenset(company for company in map(company_of, envelopes) if company)
    return KnownCreators(found=await read_creators(db, companies), asked=companies)


def _outcome(step: Step, results: list[Result]) -> Outcome:
    """A handler's own outcome, else what its membership event did."""
    if step.outcome is not None:
        return step.outcome
    change = results[0]
    assert isinstance(change, Change)  # a membership event always yields its change
    if change.flagged:
        return Outcome(DeliveryStatus.FLAGGED, "unknown_company")
    return Outcome(DeliveryStatus.PROCESSED, None if change.applied else "stale")


def _outcomes(steps: Sequence[Step], results: list[Result]) -> list[Outcome]:
    """Each step's outcome, from its share of the plan's results (in order)."""
    outcomes: list[Outcome] = []
    position = 0
    for step in steps:
        mine = results[position : position + len(step.events)]
        position += len(step.events)
        outcomes.append(_outcome(step, mine))
    return outcomes


async def apply_deliveries(
    db: AsyncSession,
    work: Sequence[Work],
    *,
    outcome_audit: Callable[[list[Outcome]], list[dict[str, Any]]] | None = None,
) -> list[Outcome]:
    """Run every delivery's handler in order, then plan and write their membership effects
    together; one outcome per delivery. `outcome_audit` makes the caller's audit rows about
    the outcomes: they are inserted with the plan's own, by the same statement. Raises
    whatever a handler raises, and MembershipNotStored when a hold names a membership with no
    row (nothing written then)."""
    if not work:
        return []
    creators = await _creators(db, [item.envelope for item in work])
    disabled = frozenset(key for key, creator in creators.found.items() if not creator.enabled)
    steps: list[Step] = []
    for item in work:
        with audit_context_as(item.audit):
            steps.append(await handle(db, item.envelope, item.ctx, disabled))
    events: list[Event] = [event for step in steps for event in step.events]
    if not events:
        outcomes = _outcomes(steps, [])
        if outcome_audit is not None:
            await record_all(db, outcome_audit(outcomes))
        return outcomes

    # The outcomes of the plan written last (a re-planned conflict calls this again), kept so
    # that they are worked out once per delivery, not again for the return.
    written: list[Outcome] = []

    def more_audit(planned: Plan) -> list[dict[str, Any]]:
        assert outcome_audit is not None  # only passed on when there is one
        written[:] = _outcomes(steps, planned.results)
        return outcome_audit(written)

    first = work[0].ctx
    planned = await apply_events(
        db,
        events,
        settings=first.settings,
        now=first.now,
        known=creators,
        more_audit=None if outcome_audit is None else more_audit,
    )
    return written if outcome_audit is not None else _outcomes(steps, planned.results)
