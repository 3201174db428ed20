"""The creator pages at scale: 10,000 students and 100,000 webhook deliveries, over real sockets.

Run: .venv/bin/python -m bench.pages [--requests 200] [--students 10000] [--deliveries 100000]

The app (uvicorn, one worker, SQLite) and the Whop emulator run as separate processes on free
loopback ports (bench/procs.py). The creator (user_demo_creator) signs in through the
emulator for real; then this process bulk-inserts the students (users, student rows,
memberships, some sessions), the deliveries (10 % of them another company's, which the pages
must skip) and two weeks of audit events into the same SQLite file. Each page variant is
requested `--requests` times, one at a time over a keep-alive connection, after a short warm-up,
and the p50 and p99 latencies are printed. Target: p99 under 100 ms for the students and
deliveries pages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.gate import SESSION_COOKIE, sign_in
from bench.procs import percentile, running

TARGET_P99_MS = 100.0
EVENT_TYPES = (
    "membership.activated",
    "membership.deactivated",
    "membership.updated",
    "payment.succeeded",
    "payment.failed",
)
# (status, cancel_at_period_end, weight)
MEMBERSHIP_MIX = (
    ("active", False, 70),
    ("active", True, 5),
    ("trialing", False, 2),
    ("past_due", False, 3),
    ("expired", False, 12),
    ("canceled", False, 8),
)
DELIVERY_MIX = (("processed", 96), ("ignored", 1), ("failed", 2), ("dead", 1))


def stamp(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (naive UTC text)."""
    return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed(path: str, students: int, deliveries: int, rng: random.Random) -> dict[str, float]:
    """Bulk-insert the data set with plain sqlite3 `executemany` (one transaction per table)."""
    timings: dict[str, float] = {}
    now = datetime.now(UTC)
    db = sqlite3.connect(path, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    (creator_id,) = db.execute("SELECT id FROM creator WHERE whop_company_id='biz_demo'").fetchone()

    started = time.perf_counter()
    with db:
        db.executemany(
            "INSERT INTO user_account (whop_user_id, username, name, email, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    f"user_bench_{n:05d}",
                    f"s{n:05d}",
                    f"Student {n:05d}",
                    f"s{n:05d}@bench.test",
                    stamp(now),
                    stamp(now),
                )
                for n in range(students)
            ),
        )
    ids = db.execute(
        "SELECT id, whop_user_id FROM user_account WHERE whop_user_id LIKE 'user_bench_%'"
    ).fetchall()
    statuses = [(s, c) for s, c, w in MEMBERSHIP_MIX for _ in range(w)]
    with db:
        db.executemany(
            "INSERT INTO student (user_id, creator_id, access_level, access_checked_at,"
            " created_at) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    uid,
                    creator_id,
                    "customer",
                    stamp(now),
                    stamp(now - timedelta(minutes=rng.randrange(525_600))),
                )
                for uid, _ in ids
            ),
        )
        rows = []
        for _, whop_id in ids:
            status, canceling = rng.choice(statuses)
            updated = now - timedelta(minutes=rng.randrange(100_000))
            rows.append(
                (
                    f"mem_{whop_id}",
                    creator_id,
                    "biz_demo",
                    whop_id,
                    "prod_demo",
                    "plan_demo",
                    status,
                    int(canceling),
                    stamp(now + timedelta(days=rng.randrange(-30, 30))),
                    stamp(updated),
                    0,
                    stamp(updated),
                    stamp(updated),
                )
            )
        db.executemany(
            "INSERT INTO membership (whop_membership_id, creator_id, whop_company_id,"
            " whop_user_id, whop_product_id, whop_plan_id, status, cancel_at_period_end,"
            " current_period_end, source_updated_at, flagged, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT INTO user_session (token_hash, user_id, creator_id, created_at, last_seen_at,"
            " expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    os.urandom(32),
                    uid,
                    creator_id,
                    stamp(now - timedelta(hours=2)),
                    stamp(now - timedelta(minutes=rng.randrange(120))),
                    stamp(now + timedelta(hours=10)),
                    "127.0.0.1",
                    "bench",
                )
                for uid, _ in ids[: students // 3]
            ),
        )
    timings["students"] = time.perf_counter() - started

    started = time.perf_counter()
    kinds = [s for s, w in DELIVERY_MIX for _ in range(w)]
    span = 14 * 86400
    with db:
        rows = []
        for n in range(deliveries):
            status = rng.choice(kinds)
            received = now - timedelta(seconds=span * (deliveries - n) / deliveries)
            company = "biz_other" if n % 10 == 9 else "biz_demo"
            rows.append(
                (
                    f"msg_bench_{n:06d}",
                    rng.choice(EVENT_TYPES),
                    company,
                    '{"type":"membership.updated","data":{"id":"mem_x"}}',
                    "{}",
                    status,
                    8 if status == "dead" else 1,
                    stamp(received + timedelta(minutes=5)) if status == "failed" else None,
                    "OperationalError: database is locked"
                    if status in ("failed", "dead")
                    else None,
                    stamp(received),
                    stamp(received) if status in ("processed", "ignored") else None,
                )
            )
        db.executemany(
            "INSERT INTO webhook_delivery (webhook_id, event_type, company_id, body, headers,"
            " status, attempts, next_attempt_at, last_error, received_at, processed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    timings["deliveries"] = time.perf_counter() - started

    started = time.perf_counter()
    with db:
        db.executemany(
            "INSERT INTO audit_event (at, kind, outcome, reason, subject, creator_id, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    stamp(now - timedelta(seconds=rng.randrange(span))),
                    kind,
                    "success" if kind == "authn_login_success" else "failure",
                    None if kind == "authn_login_success" else "expired",
                    f"user_bench_{rng.randrange(students):05d}",
                    creator_id,
                    "{}",
                )
                for kind in ["authn_login_success"] * 15_000 + ["authz_fail"] * 3_000
            ),
        )
    timings["audit"] = time.perf_counter() - started
    # A cursor half-way down the creator's list, for the "older page" variant.
    (middle,) = db.execute(
        "SELECT id FROM webhook_delivery WHERE company_id = 'biz_demo' ORDER BY id"
        " LIMIT 1 OFFSET ?",
        (deliveries * 9 // 20,),
    ).fetchone()
    timings["middle"] = float(middle)
    db.close()
    return timings


async def measure(
    http: httpx.AsyncClient, url: str, requests: int, warmup: int = 10
) -> tuple[list[float], int]:
    """Latencies (ms) of `requests` sequential GETs after `warmup`; and how many rows showed."""
    for _ in range(warmup):
        await http.get(url)
    latencies: list[float] = []
    rows = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = await http.get(url)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        rows = len(re.findall(r"<tr data-(?:user|webhook|kind)=", response.text))
    return latencies, rows


async def run(app_url: str, issuer: str, database_url: str, args: argparse.Namespace) -> None:
    """Sign in, seed, then measure each page variant."""
    cookie = await sign_in(app_url, issuer, user_id="user_demo_creator")
    path = database_url.removeprefix("sqlite:///")
    timings = seed(path, args.students, args.deliveries, random.Random(7))
    print(
        f"seeded {args.students:,} students ({timings['students']:.1f} s), "
        f"{args.deliveries:,} deliveries ({timings['deliveries']:.1f} s), "
        f"18,000 audit events ({timings['audit']:.1f} s) into SQLite"
    )
    middle = int(timings.pop("middle"))
    variants = [
        ("students", "first page", "/creator/students"),
        ("students", "search 'Student 0042'", "/creator/students?q=Student+0042"),
        ("students", "status=expired", "/creator/students?status=expired"),
        ("students", "page 150 (offset 7,450)", "/creator/students?page=150"),
        ("deliveries", "first page", "/creator/deliveries"),
        ("deliveries", "status=failed", "/creator/deliveries?status=failed"),
        ("deliveries", "type=payment.failed", "/creator/deliveries?type=payment.failed"),
        ("deliveries", "id prefix search", "/creator/deliveries?q=msg_bench_0421"),
        ("deliveries", "older page (keyset)", f"/creator/deliveries?before={middle}"),
        ("overview", "counts + 14-day chart", "/creator"),
        ("audit", "first page", "/creator/audit"),
    ]
    headers = {"cookie": f"{SESSION_COOKIE}={cookie}", "accept": "text/html"}
    print(f"{'page':<11} {'variant':<26} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8}")
    worst: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=app_url, headers=headers, timeout=30) as http:
        for page, name, url in variants:
            latencies, rows = await measure(http, url, args.requests)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            worst[page] = max(worst.get(page, 0.0), p99)
            print(f"{page:<11} {name:<26} {rows:>5} {p50:>8.1f} {p99:>8.1f}")
    for page in ("students", "deliveries"):
        verdict = "meets" if worst[page] < TARGET_P99_MS else "misses"
        print(
            f"{page}: worst p99 {worst[page]:.1f} ms (target < {TARGET_P99_MS:.0f}); "
            f"{verdict} the target"
        )


def main() -> None:
    """Parse arguments, start the processes, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per variant")
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=100_000)
    args = parser.parse_args()
    with running(workers=1) as procs:
        asyncio.run(run(procs.app_url, procs.issuer, procs.database_url, args))
    print("1 uvicorn worker, SQLite (WAL), loopback; requests one at a time over keep-alive")


if __name__ == "__main__":
    main()
