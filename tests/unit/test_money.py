"""Unit tests of amounts in a currency's minor units (issue 13, item 5)."""

from __future__ import annotations

from typing import Any

import pytest

from mentora.memberships.money import Amount, read_amount
from mentora.memberships.refunds import is_partial


@pytest.mark.parametrize(
    ("value", "currency", "minor", "shown"),
    [
        ({"amount": "29.00", "currency": "usd", "decimals": 2}, None, 2900, "29.00"),
        ({"amount": "1000", "currency": "jpy", "decimals": 0}, None, 1000, "1000"),
        ({"amount": "1.250", "currency": "kwd", "decimals": 3}, None, 1250, "1.250"),
        (2, "usd", 200, "2.00"),
        (1000, "jpy", 1000, "1000"),
        ("19.99", "eur", 1999, "19.99"),
        (5, None, 500, "5.00"),
    ],
)
def test_minor_units_follow_the_currency(
    value: Any, currency: str | None, minor: int, shown: str
) -> None:
    """Money's `decimals`, else the currency's ISO 4217 places, decide the minor units."""
    amount = read_amount(value, currency)
    assert amount is not None
    assert amount.minor == minor
    assert amount.display() == shown


@pytest.mark.parametrize("value", [None, True, "ten", float("nan"), {"amount": None}, [1]])
def test_unreadable_amounts_are_none(value: Any) -> None:
    """Anything that is not an amount reads as None, never a wrong number."""
    assert read_amount(value, "usd") is None


def test_partial_only_when_known_to_be_less() -> None:
    """A refund is partial only when both amounts are known, alike and the refund is smaller."""
    assert is_partial(Amount(1000, 2), Amount(2900, 2))
    assert not is_partial(Amount(2900, 2), Amount(2900, 2))
    assert not is_partial(None, Amount(2900, 2))
    assert not is_partial(Amount(1000, 2), None)
    assert not is_partial(Amount(10, 0), Amount(2900, 2))
