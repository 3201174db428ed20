"""Pure parsing of a verified webhook body into an `Envelope` (W09).

Accepts Whop's v1 envelope (`type`, `data`, `company_id`/`account_id`, `timestamp`), the legacy
v2/v5 one (`action`, `data`, `company`), and the seed's (`event`). Event names from the legacy
API and the seed are mapped to today's names (`membership.went_valid` → `membership.activated`),
so one handler table serves all of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from mentora.webhooks.errors import WebhookPayloadError
from mentora.whop.schemas import MembershipSnapshot, parse_time

MAX_TYPE_LENGTH = 128
_TYPE_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")

# Older and seed names → the v1 name whose handler applies (whop-platform.md §2.1-2.2).
ALIASES: dict[str, str] = {
    "membership.went_valid": "membership.activated",
    "membership.went_invalid": "membership.deactivated",
    "membership.created": "membership.activated",
    "membership.expired": "membership.deactivated",
    "membership.cancelled": "membership.deactivated",
    "membership.canceled": "membership.deactivated",
}


@dataclass(frozen=True)
class Envelope:
    """The parts of an event Mentora uses; `data` is the resource object as Whop sent it."""

    event_type: str
    company_id: str | None
    data: dict[str, Any]
    sent_at: datetime | None

    @property
    def kind(self) -> str:
        """The canonical event name (aliases resolved) that picks the handler."""
        return ALIASES.get(self.event_type, self.event_type)

    @cached_property
    def membership(self) -> MembershipSnapshot:
        """The membership a membership event describes (its company from the envelope if
        absent); parsed once, though a batch reads it before its handler does."""
        snapshot = MembershipSnapshot.from_payload(self.data)
        if snapshot.company_id is None and self.company_id:
            snapshot = replace(snapshot, company_id=self.company_id)
        return snapshot


def _company(payload: dict[str, Any]) -> str | None:
    for key in ("company_id", "account_id", "company"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            return str(value["id"])
    return None


def parse_envelope(body: bytes) -> Envelope:
    """Parse a verified body; raise WebhookPayloadError when it is not an event envelope."""
    try:
        # Strict UTF-8 first: json.loads would also guess UTF-16/32, which we cannot store.
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookPayloadError("not_json") from None
    except RecursionError:  # nesting deeper than the interpreter's stack: no event looks so
        raise WebhookPayloadError("too_deep") from None
    if not isinstance(payload, dict):
        raise WebhookPayloadError("not_an_object")
    event_type = payload.get("type") or payload.get("action") or payload.get("event")
    if (
        not isinstance(event_type, str)
        or len(event_type) > MAX_TYPE_LENGTH
        or not _TYPE_PATTERN.fullmatch(event_type)
    ):
        raise WebhookPayloadError("bad_type")
    data = payload.get("data", payload.get("body", {}))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebhookPayloadError("bad_data")
    return Envelope(
        event_type=event_type,
        company_id=_company(payload),
        data=data,
        sent_at=parse_time(payload.get("timestamp")),
    )
