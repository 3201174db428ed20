"""The event table: one small function per kind of Whop event (W09).

Each handler runs inside the delivery's transaction and returns a `Step`: how the delivery
ends (`processed`, `ignored` for a type Mentora does not act on, `flagged` for a company that
is not one of our creators: stored, never granted) and the membership effects it asks for
(membership snapshots, holds, receipts). `webhooks.apply` plans the effects of every delivery
of a batch together and writes them in bulk; a membership event's outcome comes from what its
snapshot did. A handler that raises leaves no trace but the delivery's `failed` status; the
worker retries it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mentora.audit.record import audit_context
from mentora.creators import alert_address, creator_by_company
from mentora.memberships import holds
from mentora.memberships.effects import ChangeContext
from mentora.memberships.money import read_amount
from mentora.memberships.payments import (
    PaymentFacts,
    membership_of_payment,
    record_payment,
    recorded_total,
)
from mentora.memberships.plan import Event, HoldEvent, MembershipEvent, ReceiptEvent
from mentora.memberships.policy import effective_policy
from mentora.memberships.refunds import RefundFacts, is_partial, membership_id_in, payment_id_of
from mentora.outbox.queue import raise_alert
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


@dataclass(frozen=True)
class Step:
    """What a handler decided: the outcome (None: from what its membership event did) and the
    membership effects to plan."""

    outcome: Outcome | None
    events: tuple[Event, ...] = ()


Handler = Callable[[AsyncSession, Envelope, ChangeContext], Awaitable[Step]]
PROCESSED = Step(Outcome(DeliveryStatus.PROCESSED))
UNKNOWN_COMPANY = Step(Outcome(DeliveryStatus.FLAGGED, "unknown_company"))


def _email_in(data: dict[str, Any]) -> str | None:
    user = data.get("user")
    email = user.get("email") if isinstance(user, dict) else None
    return email if isinstance(email, str) and "@" in email else None


async def on_membership(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Step:
    """Apply the membership in `data`, newest-wins, then its consequences (W13, M02)."""
    event = MembershipEvent(
        snapshot=envelope.membership,
        source=ctx.source,
        reference=ctx.reference,
        event=envelope.kind,
        email=_email_in(envelope.data),
        observed_at=envelope.sent_at,
        audit=audit_context(),
    )
    return Step(None, (event,))


def _hold(ctx: ChangeContext, membership_id: str, reason: str, **how: Any) -> HoldEvent:
    return HoldEvent(
        whop_membership_id=membership_id,
        reason=reason,
        source=ctx.source,
        reference=ctx.reference,
        audit=audit_context(),
        **how,
    )


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


async def on_payment(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Step:
    """Record a payment event that needs no action beyond the record."""
    _, known = await _payment(db, envelope, ctx)
    return PROCESSED if known else UNKNOWN_COMPANY


async def on_payment_succeeded(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Step:
    """Record it, lift a payment-failed hold, and queue a receipt."""
    facts, known = await _payment(db, envelope, ctx)
    if not known:
        return UNKNOWN_COMPANY
    events: list[Event] = []
    if facts.membership_id:
        events.append(_hold(ctx, facts.membership_id, holds.PAYMENT_FAILED, release=True))
    events.append(
        ReceiptEvent(
            payment_id=facts.id,
            # A renewal says "renewed", not the first purchase's "payment received".
            template="renewal_receipt" if facts.is_renewal else "receipt",
            email=facts.email,
            whop_user_id=facts.user_id,
            company_id=facts.company_id,
            amount=facts.amount.display() if facts.amount else "",
            currency=(facts.currency or "").upper(),
        )
    )
    return Step(PROCESSED.outcome, tuple(events))


async def on_payment_failed(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Step:
    """Record it, alert the creator, and pause access when the creator's policy says so
    (its own, else PAYMENT_FAILED_PAUSES_ACCESS)."""
    facts, known = await _payment(db, envelope, ctx)
    if not known:
        return UNKNOWN_COMPANY
    creator = await creator_by_company(db, facts.company_id)
    policy = effective_policy(creator, ctx.settings)
    pause = policy.payment_failed_pauses_access and facts.membership_id is not None
    events: tuple[Event, ...] = ()
    if pause and facts.membership_id:
        events = (_hold(ctx, facts.membership_id, holds.PAYMENT_FAILED, release=False),)
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
    return Step(PROCESSED.outcome, events)


async def _membership_behind(db: AsyncSession, data: dict[str, Any]) -> str | None:
    """The membership a refund or dispute is about: from the payload, else our payment row."""
    return membership_id_in(data) or await membership_of_payment(db, payment_id_of(data))


async def _hold_from(
    db: AsyncSession,
    envelope: Envelope,
    ctx: ChangeContext,
    *,
    reason: str,
    policy: str,
    lifted_by: frozenset[str],
) -> Step:
    """Lift the hold when the event ends it; else hold when `policy` is on for the
    membership's creator (else the envelope's company's), decided when planned."""
    if not isinstance(envelope.data.get("id"), str):
        raise ValueError(f"{envelope.kind} has no id")
    membership_id = await _membership_behind(db, envelope.data)
    if membership_id is None:
        return Step(Outcome(DeliveryStatus.PROCESSED, "no_membership"))
    if str(envelope.data.get("status")) in lifted_by:
        event = _hold(ctx, membership_id, reason, release=True)
    else:
        event = _hold(
            ctx, membership_id, reason, release=False, policy=policy, company_id=envelope.company_id
        )
    return Step(PROCESSED.outcome, (event,))


async def on_refund(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Step:
    """Hold the refunded membership when the creator's refund policy (else
    REFUND_REVOKES_ACCESS) says so; lift it if the refund fails.

    A partial refund (less than the payment's total, from the payload or our payment row)
    never revokes: the customer kept paying for part of it. Unknown totals count as full.
    """
    refund = RefundFacts.from_payload(envelope.data)
    if refund.status not in REFUND_NOT_HAPPENING:
        total = refund.payment_total or await recorded_total(db, refund.payment_id)
        if is_partial(refund.amount, total):
            return Step(Outcome(DeliveryStatus.PROCESSED, "partial_refund"))
    return await _hold_from(
        db,
        envelope,
        ctx,
        reason=holds.REFUNDED,
        policy="refund_revokes_access",
        lifted_by=REFUND_NOT_HAPPENING,
    )


async def on_dispute(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Step:
    """Hold the disputed membership when the creator's dispute policy (else
    DISPUTE_REVOKES_ACCESS) says so; lift it when the dispute is won."""
    return await _hold_from(
        db,
        envelope,
        ctx,
        reason=holds.DISPUTED,
        policy="dispute_revokes_access",
        lifted_by=DISPUTE_CLOSED_IN_OUR_FAVOUR,
    )


async def on_dispute_alert(db: AsyncSession, envelope: Envelope, ctx: ChangeContext) -> Step:
    """Alert the creator: an issuer warned that a payment will be disputed (a chance to
    refund before the chargeback). Access is left alone; a dispute, if one follows, decides."""
    data = envelope.data
    alert_id = data.get("id")
    if not isinstance(alert_id, str) or not alert_id:
        raise ValueError("dispute_alert has no id")
    company_id = data.get("account_id") if isinstance(data.get("account_id"), str) else None
    creator = await creator_by_company(db, company_id or envelope.company_id)
    if creator is None:
        return UNKNOWN_COMPANY
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
    return PROCESSED


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


async def handle(
    db: AsyncSession, envelope: Envelope, ctx: ChangeContext, disabled: frozenset[str]
) -> Step:
    """Run the handler for the envelope's kind; an unknown kind is `ignored` (W09), and an
    event of a creator in `disabled` (company ids) is `flagged`."""
    handler = HANDLERS.get(envelope.kind)
    if handler is None:
        return Step(Outcome(DeliveryStatus.IGNORED, "unhandled_type"))
    if company_of(envelope) in disabled:
        # Stored, never applied, like an unknown company's: enabling it replays these.
        return Step(Outcome(DeliveryStatus.FLAGGED, "creator_disabled"))
    return await handler(db, envelope, ctx)


def company_of(envelope: Envelope) -> str | None:
    """The company an event is about (None when it names none, or its membership is junk:
    its handler then fails on it)."""
    if envelope.kind in MEMBERSHIP_KINDS:
        try:
            return envelope.membership.company_id
        except ValueError:
            return None
    return envelope.company_id or _company_in(envelope.data)


def _company_in(data: dict[str, Any]) -> str | None:
    for key in ("company_id", "account_id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
