"""Full sign-ins per second through the emulator over real sockets, and the callback's latency.

Run: .venv/bin/python -m bench.signin [--seconds 15] [--healthz-seconds 6] [--rounds 3]
     [--concurrency 16] [--count-seconds 3] [--profile]
The emulator and the app run as separate processes (SQLite); this process plays the browsers,
each with its own keep-alive connections on raw sockets (bench/rawhttp.py): with httpx the
browsers took about a third as much CPU per sign-in as the app, on the same two cores.

The same app first serves /healthz for `--healthz-seconds`, then the sign-ins; the ratio of
the two rates is the figure that counts (a busy machine moves both). Around the sign-ins it
reads the app's CPU time (/proc), and with `--profile` samples it with py-spy and prints where
the CPU went. That app runs the shipped settings. The SQL statements per sign-in, by verb, are
counted afterwards in a second app with SQL_STATEMENT_METRICS on, for `--count-seconds` of
sign-ins: the counting hook costs about 2 % of a sign-in's CPU, which the timed run must not
pay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench.procs import Procs, cpu_seconds, percentile, running
from bench.profile import Breakdown, breakdown
from bench.profile import record as pyspy
from bench.rawhttp import RawConnection, RawResponse, closed_loop, encode_request

LOGIN_COOKIE = "__Host-mentora_login"
SESSION_COOKIE = "__Host-mentora_session"
TARGET_RATIO = 0.025  # issue 17: sign-ins/s ÷ /healthz req/s


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


async def run(seconds: float, concurrency: int, app_url: str, issuer: str) -> SignIns:
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
    return SignIns(latencies, errors, wall)


@dataclass
class SignIns:
    """What one or more runs of sign-ins gave: each callback's latency (ms), the errors and
    the time they took."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0

    def add(self, other: SignIns) -> None:
        """Count `other`'s sign-ins with these."""
        self.latencies += other.latencies
        self.errors += other.errors
        self.wall += other.wall

    @property
    def count(self) -> int:
        """Sign-ins completed."""
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        """Sign-ins completed per second."""
        return self.count / self.wall if self.wall else 0.0


async def metrics_text(app_url: str) -> str:
    """The app's /metrics page."""
    parts = urlsplit(app_url)
    connection = RawConnection(parts.hostname or "", parts.port or 80)
    try:
        return (await connection.request("GET", "/metrics", {})).body.decode()
    finally:
        await connection.close()


async def statement_counts(app_url: str) -> Counter[str]:
    """The app's SQL statements so far, by verb (mentora_db_statements_total)."""
    body = await metrics_text(app_url)
    counts: Counter[str] = Counter()
    for verb, value in re.findall(
        r'^mentora_db_statements_total\{verb="([^"]+)"\} (\S+)$', body, re.M
    ):
        counts[verb] = round(float(value))
    return counts


async def healthz_rate(app_url: str, seconds: float, concurrency: int) -> float:
    """/healthz requests per second from `concurrency` keep-alive connections."""
    request = encode_request(f"{app_url}/healthz", "GET", {"user-agent": "mentora-bench"})
    result = await closed_loop(app_url, lambda _: request, concurrency=concurrency, seconds=seconds)
    return result.per_second


@dataclass
class Measured:
    """One run's figures: both rates, the app's CPU, its statements and its profile."""

    healthz_per_second: float
    signins: SignIns
    cpu_ms_per_sign_in: float
    emulator_cpu_ms: float
    browsers_cpu_ms: float
    statements: Counter[str]
    profile: Breakdown | None
    counted_sign_ins: float = 0.0


async def measure(args: argparse.Namespace, procs: Procs, profile_file: Path | None) -> Measured:
    """/healthz, then sign-ins, against the same app, in `--rounds` alternating turns (the
    machine's speed drifts: both rates see the same stretches of it); CPU and samples around
    the sign-ins only."""
    await healthz_rate(procs.app_url, 1.0, args.concurrency)  # warm-up
    rounds = max(1, args.rounds)
    healthz: list[float] = []
    signins = SignIns()
    cpu = emulator = browsers = 0.0
    samples: list[str] = []
    for turn in range(rounds):
        healthz.append(
            await healthz_rate(procs.app_url, args.healthz_seconds / rounds, args.concurrency)
        )
        cpu_before = cpu_seconds(procs.app_pid)
        emulator_before, browsers_before = cpu_seconds(procs.emulator_pid), time.process_time()
        part = profile_file.with_suffix(f".{turn}") if profile_file else None
        spy = pyspy(procs.app_pid, part, args.seconds / rounds) if part else None
        signins.add(await run(args.seconds / rounds, args.concurrency, procs.app_url, procs.issuer))
        cpu += cpu_seconds(procs.app_pid) - cpu_before
        emulator += cpu_seconds(procs.emulator_pid) - emulator_before
        browsers += time.process_time() - browsers_before
        if spy is not None and part is not None:
            spy.wait()
            if part.exists():
                samples += part.read_text().splitlines()
    profile = None
    if profile_file is not None:
        profile_file.write_text("\n".join(samples) + "\n")
        profile = breakdown(samples)
    sign_ins = max(1, signins.count)
    return Measured(
        sum(healthz) / len(healthz),
        signins,
        1000 * cpu / sign_ins,
        1000 * emulator / sign_ins,
        1000 * browsers / sign_ins,
        Counter(),
        profile,
    )


async def count_statements(args: argparse.Namespace, procs: Procs) -> tuple[Counter[str], float]:
    """Sign-ins for `--count-seconds` against an app counting its statements: the statements
    they sent, by verb, and how many sign-ins sent them."""
    await run(1.0, args.concurrency, procs.app_url, procs.issuer)  # warm-up
    before = await statement_counts(procs.app_url)
    result = await run(args.count_seconds, args.concurrency, procs.app_url, procs.issuer)
    after = await statement_counts(procs.app_url)
    # A scrape runs statements of its own (backlog gauges): take one more scrape's worth off.
    scrape = await statement_counts(procs.app_url)
    statements = after - before
    statements.subtract(scrape - after)
    return statements, result.count


def report(args: argparse.Namespace, measured: Measured) -> None:
    """Print the figures and the ratio the issue targets."""
    result = measured.signins
    print(
        f"sign-in benchmark: {args.seconds:.0f}s of sign-ins and {args.healthz_seconds:.0f}s of "
        f"/healthz in {args.rounds} alternating turns, {args.concurrency} browsers, app "
        f"workers={args.workers}, SQLite; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'sign-ins':>10} {'errors':>7} {'per second':>11} {'callback p50 ms':>16} {'callback p99 ms':>16}"
    )
    print(
        f"{result.count:>10} {result.errors:>7} {result.per_second:>11.1f} "
        f"{percentile(result.latencies, 50):>16.1f} {percentile(result.latencies, 99):>16.1f}"
    )
    ratio = result.per_second / measured.healthz_per_second
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(
        f"/healthz in the same run: {measured.healthz_per_second:.0f} req/s; sign-ins/s ÷ "
        f"/healthz req/s = {ratio:.4f} (target >= {TARGET_RATIO}); {verdict} the target"
    )
    print(
        f"CPU per sign-in: app (start and callback) {measured.cpu_ms_per_sign_in:.1f} ms; on the "
        f"same cores, the emulator (Whop) {measured.emulator_cpu_ms:.1f} ms and the browsers "
        f"{measured.browsers_cpu_ms:.1f} ms"
    )
    if measured.statements.total():
        counted = max(1.0, measured.counted_sign_ins)
        per = {verb: n / counted for verb, n in sorted(measured.statements.items()) if n > 0}
        words = ", ".join(f"{verb} {n:.1f}" for verb, n in per.items())
        print(
            f"SQL statements per sign-in: {sum(per.values()):.1f} ({words}; counted over "
            f"{measured.counted_sign_ins:.0f} sign-ins in a second app with "
            "SQL_STATEMENT_METRICS on)"
        )
    if measured.profile is not None:
        print(f"py-spy --gil, {measured.profile.total} samples during the sign-ins:")
        for line in measured.profile.lines():
            print("  " + line)


def main() -> None:
    """Parse arguments, start the processes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--healthz-seconds", type=float, default=6)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating turns of /healthz and sign-ins"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the app with py-spy during the sign-ins (costs CPU: the rates drop)",
    )
    parser.add_argument("--profile-output", default=None, help="keep py-spy's raw output here")
    parser.add_argument(
        "--count-seconds",
        type=float,
        default=3,
        help="sign-ins in the second app that counts SQL statements (0: no count)",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(workers=args.workers, database_url=args.database_url) as procs,
    ):
        profile_file = (
            Path(args.profile_output or Path(tmp, "profile.txt")) if args.profile else None
        )
        measured = asyncio.run(measure(args, procs, profile_file))
    if args.count_seconds > 0:
        with running(
            workers=args.workers, database_url=args.database_url, SQL_STATEMENT_METRICS="true"
        ) as procs:
            measured.statements, measured.counted_sign_ins = asyncio.run(
                count_statements(args, procs)
            )
    report(args, measured)


if __name__ == "__main__":
    main()
