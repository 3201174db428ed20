"""Membership and payment changes, and the webhooks each one emits.

Both the admin API and the HTML control page go through here, so "what changed" and
"which event goes out" are decided in one place.
"""

from __future__ import annotations

from mentora.emulator.config import Clock
from mentora.emulator.records import Membership, Payment
from mentora.emulator.shapes import (
    dispute_alert_json,
    dispute_json,
    membership_json,
    payment_json,
    refund_json,
)
from mentora.emulator.state import EmulatorState, StateError, check_status, new_id
from mentora.emulator.webhooks import LEGACY_NAMES, WebhookRecord, WebhookSender

MEMBERSHIP_EVENTS = (
    "membership.activated",
    "membership.deactivated",
    "membership.cancel_at_period_end_changed",
    "membership.updated",
)
# Receipt `status` and friendly `substatus` for each payment event.
PAYMENT_EVENTS: dict[str, tuple[str, str]] = {
    "payment.succeeded": ("paid", "succeeded"),
    "payment.failed": ("open", "failed"),
    "payment.pending": ("pending", "pending"),
    "payment.created": ("pending", "pending"),
}
# Events about a paid payment: the default status each is sent with.
PAYMENT_CASE_EVENTS: dict[str, str] = {
    "refund.created": "succeeded",
    "refund.updated": "succeeded",
    "dispute.created": "needs_response",
    "dispute.updated": "under_review",
    "dispute_alert.created": "",
}
SUPPORTED_EVENTS = (*MEMBERSHIP_EVENTS, *PAYMENT_EVENTS, *PAYMENT_CASE_EVENTS)
# The seed document's names (docs/seed: `membership.created`, `.expired`, `.cancelled`) →
# the event `trigger` sends, and the status a deactivation leaves.
TRIGGER_ALIASES: dict[str, tuple[str, str | None]] = {
    "membership.created": ("membership.activated", None),
    "membership.expired": ("membership.deactivated", "expired"),
    "membership.cancelled": ("membership.deactivated", "canceled"),
    "membership.canceled": ("membership.deactivated", "canceled"),
}

# The named buttons on the control page and CLI verbs, as (status, cancel_at_period_end).
# `deactivate` models a lapsed membership (expired); `cancel` an immediate cancellation.
MEMBERSHIP_ACTIONS: dict[str, tuple[str | None, bool | None]] = {
    "activate": ("active", False),
    "deactivate": ("expired", None),
    "cancel": ("canceled", None),
    "cancel-at-period-end": (None, True),
}


class Lifecycle:
    """Applies changes to the state and sends the matching webhooks."""

    def __init__(self, state: EmulatorState, sender: WebhookSender, clock: Clock) -> None:
        """Bind to the emulator's state, webhook sender and clock."""
        self.state = state
        self.sender = sender
        self.clock = clock

    def create_membership(
        self,
        *,
        user_id: str,
        product_id: str,
        status: str = "active",
        id: str | None = None,
        cancel_at_period_end: bool = False,
        emit: bool = True,
        legacy: bool | None = None,
    ) -> tuple[Membership, list[WebhookRecord]]:
        """Create a membership; a valid one emits `membership.activated` (someone joined)."""
        membership = self.state.add_membership(
            id=id,
            user_id=user_id,
            product_id=product_id,
            status=status,
            now=self.clock(),
            cancel_at_period_end=cancel_at_period_end,
        )
        if not (emit and membership.valid):
            return membership, []
        return membership, [self._send_membership("membership.activated", membership, legacy)]

    def set_status(
        self,
        membership_id: str,
        *,
        status: str | None = None,
        cancel_at_period_end: bool | None = None,
        legacy: bool | None = None,
    ) -> list[WebhookRecord]:
        """Change status and/or the cancel-at-period-end flag; return the webhooks sent.

        Becoming valid emits `membership.activated`, becoming invalid emits
        `membership.deactivated`, going `past_due` (still valid while Whop retries the
        payment) emits `membership.updated`, and flipping the flag emits
        `membership.cancel_at_period_end_changed`. No change, no event.
        """
        membership = self._membership(membership_id)
        was_valid, old_flag = membership.valid, membership.cancel_at_period_end
        now = self.clock()
        changed = changed_status = False
        if status is not None and status != membership.status:
            check_status(status)
            membership.status = status
            changed = changed_status = True
            if status == "canceled":
                membership.canceled_at = now
            elif status in {"active", "trialing"}:
                membership.canceled_at = None
        if cancel_at_period_end is not None and cancel_at_period_end != old_flag:
            membership.cancel_at_period_end = cancel_at_period_end
            membership.canceled_at = now if cancel_at_period_end else membership.canceled_at
            changed = True
        if not changed:
            return []
        membership.updated_at = now
        sent: list[WebhookRecord] = []
        if membership.valid != was_valid:
            kind = "membership.activated" if membership.valid else "membership.deactivated"
            sent.append(self._send_membership(kind, membership, legacy))
        elif status == "past_due" and changed_status:
            sent.append(self._send_membership("membership.updated", membership, legacy))
        if membership.cancel_at_period_end != old_flag:
            sent.append(
                self._send_membership("membership.cancel_at_period_end_changed", membership, legacy)
            )
        return sent

    def apply_action(self, membership_id: str, action: str) -> list[WebhookRecord]:
        """Apply a named action from `MEMBERSHIP_ACTIONS` (activate, deactivate, ...)."""
        if action not in MEMBERSHIP_ACTIONS:
            raise StateError(f"unknown action {action!r}; use one of {list(MEMBERSHIP_ACTIONS)}")
        status, flag = MEMBERSHIP_ACTIONS[action]
        return self.set_status(membership_id, status=status, cancel_at_period_end=flag)

    def trigger(
        self,
        event_type: str,
        *,
        user_id: str,
        membership_id: str | None = None,
        product_id: str | None = None,
        status: str | None = None,
        amount: str | None = None,
        legacy: bool | None = None,
    ) -> WebhookRecord:
        """Send one event like `stripe trigger`, first making the state agree with it.

        `membership.activated` activates (or creates) the membership, `membership.deactivated`
        expires it, `membership.cancel_at_period_end_changed` flips the flag; `payment.*`
        records a Payment on the membership without changing the membership. Refunds,
        disputes and dispute alerts are about the membership's newest paid payment, sent
        with `status` (default per event) and, for a refund, `amount` (default: all of it).
        The seed's names (`TRIGGER_ALIASES`) are accepted; `legacy` picks the envelope.
        """
        event_type, deactivate_to = TRIGGER_ALIASES.get(event_type, (event_type, None))
        if event_type not in SUPPORTED_EVENTS:
            names = (*SUPPORTED_EVENTS, *TRIGGER_ALIASES)
            raise StateError(f"unsupported event {event_type!r}; use one of {names}")
        if user_id not in self.state.users:
            raise StateError(f"unknown user {user_id}", 404)
        membership = self._resolve_membership(user_id, membership_id, product_id)
        if event_type in PAYMENT_EVENTS:
            return self._send_payment(event_type, user_id, membership, product_id, legacy)
        if event_type in PAYMENT_CASE_EVENTS:
            if membership is None:
                raise StateError(f"user {user_id} has no membership to {event_type}")
            return self._send_case(event_type, membership, status, amount, legacy)
        if membership is None:
            if event_type != "membership.activated":
                raise StateError(f"user {user_id} has no membership to {event_type}")
            membership, sent = self.create_membership(
                user_id=user_id, product_id=self._default_product(product_id), legacy=legacy
            )
            return sent[0]
        sent = []
        if event_type == "membership.activated" and not membership.valid:
            sent = self.set_status(membership.id, status="active", legacy=legacy)
        elif event_type == "membership.deactivated" and membership.valid:
            sent = self.set_status(membership.id, status=deactivate_to or "expired", legacy=legacy)
        elif event_type == "membership.cancel_at_period_end_changed":
            flag = not membership.cancel_at_period_end
            sent = self.set_status(membership.id, cancel_at_period_end=flag, legacy=legacy)
        matching = [r for r in sent if r.type in (event_type, LEGACY_NAMES.get(event_type))]
        return matching[0] if matching else self._send_membership(event_type, membership, legacy)

    def _send_membership(
        self, event_type: str, membership: Membership, legacy: bool | None = None
    ) -> WebhookRecord:
        """Send a membership event whose data is the membership as the REST API shows it."""
        data = membership_json(self.state, membership)
        return self.sender.send(
            event_type,
            data,
            company_id=membership.company_id,
            valid=membership.valid,
            legacy=legacy,
        )

    def _send_case(
        self,
        event_type: str,
        membership: Membership,
        status: str | None,
        amount: str | None,
        legacy: bool | None,
    ) -> WebhookRecord:
        """Send a refund, dispute or dispute alert about the membership's newest paid payment."""
        paid = [
            p
            for p in self.state.payments.values()
            if p.membership_id == membership.id and p.status == "paid"
        ]
        if not paid:
            raise StateError(
                f"membership {membership.id} has no paid payment; trigger payment.succeeded first"
            )
        payment, now = paid[-1], self.clock()
        status = status or PAYMENT_CASE_EVENTS[event_type]
        if event_type.startswith("refund."):
            try:
                refunded = f"{float(amount or payment.amount):.2f}"
            except ValueError:
                raise StateError(f"amount {amount!r} is not a number") from None
            data = refund_json(
                self.state, f"rf_{payment.id[4:]}", payment, amount=refunded, status=status, at=now
            )
        elif event_type.startswith("dispute."):
            # One dispute per payment: `dispute.updated` continues what `.created` opened.
            dispute_id = f"dspt_{payment.id[4:]}"
            data = dispute_json(
                dispute_id, payment, status=status, opened_at=payment.created_at, at=now
            )
        else:
            data = dispute_alert_json(new_id("dspa"), payment, at=now)
        return self.sender.send(event_type, data, company_id=payment.company_id, legacy=legacy)

    def _send_payment(
        self,
        event_type: str,
        user_id: str,
        membership: Membership | None,
        product_id: str | None,
        legacy: bool | None = None,
    ) -> WebhookRecord:
        """Record a payment for the membership (or product) and send its event."""
        product = self.state.products.get(
            membership.product_id if membership else self._default_product(product_id)
        )
        assert product is not None  # _default_product only returns existing products
        status, substatus = PAYMENT_EVENTS[event_type]
        now = self.clock()
        failed = event_type == "payment.failed"
        paid_before = membership is not None and any(
            p.membership_id == membership.id and p.status == "paid"
            for p in self.state.payments.values()
        )
        payment = Payment(
            id=new_id("pay"),
            status=status,
            substatus=substatus,
            amount=product.price,
            currency=product.currency,
            user_id=user_id,
            membership_id=membership.id if membership else None,
            product_id=product.id,
            plan_id=product.plan_id,
            company_id=product.company_id,
            created_at=now,
            paid_at=now if status == "paid" else None,
            failure_message="Your card was declined." if failed else None,
            payments_failed=1 if failed else 0,
            billing_reason="subscription_cycle" if paid_before else "subscription_create",
        )
        self.state.payments[payment.id] = payment
        data = payment_json(self.state, payment)
        return self.sender.send(event_type, data, company_id=product.company_id, legacy=legacy)

    def _resolve_membership(
        self, user_id: str, membership_id: str | None, product_id: str | None
    ) -> Membership | None:
        """Pick the named membership, else the user's newest (for the product, if given)."""
        if membership_id is not None:
            membership = self._membership(membership_id)
            if membership.user_id != user_id:
                raise StateError(f"membership {membership_id} does not belong to {user_id}")
            return membership
        owned = [
            m
            for m in self.state.memberships_of(user_id)
            if product_id is None or m.product_id == product_id
        ]
        return owned[-1] if owned else None

    def _default_product(self, product_id: str | None) -> str:
        """Return `product_id` if it exists, else the first product (the demo one when seeded)."""
        if product_id is not None:
            if product_id not in self.state.products:
                raise StateError(f"unknown product {product_id}", 404)
            return product_id
        if not self.state.products:
            raise StateError("there are no products; create one first")
        return next(iter(self.state.products))

    def _membership(self, membership_id: str) -> Membership:
        """Return the membership or raise a 404 StateError."""
        membership = self.state.memberships.get(membership_id)
        if membership is None:
            raise StateError(f"unknown membership {membership_id}", 404)
        return membership
