"""Payments recorded from webhooks (for receipts, analytics and holds), newest-wins.

Whop's payment object changed shape across API versions: flat `membership_id`, `account_id`
and a `Money` `total` in 2.6.0; nested `membership {id}` (or a bare `mem_` string) and
`company` in older payloads; `final_amount` (a number in major units) and `page_id` (the
company) in v5. `PaymentFacts` reads all of them and keeps only what Mentora uses. Amounts
are kept in the currency's minor units (`money.read_amount`), whatever its decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.creators import creator_by_company
from mentora.db.insert import insert_ignore
from mentora.db.models import Payment
from mentora.memberships.money import Amount, currency_decimals, read_amount
from mentora.whop.schemas import parse_time


def _ref(data: dict[str, Any], flat: str, nested: str) -> str | None:
    value = data.get(flat)
    if isinstance(value, str) and value:
        return value
    obj = data.get(nested)
    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
        return str(obj["id"])
    if isinstance(obj, str) and obj:  # legacy payloads name the object by its bare id
        return obj
    return None


def _amount(data: dict[str, Any], currency: str | None) -> Amount | None:
    """The charged total: v1 `total` (Money) or legacy `total`, else v5 `final_amount`."""
    for key in ("total", "final_amount"):
        if data.get(key) is not None:
            return read_amount(data[key], currency)
    return None


RENEWAL = "subscription_cycle"  # Whop's billing_reason of a renewal payment


@dataclass(frozen=True)
class PaymentFacts:
    """The parts of a Whop payment Mentora keeps."""

    id: str
    status: str
    membership_id: str | None
    user_id: str | None
    company_id: str | None
    amount: Amount | None
    currency: str | None
    email: str | None
    updated_at: datetime | None
    failure_message: str | None
    billing_reason: str | None = None  # Whop's: subscription_create, subscription_cycle, ...

    @property
    def is_renewal(self) -> bool:
        """True for a subscription's later payment (Whop's `subscription_cycle`)."""
        return self.billing_reason == RENEWAL

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> PaymentFacts:
        """Read a payment object; raise ValueError when it has no id."""
        payment_id = data.get("id")
        if not isinstance(payment_id, str) or not payment_id:
            raise ValueError("payment has no id")
        user = data.get("user")
        email = data.get("customer_email") or (
            user.get("email") if isinstance(user, dict) else None
        )
        currency = data.get("currency")
        return cls(
            id=payment_id,
            status=str(data.get("substatus") or data.get("status") or "unknown")[:32],
            membership_id=_ref(data, "membership_id", "membership"),
            user_id=_ref(data, "user_id", "user"),
            company_id=_ref(data, "account_id", "company")
            or _ref(data, "company_id", "account")
            or _ref(data, "page_id", "page"),
            amount=_amount(data, currency if isinstance(currency, str) else None),
            currency=str(currency)[:8] if isinstance(currency, str) else None,
            email=email if isinstance(email, str) and "@" in email else None,
            updated_at=parse_time(data.get("updated_at") or data.get("created_at")),
            failure_message=data.get("failure_message")
            if isinstance(data.get("failure_message"), str)
            else None,
            billing_reason=str(data["billing_reason"])[:32]
            if isinstance(data.get("billing_reason"), str)
            else None,
        )


async def record_payment(
    db: AsyncSession,
    facts: PaymentFacts,
    *,
    event_type: str,
    now: datetime,
    observed_at: datetime | None,
) -> Payment:
    """Create or update the payment row; an older event never overwrites a newer one."""
    source_at = facts.updated_at or observed_at or now
    creator = await creator_by_company(db, facts.company_id)
    values = {
        "whop_payment_id": facts.id,
        "creator_id": creator.id if creator else None,
        "whop_user_id": facts.user_id,
        "whop_membership_id": facts.membership_id,
        "status": facts.status,
        # Minor units of `currency` (the column predates zero-decimal currencies).
        "amount_cents": facts.amount.minor if facts.amount else None,
        "currency": facts.currency,
        "last_event": event_type[:64],
        "source_updated_at": source_at,
        "created_at": now,
    }
    await db.execute(insert_ignore(db, Payment, values, conflict_on=["whop_payment_id"]))
    row = (
        await db.execute(
            select(Payment)
            .where(Payment.whop_payment_id == facts.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if source_at > row.source_updated_at:
        row.status = facts.status
        row.last_event = event_type[:64]
        row.source_updated_at = source_at
        row.amount_cents = facts.amount.minor if facts.amount else row.amount_cents
        row.whop_membership_id = facts.membership_id or row.whop_membership_id
    return row


async def membership_of_payment(db: AsyncSession, payment_id: str | None) -> str | None:
    """The Whop membership id a recorded payment belongs to, if we know it."""
    if not payment_id:
        return None
    result = await db.execute(
        select(Payment.whop_membership_id).where(Payment.whop_payment_id == payment_id)
    )
    return result.scalar_one_or_none()


async def recorded_total(db: AsyncSession, payment_id: str | None) -> Amount | None:
    """A recorded payment's total, in its currency's minor units, if we know it."""
    if not payment_id:
        return None
    row = (
        await db.execute(
            select(Payment.amount_cents, Payment.currency).where(
                Payment.whop_payment_id == payment_id
            )
        )
    ).one_or_none()
    if row is None or row.amount_cents is None:
        return None
    return Amount(row.amount_cents, currency_decimals(row.currency))
