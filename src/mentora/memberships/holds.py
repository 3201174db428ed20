"""Local access holds: a payment event pauses a membership that Whop still calls valid.

Which events pause access is configured (PAYMENT_FAILED_PAUSES_ACCESS, REFUND_REVOKES_ACCESS,
DISPUTE_REVOKES_ACCESS). The first hold wins; a hold is lifted only by the event that can end
it (a later successful payment ends a `payment_failed` hold). Reconciliation leaves holds
alone: Whop's status says nothing about them.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from mentora.memberships.effects import ChangeContext, after_change
from mentora.memberships.store import MembershipChange, lock_membership, row_grants


class MembershipNotStored(LookupError):
    """A hold was asked for a membership with no local row yet; the delivery is retried."""


PAYMENT_FAILED = "payment_failed"
REFUNDED = "refunded"
DISPUTED = "disputed"


async def set_hold(
    db: AsyncSession, whop_membership_id: str, reason: str, ctx: ChangeContext
) -> MembershipChange:
    """Hold the membership for `reason` (no-op if held already).

    Raises MembershipNotStored when the membership has no local row yet (its own webhook was
    lost or not yet delivered): the delivery fails and the worker retries it after
    reconciliation or sign-in has stored the row, so the hold is not silently skipped.
    """
    row = await lock_membership(db, whop_membership_id)
    if row is None:
        raise MembershipNotStored(whop_membership_id)
    before = row_grants(row)
    applied = row.access_hold is None
    if applied:
        row.access_hold = reason
        row.updated_at = ctx.now
    change = MembershipChange(
        membership=row,
        created=False,
        applied=applied,
        before_status=row.status,
        before_grants=before,
    )
    await after_change(db, change, replace(ctx, notify=False))
    return change


async def release_hold(
    db: AsyncSession, whop_membership_id: str, reason: str, ctx: ChangeContext
) -> MembershipChange | None:
    """Lift a hold placed for `reason`; holds for other reasons stay."""
    row = await lock_membership(db, whop_membership_id)
    if row is None or row.access_hold != reason:
        return None
    before = row_grants(row)
    row.access_hold = None
    row.updated_at = ctx.now
    change = MembershipChange(
        membership=row,
        created=False,
        applied=True,
        before_status=row.status,
        before_grants=before,
    )
    await after_change(db, change, replace(ctx, notify=False))
    return change
