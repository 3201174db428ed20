"""Write a `Plan` with a fixed number of statements per table, whatever its size.

Memberships: one multi-row INSERT … ON CONFLICT DO NOTHING for new rows, one executemany
UPDATE by id for changed ones. Users: one INSERT … ON CONFLICT DO NOTHING (a read only when a
concurrent writer got there first). Students: one INSERT … ON CONFLICT DO NOTHING, one UPDATE
for stale marks. Sessions: one UPDATE … RETURNING that ends them, one DELETE of their Whop
grants. Outbox: one INSERT … ON CONFLICT DO NOTHING. Audit: one INSERT.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import structlog
from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.audit.record import audit_context, audit_values_in
from mentora.db.insert import insert_ignore_rows
from mentora.db.models import (
    AuditEvent,
    Membership,
    OutboxMessage,
    Student,
    User,
    UserSession,
    WhopToken,
)
from mentora.memberships.plan import MEMBERSHIP_COLUMNS, Plan

log = structlog.get_logger("mentora.memberships")

MEMBERSHIPS = cast(Table, Membership.__table__)
STUDENTS = cast(Table, Student.__table__)
SESSIONS = cast(Table, UserSession.__table__)
TOKENS = cast(Table, WhopToken.__table__)
USERS = cast(Table, User.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
# Statements whose rows come at execution are built once (building one cost more than
# running it); Core tables, not ORM entities, so the rows skip the ORM's bulk machinery.
MEMBERSHIP_BY_ID = (
    update(MEMBERSHIPS)
    .where(MEMBERSHIPS.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}") for name in MEMBERSHIP_COLUMNS})
)
AUDIT_INSERT = insert(cast(Table, AuditEvent.__table__))
# The UPDATE's parameter names beside the row's attributes, paired once, not per row.
_NEW_NAMES = tuple((f"new_{name}", name) for name in MEMBERSHIP_COLUMNS)


def _dialect(db: AsyncSession) -> str:
    return db.get_bind().dialect.name


class PlanConflict(RuntimeError):
    """A membership the plan creates was created meanwhile by another transaction (PostgreSQL):
    the plan is stale. The rows it had inserted are deleted again (nothing else is written
    yet), and `write.apply_events` plans again."""


async def _memberships(db: AsyncSession, plan: Plan) -> None:
    # In one order for every writer: two plans creating the same rows wait, never deadlock.
    new = sorted(
        (row for row in plan.memberships.values() if row.id is None),
        key=lambda row: row.whop_membership_id,
    )
    changed = [row for row in plan.memberships.values() if row.id is not None]
    if new:
        rows = [{**row.values(), "created_at": row.created_at} for row in new]
        statement = insert_ignore_rows(
            _dialect(db), MEMBERSHIPS, ("whop_membership_id",), returning=("id",)
        )
        inserted = list(await db.scalars(statement, rows))
        if len(inserted) != len(rows):
            # Nothing else of the plan is written yet: undo our part, and let the caller
            # plan again over the row the other transaction committed.
            await db.execute(delete(MEMBERSHIPS).where(MEMBERSHIPS.c.id.in_(inserted)))
            raise PlanConflict("membership created concurrently")
    if changed:
        params = []
        for row in changed:
            columns = {key: getattr(row, name) for key, name in _NEW_NAMES}
            columns["row_id"] = row.id
            params.append(columns)
        await db.execute(MEMBERSHIP_BY_ID, params)


async def _user_ids(db: AsyncSession, plan: Plan) -> dict[str, int]:
    """Create the plan's users; the ids of every user the plan's students need."""
    ids: dict[str, int] = {}
    if plan.users:
        rows = [
            {
                "whop_user_id": user.whop_user_id,
                "email": user.email,
                "created_at": plan.now,
                "updated_at": plan.now,
            }
            for user in plan.users.values()
        ]
        statement = insert_ignore_rows(
            _dialect(db), USERS, ("whop_user_id",), returning=("whop_user_id", "id")
        )
        created = await db.execute(statement, rows)
        ids.update((key, user_id) for key, user_id in created.all())
    wanted = {key for key, _ in plan.students} - ids.keys()
    if wanted:
        # Users the plan found, or that a concurrent sign-in created first.
        found = await db.execute(
            select(User.whop_user_id, User.id).where(User.whop_user_id.in_(wanted))
        )
        ids.update((key, user_id) for key, user_id in found.all())
    return ids


async def _students(db: AsyncSession, plan: Plan) -> None:
    if plan.students:
        ids = await _user_ids(db, plan)
        rows = [
            {"user_id": ids[key], "creator_id": creator_id, "created_at": plan.now}
            for key, creator_id in plan.students
        ]
        await db.execute(
            insert_ignore_rows(_dialect(db), STUDENTS, ("user_id", "creator_id")), rows
        )
    elif plan.users:
        await _user_ids(db, plan)
    if plan.stale:
        # Force the access layer to ask Whop again on the user's next request (M02).
        await db.execute(
            update(STUDENTS)
            .where(tuple_(STUDENTS.c.user_id, STUDENTS.c.creator_id).in_(list(plan.stale)))
            .values(access_checked_at=None)
        )


async def _sessions(db: AsyncSession, plan: Plan) -> Counter[tuple[int, int]]:
    """End the sessions of every (user, creator) pair the plan names and forget their grants;
    how many were live per pair."""
    if not plan.sessions:
        return Counter()
    scope = tuple_(SESSIONS.c.user_id, SESSIONS.c.creator_id).in_(list(plan.sessions))
    ended = await db.execute(
        update(SESSIONS)
        .where(SESSIONS.c.revoked_at.is_(None), scope)
        .values(revoked_at=plan.now, revoked_reason="membership_ended")
        .returning(SESSIONS.c.user_id, SESSIONS.c.creator_id)
    )
    counts = Counter((user_id, creator_id) for user_id, creator_id in ended.all())
    gone = select(SESSIONS.c.id).where(SESSIONS.c.revoked_at.is_not(None), scope)
    await db.execute(delete(TOKENS).where(TOKENS.c.session_id.in_(gone)))
    return counts


async def _outbox(db: AsyncSession, plan: Plan) -> None:
    if not plan.emails:
        return
    statement = insert_ignore_rows(_dialect(db), OUTBOX, ("dedupe_key",), returning=("template",))
    added = await db.scalars(statement, list(plan.emails.values()))
    for template in added:
        log.info("outbox_queued", template=template, kind="email")


def audit_rows(plan: Plan, ended: Counter[tuple[int, int]]) -> list[dict[str, Any]]:
    """The plan's audit rows, each under its request's context; a session row carries the
    count of sessions ended, and is dropped when none were."""
    rows: list[dict[str, Any]] = []
    for planned in plan.audit:
        fields = planned.fields
        if planned.sessions is not None:
            count = ended.get(planned.sessions, 0)
            if not count:
                continue
            fields = {**fields, "details": {"count": count, **(fields.get("details") or {})}}
        rows.append(audit_values_in(planned.context or audit_context(), fields))
    return rows


# Audit rows of the caller's own, made from the plan once it is sure to be written.
MoreAudit = Callable[[Plan], list[dict[str, Any]]]


async def execute(db: AsyncSession, plan: Plan, *, more_audit: MoreAudit | None = None) -> None:
    """Write `plan` in the caller's transaction (see the module docstring). `more_audit`: the
    caller's audit rows about the plan (a batch's `webhook_processed` rows), inserted after the
    plan's by the same statement rather than by one more."""
    await _memberships(db, plan)
    await _students(db, plan)
    ended = await _sessions(db, plan)
    await _outbox(db, plan)
    rows = audit_rows(plan, ended)
    if more_audit is not None:
        rows.extend(more_audit(plan))
    if rows:
        await db.execute(AUDIT_INSERT, rows)
