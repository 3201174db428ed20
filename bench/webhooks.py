"""Webhook acknowledgement latency at a fixed rate over real sockets (checklist W15).

Run: .venv/bin/python -m bench.webhooks [--rate 50] [--seconds 20] [--duplicates 0.1]
      [--database-url postgresql://postgres@127.0.0.1/mentora_bench]
The app runs as its own process; this process signs and sends `membership.updated` deliveries
at `rate` per second (a share of them repeats an earlier webhook-id, as Whop's retries do),
then prints latency percentiles, non-2xx answers, and whether every unique id was stored.
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


def main() -> None:
    """Start the app, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with running(database_url=args.database_url, SYNC_INTERVAL_SECONDS="0") as procs:
        figures = asyncio.run(run(procs.app_url, args.rate, args.seconds, args.duplicates))
        engine = create_engine(sync_url(procs.database_url))
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(WebhookDelivery)).scalar_one()
        engine.dispose()
    figures["stored_rows"] = float(stored)
    for key, value in figures.items():
        print(f"{key:>12}: {value:.1f}")
    verdict = "ok" if stored == figures["unique_ids"] and not figures["non_2xx"] else "LOSS"
    print(f"{'rows==ids':>12}: {verdict}")


if __name__ == "__main__":
    main()
