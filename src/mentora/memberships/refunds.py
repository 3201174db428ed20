"""What a refund, dispute or dispute alert says about a payment (pure reads of the payload).

Shapes follow whop-sdk 2.6.0: the v1 `Refund` names its payment by `payment_id` and gives
`amount` as `Money`; the legacy `RefundLegacy` nests `payment {id, total, membership {id}}`
with numbers in major units. A v1 `Dispute` nests `payment {id}`; a `DisputeAlert` has a flat
`payment_id`. The membership is read from the payload when it is there, else from our own
payment row (`payments.membership_of_payment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mentora.memberships.money import Amount, read_amount


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _payment(data: dict[str, Any]) -> dict[str, Any]:
    payment = data.get("payment")
    return payment if isinstance(payment, dict) else {}


def payment_id_of(data: dict[str, Any]) -> str | None:
    """The payment a refund, dispute or alert is about."""
    return _str(data.get("payment_id")) or _str(_payment(data).get("id"))


def membership_id_in(data: dict[str, Any]) -> str | None:
    """The membership the payload itself names (legacy shapes nest it in `payment`)."""
    payment = _payment(data)
    membership = payment.get("membership")
    if isinstance(membership, dict):
        return _str(membership.get("id"))
    return _str(membership) or _str(payment.get("membership_id"))


@dataclass(frozen=True)
class RefundFacts:
    """The parts of a refund that decide whether it ends access."""

    id: str
    status: str
    payment_id: str | None
    amount: Amount | None
    # The refunded payment's total, when the payload carries it (legacy shapes do).
    payment_total: Amount | None

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> RefundFacts:
        """Read a v1 or legacy refund; raise ValueError when it has no id."""
        refund_id = _str(data.get("id"))
        if refund_id is None:
            raise ValueError("refund has no id")
        currency = _str(data.get("currency"))
        payment = _payment(data)
        total = payment.get("total")
        return cls(
            id=refund_id,
            status=str(data.get("status") or "unknown"),
            payment_id=payment_id_of(data),
            amount=read_amount(data.get("amount"), currency),
            payment_total=read_amount(total, _str(payment.get("currency")) or currency)
            if total is not None
            else None,
        )


def is_partial(refund: Amount | None, payment_total: Amount | None) -> bool:
    """True only when the refund is known to be less than the payment's total.

    Unknown amounts count as a full refund, so a missing field can only fail closed.
    """
    if refund is None or payment_total is None or refund.decimals != payment_total.decimals:
        return False
    return 0 <= refund.minor < payment_total.minor
