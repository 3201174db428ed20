"""Local copy of Whop memberships, kept fresh by webhooks, revalidation and sync."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class Membership(Base):
    """One Whop membership; `source_updated_at` orders competing updates (W13)."""

    __tablename__ = "membership"
    __table_args__ = (
        Index("ix_membership_user_creator", "whop_user_id", "creator_id"),
        # Per-creator counts by status (creator pages) and reconciliation's re-check.
        Index("ix_membership_creator_status", "creator_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    whop_membership_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Null when the company is not a known creator: stored and flagged, never granted.
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creator.id", ondelete="CASCADE"))
    whop_company_id: Mapped[str] = mapped_column(String(64))
    whop_user_id: Mapped[str | None] = mapped_column(String(64))
    whop_product_id: Mapped[str | None] = mapped_column(String(64))
    whop_plan_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    current_period_end: Mapped[datetime | None]
    source_updated_at: Mapped[datetime]
    flagged: Mapped[bool] = mapped_column(default=False)
    # A local pause set by a payment event (payment_failed, refunded, disputed) when settings
    # say so; while set, the membership grants nothing whatever its Whop status.
    access_hold: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
