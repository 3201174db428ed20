"""Creators (Whop companies) and the products that grant access to their content."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class Creator(Base):
    """A Whop company that sells Mentora courses; every student row is scoped to one."""

    __tablename__ = "creator"

    id: Mapped[int] = mapped_column(primary_key=True)
    whop_company_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Whop's title for the company; the raw company id only until Whop has been asked.
    name: Mapped[str] = mapped_column(String(200))
    route: Mapped[str | None] = mapped_column(String(200), default=None)
    logo_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # The creator's team address for alerts (a failed payment, a dead delivery); when unset,
    # CREATOR_ALERT_EMAIL.
    alert_email: Mapped[str | None] = mapped_column(String(320))
    # A disabled creator's webhooks are stored flagged and its members are refused at the gate.
    enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Payment policies; NULL means the setting of the same name (PAYMENT_FAILED_PAUSES_ACCESS,
    # REFUND_REVOKES_ACCESS, DISPUTE_REVOKES_ACCESS), so a creator follows it until set.
    payment_failed_pauses_access: Mapped[bool | None] = mapped_column(default=None)
    refund_revokes_access: Mapped[bool | None] = mapped_column(default=None)
    dispute_revokes_access: Mapped[bool | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class Product(Base):
    """A Whop product of a creator; a valid membership of it grants access at `tier`."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creator.id", ondelete="CASCADE"), index=True
    )
    whop_product_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    tier: Mapped[str] = mapped_column(String(64), default="member")
