"""What an audit row says (`AuditFields`) and where its request came from (`AuditContext`):
plain types, importable by pure code that plans audit rows without writing them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Required, TypedDict

from mentora.audit.kinds import AuditKind


@dataclass(frozen=True)
class AuditContext:
    """Where the current request came from."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    actor: str | None = None


class AuditFields(TypedDict, total=False):
    """What a caller says about an audit event; the request context supplies the rest."""

    kind: Required[AuditKind]
    outcome: Required[str]
    now: Required[datetime]
    reason: str | None
    subject: str | None
    creator_id: int | None
    actor: str | None
    details: dict[str, Any] | None
