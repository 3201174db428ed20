"""Full sign-ins per second through the emulator over real sockets, and the callback's latency.

Run: .venv/bin/python -m bench.signin [--seconds 15] [--concurrency 16]
The emulator and the app run as separate processes (SQLite); this process plays the browsers.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from html import unescape
from urllib.parse import urlsplit

import httpx

from bench.procs import percentile, running

LOGIN_COOKIE = "__Host-mentora_login"
SESSION_COOKIE = "__Host-mentora_session"
USERS = ["user_demo_member", "user_other_member"]


def _cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1] or None
    return None


async def one_sign_in(http: httpx.AsyncClient, app_url: str, issuer: str) -> float:
    """One browser's whole sign-in; returns the callback's latency in ms."""
    start = await http.get(f"{app_url}/api/whop/auth", headers={"sec-fetch-mode": "navigate"})
    login = _cookie(start, LOGIN_COOKIE)
    page = await http.get(start.headers["location"] + "&login_hint=user_demo_member")
    fields = {
        k: unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    fields.update(user_id="user_demo_member", decision="approve")
    decided = await http.post(f"{issuer}/oauth/authorize", data=fields)
    parts = urlsplit(decided.headers["location"])
    t0 = time.perf_counter()
    done = await http.get(
        f"{app_url}{parts.path}?{parts.query}",
        headers={"cookie": f"{LOGIN_COOKIE}={login}", "sec-fetch-mode": "navigate"},
    )
    elapsed = (time.perf_counter() - t0) * 1000
    if done.status_code != 303 or not _cookie(done, SESSION_COOKIE):
        raise RuntimeError(f"sign-in failed: {done.status_code} {done.text[:200]}")
    return elapsed


async def run(seconds: float, concurrency: int, app_url: str, issuer: str) -> dict[str, float]:
    """Drive sign-ins from `concurrency` browsers for `seconds`."""
    latencies: list[float] = []
    errors = 0
    first_errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def browser(n: int) -> None:
        nonlocal errors
        # Each browser from its own loopback address, as separate people would be (the app
        # caps pending sign-ins per client IP).
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.{n // 250}.{n % 250 + 2}")
        async with httpx.AsyncClient(
            timeout=30, transport=transport, limits=httpx.Limits(max_keepalive_connections=4)
        ) as http:
            while time.monotonic() < deadline:
                try:
                    latencies.append(await one_sign_in(http, app_url, issuer))
                except (RuntimeError, httpx.HTTPError, KeyError) as exc:
                    errors += 1
                    if len(first_errors) < 3:
                        first_errors.append(f"{type(exc).__name__}: {exc}"[:120])

    started = time.monotonic()
    await asyncio.gather(*(browser(n) for n in range(concurrency)))
    wall = time.monotonic() - started
    for error in first_errors:
        print("error:", error)
    return {
        "sign_ins": len(latencies),
        "errors": errors,
        "per_second": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


def main() -> None:
    """Parse arguments, start the processes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    args = parser.parse_args()
    with running(workers=args.workers, database_url=args.database_url) as procs:
        result = asyncio.run(run(args.seconds, args.concurrency, procs.app_url, procs.issuer))
    print(
        f"sign-in benchmark: {args.seconds:.0f}s, {args.concurrency} browsers, app workers={args.workers}, SQLite"
    )
    print(
        f"{'sign-ins':>10} {'errors':>7} {'per second':>11} {'callback p50 ms':>16} {'callback p99 ms':>16}"
    )
    print(
        f"{result['sign_ins']:>10.0f} {result['errors']:>7.0f} {result['per_second']:>11.1f} "
        f"{result['p50_ms']:>16.1f} {result['p99_ms']:>16.1f}"
    )


if __name__ == "__main__":
    main()
