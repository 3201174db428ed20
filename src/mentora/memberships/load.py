"""One read per table for what a plan needs (`memberships.plan.Loaded`).

The memberships the events name, and every membership of the users they name (does another
one still grant access?), are read and locked (`FOR UPDATE` on PostgreSQL, in id order so two
batches never deadlock; SQLite writers already hold the database lock), so the plan sees the
latest committed state. The creators, the users with their team roles, and the other
memberships of users only a hold's target revealed, are read as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.db.models import Creator, Membership, Student, User
from mentora.memberships.plan import (
    CreatorView,
    Event,
    HoldEvent,
    Loaded,
    MemberRow,
    MembershipEvent,
    ReceiptEvent,
    UserView,
)

_MEMBER_COLUMNS = [getattr(Membership, name) for name in MemberRow.__dataclass_fields__]


def _member(row: Row[Any]) -> MemberRow:
    return MemberRow(**row._asdict())


async def _memberships(db: AsyncSession, ids: set[str], users: set[str]) -> dict[str, MemberRow]:
    """The named rows and every membership of `users`, locked in one read; then, unlocked, the
    other memberships of users only the named rows revealed (the targets of holds)."""
    rows: dict[str, MemberRow] = {}
    if ids or users:
        locked = await db.execute(
            select(*_MEMBER_COLUMNS)
            .where(Membership.whop_membership_id.in_(ids) | Membership.whop_user_id.in_(users))
            .order_by(Membership.id)  # one lock order for every batch: no deadlocks
            .with_for_update()
        )
        rows = {row.whop_membership_id: _member(row) for row in locked}
    more = {row.whop_user_id for row in rows.values() if row.whop_user_id} - users
    if more:
        others = await db.execute(
            select(*_MEMBER_COLUMNS).where(
                Membership.whop_user_id.in_(more), Membership.whop_membership_id.not_in(list(rows))
            )
        )
        rows.update((row.whop_membership_id, _member(row)) for row in others)
    return rows


async def read_creators(
    db: AsyncSession, companies: Iterable[str], ids: Iterable[int] = ()
) -> dict[str, CreatorView]:
    """The creators of `companies` or with `ids`, by company id (one read; none when both are
    empty)."""
    companies, ids = set(companies), set(ids)
    if not companies and not ids:
        return {}
    found = await db.execute(
        select(
            Creator.id,
            Creator.whop_company_id,
            Creator.name,
            Creator.enabled,
            Creator.payment_failed_pauses_access,
            Creator.refund_revokes_access,
            Creator.dispute_revokes_access,
        ).where(Creator.whop_company_id.in_(companies) | Creator.id.in_(ids))
    )
    return {row.whop_company_id: CreatorView(**row._asdict()) for row in found}


@dataclass(frozen=True)
class KnownCreators:
    """Creators a caller already read: those found, by company id, and every company asked."""

    found: dict[str, CreatorView]
    asked: frozenset[str]


async def _missing_creators(
    db: AsyncSession, companies: set[str], ids: set[int], known: KnownCreators | None
) -> dict[str, CreatorView]:
    if known is None:
        return await read_creators(db, companies, ids)
    have = {creator.id for creator in known.found.values()}
    more = await read_creators(db, companies - known.asked, ids - have)
    return {**known.found, **more}


async def _users(
    db: AsyncSession, whop_user_ids: set[str]
) -> tuple[dict[str, UserView], frozenset[tuple[str, int]]]:
    """Users by Whop id, and the (Whop user id, creator id) pairs where they are team admins
    (one read: a user row per admin role, or one with no creator)."""
    if not whop_user_ids:
        return {}, frozenset()
    found = await db.execute(
        select(User.id, User.whop_user_id, User.email, User.name, User.username, Student.creator_id)
        .outerjoin(Student, (Student.user_id == User.id) & (Student.access_level == "admin"))
        .where(User.whop_user_id.in_(whop_user_ids))
    )
    users: dict[str, UserView] = {}
    admins: set[tuple[str, int]] = set()
    for user_id, key, email, name, username, admin_at in found.tuples():
        users[key] = UserView(
            whop_user_id=key, id=user_id, email=email, name=name, username=username
        )
        if admin_at is not None:
            admins.add((key, admin_at))
    return users, frozenset(admins)


async def load(
    db: AsyncSession, events: Sequence[Event], known: KnownCreators | None = None
) -> Loaded:
    """Read (and lock) the rows planning `events` needs; creators already in `known` (read
    by the caller) are not read again."""
    ids: set[str] = set()
    users: set[str] = set()
    companies: set[str] = set()
    for event in events:
        if isinstance(event, MembershipEvent):
            ids.add(event.snapshot.id)
            users.update([event.snapshot.user_id] if event.snapshot.user_id else [])
            companies.update([event.snapshot.company_id] if event.snapshot.company_id else [])
        elif isinstance(event, HoldEvent):
            ids.add(event.whop_membership_id)
            companies.update([event.company_id] if event.company_id else [])
        elif isinstance(event, ReceiptEvent):
            users.update([event.whop_user_id] if event.whop_user_id else [])
            companies.update([event.company_id] if event.company_id else [])
    memberships = await _memberships(db, ids, users)
    creator_ids = {row.creator_id for row in memberships.values() if row.creator_id is not None}
    users |= {row.whop_user_id for row in memberships.values() if row.whop_user_id}
    loaded_users, admins = await _users(db, users)
    return Loaded(
        creators=await _missing_creators(db, companies, creator_ids, known),
        memberships=memberships,
        users=loaded_users,
        admins=admins,
    )
