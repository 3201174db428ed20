"""A tiny HTTP/1.1 keep-alive client and load generator on raw asyncio sockets.

httpx spends more CPU per request than the servers under test; on a 2-core machine the load
generator would otherwise cap the figures. Requests are pre-encoded bytes; responses are read
by Content-Length. Loopback only, for benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    """What one closed-loop run measured."""

    requests: int = 0
    non_2xx: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def encode_request(url: str, method: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """Raw HTTP/1.1 request bytes (keep-alive)."""
    parts = urlsplit(url)
    lines = [
        f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"host: {parts.netloc}",
        f"content-length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def closed_loop(
    url: str, make_request: Callable[[int], bytes], *, concurrency: int, seconds: float
) -> LoadResult:
    """`concurrency` connections, each sending the next request when the last one answered."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = LoadResult()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                payload = make_request(next(counter))
                t0 = time.perf_counter()
                writer.write(payload)
                status = await _read_response(reader)
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.requests += 1
                if not 200 <= status < 300:
                    result.non_2xx += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class RawResponse:
    """Status, headers (names lower-cased) and body of one response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header `name`, if any."""
        return next((v for k, v in self.headers if k == name), None)

    def header_list(self, name: str) -> list[str]:
        """Every value of header `name`."""
        return [v for k, v in self.headers if k == name]


class RawConnection:
    """One keep-alive HTTP/1.1 connection, opened on first use and again after a close."""

    def __init__(self, host: str, port: int, local_address: str | None = None) -> None:
        """Where to connect, and from which loopback address."""
        self.host, self.port, self.local_address = host, port, local_address
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> RawResponse:
        """Send one request and read its whole response."""
        if self._streams is None:
            local = (self.local_address, 0) if self.local_address else None
            self._streams = await asyncio.open_connection(self.host, self.port, local_addr=local)
        reader, writer = self._streams
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            lines.append(f"content-length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        parsed = []
        for line in header_lines:
            name, _, value = line.partition(":")
            parsed.append((name.strip().lower(), value.strip()))
        response = RawResponse(int(status_line.split(" ", 2)[1]), parsed, b"")
        if response.header("transfer-encoding"):
            # Every response the benchmarks read carries Content-Length; fail loudly otherwise.
            await self.close()
            raise ValueError(f"{method} {target}: a response without Content-Length")
        response.body = await reader.readexactly(int(response.header("content-length") or 0))
        if (response.header("connection") or "").lower() == "close":
            await self.close()
        return response

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
