"""Who applies a membership change: the source (audit details, and the audit kind for sync)
and the context a handler runs in. What a change does is planned by `memberships.plan` and
written by `memberships.execute`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mentora.config import Settings


class ChangeSource(StrEnum):
    """What brought a membership change (audit details, and the audit kind for sync)."""

    WEBHOOK = "webhook"  # a delivery, applied at intake
    WORKER = "worker"  # a failed delivery, retried by the worker
    REPLAY = "replay"  # a stored delivery, replayed by an operator
    SYNC = "sync"  # reconciliation with Whop's API


ACTIVATED = "membership.activated"
DEACTIVATED = "membership.deactivated"


@dataclass(frozen=True)
class ChangeContext:
    """Who is applying the change: settings, the time, the source, and the webhook id or sync
    run that brought it."""

    settings: Settings
    now: datetime
    source: ChangeSource
    reference: str | None = None
