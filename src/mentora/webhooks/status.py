"""How a stored delivery stands (`WebhookDelivery.status`): one name per state, checked by mypy."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """The lifecycle of a stored delivery; anything else is a typo."""

    RECEIVED = "received"  # stored, its effect not yet run
    PROCESSED = "processed"  # its effect ran
    IGNORED = "ignored"  # an event type Mentora does not act on
    FLAGGED = "flagged"  # names a company that is not a creator here: kept, not applied
    FAILED = "failed"  # its effect raised; the worker retries it with backoff
    DEAD = "dead"  # failed WEBHOOK_MAX_ATTEMPTS times; an alert was raised


# A delivery in one of these states is done: retries and replays leave it alone.
FINISHED = (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.FLAGGED)
NEEDS_ACTION = frozenset({DeliveryStatus.FAILED, DeliveryStatus.DEAD})
