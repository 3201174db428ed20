"""A transport in front of a real one (the emulator) that keeps every exchange for the test.

Not a mock: the inner transport answers; the test only gets to see what crossed it, e.g. that
a refused action never reached the emulator, or every token the emulator ever issued.
"""

from __future__ import annotations

import httpx


class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards each request to `inner` and remembers the request and its full response."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        """Record exchanges answered by `inner`."""
        self.inner = inner
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    @property
    def paths(self) -> list[str]:
        """The URL path of every request sent, in order."""
        return [request.url.path for request, _ in self.exchanges]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Let `inner` answer, read the body once, and hand back an equal response."""
        answered = await self.inner.handle_async_request(request)
        body = await answered.aread()
        await answered.aclose()
        response = httpx.Response(
            answered.status_code, headers=answered.headers, content=body, request=request
        )
        self.exchanges.append((request, response))
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()
