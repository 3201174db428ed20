"""Apply a Whop description of a membership to the local row, newest-wins (W13).

Webhook handlers and reconciliation call `apply_snapshot` (sign-in stores only Whop's
check-access answer, and pulls memberships through reconciliation). The row is created with
INSERT … ON CONFLICT DO NOTHING and then locked (`SELECT … FOR UPDATE` on PostgreSQL; SQLite
writers already hold the database lock), so concurrent writers of one membership serialise
and the ordering guard sees the latest committed state. A caller applying many snapshots in
one transaction (webhook batches) can `preload` their creators and rows, locked, in two
statements; `apply_snapshot` then reads them from the `Preloaded` instead of the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.creators import creator_by_company
from mentora.db.insert import insert_ignore
from mentora.db.models import Creator, Membership
from mentora.memberships.policy import gives_access, supersedes
from mentora.whop.schemas import MembershipSnapshot


@dataclass(frozen=True)
class MembershipChange:
    """What applying one snapshot did to one row."""

    membership: Membership
    created: bool
    applied: bool
    before_status: str | None
    before_grants: bool

    @property
    def after_grants(self) -> bool:
        """Whether the row grants access now."""
        return row_grants(self.membership)

    @property
    def granted(self) -> bool:
        """True when this change turned access on."""
        return self.applied and self.after_grants and not self.before_grants

    @property
    def revoked(self) -> bool:
        """True when this change turned access off."""
        return self.applied and self.before_grants and not self.after_grants

    @property
    def status_changed(self) -> bool:
        """True when the stored status is different from before (or the row is new)."""
        return self.applied and self.before_status != self.membership.status


def row_grants(row: Membership) -> bool:
    """Whether a stored row grants access: a known creator, a granting status and no hold."""
    return row.creator_id is not None and gives_access(row.status, row.access_hold)


async def lock_membership(db: AsyncSession, whop_membership_id: str) -> Membership | None:
    """The row for a Whop membership id, locked for this transaction, or None."""
    result = await db.execute(
        select(Membership)
        .where(Membership.whop_membership_id == whop_membership_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


@dataclass
class Preloaded:
    """Rows a transaction already holds: creators by company id, memberships by Whop id.

    Every membership in it is locked by this transaction, so reading it is as good as
    `lock_membership`; rows created later in the transaction are added as they appear.
    """

    creators: dict[str, Creator | None] = field(default_factory=dict)
    memberships: dict[str, Membership] = field(default_factory=dict)


async def preload(db: AsyncSession, snapshots: Iterable[MembershipSnapshot]) -> Preloaded:
    """Read, and lock in id order, the creators and existing rows `snapshots` will touch."""
    snapshots = list(snapshots)
    companies = {s.company_id for s in snapshots if s.company_id}
    ids = {s.id for s in snapshots}
    loaded = Preloaded(creators=dict.fromkeys(companies))
    if companies:
        for creator in await db.scalars(
            select(Creator).where(Creator.whop_company_id.in_(companies))
        ):
            loaded.creators[creator.whop_company_id] = creator
    if ids:
        rows = await db.scalars(
            select(Membership)
            .where(Membership.whop_membership_id.in_(ids))
            .order_by(Membership.id)  # one lock order for every batch: no deadlocks
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        loaded.memberships = {row.whop_membership_id: row for row in rows}
    return loaded


async def _creator(
    db: AsyncSession, company_id: str | None, preloaded: Preloaded | None
) -> Creator | None:
    if preloaded is not None and company_id in preloaded.creators:
        return preloaded.creators[company_id]
    return await creator_by_company(db, company_id)


async def _insert_or_lock(
    db: AsyncSession, values: dict[str, object], preloaded: Preloaded | None
) -> tuple[Membership, bool]:
    """The locked row for `values`, inserting it first when missing; and whether it was new."""
    whop_id = str(values["whop_membership_id"])
    if preloaded is not None and whop_id in preloaded.memberships:
        return preloaded.memberships[whop_id], False
    inserted = await db.execute(
        insert_ignore(db, Membership, values, conflict_on=["whop_membership_id"]).returning(
            Membership.id
        )
    )
    created = inserted.scalar_one_or_none() is not None
    row = await lock_membership(db, whop_id)
    assert row is not None  # inserted above, or already there; rows are never deleted
    if preloaded is not None:
        preloaded.memberships[whop_id] = row
    return row, created


async def apply_snapshot(
    db: AsyncSession,
    snapshot: MembershipSnapshot,
    *,
    now: datetime,
    observed_at: datetime | None = None,
    preloaded: Preloaded | None = None,
) -> MembershipChange:
    """Create or update the local copy of `snapshot` unless the stored one is newer.

    The snapshot's `updated_at` orders updates; when Whop's payload lacks it (legacy shapes),
    `observed_at` (the event's time) stands in, then `now`. A membership of a company that is
    not a known creator is stored `flagged` with no creator, so it can never grant access.
    """
    source_at = snapshot.updated_at or observed_at or now
    creator = await _creator(db, snapshot.company_id, preloaded)
    values: dict[str, object] = {
        "whop_membership_id": snapshot.id,
        "creator_id": creator.id if creator else None,
        "whop_company_id": snapshot.company_id or "",
        "whop_user_id": snapshot.user_id,
        "whop_product_id": snapshot.product_id,
        "whop_plan_id": snapshot.plan_id,
        "status": snapshot.status[:32],
        "cancel_at_period_end": snapshot.cancel_at_period_end,
        "current_period_end": snapshot.current_period_end,
        "source_updated_at": source_at,
        "flagged": creator is None,
        "created_at": now,
        "updated_at": now,
    }
    row, created = await _insert_or_lock(db, values, preloaded)
    if created:
        return MembershipChange(
            membership=row, created=True, applied=True, before_status=None, before_grants=False
        )
    before_status, before_grants = row.status, row_grants(row)
    # A flagged row whose company has since become a creator (`mentora creators add`) joins
    # it even when this snapshot is no newer than the stored one (the onboarding sync, or the
    # replay of the very delivery that stored it): otherwise it would stay flagged until Whop
    # next changed the membership. Its stored, newest state then takes effect as a change.
    adopted = row.flagged and creator is not None
    if adopted and creator is not None:
        row.creator_id, row.flagged = creator.id, False
    if not supersedes(
        stored_at=row.source_updated_at,
        stored_status=row.status,
        incoming_at=source_at,
        incoming_status=snapshot.status,
    ):
        if adopted:
            row.updated_at = now
        return MembershipChange(
            membership=row,
            created=False,
            applied=adopted,
            before_status=before_status,
            before_grants=before_grants,
        )
    # The ids that place the membership (company, user) are kept once known: a later
    # payload without them must not unset them.
    row.status = snapshot.status[:32]
    row.cancel_at_period_end = snapshot.cancel_at_period_end
    row.current_period_end = snapshot.current_period_end
    row.source_updated_at = source_at
    row.whop_user_id = snapshot.user_id or row.whop_user_id
    row.whop_product_id = snapshot.product_id or row.whop_product_id
    row.whop_plan_id = snapshot.plan_id or row.whop_plan_id
    if snapshot.company_id:
        # Re-resolved every time: a company that became a creator since stops being flagged.
        row.whop_company_id = snapshot.company_id
        row.creator_id = creator.id if creator else None
        row.flagged = creator is None
    row.updated_at = now
    return MembershipChange(
        membership=row,
        created=False,
        applied=True,
        before_status=before_status,
        before_grants=before_grants,
    )
