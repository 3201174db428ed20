"""Server-side sessions (only the token's hash is stored) and their encrypted Whop tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class UserSession(Base):
    """A signed-in browser; the cookie holds a random token, the row its SHA-256."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    # Where the session began (audit, last seen); access is decided per request's creator.
    creator_id: Mapped[int | None] = mapped_column(
        ForeignKey("creator.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))


class WhopToken(Base):
    """The Whop OAuth grant of one session, encrypted at rest (C14)."""

    __tablename__ = "whop_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("user_session.id", ondelete="CASCADE"), unique=True
    )
    access_token_enc: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime]
    company_id: Mapped[str | None] = mapped_column(String(64))
    # Bumped on every rotation; a refresher that lost the race sees a newer version.
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime]
