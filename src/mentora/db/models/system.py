"""Operational rows: worker heartbeats and reconciliation reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class WorkerHeartbeat(Base):
    """The last time each worker process finished a loop (read by /readyz)."""

    __tablename__ = "worker_heartbeat"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    beat_at: Mapped[datetime]


class SyncRun(Base):
    """One reconciliation with Whop's API and what it changed."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The one creator this run reconciled; NULL for a run over every creator (the worker's).
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creator.id", ondelete="CASCADE"))
