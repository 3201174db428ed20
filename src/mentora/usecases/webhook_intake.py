"""Webhook intake: a signed delivery from Whop, verified, stored and applied, or refused.

`receive` is the whole use case: verify the raw body and parse its envelope, then store and
apply it (batched with the deliveries arriving beside it), and return the final status.
`reject` audits a refusal as `webhook_rejected`, except when the store itself is down: the
delivery is then answered 503 and Whop retries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mentora.services import Services
from mentora.webhooks.errors import WebhookError, WebhookStoreUnavailable
from mentora.webhooks.intake import audit_rejection, check_and_parse


@dataclass
class Received:
    """What became of one delivery: its (Whop-signed) event type and final status."""

    event_type: str
    status: str


async def receive(services: Services, body: bytes, headers: Mapping[str, str]) -> Received:
    """Verify, store and apply one delivery; raise its `WebhookError` when refused.

    The caller audits a refusal (`reject`) after its own rate limit on junk has had its say:
    a client past that limit must not buy an audit row per request.
    """
    delivery, envelope = check_and_parse(services, body, headers)
    batcher = services.batchers.for_running_loop()
    status = await batcher.submit(delivery, envelope, headers)
    return Received(envelope.event_type, status)


async def reject(services: Services, error: WebhookError) -> None:
    """Audit a refused delivery (`webhook_rejected`), unless the store itself was what failed."""
    if not isinstance(error, WebhookStoreUnavailable):
        await audit_rejection(services, error)
