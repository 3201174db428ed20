"""Pure rules for local membership state: which statuses grant access, which update wins.

Whop delivers webhooks at least once and in no order (W13), and the same membership is also
read by reconciliation and at sign-in. Every writer goes through `supersedes`, so an older
description can never overwrite a newer one, whoever brings it.
"""

from __future__ import annotations

from datetime import datetime

# Whop keeps access while it retries a payment (`past_due`), for one-time purchases
# (`completed`) and until the paid period ends (`canceling`); whop-platform.md §3.1.
GRANTING_STATUSES: frozenset[str] = frozenset(
    {"trialing", "active", "past_due", "completed", "canceling"}
)
# Local status for a membership Whop no longer knows (retrieve answered 404 during sync).
MISSING_STATUS = "missing"
# Local status for a membership Whop deactivated while its `status` field still read as
# granting: a legacy `went_invalid` carrying `status: completed` with `valid: false` (Whop's
# own example), or a v1 `membership.deactivated` whose status is past_due, completed or
# canceling. The event and `valid` outrank `status` (whop-platform.md, facts checked later).
DEACTIVATED_STATUS = "deactivated"


def effective_status(status: str, *, valid: bool | None, deactivated: bool) -> str:
    """The status to store: `status`, unless Whop said the membership no longer grants access
    (a deactivation event, or `valid: false`) while `status` alone would still grant it."""
    if status in GRANTING_STATUSES and (deactivated or valid is False):
        return DEACTIVATED_STATUS
    return status


def gives_access(status: str | None, hold: str | None = None) -> bool:
    """True when a membership in `status`, without a local hold, grants access."""
    return status in GRANTING_STATUSES and hold is None


def supersedes(
    *,
    stored_at: datetime,
    stored_status: str,
    incoming_at: datetime,
    incoming_status: str,
) -> bool:
    """True when the incoming description should replace the stored one.

    Newer wins. On an exact tie the one that does not grant access wins, so a tie can only
    fail closed; reconciliation settles it from Whop's current answer.
    """
    if incoming_at > stored_at:
        return True
    if incoming_at < stored_at:
        return False
    return gives_access(stored_status) and not gives_access(incoming_status)
