"""Amounts in a currency's minor units, as Whop's payloads state them (pure).

Whop's v1 `Money` carries `amount` (an exact decimal string in major units) and `decimals`
(the places the charge runs at: 2 for USD, 0 for JPY). Legacy v2/v5 payloads give a bare
number in major units (`final_amount: 2` for two dollars), so the currency's ISO 4217 minor
unit stands in for `decimals`. Multiplying by 100 whatever the currency made a 1000 JPY
payment read as 10.00.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# ISO 4217 currencies whose minor unit is not 2 (the list changes rarely; a currency missing
# here is read with 2 places, as before). Lowercase, as Whop writes currencies.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "pyg", "rwf", "ugx", "vnd", "vuv"}
    | {"xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"})


def currency_decimals(currency: str | None) -> int:
    """The places `currency`'s minor unit has (ISO 4217); 2 when unknown."""
    code = (currency or "").lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


@dataclass(frozen=True)
class Amount:
    """An amount in minor units and the places that make it major."""

    minor: int
    decimals: int

    def display(self) -> str:
        """The amount in major units with exactly its places (`29.00`, `1000`)."""
        major = Decimal(self.minor).scaleb(-self.decimals)
        return f"{major:.{self.decimals}f}"


def read_amount(value: Any, currency: str | None) -> Amount | None:
    """Read a v1 `Money` object or a legacy number in major units; None when unreadable."""
    if isinstance(value, dict):
        places = value.get("decimals")
        decimals = places if isinstance(places, int) and 0 <= places <= 8 else None
        currency = value.get("currency") if isinstance(value.get("currency"), str) else currency
        value = value.get("amount")
    else:
        decimals = None
    if decimals is None:
        decimals = currency_decimals(currency)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        major = Decimal(str(value))
        if not major.is_finite():
            return None
        return Amount(int(major.scaleb(decimals).to_integral_value()), decimals)
    except (InvalidOperation, ValueError):
        return None
