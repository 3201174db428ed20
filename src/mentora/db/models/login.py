"""Pending sign-ins: state, nonce and PKCE verifier kept server-side for one use (S05)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from mentora.db.base import Base


class LoginAttempt(Base):
    """One sign-in attempt, bound to a browser by the hash of an opaque cookie."""

    # The table keeps its first name: renaming it would be a migration for a word.
    __tablename__ = "login_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    state: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier_enc: Mapped[bytes] = mapped_column(LargeBinary)
    issuer: Mapped[str] = mapped_column(String(400))
    redirect_uri: Mapped[str] = mapped_column(String(400))
    return_to: Mapped[str] = mapped_column(String(400), default="/dashboard")
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
