"""A `mentora worker` killed with SIGKILL in the middle of a batch (W12).

Two claims are tested, one per queue:
- the delivery retry queue takes one row per transaction with `FOR UPDATE SKIP LOCKED`: a
  killed worker's row is rolled back by PostgreSQL and the next worker applies it once;
- the outbox leases a batch (`claimed_until`, OUTBOX_LEASE_SECONDS) and sends outside the
  transaction: a killed worker's leased rows wait for the lease to run out while a second
  worker polls, then that worker re-claims and sends each of them once (the message the first
  was sending when it died was never acknowledged by SMTP).

Workers run in their own processes; the test makes the kill land mid-batch deterministically
by holding a lock the worker needs (a membership row) or an SMTP answer (the inbox's hold).

A third test has no kill: a slow SMTP server makes one worker's batch outlast its lease while
a second worker is polling; no email may be sent twice (this found a bug, now fixed).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.multiprocess.helpers import (
    Inbox,
    eventually,
    message_id_for,
    post_delivery,
    scalar,
    smtp_server,
    sql,
)
from tests.support.procs import (
    WEBHOOK_SECRET,
    Cluster,
    Proc,
    fresh_database,
    new_id,
    running_cluster,
)
from tests.support.webhooks import event_body, membership_data, signed_headers

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


@pytest.fixture(scope="module")
def held_inbox() -> Inbox:
    """An SMTP inbox that can keep one message waiting, unanswered."""
    return Inbox()


@pytest.fixture(scope="module")
def quiet_cluster(
    pg_admin: str, held_inbox: Inbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """One app worker and no background worker yet: each test starts and kills its own."""
    with (
        smtp_server(held_inbox) as smtp_url,
        fresh_database(pg_admin) as database_url,
        running_cluster(
            database_url,
            app_workers=1,
            workers=0,
            log_dir=tmp_path_factory.mktemp("killed"),
            SMTP_URL=smtp_url,
            SYNC_INTERVAL_SECONDS="0",
            RATELIMIT_ENABLED="false",
        ) as running,
    ):
        yield running


def _sent(url: str, run: str) -> int:
    """How many of this test's outbox rows are marked sent."""
    return int(
        scalar(
            url,
            "SELECT count(*) FROM outbox_message WHERE dedupe_key LIKE %s AND status = 'sent'",
            f"{run}:%",
        )
    )


# The dead worker's lease: long enough for a second worker process to start and make a pass
# while it holds, short enough to wait out.
LEASE_SECONDS = 10


def _last_beat(url: str, worker: Proc) -> datetime | None:
    """When `worker` last began a pass (its heartbeat), or None before its first."""
    name = f"worker:%:{worker.pid}"
    beat: datetime | None = scalar(
        url, "SELECT max(beat_at) FROM worker_heartbeat WHERE name LIKE %s", name
    )
    return beat


async def _next_pass(url: str, worker: Proc, *, after: datetime | None) -> datetime:
    """Wait for `worker` to begin a pass later than `after` (None: its first); returns when."""
    await eventually(
        lambda: _last_beat(url, worker) not in (None, after),
        timeout=60,
        what=f"a pass of {worker.name}",
    )
    beat = _last_beat(url, worker)
    assert beat is not None
    return beat


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_w12_worker_killed_mid_batch_its_delivery_is_retried_and_applied_once(
    quiet_cluster: Cluster, tmp_path: Path
) -> None:
    """SIGKILL while applying row 6 of 12: rows 6-12 are applied by the next worker, once each."""
    cluster, url, run = quiet_cluster, quiet_cluster.database_url, new_id("kill")
    now = datetime.now(UTC)
    members = [(f"mem_{run}_{n}", f"user_{run}_{n}") for n in range(12)]
    # The memberships exist and grant access (real signed deliveries through the app).
    async with httpx.AsyncClient(base_url=cluster.app_url, timeout=60) as http:
        for membership_id, user_id in members:
            body = event_body(
                "membership.activated",
                membership_data(membership_id, "active", updated_at=_iso(now), user_id=user_id),
            )
            sent = await post_delivery(
                http, body, signed_headers(body, at=now, secret=WEBHOOK_SECRET)
            )
            assert sent.json()["status"] == "processed"
    # Twelve deactivations wait in the retry queue (stored, failed once, due in this order).
    ids = [f"msg_{run}_{n}" for n in range(12)]
    later = _iso(now + timedelta(seconds=30))
    with psycopg.connect(url, autocommit=True) as conn:
        for n, ((membership_id, user_id), msg_id) in enumerate(zip(members, ids, strict=True)):
            body = event_body(
                "membership.deactivated",
                membership_data(membership_id, "expired", updated_at=later, user_id=user_id),
            ).decode()
            conn.execute(
                "INSERT INTO webhook_delivery (webhook_id, event_type, company_id, body, headers,"
                " status, attempts, next_attempt_at, received_at)"
                " VALUES (%s, 'membership.deactivated', 'biz_demo', %s, %s, 'failed', 1, %s, %s)",
                (msg_id, body, json.dumps({}), now - timedelta(seconds=60 - n), now),
            )
    blocked_on = members[5][0]
    with psycopg.connect(url) as holder:
        # The test holds membership 6's row: the worker will stop inside that row's effect.
        holder.execute(
            "SELECT id FROM membership WHERE whop_membership_id = %s FOR UPDATE", (blocked_on,)
        )
        first = cluster.start_worker()
        await eventually(
            lambda: (
                scalar(
                    url,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query ILIKE %s",
                    "%FROM membership%",
                )
                == 1
            ),
            timeout=60,
            what="the worker waits on membership 6",
        )
        statuses = dict(
            sql(
                url,
                "SELECT webhook_id, status FROM webhook_delivery WHERE webhook_id = ANY(%s)",
                ids,
            )
        )
        assert [statuses[i] for i in ids] == ["processed"] * 5 + ["failed"] * 7
        cluster.kill(first)  # mid-batch, mid-transaction, mid-effect
        assert not first.alive()
        holder.rollback()
    second = cluster.start_worker()
    await eventually(
        lambda: (
            scalar(
                url,
                "SELECT count(*) FROM webhook_delivery WHERE webhook_id = ANY(%s)"
                " AND status = 'processed'",
                ids,
            )
            == 12
        ),
        timeout=60,
        what="the next worker applies the rest",
    )
    cluster.kill(second)
    rows = sql(
        url, "SELECT webhook_id, attempts FROM webhook_delivery WHERE webhook_id = ANY(%s)", ids
    )
    # The killed attempt left nothing behind: one failed try from before, one that worked.
    assert dict(rows) == dict.fromkeys(ids, 2)
    applied = dict(
        sql(
            url,
            "SELECT subject, count(*) FROM audit_event WHERE kind = 'webhook_processed'"
            " AND subject = ANY(%s) GROUP BY subject",
            ids,
        )
    )
    assert applied == dict.fromkeys(ids, 1)
    changed = Counter(
        reference
        for (reference,) in sql(
            url,
            "SELECT details->>'reference' FROM audit_event WHERE kind = 'membership_changed'"
            " AND details->>'reference' = ANY(%s)",
            ids,
        )
    )
    assert changed == dict.fromkeys(ids, 1)
    expired = scalar(
        url,
        "SELECT count(*) FROM membership WHERE whop_membership_id = ANY(%s) AND status = 'expired'",
        [m for m, _ in members],
    )
    assert expired == 12


async def test_w12_worker_killed_mid_send_leased_emails_sent_once_after_the_lease(
    quiet_cluster: Cluster, held_inbox: Inbox
) -> None:
    """SIGKILL while sending email 8 of 20: the lease keeps the rest until it ends, then once."""
    cluster, url, run = quiet_cluster, quiet_cluster.database_url, new_id("lease")
    keys = [f"{run}:{n}" for n in range(20)]
    held_inbox.hold = message_id_for(keys[7])
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        for n, key in enumerate(keys):
            conn.execute(
                "INSERT INTO outbox_message (dedupe_key, kind, template, recipient, subject, body,"
                " status, attempts, next_attempt_at, created_at)"
                " VALUES (%s, 'email', 'welcome', %s, 'Hello', 'Body', 'pending', 0, %s, %s)",
                (key, f"{run}.{n}@example.test", now - timedelta(seconds=60 - n), now),
            )
    first = cluster.start_worker(OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS))
    assert await asyncio.to_thread(held_inbox.held.wait, 60), "email 8 never reached SMTP"
    cluster.kill(first)
    held_inbox.release.set()
    expected = [message_id_for(key) for key in keys]
    assert [m for m in held_inbox.ids() if m in expected] == expected[:7]
    leased = sql(
        url,
        "SELECT dedupe_key, claimed_until FROM outbox_message WHERE dedupe_key LIKE %s"
        " AND status = 'pending' AND claimed_until IS NOT NULL ORDER BY id",
        f"{run}:%",
    )
    assert [k for k, _ in leased] == keys[7:]
    lease_ends = dict(leased)

    second = cluster.start_worker()
    # The second worker's first pass comes while the dead worker's lease still holds (the
    # lease is long enough for a process to start), and it sends nothing.
    first_pass = await _next_pass(url, second, after=None)
    assert first_pass < min(lease_ends.values())
    assert [m for m in held_inbox.ids() if m in expected] == expected[:7]
    # Once the lease has run out on the workers' clock, the second worker claims and sends.
    await eventually(
        lambda: _sent(url, run) == 20,
        timeout=60,
        what="the leased emails are sent",
    )
    sent_at = dict(
        sql(
            url,
            "SELECT dedupe_key, sent_at FROM outbox_message WHERE dedupe_key = ANY(%s)",
            keys[7:],
        )
    )
    assert all(sent_at[key] >= lease_ends[key] for key in keys[7:]), (sent_at, lease_ends)
    cluster.kill(second)
    received = Counter(m for m in held_inbox.ids() if m in expected)
    assert received == dict.fromkeys(expected, 1)
    attempts = [
        a
        for (a,) in sql(
            url,
            "SELECT attempts FROM outbox_message WHERE dedupe_key LIKE %s ORDER BY id",
            f"{run}:%",
        )
    ]
    assert attempts == [1] * 7 + [2] * 13


async def test_w12_batch_outlasting_its_lease_is_not_sent_twice_by_two_workers(
    quiet_cluster: Cluster, held_inbox: Inbox
) -> None:
    """A slow SMTP server makes a batch outlast its lease: still one email per row, 2 workers."""
    cluster, url, run = quiet_cluster, quiet_cluster.database_url, new_id("slow")
    held_inbox.delay = 0.4  # 12 messages take about 5 s; the lease is 2 s
    keys = [f"{run}:{n}" for n in range(12)]
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        for n, key in enumerate(keys):
            conn.execute(
                "INSERT INTO outbox_message (dedupe_key, kind, template, recipient, subject, body,"
                " status, attempts, next_attempt_at, created_at)"
                " VALUES (%s, 'email', 'welcome', %s, 'Hello', 'Body', 'pending', 0, %s, %s)",
                (key, f"{run}.{n}@example.test", now - timedelta(seconds=60 - n), now),
            )
    workers = [cluster.start_worker(OUTBOX_LEASE_SECONDS="2") for _ in range(2)]
    try:
        await eventually(
            lambda: _sent(url, run) == 12,
            timeout=60,
            what="the 12 emails are sent",
        )
        # A pass that began after the last email was marked sent means the pass before it,
        # which may have been sending a duplicate, has finished: wait for one per worker.
        marks = [_last_beat(url, worker) for worker in workers]
        for worker, mark in zip(workers, marks, strict=True):
            await _next_pass(url, worker, after=mark)
    finally:
        held_inbox.delay = 0.0
        for worker in workers:
            cluster.kill(worker)
    expected = [message_id_for(key) for key in keys]
    received = Counter(m for m in held_inbox.ids() if m in expected)
    assert received == dict.fromkeys(expected, 1)
