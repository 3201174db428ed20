"""Webhook throughput beside a trivial POST, then latency at a fixed rate (W15), over real sockets.

Run: .venv/bin/python -m bench.webhooks [--throughput-seconds 10] [--concurrency 32]
      [--alternations 3] [--rounds 1] [--rate 50] [--seconds 20] [--duplicates 0.1] [--profile]
      [--database-url postgresql://postgres@127.0.0.1/mentora_bench]
The app runs as its own process. Phase 1 (closed loop, `concurrency` keep-alive connections),
each part for `--throughput-seconds` in all, the parts taking turns `--alternations` times
(trivial, new, existing, trivial, ...) so that the machine's drift during the run moves all
three alike:
- the same server's trivial `POST /api/ping`;
- new members (a launch day): signed `membership.activated` deliveries, each for a membership
  and a user never seen before, so each creates a user, a student, a membership, a welcome
  email and audit rows before its 2xx;
- existing members: signed `membership.updated` deliveries for the members the previous part
  created (`--rounds` times).
It prints each part's deliveries/s, p50/p99, its ratio to the trivial POST (issue 17 targets),
the app's CPU and SQL statements by verb per delivery, and checks that every 2xx delivery was
stored and applied (rows counted: deliveries, memberships, students, welcome emails).
`--profile` samples the app with py-spy (`--gil`) during each delivery part (the rates drop).
Phase 2 sends deliveries at `rate` per second (a share repeating an earlier webhook-id, as
Whop's retries do) and prints latency percentiles, non-2xx answers, and whether every unique
id was stored.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select
from standardwebhooks import Webhook

from bench.procs import cpu_seconds, percentile, running
from bench.profile import Breakdown, breakdown, top_frames
from bench.profile import record as pyspy
from bench.rawhttp import LoadResult, closed_loop, encode_request
from bench.signin import metrics_text, statement_counts
from mentora.db.engine import sync_url
from mentora.db.models import Membership, OutboxMessage, Student, User, WebhookDelivery

SECRET = "ws_bench_webhook_secret"
TRIVIAL = "trivial POST /api/ping"
NEW = "new members"
EXISTING = "existing members"
TRIVIAL_NEW_EXISTING = (TRIVIAL, NEW, EXISTING)
TARGETS = {NEW: 0.30, EXISTING: 0.40}  # issue 17: deliveries/s ÷ trivial POST/s


def _signed(signer: Webhook, msg_id: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    now = datetime.now(UTC)  # a benchmark talks to a real server: real time is the point
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(msg_id, now, body.decode()),
    }
    return body, headers


def _delivery(
    signer: Webhook, msg_id: str, n: int, member: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """`membership.updated` for `mem_bench_{n % 500}` (phase 2), or for `member`'s membership."""
    membership, user = (
        (f"mem_{member}", f"user_{member}")
        if member
        else (f"mem_bench_{n % 500}", f"user_bench_{n % 500}")
    )
    payload = {
        "type": "membership.updated",
        "company_id": "biz_demo",
        "data": {
            "id": membership,
            "status": "active",
            "user_id": user,
            "product_id": "prod_demo",
            "updated_at": datetime.now(UTC).isoformat(),
        },
    }
    return _signed(signer, msg_id, payload)


def _activation(signer: Webhook, msg_id: str, member: str) -> tuple[bytes, dict[str, str]]:
    """`membership.activated` for a member never seen before (user and email in the payload)."""
    payload = {
        "type": "membership.activated",
        "company_id": "biz_demo",
        "data": {
            "id": f"mem_{member}",
            "status": "active",
            "user": {
                "id": f"user_{member}",
                "username": member,
                "name": f"New {member}",
                "email": f"{member}@example.test",
            },
            "product": {"id": "prod_demo"},
            "updated_at": datetime.now(UTC).isoformat(),
        },
    }
    return _signed(signer, msg_id, payload)


async def run(app_url: str, rate: float, seconds: float, duplicates: float) -> dict[str, float]:
    """Send at `rate`/s for `seconds`; return the figures."""
    signer = Webhook(base64.b64encode(SECRET.encode()).decode())
    rng = random.Random(1)
    latencies: list[float] = []
    failures = 0
    sent_ids: list[str] = []

    async def one(http: httpx.AsyncClient, n: int) -> None:
        nonlocal failures
        if sent_ids and rng.random() < duplicates:
            msg_id = rng.choice(sent_ids)
        else:
            msg_id = f"msg_bench_{n}"
            sent_ids.append(msg_id)
        body, headers = _delivery(signer, msg_id, n)
        t0 = time.perf_counter()
        response = await http.post(f"{app_url}/api/whop/webhooks", content=body, headers=headers)
        latencies.append((time.perf_counter() - t0) * 1000)
        if not response.is_success:
            failures += 1

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as http:
        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(http, n)))
        await asyncio.gather(*tasks)
    return {
        "sent": float(total),
        "unique_ids": float(len(sent_ids)),
        "non_2xx": float(failures),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
    }


@dataclass
class Phase:
    """One closed-loop part: its load, and (when watched) the app's CPU, SQL and profile."""

    load: LoadResult
    cpu_ms: float = float("nan")  # app CPU per request
    statements: Counter[str] | None = None  # SQL statements by verb, over the whole part
    batches: float = 0.0  # the webhook batches the part's deliveries went in (when watched)
    profile: Breakdown | None = None
    top: list[tuple[str, float]] | None = None  # the app's busiest own functions
    lines: list[str] | None = None  # py-spy's raw lines (when profiled)

    @property
    def per_second(self) -> float:
        """Requests per second."""
        return self.load.per_second


async def batch_count(app_url: str) -> float:
    """Webhook batches run so far (mentora_webhook_batch_size_count, from /metrics)."""
    body = await metrics_text(app_url)
    found = re.search(r"^mentora_webhook_batch_size_count (\S+)$", body, re.M)
    return float(found.group(1)) if found else 0.0


@dataclass
class Watch:
    """What to read around each part: the app's pid, and where py-spy writes (None: off)."""

    app_pid: int | None = None
    profile_dir: Path | None = None
    statements: bool = False


async def _phase(
    app_url: str,
    name: str,
    make: Callable[[int], bytes],
    seconds: float,
    concurrency: int,
    watch: Watch,
    segment: int = 0,
) -> Phase:
    """One closed-loop turn of a part, with CPU, statements and samples around it as `watch`
    says (`segment`: which turn, for the profile's file name)."""
    before = await statement_counts(app_url) if watch.statements else Counter[str]()
    batches_before = await batch_count(app_url) if watch.statements else 0.0
    cpu_before = cpu_seconds(watch.app_pid) if watch.app_pid else 0.0
    stem = f"{name.replace(' ', '_').replace(',', '')}_{segment}"
    output = watch.profile_dir / f"{stem}.txt" if watch.profile_dir else None
    spy = pyspy(watch.app_pid, output, seconds) if output and watch.app_pid else None
    load = await closed_loop(app_url, make, concurrency=concurrency, seconds=seconds)
    phase = Phase(load)
    requests = max(1, load.requests)
    if watch.app_pid:
        phase.cpu_ms = 1000 * (cpu_seconds(watch.app_pid) - cpu_before) / requests
    if watch.statements:
        after = await statement_counts(app_url)
        scrape = await statement_counts(app_url)  # one scrape's own statements come off
        phase.statements = after - before
        phase.statements.subtract(scrape - after)
        phase.batches = await batch_count(app_url) - batches_before
    if spy is not None and output is not None:
        spy.wait()
        phase.lines = output.read_text().splitlines() if output.exists() else []
    return phase


def _merged(segments: list[Phase]) -> Phase:
    """One part's segments as one: requests, time and latencies summed or joined; CPU per
    request weighted by requests; statements, batches and samples summed."""
    load = LoadResult(
        requests=sum(p.load.requests for p in segments),
        non_2xx=sum(p.load.non_2xx for p in segments),
        seconds=sum(p.load.seconds for p in segments),
        latencies_ms=[ms for p in segments for ms in p.load.latencies_ms],
    )
    merged = Phase(load, batches=sum(p.batches for p in segments))
    requests = max(1, load.requests)
    merged.cpu_ms = sum(p.cpu_ms * p.load.requests for p in segments) / requests
    if all(p.statements is not None for p in segments):
        merged.statements = sum((p.statements or Counter[str]() for p in segments), Counter[str]())
    if all(p.lines is not None for p in segments):
        merged.lines = [line for p in segments for line in p.lines or []]
        merged.profile = breakdown(merged.lines)
        merged.top = top_frames(merged.lines, 20, inclusive=True, within="mentora/")
    return merged


async def throughput(
    app_url: str,
    seconds: float,
    concurrency: int,
    rounds: int = 1,
    watch: Watch | None = None,
    run_id: str | None = None,
    alternations: int = 3,
) -> dict[str, Phase]:
    """Closed-loop rates of the trivial POST, new members and existing members, each for
    `seconds` in all, taken in turns (`alternations` times: trivial, new, existing, trivial,
    ...), so that a machine whose speed drifts during the run moves all three alike.

    Each new-member delivery is for ids never sent before (this run's own prefix); the
    existing-member rounds update the first (up to) 500 members the new-member turns created.
    """
    watch = watch or Watch()
    trivial = Watch(app_pid=watch.app_pid)  # its CPU, but no profile or statements
    signer = Webhook(base64.b64encode(SECRET.encode()).decode())
    run_id = run_id or secrets.token_hex(3)  # this run's ids: never sent before
    ping = encode_request(
        f"{app_url}/api/ping", "POST", {"content-type": "application/json"}, b"{}"
    )
    url = f"{app_url}/api/whop/webhooks"
    turn = seconds / alternations
    segments: dict[str, list[Phase]] = {}
    created: list[str] = []
    for k in range(alternations):
        part = await _phase(app_url, TRIVIAL, lambda n: ping, turn, concurrency, trivial, k)
        segments.setdefault(TRIVIAL, []).append(part)

        def activation(n: int, k: int = k) -> bytes:
            member = f"new_{run_id}_{k}_{n}"
            body, headers = _activation(signer, f"msg_new_{run_id}_{k}_{n}", member)
            return encode_request(url, "POST", headers, body)

        part = await _phase(app_url, NEW, activation, turn, concurrency, watch, k)
        segments.setdefault(NEW, []).append(part)
        created += [f"new_{run_id}_{k}_{n}" for n in range(part.load.requests)]
        members = created[:500] or [f"new_{run_id}_0_0"]
        for round_no in range(1, rounds + 1):

            def update(
                n: int, k: int = k, round_no: int = round_no, members: list[str] = members
            ) -> bytes:
                member = members[n % len(members)]
                msg_id = f"msg_tp{round_no}_{run_id}_{k}_{n}"
                body, headers = _delivery(signer, msg_id, n, member)
                return encode_request(url, "POST", headers, body)

            name = EXISTING if round_no == 1 else f"{EXISTING}, round {round_no}"
            part = await _phase(app_url, name, update, turn, concurrency, watch, k)
            segments.setdefault(name, []).append(part)
    return {name: _merged(parts) for name, parts in segments.items()}


def applied_rows(database_url: str, run_id: str) -> dict[str, int]:
    """Rows run `run_id`'s new-member and existing-member parts left: deliveries, members,
    emails (a reused database keeps earlier runs' rows: they are not counted)."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:

            def count(query: Any) -> int:
                return int(conn.execute(query).scalar_one())

            return {
                "new deliveries processed": count(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(
                        WebhookDelivery.webhook_id.like(f"msg_new_{run_id}_%"),
                        WebhookDelivery.status == "processed",
                    )
                ),
                "new memberships": count(
                    select(func.count())
                    .select_from(Membership)
                    .where(Membership.whop_membership_id.like(f"mem_new_{run_id}_%"))
                ),
                "new users with a student row": count(
                    select(func.count())
                    .select_from(Student)
                    .join(User, User.id == Student.user_id)
                    .where(User.whop_user_id.like(f"user_new_{run_id}_%"))
                ),
                "welcome emails queued": count(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.dedupe_key.like(f"welcome:mem_new_{run_id}_%"))
                ),
                "update deliveries processed": count(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(
                        WebhookDelivery.webhook_id.like(f"msg_tp%_{run_id}_%"),
                        WebhookDelivery.status == "processed",
                    )
                ),
            }
    finally:
        engine.dispose()


def print_throughput(args: argparse.Namespace, rates: dict[str, Phase]) -> None:
    """The phase-1 table: rates, latencies, ratios, CPU and statements per delivery."""
    print(
        f"phase 1: closed loop, {args.concurrency} connections, {args.throughput_seconds:.0f} s "
        f"each in {args.alternations} turns, 1 app process; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'part':<28} {'requests':>9} {'non-2xx':>8} {'per second':>11} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'÷ trivial':>9} {'CPU ms':>7}"
    )
    trivial_rate = max(rates[TRIVIAL].per_second, 1)
    for name, phase in rates.items():
        r = phase.load
        print(
            f"{name:<28} {r.requests:>9} {r.non_2xx:>8} {r.per_second:>11.0f} "
            f"{percentile(r.latencies_ms, 50):>8.1f} {percentile(r.latencies_ms, 99):>8.1f} "
            f"{r.per_second / trivial_rate:>9.3f} {phase.cpu_ms:>7.2f}"
        )
    for name, target in TARGETS.items():
        ratio = rates[name].per_second / trivial_rate
        verdict = "meets" if ratio >= target else "misses"
        print(f"{name} ÷ trivial POST: {ratio:.3f} (target >= {target}); {verdict} the target")
    for name, phase in rates.items():
        if phase.statements and phase.statements.total():
            count = max(1, phase.load.requests)
            per = {v: n / count for v, n in sorted(phase.statements.items()) if n > 0}
            words = ", ".join(f"{verb} {n:.1f}" for verb, n in per.items())
            print(f"SQL statements per delivery, {name}: {sum(per.values()):.1f} ({words})")
            if phase.batches:
                print(f"deliveries per batch, {name}: {count / phase.batches:.1f}")


def print_profiles(rates: dict[str, Phase]) -> None:
    """Each watched part's py-spy breakdown and the app's busiest functions."""
    for name, phase in rates.items():
        if phase.profile is None:
            continue
        print(
            f"py-spy --gil, {name}: {phase.profile.total} samples, {phase.load.requests} requests"
        )
        for line in phase.profile.lines():
            print("  " + line)
        print("  the app's functions (% of samples anywhere on the stack):")
        for frame, share in phase.top or []:
            print(f"    {share:>5.1f}  {frame}")


def verify(rates: dict[str, Phase], database_url: str, run_id: str) -> bool:
    """Every 2xx delivery stored and applied: print the row counts beside the answers."""
    rows = applied_rows(database_url, run_id)
    new_ok = rates[NEW].load.requests - rates[NEW].load.non_2xx
    updates_ok = sum(
        p.load.requests - p.load.non_2xx for n, p in rates.items() if n.startswith(EXISTING)
    )
    expected = {
        "new deliveries processed": new_ok,
        "new memberships": new_ok,
        "new users with a student row": new_ok,
        "welcome emails queued": new_ok,
        "update deliveries processed": updates_ok,
    }
    good = True
    for key, value in rows.items():
        same = value == expected[key]
        good = good and same
        print(
            f"{key:<30} {value:>9} (answered 2xx: {expected[key]}; {'ok' if same else 'DIFFERS'})"
        )
    return good


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument(
        "--alternations",
        type=int,
        default=3,
        help="turns the parts take within --throughput-seconds (1: each part at once)",
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=1, help="existing-member rounds (each updates them again)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the app with py-spy during each delivery part (the rates drop)",
    )
    parser.add_argument("--profile-output", default=None, help="keep py-spy's raw files here")
    return parser


def main() -> None:
    """Start the app, run the load, print the figures."""
    args = parser().parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(
            database_url=args.database_url, SYNC_INTERVAL_SECONDS="0", SQL_STATEMENT_METRICS="true"
        ) as procs,
    ):
        folder = Path(args.profile_output or tmp) if args.profile else None
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
        watch = Watch(app_pid=procs.app_pid, profile_dir=folder, statements=True)
        run_id = secrets.token_hex(3)
        rates = asyncio.run(
            throughput(
                procs.app_url,
                args.throughput_seconds,
                args.concurrency,
                args.rounds,
                watch,
                run_id,
                args.alternations,
            )
        )
        print_throughput(args, rates)
        verify(rates, procs.database_url, run_id)
        print_profiles(rates)
        print()
        print(
            f"phase 2: {args.rate:.0f} deliveries/s for {args.seconds:.0f} s, "
            f"{args.duplicates:.0%} repeated ids; load average {os.getloadavg()[0]:.2f}"
        )
        figures = asyncio.run(run(procs.app_url, args.rate, args.seconds, args.duplicates))
        engine = create_engine(sync_url(procs.database_url))
        with engine.connect() as conn:
            stored = conn.execute(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.webhook_id.like("msg_bench_%"))
            ).scalar_one()
        engine.dispose()
    figures["stored_rows"] = float(stored)
    for key, value in figures.items():
        print(f"{key:>12}: {value:.1f}")
    verdict = "ok" if stored == figures["unique_ids"] and not figures["non_2xx"] else "LOSS"
    print(f"{'rows==ids':>12}: {verdict}")


if __name__ == "__main__":
    main()
