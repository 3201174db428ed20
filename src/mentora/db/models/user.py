"""Users (a Whop identity) and students (a user at one creator)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class User(Base):
    """A person known by Whop's `sub` (never by email, O07)."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    whop_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Student(Base):
    """A user at a creator: role, Whop's last access answer, onboarding and activity."""

    __tablename__ = "student"
    __table_args__ = (
        UniqueConstraint("user_id", "creator_id"),
        # The creator's students page: newest first, paged.
        Index("ix_student_creator_created", "creator_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creator.id", ondelete="CASCADE"), index=True
    )
    # Whop's check-access answer: customer, admin or no_access.
    access_level: Mapped[str] = mapped_column(String(16), default="no_access")
    access_checked_at: Mapped[datetime | None]
    # Single-flight revalidation across processes: a check with Whop is claimed by a
    # conditional UPDATE of `access_check_claimed_until` (a lease); a failed check stamps
    # `access_check_failed_at` so nobody asks Whop again for that student right away.
    access_check_claimed_until: Mapped[datetime | None]
    access_check_failed_at: Mapped[datetime | None]
    onboarded_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
