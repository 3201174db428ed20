"""Full sign-ins per second through the emulator over real sockets, and the callback's latency.

Run: .venv/bin/python -m bench.signin [--seconds 15] [--concurrency 16]
The emulator and the app run as separate processes (SQLite); this process plays the browsers,
each with its own keep-alive connections on raw sockets (bench/rawhttp.py): with httpx the
browsers took about a third as much CPU per sign-in as the app, on the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import time
from html import unescape
from urllib.parse import urlencode, urlsplit

from bench.procs import percentile, running
from bench.rawhttp import RawConnection, RawResponse

LOGIN_COOKIE = "__Host-mentora_login"
SESSION_COOKIE = "__Host-mentora_session"


def _cookie(response: RawResponse, name: str) -> str | None:
    for header in response.header_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1] or None
    return None


def _target(url: str) -> str:
    """The request target (path and query) of an absolute URL."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class Browser:
    """One person's browser: a keep-alive connection to the app and one to the emulator."""

    def __init__(self, app_url: str, issuer: str, local_address: str, user_id: str) -> None:
        """`user_id` signs in, from `local_address` (each browser its own loopback address)."""
        self.user_id = user_id
        app, emulator = urlsplit(app_url), urlsplit(issuer)
        self.app = RawConnection(app.hostname or "", app.port or 80, local_address)
        self.emulator = RawConnection(emulator.hostname or "", emulator.port or 80, local_address)

    async def sign_in(self) -> float:
        """One whole sign-in through the emulator's pages; returns the callback's latency (ms)."""
        navigate = {"sec-fetch-mode": "navigate", "user-agent": "mentora-bench"}
        start = await self.app.request("GET", "/api/whop/auth", navigate)
        login = _cookie(start, LOGIN_COOKIE)
        location = start.header("location")
        if start.status not in (302, 303, 307) or not login or not location:
            raise RuntimeError(f"sign-in start: {start.status}")
        page = await self.emulator.request(
            "GET", f"{_target(location)}&login_hint={self.user_id}", navigate
        )
        fields = {
            k: unescape(v)
            for k, v in re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.body.decode()
            )
        }
        fields.update(user_id=self.user_id, decision="approve")
        decided = await self.emulator.request(
            "POST",
            "/oauth/authorize",
            {**navigate, "content-type": "application/x-www-form-urlencoded"},
            urlencode(fields).encode(),
        )
        back = decided.header("location")
        if not back:
            raise RuntimeError(f"emulator decision: {decided.status}")
        t0 = time.perf_counter()
        done = await self.app.request(
            "GET", _target(back), {**navigate, "cookie": f"{LOGIN_COOKIE}={login}"}
        )
        elapsed = (time.perf_counter() - t0) * 1000
        if done.status != 303 or not _cookie(done, SESSION_COOKIE):
            raise RuntimeError(f"sign-in failed: {done.status} {done.body[:200]!r}")
        return elapsed

    async def close(self) -> None:
        """Close both connections."""
        await self.app.close()
        await self.emulator.close()


async def create_members(issuer: str, count: int) -> list[str]:
    """`count` people with active memberships at the emulator; their user ids."""
    admin = urlsplit(issuer)
    connection = RawConnection(admin.hostname or "", admin.port or 80)
    json_headers = {"content-type": "application/json"}
    users = []
    batch = secrets.token_hex(3)
    try:
        for n in range(count):
            name = f"bench_{batch}_{n}"
            body = {"username": name, "email": f"{name}@example.test", "name": f"Bench {n}"}
            created = await connection.request(
                "POST", "/_emulator/admin/users", json_headers, json.dumps(body).encode()
            )
            if created.status != 201 and created.status != 200:
                raise RuntimeError(f"emulator refused a user: {created.status} {created.body!r}")
            user_id = json.loads(created.body)["id"]
            membership = {"user_id": user_id, "product_id": "prod_demo"}
            await connection.request(
                "POST",
                "/_emulator/admin/memberships",
                json_headers,
                json.dumps(membership).encode(),
            )
            users.append(user_id)
    finally:
        await connection.close()
    return users


async def run(seconds: float, concurrency: int, app_url: str, issuer: str) -> dict[str, float]:
    """Drive sign-ins from `concurrency` browsers, each a different member, for `seconds`."""
    users = await create_members(issuer, concurrency)
    latencies: list[float] = []
    errors = 0
    first_errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def browser(n: int) -> None:
        nonlocal errors
        # Each browser from its own loopback address, as separate people would be (the app
        # caps pending sign-ins per client IP).
        person = Browser(app_url, issuer, f"127.0.{n // 250}.{n % 250 + 2}", users[n])
        try:
            while time.monotonic() < deadline:
                try:
                    latencies.append(await person.sign_in())
                except (RuntimeError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    errors += 1
                    await person.close()
                    if len(first_errors) < 3:
                        first_errors.append(f"{type(exc).__name__}: {exc}"[:120])
        finally:
            await person.close()

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
