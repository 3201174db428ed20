"""Local access holds: a payment event pauses a membership that Whop still calls valid.

Which events pause access is configured (PAYMENT_FAILED_PAUSES_ACCESS, REFUND_REVOKES_ACCESS,
DISPUTE_REVOKES_ACCESS). The first hold wins; a hold is lifted only by the event that can end
it (a later successful payment ends a `payment_failed` hold). Reconciliation leaves holds
alone: Whop's status says nothing about them. Holds are planned (`memberships.plan.HoldEvent`)
and written with the other membership effects.
"""

from __future__ import annotations


class MembershipNotStored(LookupError):
    """A hold was asked for a membership with no local row yet; the delivery is retried."""


PAYMENT_FAILED = "payment_failed"
REFUNDED = "refunded"
DISPUTED = "disputed"
