"""What a membership plan is asked to do, in arrival order: Whop described a membership, a
payment event holds (or lifts a hold on) one, a successful payment wants a receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mentora.audit.fields import AuditContext
from mentora.memberships.effects import ChangeSource
from mentora.whop.schemas import MembershipSnapshot


@dataclass(frozen=True)
class MembershipEvent:
    """Whop described a membership (a webhook or reconciliation)."""

    snapshot: MembershipSnapshot
    source: ChangeSource
    reference: str | None = None  # the webhook id or sync run that brought it
    event: str | None = None  # the canonical webhook event name
    email: str | None = None  # an address found in the payload
    observed_at: datetime | None = None  # the event's time, when Whop's payload has no updated_at
    audit: AuditContext | None = None  # the request it came with


@dataclass(frozen=True)
class HoldEvent:
    """A payment event holds (or lifts a hold on) a membership.

    `policy` names the `PaymentPolicy` flag of the membership's creator (else of
    `company_id`'s) that must be on for the hold to be placed; None places it regardless.
    """

    whop_membership_id: str
    reason: str
    release: bool
    source: ChangeSource
    reference: str | None = None
    policy: str | None = None
    company_id: str | None = None
    audit: AuditContext | None = None


@dataclass(frozen=True)
class ReceiptEvent:
    """A successful payment: a receipt to the payer (the payload's address, else the user's)."""

    payment_id: str
    template: str
    email: str | None
    whop_user_id: str | None
    company_id: str | None
    amount: str
    currency: str


Event = MembershipEvent | HoldEvent | ReceiptEvent
