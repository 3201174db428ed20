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
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select
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

# The reads are built once, with their IN lists as expanding parameters: building a statement
# (and its cache key) cost more per batch than running it. Core columns, not ORM attributes:
# plain rows, without the ORM's compile step.
_MEMBERSHIPS = cast(Table, Membership.__table__)
_MEMBER_COLUMNS = [_MEMBERSHIPS.c[name] for name in MemberRow.__dataclass_fields__]
_LOCKED_MEMBERSHIPS = (
    select(*_MEMBER_COLUMNS)
    .where(
        _MEMBERSHIPS.c.whop_membership_id.in_(bindparam("ids", expanding=True))
        | _MEMBERSHIPS.c.whop_user_id.in_(bindparam("users", expanding=True))
    )
    .order_by(_MEMBERSHIPS.c.id)  # one lock order for every batch: no deadlocks
    .with_for_update()
)
_OTHER_MEMBERSHIPS = select(*_MEMBER_COLUMNS).where(
    _MEMBERSHIPS.c.whop_user_id.in_(bindparam("users", expanding=True)),
    _MEMBERSHIPS.c.whop_membership_id.not_in(bindparam("known", expanding=True)),
)
_CREATORS = cast(Table, Creator.__table__)
_CREATOR_READ = select(*(_CREATORS.c[name] for name in CreatorView.__dataclass_fields__)).where(
    _CREATORS.c.whop_company_id.in_(bindparam("companies", expanding=True))
    | _CREATORS.c.id.in_(bindparam("ids", expanding=True))
)
_USERS, _STUDENTS = cast(Table, User.__table__), cast(Table, Student.__table__)
_USER_READ = (
    select(
        _USERS.c.id,
        _USERS.c.whop_user_id,
        _USERS.c.email,
        _USERS.c.name,
        _USERS.c.username,
        _STUDENTS.c.creator_id,
    )
    .select_from(
        _USERS.outerjoin(
            _STUDENTS,
            (_STUDENTS.c.user_id == _USERS.c.id) & (_STUDENTS.c.access_level == "admin"),
        )
    )
    .where(_USERS.c.whop_user_id.in_(bindparam("users", expanding=True)))
)


def _member(row: Row[Any]) -> MemberRow:
    # By position: the columns are selected in the dataclass's field order, and a row's
    # `_asdict()` cost more than building the MemberRow from it.
    columns: tuple[Any, ...] = tuple(row)
    return MemberRow(*columns)


async def _memberships(db: AsyncSession, ids: set[str], users: set[str]) -> dict[str, MemberRow]:
    """The named rows and every membership of `users`, locked in one read; then, unlocked, the
    other memberships of users only the named rows revealed (the targets of holds)."""
    rows: dict[str, MemberRow] = {}
    if ids or users:
        locked = await db.execute(_LOCKED_MEMBERSHIPS, {"ids": list(ids), "users": list(users)})
        rows = {row.whop_membership_id: _member(row) for row in locked.all()}
    more = {row.whop_user_id for row in rows.values() if row.whop_user_id} - users
    if more:
        others = await db.execute(_OTHER_MEMBERSHIPS, {"users": list(more), "known": list(rows)})
        rows.update((row.whop_membership_id, _member(row)) for row in others.all())
    return rows


async def read_creators(
    db: AsyncSession, companies: Iterable[str], ids: Iterable[int] = ()
) -> dict[str, CreatorView]:
    """The creators of `companies` or with `ids`, by company id (one read; none when both are
    empty)."""
    companies, ids = set(companies), set(ids)
    if not companies and not ids:
        return {}
    found = await db.execute(_CREATOR_READ, {"companies": list(companies), "ids": list(ids)})
    # By position, as `_member`: the columns are selected in the dataclass's field order.
    return {row.whop_company_id: CreatorView(*row) for row in found.all()}


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
    found = await db.execute(_USER_READ, {"users": list(whop_user_ids)})
    users: dict[str, UserView] = {}
    admins: set[tuple[str, int]] = set()
    for user_id, key, email, name, username, admin_at in found.all():
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
