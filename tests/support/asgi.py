"""ASGI plumbing for tests."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class LateBoundASGI:
    """An ASGI app whose target is set later (the emulator and the app point at each other)."""

    def __init__(self) -> None:
        """Start unbound; requests before binding get 503."""
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward to the bound app."""
        if self.target is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"app not bound"})
            return
        await self.target(scope, receive, send)
