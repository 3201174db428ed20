"""Users and students: created or updated from what Whop vouched for at sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.db.insert import insert_ignore
from mentora.db.models import Creator, Student, User
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


async def upsert_user(
    db: AsyncSession, *, subject: str, userinfo: dict[str, Any], now: datetime
) -> User:
    """The user keyed by Whop's `sub` (never by email, O07), with fresh profile fields."""
    user = await _user_row(db, subject, now)
    user.username = _text(userinfo.get("preferred_username"), 200) or user.username
    user.name = _text(userinfo.get("name"), 200) or user.name
    user.email = _text(userinfo.get("email"), 320) or user.email
    user.updated_at = now
    await db.flush()
    return user


async def record_access(
    db: AsyncSession, *, user: User, creator: Creator, answer: AccessAnswer, now: datetime
) -> Student:
    """Store Whop's access answer on the student row (creating it), for local decisions."""
    student = await _student_row(db, user.id, creator.id, now)
    student.access_level = answer.access_level if answer.has_access else "no_access"
    student.access_checked_at = now
    if answer.has_access:
        student.onboarded_at = student.onboarded_at or now
    await db.flush()
    return student


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
