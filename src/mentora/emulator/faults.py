"""Fault injection and call counting for the Whop-facing endpoints.

An ASGI middleware sits in front of every route. Requests to the OAuth, discovery and
REST endpoints are counted and may be slowed down or failed; the admin API and the HTML
control page are never touched, so a test can always observe and undo what it injected.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

# Paths that are the emulator's own controls rather than "Whop".
Sleep = Callable[[float], Awaitable[None]]
_CONTROL_PREFIXES = ("/_emulator",)
_CONTROL_EXACT = frozenset({"/", "/favicon.ico"})


def is_whop_path(path: str) -> bool:
    """Return True for paths that stand in for Whop (counted and faultable)."""
    return path not in _CONTROL_EXACT and not path.startswith(_CONTROL_PREFIXES)


@dataclass
class Fault:
    """One injected fault for requests whose path starts with `path_prefix`.

    `status` (e.g. 500 or 429) replaces the response; `latency` seconds are added first.
    `remaining` counts down per matching request; None means until cleared.
    """

    path_prefix: str
    status: int | None = None
    latency: float = 0.0
    retry_after: float | None = None
    remaining: int | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the fault as admin-API JSON."""
        return asdict(self)


class FaultBook:
    """The list of active faults plus per-path request counters."""

    def __init__(self) -> None:
        """Start with no faults and zero counts."""
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()

    def add(self, fault: Fault) -> Fault:
        """Register a fault; the earliest matching fault wins."""
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def take(self, path: str) -> Fault | None:
        """Return the fault for this request (spending one use of it), if any."""
        for fault in self.faults:
            if path.startswith(fault.path_prefix):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def count(self, path_prefix: str | None = None) -> int:
        """Return how many Whop-endpoint requests were served, optionally by path prefix."""
        if path_prefix is None:
            return sum(self.calls.values())
        return sum(n for path, n in self.calls.items() if path.startswith(path_prefix))


class FaultMiddleware:
    """ASGI middleware: count Whop-endpoint calls and apply injected faults."""

    def __init__(self, app: ASGIApp, book: FaultBook, sleep: Sleep = asyncio.sleep) -> None:
        """Wrap `app`; `book` is shared with the emulator so tests can steer it; `sleep`
        waits out a latency fault."""
        self.app = app
        self.book = book
        self.sleep = sleep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count, delay or fail the request, or pass it through untouched."""
        if scope["type"] != "http" or not is_whop_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.book.calls[path] += 1
        fault = self.book.take(path)
        if fault is not None and fault.latency > 0:
            await self.sleep(fault.latency)
        if fault is None or fault.status is None:
            await self.app(scope, receive, send)
            return
        await _send_fault(path, fault, send)


async def _send_fault(path: str, fault: Fault, send: Send) -> None:
    """Answer with the injected status in the error shape the endpoint family uses."""
    status = fault.status or 500
    limited = status == 429
    body: dict[str, Any]
    if path.startswith("/api/"):
        body = {
            "error": {
                "type": "rate_limit_error" if limited else "api_error",
                "code": "rate_limited" if limited else "internal_error",
                "message": "Injected fault (emulator).",
            }
        }
    else:
        body = {
            "error": "rate_limit_exceeded" if limited else "server_error",
            "error_description": "Injected fault (emulator).",
        }
    headers = [(b"content-type", b"application/json")]
    if limited:
        retry_after = fault.retry_after if fault.retry_after is not None else 1
        headers.append((b"retry-after", _format_seconds(retry_after).encode()))
    payload = json.dumps(body).encode()
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _format_seconds(value: float) -> str:
    """Render Retry-After as whole seconds, rounded up (RFC 9110 delay-seconds is an integer)."""
    return str(max(0, math.ceil(value)))
