"""Pure rules for local membership state: which statuses grant access, which update wins.

Whop delivers webhooks at least once and in no order (W13), and the same membership is also
read by reconciliation and at sign-in. Every writer goes through `supersedes`, so an older
description can never overwrite a newer one, whoever brings it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mentora.config import Settings

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


class PolicySource(Protocol):
    """A creator's own payment policies (the Creator row): None means "the setting's"."""

    @property
    def payment_failed_pauses_access(self) -> bool | None:
        """Pause access when a payment fails."""
        ...

    @property
    def refund_revokes_access(self) -> bool | None:
        """Hold access when a payment is fully refunded."""
        ...

    @property
    def dispute_revokes_access(self) -> bool | None:
        """Hold access while a dispute is open."""
        ...


@dataclass(frozen=True)
class PaymentPolicy:
    """What a creator's failed payments, refunds and disputes do to its members' access."""

    payment_failed_pauses_access: bool
    refund_revokes_access: bool
    dispute_revokes_access: bool


def effective_policy(creator: PolicySource | None, settings: Settings) -> PaymentPolicy:
    """The creator's own payment policies where set, the settings' where NULL (or no creator).

    A creator nobody has configured therefore behaves exactly as a single-creator install did
    before policies moved onto the creator row.
    """

    def pick(own: bool | None, default: bool) -> bool:
        return default if own is None else own

    return PaymentPolicy(
        payment_failed_pauses_access=pick(
            creator.payment_failed_pauses_access if creator else None,
            settings.payment_failed_pauses_access,
        ),
        refund_revokes_access=pick(
            creator.refund_revokes_access if creator else None, settings.refund_revokes_access
        ),
        dispute_revokes_access=pick(
            creator.dispute_revokes_access if creator else None, settings.dispute_revokes_access
        ),
    )
