"""Webhook throughput beside a trivial POST, then latency at a fixed rate (W15), over real sockets.

Run: .venv/bin/python -m bench.webhooks [--throughput-seconds 10] [--concurrency 32]
      [--rounds 1] [--rate 50] [--seconds 20] [--duplicates 0.1]
      [--database-url postgresql://postgres@127.0.0.1/mentora_bench]
The app runs as its own process. Phase 1 (closed loop, `concurrency` keep-alive connections):
the same server's trivial `POST /api/ping`, then signed `membership.updated` deliveries, each
verified, stored and applied before its 2xx; prints both rates, their ratio and p50/p99.
Phase 2 sends deliveries at `rate` per second (a share repeating an earlier webhook-id, as
Whop's retries do) and prints latency percentiles, non-2xx answers, and whether every unique
id was stored.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import create_engine, func, select
from standardwebhooks import Webhook

from bench.procs import percentile, running
from bench.rawhttp import LoadResult, closed_loop, encode_request
from mentora.db.engine import sync_url
from mentora.db.models import WebhookDelivery

SECRET = "ws_bench_webhook_secret"


def _delivery(signer: Webhook, msg_id: str, n: int) -> tuple[bytes, dict[str, str]]:
    now = datetime.now(UTC)  # a benchmark talks to a real server: real time is the point
    body = json.dumps(
        {
            "type": "membership.updated",
            "company_id": "biz_demo",
            "data": {
                "id": f"mem_bench_{n % 500}",
                "status": "active",
                "user_id": f"user_bench_{n % 500}",
                "product_id": "prod_demo",
                "updated_at": now.isoformat(),
            },
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(msg_id, now, body.decode()),
    }
    return body, headers


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


async def throughput(
    app_url: str, seconds: float, concurrency: int, rounds: int = 1
) -> dict[str, LoadResult]:
    """Closed-loop rate of the trivial POST, then of signed deliveries (unique ids).

    Every round sends the same 500 memberships: the first round creates them, later rounds
    update rows that exist (the steady state of a running app).
    """
    signer = Webhook(base64.b64encode(SECRET.encode()).decode())
    ping = encode_request(
        f"{app_url}/api/ping", "POST", {"content-type": "application/json"}, b"{}"
    )
    trivial = await closed_loop(app_url, lambda n: ping, concurrency=concurrency, seconds=seconds)
    results = {"trivial POST /api/ping": trivial}
    for round_no in range(1, rounds + 1):

        def delivery(n: int, round_no: int = round_no) -> bytes:
            body, headers = _delivery(signer, f"msg_tp{round_no}_{n}", n)
            return encode_request(f"{app_url}/api/whop/webhooks", "POST", headers, body)

        name = "webhook deliveries" if round_no == 1 else f"webhooks, round {round_no}"
        results[name] = await closed_loop(
            app_url, delivery, concurrency=concurrency, seconds=seconds
        )
    return results


def main() -> None:
    """Start the app, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=1, help="webhook rounds; later ones update existing rows"
    )
    args = parser.parse_args()
    with running(database_url=args.database_url, SYNC_INTERVAL_SECONDS="0") as procs:
        rates = asyncio.run(
            throughput(procs.app_url, args.throughput_seconds, args.concurrency, args.rounds)
        )
        print(
            f"phase 1: closed loop, {args.concurrency} connections, {args.throughput_seconds:.0f} s each, 1 app process"
        )
        print(
            f"{'endpoint':<24} {'requests':>9} {'non-2xx':>8} {'per second':>11} {'p50 ms':>8} {'p99 ms':>8}"
        )
        for name, r in rates.items():
            print(
                f"{name:<24} {r.requests:>9} {r.non_2xx:>8} {r.per_second:>11.0f} "
                f"{percentile(r.latencies_ms, 50):>8.1f} {percentile(r.latencies_ms, 99):>8.1f}"
            )
        trivial_rate = max(rates["trivial POST /api/ping"].per_second, 1)
        for name, r in rates.items():
            if name.startswith("webhook"):
                label = "ratio " + ("webhooks" if name == "webhook deliveries" else name[10:])
                print(f"{label + '/trivial':<24} {r.per_second / trivial_rate:>41.2f}")
        engine = create_engine(sync_url(procs.database_url))
        with engine.connect() as conn:
            applied = conn.execute(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(
                    WebhookDelivery.webhook_id.like("msg_tp%"),
                    WebhookDelivery.status == "processed",
                )
            ).scalar_one()
        engine.dispose()
        answered = sum(
            r.requests - r.non_2xx for name, r in rates.items() if name.startswith("webhook")
        )
        print(
            f"{'stored and applied':<24} {applied:>9} (= webhook requests answered 2xx: "
            f"{applied == answered})"
        )
        print()
        print(
            f"phase 2: {args.rate:.0f} deliveries/s for {args.seconds:.0f} s, {args.duplicates:.0%} repeated ids"
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
