"""Pure parsing of a verified webhook body into an `Envelope` (W09).

Accepts Whop's v1 envelope (`type`, `data`, `company_id`/`account_id`, `timestamp`), the legacy
v2/v5 one (`action`, `data`, `company`), and the seed's (`event`). Event names in every known
spelling (legacy, seed, underscored) resolve to today's names through `names.canonical`, so
one handler table serves all of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from mentora.memberships.policy import effective_status
from mentora.webhooks.errors import WebhookPayloadError
from mentora.webhooks.names import canonical
from mentora.whop.schemas import MembershipSnapshot, parse_time

MAX_TYPE_LENGTH = 128
DEACTIVATED = "membership.deactivated"
_TYPE_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")


@dataclass(frozen=True)
class Envelope:
    """The parts of an event Mentora uses; `data` is the resource object as Whop sent it."""

    event_type: str
    company_id: str | None
    data: dict[str, Any]
    sent_at: datetime | None

    @cached_property
    def kind(self) -> str:
        """The canonical event name (every known spelling resolved) that picks the handler;
        worked out once, though a delivery's path asks for it several times."""
        return canonical(self.event_type)

    @cached_property
    def membership(self) -> MembershipSnapshot:
        """The membership a membership event describes (its company from the envelope if
        absent); parsed once, though a batch reads it before its handler does.

        A deactivation is a revocation whatever `status` says: a deactivation event or
        `valid: false` stores the local `deactivated` status instead of a granting one.
        """
        snapshot = MembershipSnapshot.from_payload(self.data, default_company=self.company_id)
        status = effective_status(
            snapshot.status, valid=snapshot.valid, deactivated=self.kind == DEACTIVATED
        )
        if status == snapshot.status:
            return snapshot  # the usual case: `replace` introspects the fields, per delivery
        return replace(snapshot, status=status)


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
