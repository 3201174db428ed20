"""A tiny HTTP/1.1 keep-alive load generator on raw asyncio sockets.

httpx spends more CPU per request than the servers under test; on a 2-core machine the load
generator would otherwise cap the figures. Requests are pre-encoded bytes; responses are read
by Content-Length. Loopback only.
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
