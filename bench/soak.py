"""Soak: mixed traffic against 2 app workers and 1-2 worker processes on PostgreSQL, checked.

Run: .venv/bin/python -m bench.soak [--seconds 600] [--app-workers 2] [--worker-processes 2]
      [--browsers 6] [--webhook-rate 4] [--pg-admin-url postgresql://postgres@127.0.0.1/postgres]
      [--json results.json]

Starts, as separate processes on free loopback ports (tests/support/procs.py): the Whop
emulator, `mentora serve --workers N` and `mentora worker` processes, on a fresh PostgreSQL
database that it creates and drops. Then, for `--seconds` after a short warm-up:

- browsers sign in through the emulator's pages (full OAuth + PKCE), browse the gated
  `/api/content` and `/api/whop/verify`, log out, and check that the session is gone;
- a Whop stand-in deactivates and reactivates memberships and records payments at the
  emulator, which sends the signed webhooks (with retries, as Whop does).

Afterwards it checks, against the emulator's own record of what it sent
(`/_emulator/admin/webhooks`): no 5xx anywhere, every delivery stored once and applied once
(one `webhook_processed` audit row per webhook id), every membership's final state equal to
the emulator's, one session per successful sign-in; and it samples each process's RSS
(/proc/<pid>/status) to compare the first and the last minute (judged within 10 % only on
runs of at least 3 minutes; shorter runs print it). It prints a table and exits 1 on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from tests.support.procs import (
    SECRET_KEY,
    Cluster,
    fresh_database,
    new_id,
    rss_kib,
    running_cluster,
)

from bench.procs import percentile
from mentora.sessions.tokens import csrf_token, hash_token

LOGIN_COOKIE = "__Host-mentora_login"
SESSION_COOKIE = "__Host-mentora_session"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MEMBERS = 40
MEMORY_LIMIT = 0.10
JUDGE_MEMORY_AFTER = 180.0  # a flat-memory verdict needs a first and a last minute apart

# What each step may answer in normal operation. A membership can be deactivated by a webhook
# at any moment, so a refused sign-in (403), a revoked session (401) and a denied page (403)
# are expected; so is logout of a session that was already revoked (403: no session, no CSRF).
EXPECTED: dict[str, set[int]] = {
    "sign-in start": {302, 303},
    "callback": {303, 403},
    "gated": {200, 401, 403},
    "verify": {200, 401},
    "logout": {200, 403},
    "after logout": {401},
}


@dataclass
class Tally:
    """Answers of one kind of request."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    unexpected: int = 0

    def add(self, kind: str, status: int, started: float) -> None:
        """Count one answer."""
        self.statuses[status] += 1
        self.latencies.append((time.perf_counter() - started) * 1000)
        if status not in EXPECTED[kind]:
            self.unexpected += 1

    @property
    def server_errors(self) -> int:
        """Answers of 500 and above."""
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass
class Traffic:
    """Everything the load generator saw."""

    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in EXPECTED})
    transport_errors: int = 0
    emulator_errors: int = 0
    signed_in: int = 0
    signed_in_total: int = 0  # warm-up included, to compare with the sessions stored
    active: dict[str, bool] = field(default_factory=dict)  # membership id -> valid at Whop
    served_by: Counter[str] = field(default_factory=Counter)
    membership_actions: int = 0
    payments: int = 0
    samples: list[tuple[float, str, int]] = field(default_factory=list)  # (t, process, KiB)
    measuring_from: float = 0.0


def _cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1] or None
    return None


async def _timed(
    traffic: Traffic, kind: str, request: Any, *, measure: bool = True
) -> httpx.Response:
    started = time.perf_counter()
    response: httpx.Response = await request
    if measure:
        traffic.tallies[kind].add(kind, response.status_code, started)
        traffic.served_by[response.headers.get("x-served-by", "?")] += 1
    return response


async def browser_visit(
    cluster: Cluster, member: dict[str, str], traffic: Traffic, rng: random.Random, measure: bool
) -> None:
    """One visitor: sign in, browse the gated pages, log out, check the session is gone."""
    app, issuer = cluster.app_url, cluster.issuer
    nav = {"sec-fetch-mode": "navigate", "sec-fetch-site": "none"}
    async with httpx.AsyncClient(timeout=30) as http:
        start = await _timed(
            traffic, "sign-in start", http.get(f"{app}/api/whop/auth", headers=nav), measure=measure
        )
        if start.status_code not in (302, 303):
            return
        login = _cookie(start, LOGIN_COOKIE)
        page = await http.get(start.headers["location"])
        fields = {
            k: unescape(v)
            for k, v in re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text
            )
        }
        fields.update(user_id=member["user_id"], decision="approve")
        decided = await http.post(f"{issuer}/oauth/authorize", data=fields)
        if decided.status_code not in (302, 303):
            traffic.emulator_errors += 1
            return
        parts = urlsplit(decided.headers["location"])
        done = await _timed(
            traffic,
            "callback",
            http.get(
                f"{app}{parts.path}?{parts.query}",
                headers={
                    **nav,
                    "sec-fetch-site": "cross-site",
                    "cookie": f"{LOGIN_COOKIE}={login}",
                },
            ),
            measure=measure,
        )
        session = _cookie(done, SESSION_COOKIE)
        if done.status_code != 303 or not session:
            return
        traffic.signed_in_total += 1
        if measure:
            traffic.signed_in += 1
        cookie = {"cookie": f"{SESSION_COOKIE}={session}"}
        for _ in range(rng.randint(3, 8)):
            await _timed(
                traffic, "gated", http.get(f"{app}/api/content", headers=cookie), measure=measure
            )
            await asyncio.sleep(rng.uniform(0.0, 0.1))
        await _timed(
            traffic, "verify", http.get(f"{app}/api/whop/verify", headers=cookie), measure=measure
        )
        token = csrf_token(SECRET_KEY.encode(), hash_token(session))
        await _timed(
            traffic,
            "logout",
            http.post(
                f"{app}/api/whop/logout",
                headers={
                    **cookie,
                    "sec-fetch-site": "same-origin",
                    "x-csrf-token": token,
                    "accept": "application/json",
                },
            ),
            measure=measure,
        )
        await _timed(
            traffic,
            "after logout",
            http.get(f"{app}/api/whop/verify", headers=cookie),
            measure=measure,
        )


async def browser(
    cluster: Cluster,
    members: list[dict[str, str]],
    traffic: Traffic,
    seed: int,
    stop: float,
    measure_from: float,
) -> None:
    """Visit after visit until `stop` (monotonic)."""
    rng = random.Random(seed)
    while time.monotonic() < stop:
        # Mostly people whose membership is valid; one visit in ten from a lapsed member.
        valid = [m for m in members if traffic.active.get(m["membership_id"], True)]
        member = rng.choice(valid if valid and rng.random() < 0.9 else members)
        try:
            await browser_visit(
                cluster, member, traffic, rng, measure=time.monotonic() >= measure_from
            )
        except httpx.HTTPError:
            traffic.transport_errors += 1


async def whop(
    cluster: Cluster, members: list[dict[str, str]], traffic: Traffic, rate: float, stop: float
) -> None:
    """Whop's side: flip memberships and record payments; the emulator sends the webhooks."""
    rng = random.Random(7)
    active = traffic.active
    active.update({m["membership_id"]: True for m in members})
    base = f"{cluster.issuer}/_emulator/admin"
    turn = 0
    async with httpx.AsyncClient(timeout=30) as http:
        while time.monotonic() < stop:
            # Round robin: each membership changes at most every len(members)/rate seconds, so
            # two changes of one membership never share Whop's millisecond `updated_at`.
            member = members[turn % len(members)]
            turn += 1
            try:
                if rng.random() < 0.2:
                    await http.post(
                        f"{base}/trigger",
                        json={"type": "payment.succeeded", "user_id": member["user_id"]},
                    )
                    traffic.payments += 1
                else:
                    mid = member["membership_id"]
                    # Lapses are short: a deactivated membership comes back on its next turn.
                    action = "deactivate" if active[mid] else "activate"
                    answer = await http.post(f"{base}/memberships/{mid}/actions/{action}")
                    answer.raise_for_status()
                    active[mid] = not active[mid]
                    traffic.membership_actions += 1
            except httpx.HTTPError:
                traffic.emulator_errors += 1
            await asyncio.sleep(1 / rate)


def _processes(cluster: Cluster) -> dict[str, int]:
    procs: dict[str, int] = {}
    if cluster.app:
        procs["app (uvicorn master)"] = cluster.app.pid
        for n, pid in enumerate(cluster.app_pids(), 1):
            procs[f"app worker {n}"] = pid
    for proc in cluster.workers:
        procs[f"mentora {proc.name}"] = proc.pid
    if cluster.emulator:
        procs["emulator (not ours)"] = cluster.emulator.pid
    return procs


async def sampler(cluster: Cluster, traffic: Traffic, stop: float, every: float) -> None:
    """Every `every` seconds, the RSS of each process."""
    procs = _processes(cluster)
    while time.monotonic() < stop:
        now = time.monotonic()
        for name, pid in procs.items():
            kib = rss_kib(pid)
            if kib is not None:
                traffic.samples.append((now, name, kib))
        await asyncio.sleep(every)


async def drive(
    cluster: Cluster, args: argparse.Namespace, traffic: Traffic, members: list[dict[str, str]]
) -> None:
    """Warm up, then run the mixed traffic for `args.seconds`."""
    started = time.monotonic()
    traffic.measuring_from = started + args.warmup
    stop = traffic.measuring_from + args.seconds
    await asyncio.gather(
        *(
            browser(cluster, members, traffic, seed, stop, traffic.measuring_from)
            for seed in range(args.browsers)
        ),
        whop(cluster, members, traffic, args.webhook_rate, stop),
        sampler(cluster, traffic, stop, args.sample_every),
    )


async def create_members(cluster: Cluster, count: int) -> list[dict[str, str]]:
    """Users with active memberships at the emulator (the activations reach the app)."""
    members = []
    base = f"{cluster.issuer}/_emulator/admin"
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(count):
            name = new_id("soak")
            user = (
                await http.post(
                    f"{base}/users",
                    json={"username": name, "email": f"{name}@example.test", "name": name},
                )
            ).json()
            membership = (
                await http.post(
                    f"{base}/memberships", json={"user_id": user["id"], "product_id": "prod_demo"}
                )
            ).json()
            members.append({"user_id": user["id"], "membership_id": membership["id"]})
    return members


@dataclass
class Effects:
    """What the emulator sent compared with what the app stored and did."""

    sent: int = 0
    delivered: int = 0
    attempts: int = 0
    attempts_5xx: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    not_processed: int = 0
    state_mismatches: int = 0
    sessions_created: int = 0


def check_effects(cluster: Cluster, members: list[dict[str, str]]) -> Effects:
    """Compare the emulator's send log and membership states with the database."""
    base = f"{cluster.issuer}/_emulator/admin"
    log = httpx.get(f"{base}/webhooks?flush=1", timeout=300).json()["data"]
    ours = [w for w in log if w["url"] and w["url"].startswith(cluster.app_url)]
    effects = Effects(sent=len(ours))
    effects.delivered = sum(1 for w in ours if w["outcome"] == "delivered")
    effects.attempts = sum(len(w["attempts"]) for w in ours)
    effects.attempts_5xx = sum(
        1 for w in ours for a in w["attempts"] if (a["status_code"] or 0) >= 500
    )
    ids = [w["webhook_id"] for w in ours]
    deadline = time.monotonic() + 60
    with psycopg.connect(cluster.database_url, autocommit=True) as conn:
        # A delivery whose effect failed is retried by a worker; give them the time to.
        while time.monotonic() < deadline:
            failing = conn.execute(
                "SELECT count(*) FROM webhook_delivery WHERE status IN ('failed', 'received')"
            ).fetchone()
            if not failing or not failing[0]:
                break
            time.sleep(1)
        stored = dict(
            conn.execute(
                "SELECT webhook_id, status FROM webhook_delivery WHERE webhook_id = ANY(%s)", (ids,)
            ).fetchall()
        )
        applied = Counter(
            dict(
                conn.execute(
                    "SELECT subject, count(*) FROM audit_event WHERE kind = 'webhook_processed'"
                    " AND subject = ANY(%s) GROUP BY subject",
                    (ids,),
                ).fetchall()
            )
        )
        local = dict(
            conn.execute(
                "SELECT whop_membership_id, status FROM membership WHERE whop_membership_id = ANY(%s)",
                ([m["membership_id"] for m in members],),
            ).fetchall()
        )
        created = conn.execute(
            "SELECT count(*) FROM audit_event WHERE kind = 'session_created'"
        ).fetchone()
    remote = {
        m["id"]: m["status"] for m in httpx.get(f"{base}/memberships", timeout=30).json()["data"]
    }
    effects.stored = len(stored)
    effects.lost = sum(
        1 for w in ours if w["outcome"] == "delivered" and w["webhook_id"] not in stored
    )
    effects.lost += sum(1 for w in ours if w["outcome"] != "delivered")
    effects.duplicated = sum(1 for i in ids if applied.get(i, 0) > 1)
    effects.not_processed = sum(1 for s in stored.values() if s not in ("processed", "ignored"))
    effects.state_mismatches = sum(
        1 for m in members if local.get(m["membership_id"]) != remote.get(m["membership_id"])
    )
    effects.sessions_created = int(created[0]) if created else 0
    return effects


@dataclass
class Memory:
    """One process's RSS in the first and the last minute of the measured run (MiB)."""

    process: str
    first_mib: float
    last_mib: float

    @property
    def change(self) -> float:
        """Relative change from the first to the last minute."""
        return (self.last_mib - self.first_mib) / self.first_mib if self.first_mib else 0.0


def memory_table(traffic: Traffic, seconds: float) -> list[Memory]:
    """Median RSS per process over the first and the last minute (or fifth, if shorter)."""
    start = traffic.measuring_from
    window = min(60.0, seconds / 5)
    rows = []
    for name in dict.fromkeys(n for _, n, _ in traffic.samples):
        first = [k for t, n, k in traffic.samples if n == name and start <= t < start + window]
        last = [k for t, n, k in traffic.samples if n == name and start + seconds - window <= t]
        if first and last:
            rows.append(
                Memory(name, statistics.median(first) / 1024, statistics.median(last) / 1024)
            )
    return rows


@dataclass
class SoakResult:
    """Everything a run measured, and its verdict."""

    seconds: float
    app_workers: int
    worker_processes: int
    browsers: int
    traffic: dict[str, dict[str, Any]]
    served_by: dict[str, int]
    transport_errors: int
    emulator_errors: int
    signed_in: int
    signed_in_total: int
    membership_actions: int
    payments: int
    effects: Effects
    memory: list[Memory]
    memory_judged: bool
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No failure found."""
        return not self.failures


def verdict(result: SoakResult) -> None:
    """Fill in `server_errors` and `failures`."""
    e = result.effects
    result.server_errors = sum(t["5xx"] for t in result.traffic.values()) + e.attempts_5xx
    checks = {
        "5xx answers": result.server_errors,
        "unexpected answers": sum(t["unexpected"] for t in result.traffic.values()),
        "transport errors": result.transport_errors,
        "lost deliveries": e.lost,
        "duplicated effects": e.duplicated,
        "deliveries not processed": e.not_processed,
        "membership states differing from Whop": e.state_mismatches,
    }
    result.failures = [f"{name}: {n}" for name, n in checks.items() if n]
    if e.sessions_created != result.signed_in_total:
        result.failures.append(
            f"sessions: {e.sessions_created} stored for {result.signed_in_total} sign-ins"
        )
    if result.memory_judged:
        result.failures += [
            f"memory of {m.process}: {m.change:+.1%}"
            for m in result.memory
            if abs(m.change) > MEMORY_LIMIT and "not ours" not in m.process
        ]


def soak(
    *,
    seconds: float,
    app_workers: int = 2,
    worker_processes: int = 2,
    browsers: int = 6,
    webhook_rate: float = 4.0,
    warmup: float | None = None,
    sample_every: float = 2.0,
    pg_admin_url: str = PG_ADMIN_URL,
    redis_url: str | None = None,
    log_dir: Path | None = None,
) -> SoakResult:
    """Start the processes on a fresh database, drive the traffic, check, stop, drop."""
    args = argparse.Namespace(
        seconds=seconds,
        browsers=browsers,
        webhook_rate=webhook_rate,
        warmup=min(30.0, seconds / 10) if warmup is None else warmup,
        sample_every=sample_every,
    )
    traffic = Traffic()
    with (
        fresh_database(pg_admin_url, prefix="mentora_soak") as database_url,
        running_cluster(
            database_url,
            app_workers=app_workers,
            workers=worker_processes,
            worker_interval=1.0,
            redis_url=redis_url,
            retry_delays=(2.0, 4.0, 8.0),
            log_dir=log_dir,
            RATELIMIT_ENABLED="false",  # every simulated browser comes from 127.0.0.1
            SESSION_IDLE_MINUTES="30",
        ) as cluster,
    ):
        members = asyncio.run(create_members(cluster, MEMBERS))
        asyncio.run(drive(cluster, args, traffic, members))
        effects = check_effects(cluster, members)
        processes_alive = all(p.alive() for p in cluster.workers) and (
            cluster.app is None or cluster.app.alive()
        )
    table = {
        kind: {
            "requests": sum(t.statuses.values()),
            "2xx": sum(n for s, n in t.statuses.items() if 200 <= s < 300),
            "3xx": sum(n for s, n in t.statuses.items() if 300 <= s < 400),
            "4xx": sum(n for s, n in t.statuses.items() if 400 <= s < 500),
            "5xx": t.server_errors,
            "unexpected": t.unexpected,
            "p50_ms": percentile(t.latencies, 50),
            "p99_ms": percentile(t.latencies, 99),
        }
        for kind, t in traffic.tallies.items()
    }
    result = SoakResult(
        seconds=seconds,
        app_workers=app_workers,
        worker_processes=worker_processes,
        browsers=browsers,
        traffic=table,
        served_by=dict(traffic.served_by),
        transport_errors=traffic.transport_errors,
        emulator_errors=traffic.emulator_errors,
        signed_in=traffic.signed_in,
        signed_in_total=traffic.signed_in_total,
        membership_actions=traffic.membership_actions,
        payments=traffic.payments,
        effects=effects,
        memory=memory_table(traffic, seconds),
        memory_judged=seconds >= JUDGE_MEMORY_AFTER,
    )
    verdict(result)
    if not processes_alive:
        result.failures.append("a process died during the run")
    return result


def render(result: SoakResult) -> str:
    """The table this benchmark prints."""
    lines = [
        f"soak: {result.seconds:.0f} s measured, {result.app_workers} app workers "
        f"(served: {', '.join(f'pid {p}: {n}' for p, n in sorted(result.served_by.items()))}), "
        f"{result.worker_processes} worker processes, {result.browsers} browsers, PostgreSQL",
        "",
        f"{'request':<14} {'count':>7} {'2xx':>7} {'3xx':>6} {'4xx':>6} {'5xx':>4} "
        f"{'unexp.':>6} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for kind, row in result.traffic.items():
        lines.append(
            f"{kind:<14} {row['requests']:>7} {row['2xx']:>7} {row['3xx']:>6} {row['4xx']:>6} "
            f"{row['5xx']:>4} {row['unexpected']:>6} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        )
    e = result.effects
    lines += [
        "",
        f"sign-ins completed {result.signed_in} (with warm-up {result.signed_in_total}), "
        f"sessions stored {e.sessions_created}; "
        f"membership changes {result.membership_actions}, payments {result.payments} at Whop",
        f"webhooks sent {e.sent}, delivered {e.delivered} ({e.attempts} attempts, "
        f"{e.attempts_5xx} answered 5xx), stored {e.stored}, lost {e.lost}, "
        f"applied twice {e.duplicated}, not processed {e.not_processed}, "
        f"final states differing from Whop {e.state_mismatches}",
        f"transport errors {result.transport_errors}, emulator errors {result.emulator_errors}",
        "",
        f"{'process (RSS, median MiB)':<26} {'first min':>10} {'last min':>10} {'change':>8}",
    ]
    for m in result.memory:
        lines.append(f"{m.process:<26} {m.first_mib:>10.1f} {m.last_mib:>10.1f} {m.change:>+8.1%}")
    if not result.memory_judged:
        lines.append(
            "(short run: windows are the first and last fifth; memory printed, not judged)"
        )
    lines += ["", "verdict: " + ("PASS" if result.ok else "FAIL: " + "; ".join(result.failures))]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, print the table; exit 1 on failure."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=600.0, help="measured length (default 10 min)"
    )
    parser.add_argument("--app-workers", type=int, default=2)
    parser.add_argument("--worker-processes", type=int, default=2, choices=(1, 2))
    parser.add_argument("--browsers", type=int, default=6)
    parser.add_argument("--webhook-rate", type=float, default=4.0, help="Whop changes per second")
    parser.add_argument("--warmup", type=float, default=None, help="default: min(30, seconds/10)")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    result = soak(
        seconds=args.seconds,
        app_workers=args.app_workers,
        worker_processes=args.worker_processes,
        browsers=args.browsers,
        webhook_rate=args.webhook_rate,
        warmup=args.warmup,
        pg_admin_url=args.pg_admin_url,
        redis_url=args.redis_url,
    )
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2, default=str))
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
