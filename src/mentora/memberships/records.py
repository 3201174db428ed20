"""The records a membership plan asks to write besides rows: outbox messages (rendered, keyed by
their cause) and the fields of its audit events. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mentora.audit.fields import AuditFields
from mentora.audit.kinds import AuditKind
from mentora.memberships.effects import ChangeSource
from mentora.memberships.rows import MemberRow
from mentora.outbox.message import message_columns


def outbox_row(
    key: str, template: str, recipient: str, text: tuple[str, str], now: datetime
) -> dict[str, Any]:
    """An outbox email's columns, its subject and body (`text`) rendered already; `key` names
    its cause."""
    subject, body = text
    return message_columns(
        dedupe_key=key, template=template, recipient=recipient, subject=subject, body=body, now=now
    )


def change_fields(
    row: MemberRow,
    *,
    reason: str,
    before: str | None,
    source: ChangeSource,
    whop_event: str | None,
    reference: str | None,
    now: datetime,
) -> AuditFields:
    """`membership_changed` (`membership_reconciled` when sync found it) for an applied change."""
    sync = source == ChangeSource.SYNC
    return {
        "kind": AuditKind.MEMBERSHIP_RECONCILED if sync else AuditKind.MEMBERSHIP_CHANGED,
        "outcome": "success",
        "reason": reason,
        "now": now,
        "subject": row.whop_user_id,
        "creator_id": row.creator_id,
        "details": {
            "membership": row.whop_membership_id,
            "before": before,
            "after": row.status,
            "hold": row.access_hold,
            "source": source,
            "whop_event": whop_event,
            "reference": reference,
            "flagged": row.flagged,
        },
    }


def session_fields(row: MemberRow, now: datetime) -> AuditFields:
    """`session_revoked` for the sessions the end of `row` ends (the count comes at writing)."""
    return {
        "kind": AuditKind.SESSION_REVOKED,
        "outcome": "success",
        "reason": "membership_ended",
        "now": now,
        "subject": row.whop_user_id,
        "creator_id": row.creator_id,
        "details": {"membership": row.whop_membership_id},
    }
