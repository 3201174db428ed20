"""A creator's audit trail: filters by kind, user, outcome and time; keyset pages.

Only events written with the creator's id are shown: sign-ins, refusals, session changes,
membership changes and the team's own actions at this creator. Deployment-wide events
(webhook processing, sync runs) carry no creator and stay with the operator's CLI, because
they may concern other creators.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from mentora.audit.kinds import AuditKind
from mentora.db.models import AuditEvent
from mentora.services import Services
from mentora.web.views.paging import UnknownCursor, older_than

# The kinds offered in the filter (any well-formed kind is accepted).
KINDS: tuple[str, ...] = (
    AuditKind.AUTHN_LOGIN_SUCCESS,
    AuditKind.AUTHN_LOGIN_FAIL,
    AuditKind.AUTHZ_FAIL,
    AuditKind.AUTHZ_ADMIN,
    AuditKind.SESSION_CREATED,
    AuditKind.SESSION_REVOKED,
    AuditKind.SESSION_EXPIRED,
    AuditKind.MEMBERSHIP_CHANGED,
    AuditKind.MEMBERSHIP_RECONCILED,
    AuditKind.MALICIOUS_CSRF,
    AuditKind.AUTHN_TOKEN_REVOKED,
)
SINCE_CHOICES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KIND = re.compile(r"^[a-z_]{1,64}$")
# A Whop user id, or an actor such as `cli:alice` or `worker`.
USER = re.compile(r"^[A-Za-z0-9_:@.\-]{1,128}$")
DETAILS_PREVIEW = 240


def parse_since(text: str, now: datetime) -> datetime:
    """`1h`, `24h`, `7d`, `30d` before `now`, or a `YYYY-MM-DD` date (UTC); ValueError else."""
    if text in SINCE_CHOICES:
        return now - SINCE_CHOICES[text]
    if DATE.match(text):
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    raise ValueError(f"not a time: {text!r}")


@dataclass(frozen=True)
class AuditQuery:
    """What the page asks for (validated by the route)."""

    kind: str | None = None
    user: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True)
class AuditRow:
    """One event as the table shows it."""

    id: int
    at: datetime
    kind: str
    outcome: str
    reason: str | None
    actor: str | None
    subject: str | None
    ip: str | None
    details: str


@dataclass(frozen=True)
class AuditPage:
    """One page of events and the cursor to the next one."""

    rows: list[AuditRow]
    next_before: int | None


def _details(value: dict[str, Any] | None) -> str:
    """`after: active · membership: mem_1`: set fields only, cut short for the table."""
    if not value:
        return ""
    parts = []
    for key in sorted(value):
        item = value[key]
        if item is None or item is False or item in ("", [], {}):
            continue
        shown = item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)
        parts.append(f"{key}: {shown}")
    text = " · ".join(parts)
    return text if len(text) <= DETAILS_PREVIEW else text[: DETAILS_PREVIEW - 1] + "…"


def _conditions(creator_id: int, query: AuditQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [AuditEvent.creator_id == creator_id]
    if query.kind:
        where.append(AuditEvent.kind == query.kind)
    if query.user:
        where.append(or_(AuditEvent.subject == query.user, AuditEvent.actor == query.user))
    if query.outcome:
        where.append(AuditEvent.outcome == query.outcome)
    if query.since:
        where.append(AuditEvent.at >= query.since)
    return where


async def audit_page(services: Services, creator_id: int, query: AuditQuery) -> AuditPage:
    """One page of the creator's events, newest first; raises UnknownCursor."""
    where = _conditions(creator_id, query)
    async with services.sessionmaker() as db:
        if query.before is not None:
            anchor = (
                await db.execute(
                    select(AuditEvent.at).where(
                        AuditEvent.id == query.before, AuditEvent.creator_id == creator_id
                    )
                )
            ).scalar_one_or_none()
            if anchor is None:
                raise UnknownCursor(str(query.before))
            where.append(older_than(AuditEvent.at, AuditEvent.id, anchor, query.before))
        found = list(
            (
                await db.execute(
                    select(AuditEvent)
                    .where(*where)
                    .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                    .limit(query.limit + 1)
                )
            ).scalars()
        )
    rows = [
        AuditRow(
            id=e.id,
            at=e.at,
            kind=e.kind,
            outcome=e.outcome,
            reason=e.reason,
            actor=e.actor,
            subject=e.subject,
            ip=e.ip,
            details=_details(e.details),
        )
        for e in found[: query.limit]
    ]
    next_before = rows[-1].id if len(found) > query.limit else None
    return AuditPage(rows, next_before)
