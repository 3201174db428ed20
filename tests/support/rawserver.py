"""A raw HTTP/1.1 server on loopback for tests of outbound HTTP: it reads and writes the bytes
itself, so a test sees exactly what a client sent and can answer anything, however malformed."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

HOST = "127.0.0.1"


@dataclass
class RawRequest:
    """One request as its bytes arrived: request line, header lines in order, body."""

    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def values(self, name: bytes) -> list[bytes]:
        """Every value sent under header `name` (case-insensitive), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Server:
    """A raw HTTP/1.1 server's record: its port, the connections it accepted, the requests."""

    port: int = 0
    connections: int = 0
    requests: list[RawRequest] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The URL the client should be given."""
        return f"http://{HOST}:{self.port}"


async def read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    """Read one request (head, then a Content-Length body); None when the client closed first."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = head[:-4].split(b"\r\n")
    method, target, version = request_line.split(b" ")
    headers = []
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers.append((name, value.strip()))
    lengths = [v for k, v in headers if k.lower() == b"content-length"]
    body = await reader.readexactly(int(lengths[0])) if lengths else b""
    return RawRequest(method, target, version, headers, body)


def response_bytes(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    """A whole HTTP/1.1 response, Content-Length added."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


Handler = Callable[[Server, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """Run `handler` for every accepted connection (behind TLS with `tls`); on exit close the
    listener, every connection still open, and wait for every handler to finish."""
    record = Server()
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.append(writer)
        record.connections += 1
        try:
            await handler(record, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            # The client went away mid-exchange (some tests make it do so), or refused the
            # certificate mid-handshake.
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, HOST, 0, ssl=tls)
    record.port = server.sockets[0].getsockname()[1]
    try:
        yield record
    finally:
        server.close()
        await server.wait_closed()
        for writer in writers:
            writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)


def keep_alive(answer: Callable[[RawRequest], bytes]) -> Handler:
    """A handler that records each request on the connection and writes `answer(request)`,
    until the client closes the connection."""

    async def handle(
        record: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await read_request(reader)) is not None:
            record.requests.append(request)
            writer.write(answer(request))
            await writer.drain()

    return handle
