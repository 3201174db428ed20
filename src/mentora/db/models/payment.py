"""Payments, refunds and disputes recorded from webhooks, for analytics and revocation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class Payment(Base):
    """One Whop payment and what later happened to it."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    whop_payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    creator_id: Mapped[int | None]
    whop_user_id: Mapped[str | None] = mapped_column(String(64))
    whop_membership_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(8))
    last_event: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[datetime]
    created_at: Mapped[datetime]
