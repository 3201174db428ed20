"""Users and students: created or updated from what Whop vouched for at sign-in."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from mentora.db.insert import insert_ignore, upsert
from mentora.db.models import Student, User
from mentora.db.uow import Db, dialect_name
from mentora.whop.schemas import AccessAnswer


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


async def _user_row(db: AsyncSession, whop_user_id: str, now: datetime, **profile: Any) -> User:
    """The user row for `whop_user_id`, created (with `profile`) when missing.

    Two first sign-ins of one person can run at once (two tabs, two devices), or a sign-in and
    a webhook: the row is claimed with INSERT … ON CONFLICT DO NOTHING, so the second waits for
    the first and finds its row instead of failing on the unique constraint.
    """
    query = select(User).where(User.whop_user_id == whop_user_id)
    user = (await db.execute(query)).scalar_one_or_none()
    if user is None:
        values = {"whop_user_id": whop_user_id, "created_at": now, "updated_at": now, **profile}
        await db.execute(insert_ignore(db, User, values, conflict_on=["whop_user_id"]))
        user = (await db.execute(query)).scalar_one()
    return user


async def _student_row(db: AsyncSession, user_id: int, creator_id: int, now: datetime) -> Student:
    """The user's student row at the creator, created the same race-free way when missing."""
    query = select(Student).where(Student.user_id == user_id, Student.creator_id == creator_id)
    student = (await db.execute(query)).scalar_one_or_none()
    if student is None:
        values = {"user_id": user_id, "creator_id": creator_id, "created_at": now}
        await db.execute(insert_ignore(db, Student, values, conflict_on=["user_id", "creator_id"]))
        student = (await db.execute(query)).scalar_one()
    return student


USERS = cast(Table, User.__table__)
STUDENTS = cast(Table, Student.__table__)


@functools.cache
def _user_upsert(dialect: str) -> Insert:
    # A field Whop left out (None) keeps its stored value.
    return upsert(
        dialect,
        USERS,
        conflict_on=["whop_user_id"],
        set_=lambda new: {
            "username": func.coalesce(new.username, USERS.c.username),
            "name": func.coalesce(new.name, USERS.c.name),
            "email": func.coalesce(new.email, USERS.c.email),
            "updated_at": new.updated_at,
        },
    ).returning(USERS.c.id)


@functools.cache
def _student_upsert(dialect: str) -> Insert:
    # The first answer with access marks the student onboarded; later ones keep that date.
    return upsert(
        dialect,
        STUDENTS,
        conflict_on=["user_id", "creator_id"],
        set_=lambda new: {
            "access_level": new.access_level,
            "access_checked_at": new.access_checked_at,
            "onboarded_at": func.coalesce(STUDENTS.c.onboarded_at, new.onboarded_at),
        },
    )


async def upsert_user(db: Db, *, subject: str, userinfo: dict[str, Any], now: datetime) -> int:
    """The id of the user keyed by Whop's `sub` (never by email, O07), created or given fresh
    profile fields in one statement (a field Whop left out keeps its stored value)."""
    values = {
        "whop_user_id": subject,
        "username": _text(userinfo.get("preferred_username"), 200),
        "name": _text(userinfo.get("name"), 200),
        "email": _text(userinfo.get("email"), 320),
        "created_at": now,
        "updated_at": now,
    }
    statement = _user_upsert(dialect_name(db))
    return int((await db.execute(statement, values)).scalar_one())


async def record_access(
    db: Db, *, user_id: int, creator_id: int, answer: AccessAnswer, now: datetime
) -> None:
    """Store Whop's access answer on the student row (creating it), for local decisions; the
    first answer with access marks the student onboarded. One statement."""
    values = {
        "user_id": user_id,
        "creator_id": creator_id,
        "created_at": now,
        "access_level": answer.access_level if answer.has_access else "no_access",
        "access_checked_at": now,
        "onboarded_at": now if answer.has_access else None,
    }
    await db.execute(_student_upsert(dialect_name(db)), values)


async def enroll(
    db: AsyncSession,
    *,
    whop_user_id: str,
    creator_id: int,
    now: datetime,
    user: User | None = None,
    email: str | None = None,
) -> User:
    """The user and their student row at the creator, created on first news of a membership.

    Whop tells us about members before they ever sign in (webhooks, reconciliation), and the
    creator's students page should list them from then on. Existing rows are left as they
    are, and the student gets no access level (the membership decides access, and sign-in
    records Whop's check-access answer).
    """
    if user is None:
        user = await _user_row(db, whop_user_id, now, email=_text(email, 320))
    await _student_row(db, user.id, creator_id, now)
    return user
