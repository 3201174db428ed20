"""A deadline for each request's line and headers, for a directly exposed `mentora serve`.

uvicorn closes idle keep-alive connections, but a client that sends its headers one byte at a
time keeps a connection (and a slot) forever: each byte resets nothing uvicorn watches. This
protocol gives the request line and headers `header_timeout` seconds in all, and closes the
connection when they are not complete by then. The clock starts when the connection is
accepted, and on a kept-alive connection when the next request's first byte arrives: the idle
time between two requests is uvicorn's keep-alive timeout (`--timeout-keep-alive`), not ours.
Bodies are not affected.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_SECONDS = 10.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers arrive too slowly."""

    header_timeout: float = HEADER_TIMEOUT_SECONDS
    _header_deadline: asyncio.TimerHandle | None = None
    _between_requests: bool = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection and start the clock for its first request's headers."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """The first byte after a response starts the clock for the next request's headers."""
        if self._between_requests:
            self._between_requests = False
            self._arm()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """The headers are in: the deadline is met."""
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The response is sent: idle until the next request (uvicorn's keep-alive timer)."""
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._between_requests = True

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline of a connection that is gone."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
