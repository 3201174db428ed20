"""Intake: verify, then store and apply in one transaction, then answer (W01, W10, W11).

A 2xx means the delivery is durable. If it cannot be stored, `WebhookStoreUnavailable` (503)
makes Whop retry. A duplicate `webhook-id` is acknowledged without a second effect. A
rejected delivery is audited (`webhook_rejected`), but an audit failure never turns a 401
into something else.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from sqlalchemy.exc import SQLAlchemyError

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record_alone
from mentora.db.uow import transaction
from mentora.foundation import Foundation
from mentora.memberships.effects import ChangeSource
from mentora.webhooks import store
from mentora.webhooks.envelope import Envelope, parse_envelope
from mentora.webhooks.errors import (
    WebhookError,
    WebhookStoreUnavailable,
    WebhookUnsupportedMedia,
)
from mentora.webhooks.process import run_effect
from mentora.webhooks.verify import VerifiedDelivery, signing_keys, verify

log = structlog.get_logger("mentora.webhooks")

DUPLICATE = "duplicate"


def check_and_parse(
    base: Foundation, body: bytes, headers: Mapping[str, str]
) -> tuple[VerifiedDelivery, Envelope]:
    """Verify the raw body, then require JSON, then parse the envelope (W01, W09)."""
    settings = base.settings
    delivery = verify(
        body,
        headers,
        keys=signing_keys(settings.webhook_secrets),
        now=base.clock.now(),
        tolerance=settings.webhook_tolerance_seconds,
        legacy=settings.webhook_legacy_signature,
    )
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise WebhookUnsupportedMedia("not_json_content_type")
    return delivery, parse_envelope(body)


async def store_and_apply(
    base: Foundation,
    delivery: VerifiedDelivery,
    envelope: Envelope,
    headers: Mapping[str, str],
) -> str:
    """Store the delivery and run its effect in one transaction; returns the final status."""
    now = base.clock.now()
    try:
        async with transaction(base.sessionmaker, write=True) as db:
            row = await store.claim(db, delivery, envelope, headers, now=now, attempts=1)
            if row is None:
                log.info(
                    "webhook_duplicate", webhook_id=delivery.webhook_id, type=envelope.event_type
                )
                return DUPLICATE
            return await run_effect(
                db, row, settings=base.settings, now=now, source=ChangeSource.WEBHOOK, counted=True
            )
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.error("webhook_store_failed", webhook_id=delivery.webhook_id, error=type(exc).__name__)
        raise WebhookStoreUnavailable("store_failed", type(exc).__name__) from None


async def audit_rejection(base: Foundation, error: WebhookError) -> None:
    """Write `webhook_rejected` for a refused delivery; never raise."""
    try:
        await record_alone(
            base.sessionmaker,
            kind=AuditKind.WEBHOOK_REJECTED,
            outcome="failure",
            reason=error.reason,
            now=base.clock.now(),
            details={"status": error.status},
        )
    except Exception as exc:  # the rejection stands even if audit is down
        log.error("webhook_rejection_unrecorded", reason=error.reason, error=type(exc).__name__)
