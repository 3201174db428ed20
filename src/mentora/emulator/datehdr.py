"""The `Date` header on every emulator response, from the emulator's clock.

Whop's responses carry the time at Whop; `mentora doctor` compares it with the local clock.
Written from the emulator clock (not the server's wall clock, as uvicorn's own header would
be), so a test on a frozen clock sees no skew and a test that moves one clock sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ClockDateMiddleware:
    """Set `Date` on each HTTP response to `now()` (RFC 9110 IMF-fixdate)."""

    def __init__(self, app: ASGIApp, now: Callable[[], datetime]) -> None:
        """Wrap `app`; `now` is the emulator clock."""
        self.app = app
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Replace any Date header on the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                stamp = format_datetime(self.now(), usegmt=True).encode()
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self.app(scope, receive, send_with_date)
