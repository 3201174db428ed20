"""POST /api/whop/webhooks: Whop's signed deliveries (thin: see usecases/webhook_intake.py).

Registered with and without the trailing slash, because a redirect counts as a failed
delivery (W14). Status codes: 200 stored (or duplicate, or ignored type), 400 malformed,
401 unverifiable, 413 too large, 415 not JSON, 503 not stored (Whop retries).
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mentora import metrics
from mentora.ratelimit.errors import RateLimited
from mentora.usecases import webhook_intake
from mentora.web.deps import get_services
from mentora.web.ratelimit import webhook_rejections
from mentora.webhooks.errors import WebhookError, WebhookTooLarge

router = APIRouter(tags=["webhooks"])

# Per delivery, a metric child looked up by label values and a JSON body rendered afresh cost
# more than verifying the signature: both are kept by (event type, outcome) and by outcome.
# Bounded like the metric's own label set: only Whop-signed names and our own codes.
_COUNTERS: dict[tuple[str, str], Counter] = {}
_ANSWERS: dict[str, bytes] = {}


def _count(event_type: str, outcome: str) -> None:
    """Count one delivery in WEBHOOK_DELIVERIES."""
    key = (event_type, outcome)
    child = _COUNTERS.get(key)
    if child is None:
        child = _COUNTERS[key] = metrics.WEBHOOK_DELIVERIES.labels(*key)
    child.inc()


def _answer(outcome: str) -> Response:
    """`{"received": true, "status": outcome}`, as JSONResponse renders it."""
    body = _ANSWERS.get(outcome)
    if body is None:
        rendered = JSONResponse({"received": True, "status": outcome}).body
        body = _ANSWERS[outcome] = bytes(rendered)
    return Response(body, media_type="application/json")


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
async def receive_webhook(request: Request) -> Response:
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
        _count(event_type, outcome)
        metrics.WEBHOOK_PROCESSING_SECONDS.observe(time.perf_counter() - started)
    return _answer(outcome)
