"""An outbox message's columns: the one shape every writer uses (`outbox.queue` one at a
time, the membership executor in bulk). Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# The dedupe_key column's length: a longer cause is cut, never refused.
DEDUPE_KEY_LENGTH = 200


def message_columns(
    *,
    dedupe_key: str,
    template: str,
    recipient: str,
    subject: str,
    body: str,
    now: datetime,
    kind: str = "email",
) -> dict[str, Any]:
    """A pending message's columns, due now; `dedupe_key` names its cause. The subject and
    body come rendered (`templates.render`): a caller that queues the same text for many
    recipients renders it once."""
    return {
        "dedupe_key": dedupe_key[:DEDUPE_KEY_LENGTH],
        "kind": kind,
        "template": template,
        "recipient": recipient,
        "subject": subject,
        "body": body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
