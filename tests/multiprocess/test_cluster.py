"""Several processes, one system: 2 uvicorn workers and 2 `mentora worker` on PostgreSQL + Redis.

Each test checks, through `x-served-by` (the answering worker's pid, sent in MENTORA_ENV=test
only), that both app processes took part, so a pass cannot come from one process alone.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from tests.multiprocess.helpers import (
    SERVED_BY,
    Inbox,
    calls,
    csrf_headers,
    deactivation,
    eventually,
    from_each_worker,
    message_id_for,
    new_member,
    pinned_clients,
    post_delivery,
    scalar,
    sent_webhooks,
    session_headers,
    sign_in,
    sql,
)
from tests.support.procs import MENTORA, Cluster, new_id

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


async def test_w11_fifty_concurrent_duplicates_one_effect_across_processes(
    cluster: Cluster, inbox: Inbox
) -> None:
    """50 concurrent copies of one delivery over both app workers: one row, effect and email."""
    async with httpx.AsyncClient(timeout=60) as http:
        member = await new_member(http, cluster, "dup")
        await sent_webhooks(http, cluster)  # the emulator's `activated` has been delivered
        await sign_in(http, cluster, member.user_id)
    body, headers = deactivation(member)
    msg_id = headers["webhook-id"]
    async with pinned_clients(cluster.app_url, per_worker=25) as pinned:
        clients = [client for group in pinned.values() for client in group]
        responses = await asyncio.gather(*(post_delivery(c, body, headers) for c in clients))
    assert [r.status_code for r in responses] == [200] * 50
    assert Counter(r.json()["status"] for r in responses) == {"processed": 1, "duplicate": 49}
    assert len({r.headers[SERVED_BY] for r in responses}) == 2
    url = cluster.database_url
    assert scalar(url, "SELECT count(*) FROM webhook_delivery WHERE webhook_id = %s", msg_id) == 1
    assert (
        scalar(
            url,
            "SELECT count(*) FROM audit_event WHERE kind = 'webhook_processed' AND subject = %s",
            msg_id,
        )
        == 1
    )
    changes = sql(
        url,
        "SELECT count(*) FROM audit_event WHERE kind = 'membership_changed'"
        " AND details->>'reference' = %s",
        msg_id,
    )
    assert changes == [(1,)]
    ended = sql(
        url,
        "SELECT dedupe_key, status FROM outbox_message WHERE template = 'access_ended'"
        " AND recipient = %s",
        member.email,
    )
    assert len(ended) == 1
    key = ended[0][0]
    await eventually(
        lambda: (
            scalar(url, "SELECT status FROM outbox_message WHERE dedupe_key = %s", key) == "sent"
        ),
        timeout=30,
        what="the access_ended email is sent",
    )
    assert [mid for mid, _ in inbox.to(member.email)].count(message_id_for(key)) == 1


async def test_m02_revocation_in_one_process_refuses_next_request_in_the_other(
    cluster: Cluster,
) -> None:
    """A deactivation stored by worker A, or `sessions revoke` in a third process, refuses B."""
    async with httpx.AsyncClient(timeout=60) as http:
        first, second = (
            await new_member(http, cluster, "rev"),
            await new_member(http, cluster, "rev"),
        )
        await sent_webhooks(http, cluster)
        session1 = await sign_in(http, cluster, first.user_id)
        session2 = await sign_in(http, cluster, second.user_id)
    async with pinned_clients(cluster.app_url, per_worker=1) as pinned:
        (pid_a, (a,)), (pid_b, (b,)) = sorted(pinned.items())
        for client, pid in ((a, pid_a), (b, pid_b)):
            for session in (session1, session2):
                allowed = await client.get("/api/content", headers=session_headers(session))
                assert allowed.status_code == 200 and allowed.headers[SERVED_BY] == pid

        # 1. Whop's deactivation is stored by worker A ...
        body, headers = deactivation(first)
        stored = await post_delivery(a, body, headers)
        assert stored.json()["status"] == "processed" and stored.headers[SERVED_BY] == pid_a
        # ... and worker B refuses the very next request.
        refused = await b.get("/api/content", headers=session_headers(session1))
        assert refused.status_code == 401 and refused.headers[SERVED_BY] == pid_b

        # 2. An operator's `mentora sessions revoke` (a third process) ends it everywhere.
        cli = await asyncio.create_subprocess_exec(
            MENTORA,
            "sessions",
            "revoke",
            "--user",
            second.user_id,
            env=cluster.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), timeout=60)
        assert cli.returncode == 0, err.decode()[-500:]
        assert b"revoked 1 session" in out
    # The CLI took a while: ask on new connections until both workers have answered.
    after = await from_each_worker(
        cluster.app_url, "/api/content", session_headers(session2), {pid_a, pid_b}
    )
    assert {r.status_code for r in after} == {401}


async def test_c15_concurrent_forced_refresh_from_two_processes_one_token_call(
    cluster: Cluster,
) -> None:
    """Ten forced refreshes of one grant, five in each app worker, rotate it once at Whop."""
    async with httpx.AsyncClient(timeout=60) as http:
        member = await new_member(http, cluster, "ref")
        await sent_webhooks(http, cluster)
        session = await sign_in(http, cluster, member.user_id)
        url = cluster.database_url
        # Out of the "rotated within 10 s" window, as a session signed in a while ago would be.
        sql(url, "UPDATE whop_token SET updated_at = updated_at - interval '1 minute'")
        version_before = scalar(url, "SELECT max(version) FROM whop_token")
        token_calls = await calls(http, cluster, "/oauth/token")
        async with pinned_clients(cluster.app_url, per_worker=5) as pinned:
            clients = [client for group in pinned.values() for client in group]
            answers = await asyncio.gather(
                *(c.post("/api/whop/refresh", headers=csrf_headers(session)) for c in clients)
            )
        assert [a.status_code for a in answers] == [200] * 10, [a.text[:200] for a in answers]
        assert len({a.headers[SERVED_BY] for a in answers}) == 2
        assert await calls(http, cluster, "/oauth/token") - token_calls == 1
        assert scalar(url, "SELECT max(version) FROM whop_token") == version_before + 1
        grants = (await http.get(f"{cluster.issuer}/_emulator/admin/grants")).json()["data"]
        mine = [g for g in grants if g["user_id"] == member.user_id]
        assert mine and not any(g["revoked"] for g in mine)  # no refresh token was replayed
        still = await http.get(
            f"{cluster.app_url}/api/whop/verify", headers=session_headers(session)
        )
        assert still.status_code == 200


async def test_w12_two_workers_send_each_outbox_email_exactly_once(
    cluster: Cluster, inbox: Inbox
) -> None:
    """200 queued emails, two worker processes, a real SMTP server: every Message-ID once."""
    run = new_id("batch")
    now = datetime.now(UTC)
    keys = [f"mp:{run}:{n}" for n in range(200)]
    offsets = {w.name: len(w.log(10**9)) for w in cluster.workers}
    with_rows = ",".join(
        f"('{key}', 'email', 'welcome', 'student{n}@example.test', 'Hello', 'Body', 'pending',"
        " 0, %(now)s, %(now)s)"
        for n, key in enumerate(keys)
    )
    with psycopg.connect(cluster.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox_message (dedupe_key, kind, template, recipient, subject, body,"
            f" status, attempts, next_attempt_at, created_at) VALUES {with_rows}",
            {"now": now},
        )
    url = cluster.database_url
    await eventually(
        lambda: (
            scalar(
                url,
                "SELECT count(*) FROM outbox_message WHERE dedupe_key LIKE %s AND status = 'sent'",
                f"mp:{run}:%",
            )
            == 200
        ),
        timeout=90,
        what="all 200 emails sent",
    )
    expected = {message_id_for(key) for key in keys}
    received = Counter(mid for mid in inbox.ids() if mid in expected)
    assert set(received) == expected
    assert set(received.values()) == {1}
    assert (
        scalar(
            url, "SELECT max(attempts) FROM outbox_message WHERE dedupe_key LIKE %s", f"mp:{run}:%"
        )
        == 1
    )

    # Both worker processes took part (their `worker_pass` log lines since the rows went in).
    # A pass logs after its commit, so the last pass's line may still be on its way: wait until
    # the lines account for all 200 (or more: mail of earlier tests may still go out).
    def sent_by() -> dict[str, int]:
        return {
            w.name: sum(
                int(n) for n in re.findall(r'"sent": (\d+)', w.log(10**9)[offsets[w.name] :])
            )
            for w in cluster.workers
        }

    await eventually(
        lambda: sum(sent_by().values()) >= 200, timeout=30, what="every pass's log line"
    )
    assert all(sent_by().values()), sent_by()
