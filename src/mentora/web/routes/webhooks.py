"""POST /api/whop/webhooks: Whop's signed deliveries (thin: see usecases/webhook_intake.py).

Registered with and without the trailing slash, because a redirect counts as a failed
delivery (W14). Status codes: 200 stored (or duplicate, or ignored type), 400 malformed,
401 unverifiable, 413 too large, 415 not JSON, 503 not stored (Whop retries).

The endpoint is a bare ASGI app on a Starlette route, not a FastAPI route: it takes no
parameters, so FastAPI's request handling (dependency solving, its response wrapping) was
pure per-delivery overhead, more than verifying the signature costs (issue 17's profile).
Refusals are still raised as `WebhookError`s and answered by the app's exception handlers.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from prometheus_client import Counter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mentora import metrics
from mentora.ratelimit.errors import RateLimited
from mentora.usecases import webhook_intake
from mentora.web.openapi import operation
from mentora.web.ratelimit import webhook_rejections
from mentora.web.state import scope_app_state
from mentora.webhooks.errors import WebhookError, WebhookTooLarge

PATH = "/api/whop/webhooks"
PATHS = (PATH, PATH + "/")

# Per delivery, a metric child looked up by label values and a JSON body rendered afresh cost
# more than verifying the signature: both are kept by (event type, outcome) and by outcome.
# Bounded like the metric's own label set: only Whop-signed names and our own codes.
_COUNTERS: dict[tuple[str, str], Counter] = {}
_ANSWERS: dict[str, tuple[bytes, list[tuple[bytes, bytes]]]] = {}


def _count(event_type: str, outcome: str) -> None:
    """Count one delivery in WEBHOOK_DELIVERIES."""
    key = (event_type, outcome)
    child = _COUNTERS.get(key)
    if child is None:
        child = _COUNTERS[key] = metrics.WEBHOOK_DELIVERIES.labels(*key)
    child.inc()


def _answer(outcome: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """`{"received": true, "status": outcome}` as JSONResponse renders it, and its headers."""
    answer = _ANSWERS.get(outcome)
    if answer is None:
        rendered = JSONResponse({"received": True, "status": outcome})
        answer = _ANSWERS[outcome] = (bytes(rendered.body), list(rendered.raw_headers))
    body, headers = answer
    return body, list(headers)  # a copy: the middleware appends its headers to the list


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case, per ASGI) name; the first of repeated ones wins,
    as in Starlette's `Headers.get`. One pass: each `Headers` lookup is a scan of them all."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


async def read_capped(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The raw body, refused with 413 past `limit` bytes without reading the rest (R04)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise WebhookTooLarge("too_large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise WebhookTooLarge("too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def receive_webhook(scope: Scope, receive: Receive, send: Send) -> None:
    """Verify the raw bytes, store and apply the event, then acknowledge."""
    services = scope_app_state(scope).services
    # A duration, not business time: the monotonic clock is right here (W15).
    started = time.perf_counter()
    event_type, outcome = "unverified", "error"
    try:
        headers = request_headers(scope)
        body = await read_capped(receive, headers, services.settings.webhook_max_body_bytes)
        received = await webhook_intake.receive(services, body, headers)
        # Only Whop-signed names become label values, so the label set stays bounded.
        event_type, outcome = received.event_type, received.status
    except WebhookError as exc:
        outcome = exc.code
        if exc.status in (401, 413):
            # Unverified junk only: 429 past the limit. Valid deliveries are never counted (R03).
            try:
                await webhook_rejections(Request(scope, receive), services)
            except RateLimited:
                outcome = "rate_limited"
                raise
        await webhook_intake.reject(services, exc)
        raise
    finally:
        _count(event_type, outcome)
        metrics.WEBHOOK_PROCESSING_SECONDS.observe(time.perf_counter() - started)
    body, answer_headers = _answer(outcome)
    await send({"type": "http.response.start", "status": 200, "headers": answer_headers})
    await send({"type": "http.response.body", "body": body})


class WebhookEndpoint:
    """`receive_webhook` as an ASGI callable object: Starlette wraps a plain function as a
    request/response endpoint, and serves an object as the ASGI app it is."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one delivery."""
        await receive_webhook(scope, receive, send)


ENDPOINT = WebhookEndpoint()
router = APIRouter(tags=["webhooks"])
# Appended as Starlette routes (typed for any ASGI endpoint), before any app includes them.
router.routes.extend(
    Route(path, ENDPOINT, methods=["POST"], include_in_schema=False) for path in PATHS
)
# Their POSTs are served past the framework's outer layers (web/hotpaths.py); the routes
# answer the other methods (405).
HOT: tuple[tuple[str, str, ASGIApp], ...] = tuple(("POST", path, ENDPOINT) for path in PATHS)
OPENAPI = {
    PATH: {
        "post": operation(
            "webhooks",
            "Receive Webhook",
            "Verify the raw bytes, store and apply the event, then acknowledge.",
            "receive_webhook_api_whop_webhooks_post",
        )
    }
}
