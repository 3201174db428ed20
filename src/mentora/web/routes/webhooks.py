"""POST /api/whop/webhooks: Whop's signed deliveries (thin: see usecases/webhook_intake.py).

Registered with and without the trailing slash, because a redirect counts as a failed
delivery (W14). Status codes: 200 stored (or duplicate, or ignored type), 400 malformed,
401 unverifiable, 413 too large, 415 not JSON, 503 not stored (Whop retries).
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from mentora import metrics
from mentora.ratelimit.errors import RateLimited
from mentora.usecases import webhook_intake
from mentora.web.deps import get_services
from mentora.web.ratelimit import webhook_rejections
from mentora.webhooks.errors import WebhookError, WebhookTooLarge

router = APIRouter(tags=["webhooks"])


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 past `limit` bytes without reading the rest (R04)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise WebhookTooLarge("too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookTooLarge("too_large")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/api/whop/webhooks")
@router.post("/api/whop/webhooks/", include_in_schema=False)
async def receive_webhook(request: Request) -> JSONResponse:
    """Verify the raw bytes, store and apply the event, then acknowledge."""
    # Read directly, not as a dependency: FastAPI's dependency solving cost more per delivery
    # than verifying it.
    services = get_services(request)
    # A duration, not business time: the monotonic clock is right here (W15).
    started = time.perf_counter()
    event_type, outcome = "unverified", "error"
    try:
        body = await read_capped(request, services.settings.webhook_max_body_bytes)
        received = await webhook_intake.receive(services, body, request.headers)
        # Only Whop-signed names become label values, so the label set stays bounded.
        event_type, outcome = received.event_type, received.status
    except WebhookError as exc:
        outcome = exc.code
        if exc.status in (401, 413):
            # Unverified junk only: 429 past the limit. Valid deliveries are never counted (R03).
            try:
                await webhook_rejections(request, services)
            except RateLimited:
                outcome = "rate_limited"
                raise
        await webhook_intake.reject(services, exc)
        raise
    finally:
        metrics.WEBHOOK_DELIVERIES.labels(event_type=event_type, outcome=outcome).inc()
        metrics.WEBHOOK_PROCESSING_SECONDS.observe(time.perf_counter() - started)
    return JSONResponse({"received": True, "status": outcome})
