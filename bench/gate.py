"""The membership gate under load: a gated endpoint beside /healthz, over real sockets.

Run: .venv/bin/python -m bench.gate [--seconds 4] [--rounds 3] [--concurrency 64] [--workers 1]
      [--path /api/content] [--creators 2 --memberships 10000] [--profile]

The app (uvicorn, SQLite) and the Whop emulator run as separate processes on free loopback
ports (bench/procs.py). A member signs in through the emulator for real, then this process
drives `--concurrency` keep-alive connections against `/healthz` and the gated `/api/content`
in alternating rounds of `--seconds` each (bounded), with a minimal HTTP/1.1 client so the load
generator costs little next to the server. It prints requests per second, p50, p99 and the
slowest request, the gated/ungated ratio of rates and of p99 latencies (issue 17: ≥ 0.80 and
≤ 1.25 with one worker), and how many check-access calls reached Whop (steady state: zero).

`--creators 2 --memberships N` first seeds a second creator and N memberships (with their users
and students) spread across both creators (bench/seed.py), so the gate runs against a database
holding both creators' rows; the member still belongs to the default creator. `--path` names
the gated path (later `/c/{route}/api/content` for the second creator). `--profile` samples the
app with py-spy (`--gil`) during the gated rounds and prints where its CPU went.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.procs import Procs, cpu_seconds, percentile, running
from bench.profile import Breakdown, breakdown, top_frames
from bench.profile import record as pyspy
from bench.seed import seed_creators

LOGIN_COOKIE = "__Host-mentora_login"
SESSION_COOKIE = "__Host-mentora_session"
GATED = "/api/content"
UNGATED = "/healthz"
TARGET_RATIO = 0.80  # issue 17: gated req/s ÷ /healthz req/s, one worker
TARGET_P99_RATIO = 1.25  # issue 17: gated p99 ÷ /healthz p99, same run


def _cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1] or None
    return None


async def sign_in(
    app_url: str, issuer: str, user_id: str = "user_demo_member", path: str = GATED
) -> str:
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
            f"{app_url}{path}", headers={"cookie": f"{SESSION_COOKIE}={session}"}
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
    cpu_seconds: float = 0.0  # the app's, when its pid was given

    @property
    def cpu_us(self) -> float:
        """The app's CPU per answered request, in µs (nan when not measured)."""
        answered = len(self.latencies) + self.errors
        return 1e6 * self.cpu_seconds / answered if self.cpu_seconds and answered else float("nan")

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
    app_url: str,
    issuer: str,
    seconds: float,
    rounds: int,
    concurrency: int,
    path: str = GATED,
    app_pid: int | None = None,
) -> tuple[Result, Result, int]:
    """Sign in, warm up, then alternate ungated and gated rounds (with the app's CPU for each
    when `app_pid` is given)."""
    cookie = await sign_in(app_url, issuer, path=path)
    warm = Result()
    await load(app_url, UNGATED, None, 1.0, concurrency, warm)
    await load(app_url, path, cookie, 1.0, concurrency, warm)
    calls_before = await check_calls(issuer)
    ungated, gated = Result(), Result()
    for _ in range(rounds):
        for target, cookie_or_none, out in ((UNGATED, None, ungated), (path, cookie, gated)):
            before = cpu_seconds(app_pid) if app_pid else 0.0
            await load(app_url, target, cookie_or_none, seconds, concurrency, out)
            out.cpu_seconds += cpu_seconds(app_pid) - before if app_pid else 0.0
    return ungated, gated, await check_calls(issuer) - calls_before


@dataclass
class Profiled:
    """One endpoint under py-spy: the app's CPU per request and where it went."""

    requests: int
    cpu_us_per_request: float
    profile: Breakdown
    own: list[tuple[str, float]]  # functions by samples as the innermost frame
    inclusive: list[tuple[str, float]]  # the app's own functions, by samples on any frame


async def profile_endpoint(
    procs: Procs, path: str, cookie: str | None, seconds: float, concurrency: int, output: Path
) -> Profiled:
    """Load `path` for `seconds` while py-spy samples the app; CPU per request from /proc."""
    spy = pyspy(procs.app_pid, output, seconds)
    await asyncio.sleep(0.5)  # py-spy attaches before the load starts
    out = Result()
    cpu_before = cpu_seconds(procs.app_pid)
    await load(procs.app_url, path, cookie, seconds, concurrency, out)
    cpu = cpu_seconds(procs.app_pid) - cpu_before
    spy.wait()
    lines = output.read_text().splitlines() if output.exists() else []
    requests = len(out.latencies) + out.errors
    return Profiled(
        requests,
        1e6 * cpu / max(1, requests),
        breakdown(lines),
        top_frames(lines, 20),
        top_frames(lines, 20, inclusive=True, within="mentora/"),
    )


async def profile_both(
    procs: Procs, path: str, seconds: float, concurrency: int, folder: Path
) -> tuple[Profiled, Profiled]:
    """`/healthz`, then the gated path, each under py-spy (after the measured rounds)."""
    cookie = await sign_in(procs.app_url, procs.issuer, path=path)
    ungated = await profile_endpoint(
        procs, UNGATED, None, seconds, concurrency, folder / "healthz.txt"
    )
    gated = await profile_endpoint(procs, path, cookie, seconds, concurrency, folder / "gated.txt")
    return ungated, gated


def print_profiles(ungated: Profiled, gated: Profiled) -> None:
    """Both breakdowns, CPU per request, and the gated path's busiest functions."""
    print(
        f"py-spy --gil after the measured rounds: app CPU per request {UNGATED} "
        f"{ungated.cpu_us_per_request:.0f} µs, gated {gated.cpu_us_per_request:.0f} µs "
        f"(the sampler's own cost included in both)"
    )
    for name, profiled in ((UNGATED, ungated), ("gated", gated)):
        print(f"{name}: {profiled.profile.total} samples, {profiled.requests} requests")
        for line in profiled.profile.lines():
            print("  " + line)
    print("gated: busiest functions (% of samples as the innermost frame)")
    for frame, share in gated.own:
        print(f"  {share:>5.1f}  {frame}")
    print("gated: the app's functions (% of samples anywhere on the stack)")
    for frame, share in gated.inclusive:
        print(f"  {share:>5.1f}  {frame}")


def report(args: argparse.Namespace, ungated: Result, gated: Result, calls: int) -> None:
    """The table, both ratios and the verdict."""
    ratio = gated.rate / ungated.rate if ungated.rate else 0.0
    p99, p99_ungated = percentile(gated.latencies, 99), percentile(ungated.latencies, 99)
    p99_ratio = p99 / p99_ungated if p99_ungated else float("nan")
    seeded = (
        f"; {args.creators} creators, {args.memberships} seeded memberships"
        if args.memberships
        else ""
    )
    print(
        f"gate benchmark: {args.concurrency} connections, {args.rounds} x {args.seconds:.0f}s "
        f"per endpoint, {args.workers} uvicorn worker(s), SQLite, loopback{seeded}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'endpoint':<14} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'app CPU µs':>10}"
    )
    for name, result in ((UNGATED, ungated), (args.path, gated)):
        print(
            f"{name:<14} {len(result.latencies):>9} {result.errors:>7} {result.rate:>9.0f} "
            f"{percentile(result.latencies, 50):>8.2f} {percentile(result.latencies, 99):>8.2f}"
            f" {max(result.latencies, default=float('nan')):>8.2f} {result.cpu_us:>10.0f}"
        )
    meets = ratio >= TARGET_RATIO and p99_ratio <= TARGET_P99_RATIO
    print(
        f"gated/{UNGATED} rate: {ratio:.2f} (target >= {TARGET_RATIO:.2f}); gated p99 ÷ "
        f"{UNGATED} p99: {p99_ratio:.2f} (target <= {TARGET_P99_RATIO}); "
        f"{'meets' if meets else 'misses'} the target"
    )
    extra = gated.cpu_us - ungated.cpu_us
    print(
        f"app CPU per request: gated ÷ {UNGATED} = {gated.cpu_us / ungated.cpu_us:.2f} "
        f"({abs(extra):.0f} µs {'more' if extra >= 0 else 'less'}: the gated route is a hot "
        "path, past FastAPI's outer layers, which /healthz still goes through)"
    )
    print(f"check-access calls to Whop during the measured rounds: {calls}")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per endpoint")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--path", default=GATED, help="the gated path to measure")
    parser.add_argument("--creators", type=int, default=1, choices=(1, 2))
    parser.add_argument(
        "--memberships", type=int, default=0, help="seed this many, spread across the creators"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then sample the app with py-spy under each endpoint (not in the measured rounds)",
    )
    parser.add_argument("--profile-output", default=None, help="keep py-spy's raw files here")
    return parser


def main() -> None:
    """Parse arguments, start the processes, print the table."""
    args = parser().parse_args()
    if args.memberships and args.creators < 2:
        parser().error("--memberships needs --creators 2")
    with tempfile.TemporaryDirectory() as tmp, running(workers=args.workers) as procs:
        if args.memberships:
            seed_creators(procs.database_url, args.memberships)
        ungated, gated, calls = asyncio.run(
            run(
                procs.app_url,
                procs.issuer,
                args.seconds,
                args.rounds,
                args.concurrency,
                args.path,
                procs.app_pid,
            )
        )
        report(args, ungated, gated, calls)
        if args.profile:
            folder = Path(args.profile_output or tmp)
            folder.mkdir(parents=True, exist_ok=True)
            profiles = asyncio.run(
                profile_both(procs, args.path, args.seconds * args.rounds, args.concurrency, folder)
            )
            print_profiles(*profiles)


if __name__ == "__main__":
    main()
