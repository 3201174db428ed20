"""The membership gate under load: a gated endpoint beside /healthz, over real sockets.

Run: .venv/bin/python -m bench.gate [--seconds 4] [--rounds 3] [--concurrency 64] [--workers 1]

The app (uvicorn, SQLite) and the Whop emulator run as separate processes on free loopback
ports (bench/procs.py). A member signs in through the emulator for real, then this process
drives `--concurrency` keep-alive connections against `/healthz` and the gated `/api/content`
in alternating rounds of `--seconds` each (bounded), with a minimal HTTP/1.1 client so the load
generator costs little next to the server. It prints requests per second, p50, p99 and the
slowest request, the gated/ungated ratio, and how many check-access calls reached Whop (steady
state: zero).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlsplit

import httpx

from bench.procs import percentile, running

LOGIN_COOKIE = "__Host-mentora_login"
SESSION_COOKIE = "__Host-mentora_session"
GATED = "/api/content"
UNGATED = "/healthz"
TARGET_RATIO = 0.7
TARGET_P99_MS = 20.0


def _cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1] or None
    return None


async def sign_in(app_url: str, issuer: str, user_id: str = "user_demo_member") -> str:
    """A real sign-in through the emulator's pages; returns the session cookie's value."""
    async with httpx.AsyncClient(timeout=30) as http:
        start = await http.get(f"{app_url}/api/whop/auth", headers={"sec-fetch-mode": "navigate"})
        login = _cookie(start, LOGIN_COOKIE)
        page = await http.get(start.headers["location"])
        fields = {
            k: unescape(v)
            for k, v in re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text
            )
        }
        fields.update(user_id=user_id, decision="approve")
        decided = await http.post(f"{issuer}/oauth/authorize", data=fields)
        parts = urlsplit(decided.headers["location"])
        done = await http.get(
            f"{app_url}{parts.path}?{parts.query}",
            headers={"cookie": f"{LOGIN_COOKIE}={login}", "sec-fetch-mode": "navigate"},
        )
        session = _cookie(done, SESSION_COOKIE)
        if done.status_code != 303 or not session:
            raise RuntimeError(f"sign-in failed: {done.status_code} {done.text[:200]}")
        gated = await http.get(
            f"{app_url}{GATED}", headers={"cookie": f"{SESSION_COOKIE}={session}"}
        )
        if gated.status_code != 200:
            raise RuntimeError(f"gated endpoint refused the member: {gated.status_code}")
        return session


@dataclass
class Result:
    """Latencies (ms) and failures of one endpoint, over all its rounds."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def _connection(host: str, port: int, request: bytes, deadline: float, out: Result) -> None:
    """One keep-alive connection sending `request` back to back until `deadline`."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            if status == 200:
                out.latencies.append((time.perf_counter() - started) * 1000)
            else:
                out.errors += 1
    finally:
        writer.close()


async def load(
    app_url: str, path: str, cookie: str | None, seconds: float, concurrency: int, out: Result
) -> None:
    """Drive `path` from `concurrency` connections for `seconds`."""
    parts = urlsplit(app_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: mentora-bench"]
    if cookie:
        lines.append(f"Cookie: {SESSION_COOKIE}={cookie}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(host, port, request, deadline, out) for _ in range(concurrency))
    )
    out.seconds += time.perf_counter() - started


async def check_calls(issuer: str) -> int:
    """Check-access calls the emulator has served so far."""
    async with httpx.AsyncClient(timeout=10) as http:
        body = (await http.get(f"{issuer}/_emulator/admin/calls")).json()
    return sum(n for path, n in body["by_path"].items() if "/access/" in path)


async def run(
    app_url: str, issuer: str, seconds: float, rounds: int, concurrency: int
) -> tuple[Result, Result, int]:
    """Sign in, warm up, then alternate ungated and gated rounds."""
    cookie = await sign_in(app_url, issuer)
    warm = Result()
    await load(app_url, UNGATED, None, 1.0, concurrency, warm)
    await load(app_url, GATED, cookie, 1.0, concurrency, warm)
    calls_before = await check_calls(issuer)
    ungated, gated = Result(), Result()
    for _ in range(rounds):
        await load(app_url, UNGATED, None, seconds, concurrency, ungated)
        await load(app_url, GATED, cookie, seconds, concurrency, gated)
    return ungated, gated, await check_calls(issuer) - calls_before


def main() -> None:
    """Parse arguments, start the processes, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per endpoint")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    with running(workers=args.workers) as procs:
        ungated, gated, calls = asyncio.run(
            run(procs.app_url, procs.issuer, args.seconds, args.rounds, args.concurrency)
        )
    ratio = gated.rate / ungated.rate if ungated.rate else 0.0
    p99 = percentile(gated.latencies, 99)
    print(
        f"gate benchmark: {args.concurrency} connections, {args.rounds} x {args.seconds:.0f}s "
        f"per endpoint, {args.workers} uvicorn worker(s), SQLite, loopback"
    )
    print(
        f"{'endpoint':<14} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8}"
    )
    for name, result in ((UNGATED, ungated), (GATED, gated)):
        print(
            f"{name:<14} {len(result.latencies):>9} {result.errors:>7} {result.rate:>9.0f} "
            f"{percentile(result.latencies, 50):>8.2f} {percentile(result.latencies, 99):>8.2f}"
            f" {max(result.latencies, default=float('nan')):>8.2f}"
        )
    verdict = "meets" if ratio >= TARGET_RATIO and p99 < TARGET_P99_MS else "misses"
    print(
        f"gated/ungated rate: {ratio:.2f} (target >= {TARGET_RATIO}); gated p99 {p99:.1f} ms "
        f"(target < {TARGET_P99_MS:.0f}); {verdict} the target"
    )
    print(f"check-access calls to Whop during the measured rounds: {calls}")


if __name__ == "__main__":
    main()
