"""The Whop objects the emulator keeps: users, companies, products, experiences, memberships,
payments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mentora.emulator.config import VALID_STATUSES


def iso(moment: datetime | None) -> str | None:
    """Format an aware datetime as ISO 8601 UTC with milliseconds and a `Z` (Whop's style)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class User:
    """A Whop user (`user_...`)."""

    id: str
    username: str
    name: str
    email: str
    created_at: datetime
    bio: str | None = None

    @property
    def picture_url(self) -> str:
        """Return a stable placeholder avatar URL; Whop always returns one."""
        return f"https://assets.whop.test/avatars/{self.id}.png"


@dataclass
class Company:
    """A Whop company/account (`biz_...`) with the user ids on its team (all admins here)."""

    id: str
    name: str
    route: str
    created_at: datetime
    admin_user_ids: list[str] = field(default_factory=list)
    logo_url: str | None = None


@dataclass
class Product:
    """A product (`prod_...`) with the single plan (`plan_...`) the emulator sells for it."""

    id: str
    company_id: str
    title: str
    plan_id: str
    created_at: datetime
    price: str = "10.00"
    currency: str = "usd"
    billing_period_days: int | None = 30


@dataclass
class Experience:
    """An installed app's place in a company (`exp_...`), attached to some of its products.

    With `product_ids` empty the experience grants to members of any product of its company
    (a simplification: at Whop an experience with no products is visible to the team only).
    """

    id: str
    company_id: str
    name: str
    created_at: datetime
    app_id: str
    product_ids: list[str] = field(default_factory=list)


@dataclass
class Membership:
    """A user's membership of a product; `seq` orders it for cursor pagination."""

    id: str
    user_id: str
    product_id: str
    plan_id: str
    company_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    seq: int
    member_id: str
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Whether this membership currently grants access (see `VALID_STATUSES`)."""
        return self.status in VALID_STATUSES


@dataclass
class Payment:
    """A payment (`pay_...`) created by a triggered `payment.*` event."""

    id: str
    status: str  # ReceiptStatus: paid, open, pending, ...
    substatus: str  # FriendlyReceiptStatus: succeeded, failed, pending, ...
    amount: str
    currency: str
    user_id: str
    membership_id: str | None
    product_id: str | None
    plan_id: str | None
    company_id: str | None
    created_at: datetime
    paid_at: datetime | None
    failure_message: str | None = None
    payments_failed: int = 0
    # Whop's BillingReasons: the first paid payment of a membership creates the subscription,
    # each later one is a renewal ("subscription_cycle").
    billing_reason: str = "subscription_create"
