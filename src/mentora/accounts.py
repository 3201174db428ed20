"""Users and students: created or updated from what Whop vouched for at sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.db.models import Creator, Student, User
from mentora.whop.schemas import AccessAnswer


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


async def upsert_user(
    db: AsyncSession, *, subject: str, userinfo: dict[str, Any], now: datetime
) -> User:
    """The user keyed by Whop's `sub` (never by email, O07), with fresh profile fields."""
    user = (await db.execute(select(User).where(User.whop_user_id == subject))).scalar_one_or_none()
    if user is None:
        user = User(whop_user_id=subject, created_at=now, updated_at=now)
        db.add(user)
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
    student = (
        await db.execute(
            select(Student).where(Student.user_id == user.id, Student.creator_id == creator.id)
        )
    ).scalar_one_or_none()
    if student is None:
        student = Student(user_id=user.id, creator_id=creator.id, created_at=now)
        db.add(student)
    student.access_level = answer.access_level if answer.has_access else "no_access"
    student.access_checked_at = now
    if answer.has_access:
        student.last_valid_at = now
        student.onboarded_at = student.onboarded_at or now
    await db.flush()
    return student
