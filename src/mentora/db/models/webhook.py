"""Every verified webhook delivery, stored before it is acknowledged (W10, W11)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class WebhookDelivery(Base):
    """One delivery, unique on Whop's `webhook-id`; status tracks processing and retries."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_received_at", "received_at"),
        # The creator's deliveries page: newest first, optionally by status (keyset paging).
        Index("ix_webhook_delivery_company_received", "company_id", "received_at", "id"),
        Index("ix_webhook_delivery_company_status", "company_id", "status", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(128), unique=True)
    event_type: Mapped[str] = mapped_column(String(128))
    company_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # received | processed | ignored | flagged | failed | dead
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
