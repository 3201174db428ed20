"""The event table: one small function per kind of Whop event (W09).

Each handler runs inside the delivery's transaction and returns how the delivery ended:
`processed`, `ignored` (a type Mentora does not act on) or `flagged` (a company that is not one
of our creators: stored, never granted). A handler that raises leaves no trace but the
delivery's `failed` status; the worker retries it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.creators import alert_address, creator_by_company
from mentora.db.models import Creator, Membership, User
from mentora.memberships import holds
from mentora.memberships.effects import ChangeContext, after_change
from mentora.memberships.money import read_amount
from mentora.memberships.payments import (
    PaymentFacts,
    membership_of_payment,
    record_payment,
    recorded_total,
)
from mentora.memberships.policy import PaymentPolicy, effective_policy
from mentora.memberships.refunds import RefundFacts, is_partial, membership_id_in, payment_id_of
from mentora.memberships.store import apply_snapshot
from mentora.outbox.queue import enqueue_email, raise_alert
from mentora.webhooks.envelope import Envelope
from mentora.webhooks.status import DeliveryStatus

# whop-sdk 2.6.0's `Dispute.status` docstring: `won` returned the funds to the seller; `lost`
# returned them to the customer and `prevented` means the customer was refunded before any
# ruling, "so it settles like lost". `warning_closed` closes an inquiry, which moves no funds.
DISPUTE_CLOSED_IN_OUR_FAVOUR = frozenset({"won", "warning_closed"})
REFUND_NOT_HAPPENING = frozenset({"failed", "canceled"})


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended, and a short note for the audit row."""

    status: DeliveryStatus
    note: str | None = None


Handler = Callable[[AsyncSession, Envelope, ChangeContext], Awaitable[Outcome]]


def _email_in(data: dict[str, Any]) -> str | None:
    user = data.get("user")
    email = user.get("email") if isinstance(user, dict) else None
    return email if isinstance(email, str) and "@" in email else None


async def on_membership(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Apply the membership in `data`, newest-wins, then its consequences (W13, M02)."""
    change = await apply_snapshot(
        db, envelope.membership, now=ctx.now, observed_at=envelope.sent_at, preloaded=ctx.preloaded
    )
    await after_change(
        db, change, replace(ctx, email=_email_in(envelope.data), event=envelope.kind)
    )
    if change.membership.flagged:
        return Outcome(DeliveryStatus.FLAGGED, "unknown_company")
    return Outcome(DeliveryStatus.PROCESSED, None if change.applied else "stale")


async def _payment(
    db: AsyncSession, envelope: Envelope, ctx: ChangeContext
) -> tuple[PaymentFacts, bool]:
    """Record the payment; returns its facts and whether it belongs to a known creator."""
    facts = PaymentFacts.from_payload(envelope.data)
    if facts.company_id is None and envelope.company_id:
        facts = replace(facts, company_id=envelope.company_id)
    row = await record_payment(
        db, facts, event_type=envelope.event_type, now=ctx.now, observed_at=envelope.sent_at
    )
    return facts, row.creator_id is not None


async def on_payment(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Record a payment event that needs no action beyond the record."""
    _, known = await _payment(db, envelope, ctx)
    return (
        Outcome(DeliveryStatus.PROCESSED)
        if known
        else Outcome(DeliveryStatus.FLAGGED, "unknown_company")
    )


async def on_payment_succeeded(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Record it, lift a payment-failed hold, and queue a receipt."""
    facts, known = await _payment(db, envelope, ctx)
    if not known:
        return Outcome(DeliveryStatus.FLAGGED, "unknown_company")
    if facts.membership_id:
        await holds.release_hold(db, facts.membership_id, holds.PAYMENT_FAILED, ctx)
    recipient = facts.email
    user = None
    if facts.user_id:
        user = (
            await db.execute(select(User).where(User.whop_user_id == facts.user_id))
        ).scalar_one_or_none()
        recipient = recipient or (user.email if user else None)
    if recipient:
        creator = await creator_by_company(db, facts.company_id)
        amount = facts.amount.display() if facts.amount else ""
        await enqueue_email(
            db,
            dedupe_key=f"receipt:{facts.id}",
            # A renewal says "renewed", not the first purchase's "payment received".
            template="renewal_receipt" if facts.is_renewal else "receipt",
            recipient=recipient,
            context={
                "name": (user.name or user.username) if user else "there",
                "creator": creator.name if creator else "",
                "amount": amount,
                "currency": (facts.currency or "").upper(),
                "payment_id": facts.id,
            },
            now=ctx.now,
        )
    return Outcome(DeliveryStatus.PROCESSED)


async def on_payment_failed(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Record it, alert the creator, and pause access when the creator's policy says so
    (its own, else PAYMENT_FAILED_PAUSES_ACCESS)."""
    facts, known = await _payment(db, envelope, ctx)
    if not known:
        return Outcome(DeliveryStatus.FLAGGED, "unknown_company")
    creator = await creator_by_company(db, facts.company_id)
    policy = effective_policy(creator, ctx.settings)
    pause = policy.payment_failed_pauses_access and facts.membership_id is not None
    if pause and facts.membership_id:
        await holds.set_hold(db, facts.membership_id, holds.PAYMENT_FAILED, ctx)
    await raise_alert(
        db,
        dedupe_key=f"payment_failed:{facts.id}",
        template="payment_failed_alert",
        context={
            "creator": creator.name if creator else "",
            "payment_id": facts.id,
            "user_id": facts.user_id or "",
            "membership_id": facts.membership_id or "",
            "reason": facts.failure_message or "",
            "paused": "yes" if pause else "no",
        },
        alert_email=alert_address(creator, ctx.settings.creator_alert_email),
        now=ctx.now,
    )
    return Outcome(DeliveryStatus.PROCESSED)


async def _membership_behind(db: AsyncSession, data: dict[str, Any]) -> str | None:
    """The membership a refund or dispute is about: from the payload, else our payment row."""
    return membership_id_in(data) or await membership_of_payment(db, payment_id_of(data))


async def _creator_of(
    db: AsyncSession, membership_id: str, company_id: str | None
) -> Creator | None:
    """The creator whose member is held: the membership's, else the envelope's company's."""
    creator_id = await db.scalar(
        select(Membership.creator_id).where(Membership.whop_membership_id == membership_id)
    )
    if creator_id is not None:
        return await db.get(Creator, creator_id)
    return await creator_by_company(db, company_id)


async def _hold_from(
    db: AsyncSession,
    envelope: Envelope,
    ctx: ChangeContext,
    *,
    reason: str,
    enabled: Callable[[PaymentPolicy], bool],
    lifted_by: frozenset[str],
) -> Outcome:
    if not isinstance(envelope.data.get("id"), str):
        raise ValueError(f"{envelope.kind} has no id")
    membership_id = await _membership_behind(db, envelope.data)
    if membership_id is None:
        return Outcome(DeliveryStatus.PROCESSED, "no_membership")
    if str(envelope.data.get("status")) in lifted_by:
        await holds.release_hold(db, membership_id, reason, ctx)
    elif enabled(
        effective_policy(await _creator_of(db, membership_id, envelope.company_id), ctx.settings)
    ):
        await holds.set_hold(db, membership_id, reason, ctx)
    return Outcome(DeliveryStatus.PROCESSED)


async def on_refund(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Hold the refunded membership when the creator's refund policy (else
    REFUND_REVOKES_ACCESS) says so; lift it if the refund fails.

    A partial refund (less than the payment's total, from the payload or our payment row)
    never revokes: the customer kept paying for part of it. Unknown totals count as full.
    """
    refund = RefundFacts.from_payload(envelope.data)
    if refund.status not in REFUND_NOT_HAPPENING:
        total = refund.payment_total or await recorded_total(db, refund.payment_id)
        if is_partial(refund.amount, total):
            return Outcome(DeliveryStatus.PROCESSED, "partial_refund")
    return await _hold_from(
        db,
        envelope,
        ctx,
        reason=holds.REFUNDED,
        enabled=lambda policy: policy.refund_revokes_access,
        lifted_by=REFUND_NOT_HAPPENING,
    )


async def on_dispute(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Hold the disputed membership when the creator's dispute policy (else
    DISPUTE_REVOKES_ACCESS) says so; lift it when the dispute is won."""
    return await _hold_from(
        db,
        envelope,
        ctx,
        reason=holds.DISPUTED,
        enabled=lambda policy: policy.dispute_revokes_access,
        lifted_by=DISPUTE_CLOSED_IN_OUR_FAVOUR,
    )


async def on_dispute_alert(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Alert the creator: an issuer warned that a payment will be disputed (a chance to
    refund before the chargeback). Access is left alone; a dispute, if one follows, decides."""
    data = envelope.data
    alert_id = data.get("id")
    if not isinstance(alert_id, str) or not alert_id:
        raise ValueError("dispute_alert has no id")
    company_id = data.get("account_id") if isinstance(data.get("account_id"), str) else None
    creator = await creator_by_company(db, company_id or envelope.company_id)
    if creator is None:
        return Outcome(DeliveryStatus.FLAGGED, "unknown_company")
    payment_id = payment_id_of(data)
    currency = data.get("currency") if isinstance(data.get("currency"), str) else None
    amount = read_amount(data.get("amount"), currency)
    await raise_alert(
        db,
        dedupe_key=f"dispute_alert:{alert_id}",
        template="dispute_alert",
        context={
            "creator": creator.name,
            "alert_id": alert_id,
            "alert_type": str(data.get("type") or data.get("alert_type") or "dispute_alert"),
            "payment_id": payment_id or "",
            "membership_id": await _membership_behind(db, data) or "",
            "amount": f"{amount.display()} {(currency or '').upper()}".strip() if amount else "",
            "auto_refunded": "yes" if data.get("auto_refunded") is True else "no",
        },
        alert_email=alert_address(creator, ctx.settings.creator_alert_email),
        now=ctx.now,
    )
    return Outcome(DeliveryStatus.PROCESSED)


HANDLERS: dict[str, Handler] = {
    "membership.activated": on_membership,
    "membership.deactivated": on_membership,
    "membership.updated": on_membership,
    "membership.cancel_at_period_end_changed": on_membership,
    "membership.trial_ending_soon": on_membership,
    "payment.succeeded": on_payment_succeeded,
    "payment.failed": on_payment_failed,
    "payment.created": on_payment,
    "payment.pending": on_payment,
    "payment.authorized": on_payment,
    "payment.canceled": on_payment,
    "payment.requires_action": on_payment,
    "refund.created": on_refund,
    "refund.updated": on_refund,
    "dispute.created": on_dispute,
    "dispute.updated": on_dispute,
    "dispute_alert.created": on_dispute_alert,
}


MEMBERSHIP_KINDS = frozenset(kind for kind, run in HANDLERS.items() if run is on_membership)


async def handle(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Outcome:
    """Run the handler for the envelope's kind; an unknown kind is `ignored` (W09)."""
    handler = HANDLERS.get(envelope.kind)
    if handler is None:
        return Outcome(DeliveryStatus.IGNORED, "unhandled_type")
    if await _disabled(db, envelope, ctx):
        # Stored, never applied, like an unknown company's: enabling it replays these.
        return Outcome(DeliveryStatus.FLAGGED, "creator_disabled")
    return await handler(db, envelope, ctx)


async def _disabled(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> bool:
    """True when the event's company is a creator that an operator disabled."""
    company_id = envelope.company_id
    if envelope.kind in MEMBERSHIP_KINDS:
        company_id = envelope.membership.company_id
    elif company_id is None:
        company_id = _company_in(envelope.data)
    if company_id is None:
        return False
    preloaded = ctx.preloaded
    if preloaded is not None and company_id in preloaded.creators:
        creator = preloaded.creators[company_id]
    else:
        creator = await creator_by_company(db, company_id)
    return creator is not None and not creator.enabled


def _company_in(data: dict[str, Any]) -> str | None:
    for key in ("company_id", "account_id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
