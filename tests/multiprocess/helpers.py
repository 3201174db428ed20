"""What the multi-process tests do to a running cluster: the emulator's admin API, sign-ins over
sockets, connections pinned to one uvicorn worker, signed deliveries, SQL and a real SMTP inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import hashlib
import re
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from aiosmtpd.controller import Controller

from mentora.sessions.tokens import csrf_token, hash_token
from tests.support.procs import SECRET_KEY, WEBHOOK_SECRET, Cluster, free_port, new_id
from tests.support.webhooks import WEBHOOK_PATH, event_body, membership_data, signed_headers

LOGIN_COOKIE = "__Host-mentora_login"
SESSION_COOKIE = "__Host-mentora_session"
SERVED_BY = "x-served-by"


# --- the emulator ------------------------------------------------------------------------------


async def admin(
    http: httpx.AsyncClient, cluster: Cluster, method: str, path: str, body: Any = None
) -> Any:
    """Call the emulator's admin API and return its JSON (raising on an error status)."""
    response = await http.request(
        method, f"{cluster.issuer}/_emulator/admin{path}", json=body, timeout=60
    )
    response.raise_for_status()
    return response.json()


@dataclass(frozen=True)
class Member:
    """A Whop user with an active membership of the demo product."""

    user_id: str
    membership_id: str
    email: str


async def new_member(http: httpx.AsyncClient, cluster: Cluster, prefix: str = "mp") -> Member:
    """Create a user and an active membership at the emulator (which sends `activated`)."""
    username = new_id(prefix)
    address = f"{username}@example.test"
    user = await admin(
        http, cluster, "POST", "/users", {"username": username, "email": address, "name": username}
    )
    membership = await admin(
        http, cluster, "POST", "/memberships", {"user_id": user["id"], "product_id": "prod_demo"}
    )
    return Member(user_id=user["id"], membership_id=membership["id"], email=address)


async def sent_webhooks(http: httpx.AsyncClient, cluster: Cluster) -> list[dict[str, Any]]:
    """The emulator's send log, after every queued delivery (retries included) has finished."""
    data: list[dict[str, Any]] = (await admin(http, cluster, "GET", "/webhooks?flush=1"))["data"]
    return data


async def webhook_log_until(
    http: httpx.AsyncClient,
    cluster: Cluster,
    check: Callable[[list[dict[str, Any]]], bool],
    *,
    what: str,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Poll the emulator's send log (without waiting for retries) until `check` holds on it."""
    deadline = time.monotonic() + timeout
    while True:
        log: list[dict[str, Any]] = (await admin(http, cluster, "GET", "/webhooks"))["data"]
        if check(log):
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.05)


async def calls(http: httpx.AsyncClient, cluster: Cluster, prefix: str) -> int:
    """Requests the emulator has served on paths starting with `prefix`."""
    body = await admin(http, cluster, "GET", "/calls")
    return sum(n for path, n in body["by_path"].items() if path.startswith(prefix))


# --- the app -----------------------------------------------------------------------------------


def _cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1] or None
    return None


async def sign_in_response(
    http: httpx.AsyncClient, cluster: Cluster, user_id: str
) -> tuple[httpx.Response, str | None]:
    """A browser's sign-in over real sockets (cookies carried by hand: they are Secure)."""
    nav = {"sec-fetch-mode": "navigate", "sec-fetch-site": "none"}
    start = await http.get(f"{cluster.app_url}/api/whop/auth", headers=nav)
    if start.status_code not in (302, 303):
        return start, None
    login = _cookie(start, LOGIN_COOKIE)
    page = await http.get(start.headers["location"])
    fields = {
        k: unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    fields.update(user_id=user_id, decision="approve")
    decided = await http.post(f"{cluster.issuer}/oauth/authorize", data=fields)
    parts = urlsplit(decided.headers["location"])
    done = await http.get(
        f"{cluster.app_url}{parts.path}?{parts.query}",
        headers={**nav, "sec-fetch-site": "cross-site", "cookie": f"{LOGIN_COOKIE}={login}"},
    )
    return done, _cookie(done, SESSION_COOKIE)


async def sign_in(http: httpx.AsyncClient, cluster: Cluster, user_id: str) -> str:
    """Sign `user_id` in; returns the session cookie's value."""
    done, session = await sign_in_response(http, cluster, user_id)
    assert done.status_code == 303 and session, (done.status_code, done.text[:300])
    return session


def session_headers(session: str) -> dict[str, str]:
    """The cookie header of a signed-in browser."""
    return {"cookie": f"{SESSION_COOKIE}={session}"}


def csrf_headers(session: str) -> dict[str, str]:
    """Cookie, same-origin Fetch Metadata and the session's CSRF token, for a POST."""
    token = csrf_token(SECRET_KEY.encode(), hash_token(session))
    return {**session_headers(session), "sec-fetch-site": "same-origin", "x-csrf-token": token}


@contextlib.asynccontextmanager
async def pinned_clients(
    app_url: str, per_worker: int, workers: int = 2, tries: int = 400
) -> AsyncIterator[dict[str, list[httpx.AsyncClient]]]:
    """`per_worker` clients per uvicorn worker, each holding one keep-alive connection.

    New connections go to whichever worker accepts first; each client's first answer says
    which (`x-served-by`), and the client keeps that connection. Callers still check the
    header of every answer: a connection closed by the server would be reopened anywhere.
    """
    by_pid: dict[str, list[httpx.AsyncClient]] = defaultdict(list)
    every: list[httpx.AsyncClient] = []
    try:
        for _ in range(tries):
            if len(by_pid) >= workers and all(len(c) >= per_worker for c in by_pid.values()):
                break
            client = httpx.AsyncClient(
                base_url=app_url,
                timeout=60,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            every.append(client)
            pid = (await client.get("/healthz")).headers[SERVED_BY]
            if len(by_pid[pid]) < per_worker:
                by_pid[pid].append(client)
            else:
                await client.aclose()
        assert len(by_pid) == workers and all(len(c) >= per_worker for c in by_pid.values()), {
            pid: len(c) for pid, c in by_pid.items()
        }
        yield dict(by_pid)
    finally:
        await asyncio.gather(*(c.aclose() for c in every), return_exceptions=True)


async def from_each_worker(
    app_url: str, path: str, headers: dict[str, str], pids: set[str], tries: int = 200
) -> list[httpx.Response]:
    """GET `path` on new connections until each worker in `pids` has answered; every answer.

    Keep-alive connections close after 5 s idle, so a check made after a slow step (a CLI
    process starting) asks on fresh connections instead of trusting an old pinned one.
    """
    answers: list[httpx.Response] = []
    for _ in range(tries):
        async with httpx.AsyncClient(base_url=app_url, timeout=60) as client:
            answers.append(await client.get(path, headers=headers))
        if pids <= {a.headers[SERVED_BY] for a in answers}:
            return answers
    raise AssertionError(f"not every worker answered in {tries} tries: {pids}")


def deactivation(member: Member, *, msg_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A signed `membership.deactivated` for `member`, newer than anything stored."""
    now = datetime.now(UTC)  # a real server checks the timestamp against its real clock
    stamp = (now + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    body = event_body(
        "membership.deactivated",
        membership_data(member.membership_id, "expired", updated_at=stamp, user_id=member.user_id),
    )
    return body, signed_headers(body, at=now, msg_id=msg_id or new_id("msg"), secret=WEBHOOK_SECRET)


async def post_delivery(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST one signed delivery to the webhook route."""
    return await client.post(WEBHOOK_PATH, content=body, headers=headers)


# --- the database --------------------------------------------------------------------------------


def sql(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement in its own transaction; rows when it returns any."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(query, params or None)
        return list(cursor.fetchall()) if cursor.description else []


def scalar(database_url: str, query: str, *params: Any) -> Any:
    """The first column of the first row."""
    rows = sql(database_url, query, *params)
    return rows[0][0] if rows else None


async def eventually(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `check` (a bounded wait for another process's work, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.2)


# --- a real SMTP server ------------------------------------------------------------------------


def message_id_for(dedupe_key: str, domain: str = "mentora.test") -> str:
    """The Message-ID the outbox gives the message with `dedupe_key` (stable per row)."""
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:24]}@{domain}>"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps the Message-ID, recipients and subject of each message.

    `delay` slows every message down (so two workers' batches overlap). `hold` names a
    Message-ID whose first attempt is kept waiting, never acknowledged, until `release` is set:
    a worker can be killed in the middle of sending it.
    """

    delay: float = 0.0
    hold: str | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    received: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept (and record) one message."""
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        message_id = str(message["Message-ID"])
        if self.hold is not None and message_id == self.hold and not self.held.is_set():
            self.held.set()
            await asyncio.to_thread(self.release.wait, 60)
            return "451 4.3.0 not accepted"
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(
                (message_id, tuple(envelope.rcpt_tos), str(message["Subject"] or ""))
            )
        return "250 2.0.0 accepted"

    def ids(self) -> list[str]:
        """Message-IDs received so far, in order, duplicates included."""
        with self.lock:
            return [mid for mid, _, _ in self.received]

    def to(self, address: str) -> list[tuple[str, str]]:
        """(Message-ID, subject) of every message received for `address`."""
        with self.lock:
            return [(mid, subject) for mid, rcpt, subject in self.received if address in rcpt]


@contextlib.contextmanager
def smtp_server(inbox: Inbox) -> Any:
    """aiosmtpd on a free loopback port; yields its `smtp://` URL."""
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def assert_each_applied_once(url: str, log: list[dict[str, Any]], active: int) -> None:
    """Every delivery in the emulator's `log` is stored as processed and applied exactly once,
    and the `active` memberships it carried are active in the database."""
    ids = [w["webhook_id"] for w in log]
    stored = dict(
        sql(url, "SELECT webhook_id, status FROM webhook_delivery WHERE webhook_id = ANY(%s)", ids)
    )
    assert stored == dict.fromkeys(ids, "processed")  # none left half-applied ("received")
    applied = dict(
        sql(
            url,
            "SELECT subject, count(*) FROM audit_event WHERE kind = 'webhook_processed'"
            " AND subject = ANY(%s) GROUP BY subject",
            ids,
        )
    )
    assert applied == dict.fromkeys(ids, 1)
    memberships = [w["body"]["data"]["id"] for w in log]
    rows = sql(
        url,
        "SELECT status, count(*) FROM membership WHERE whop_membership_id = ANY(%s) GROUP BY 1",
        memberships,
    )
    assert rows == [("active", active)]
