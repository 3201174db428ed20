"""One name per event: how Whop, its older APIs, its starter apps and our seed spell an event,
reduced to the v1 name its handler is registered under (W09).

- v1 names (`membership.deactivated`) are whop-sdk 2.6.0's `WebhookEvent` list.
- Legacy v2/v5 and seed names (`membership.went_invalid`, `membership.expired`) map to the v1
  event with the same meaning.
- Underscore spellings (`membership_deactivated`, `membership_went_invalid`), as Whop's
  official `whop-saas-starter` handles them, map to their dotted name. They are looked up in a
  table rather than rewritten, because `dispute_alert.created` keeps its underscore.

A name none of these know is returned lower-cased and otherwise as sent: it is still stored
and acknowledged, and `ignored` by the handler table.
"""

from __future__ import annotations

from mentora.whop.schemas import WEBHOOK_EVENT_NAMES

ALIASES: dict[str, str] = {
    "membership.went_valid": "membership.activated",
    "membership.went_invalid": "membership.deactivated",
    "membership.created": "membership.activated",
    "membership.expired": "membership.deactivated",
    "membership.cancelled": "membership.deactivated",
    "membership.canceled": "membership.deactivated",
}
_DOTTED: dict[str, str] = {
    name.replace(".", "_"): name for name in (*WEBHOOK_EVENT_NAMES, *ALIASES)
}


def canonical(name: str) -> str:
    """The v1 name for `name` in any known spelling; an unknown name lower-cased."""
    lowered = name.lower()
    dotted = _DOTTED.get(lowered, lowered)
    return ALIASES.get(dotted, dotted)
