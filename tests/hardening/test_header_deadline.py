"""A directly exposed `mentora serve` closes a connection whose request headers arrive byte by
byte (slowloris), while prompt requests and keep-alive connections are served as before."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvicorn

from mentora.web.header_deadline import HeaderDeadlineProtocol
from tests.support.stack import free_port


class QuickDeadline(HeaderDeadlineProtocol):
    """The production protocol with a deadline short enough for a test."""

    header_timeout = 0.5


async def _trickle_until_closed(port: int, limit: float) -> float | None:
    """Send a request line, then one header byte every 0.1 s; seconds until the server closed
    the connection, or None if it was still open after `limit` seconds."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        while loop.time() - started < limit:
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=0.1)
            except TimeoutError:
                writer.write(b"a")  # a byte of a header that never ends
                continue
            if data == b"":
                return loop.time() - started
        return None
    except ConnectionResetError:
        return loop.time() - started
    finally:
        writer.close()


async def test_headers_sent_byte_by_byte_are_cut_off(app: Any) -> None:
    """A trickled header is closed at the deadline; a normal client, keep-alive included,
    still gets its answers on the same server."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, http=QuickDeadline, log_config=None, lifespan="off"
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        closed_after = await _trickle_until_closed(port, limit=5.0)
        assert closed_after is not None and closed_after < 2.0, closed_after
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            first = await http.get("/healthz")
            await asyncio.sleep(1.0)  # idle past the header deadline, inside the keep-alive
            second = await http.get("/healthz")  # the same keep-alive connection
        assert (first.status_code, second.status_code) == (200, 200)
        assert first.extensions["network_stream"] is second.extensions["network_stream"]
    finally:
        server.should_exit = True
        await task
