"""Every process of the shipped deployment logs alike: `mentora serve --workers 2` on
PostgreSQL with LOG_FORMAT=json prints only JSON lines (uvicorn's own included) from the parent
and from both workers, no secret reaches any of them, and error codes stay readable."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.multiprocess.helpers import LOGIN_COOKIE, SERVED_BY, SESSION_COOKIE, pinned_clients
from tests.support.procs import (
    API_KEY,
    CLIENT_SECRET,
    TOKEN_KEY,
    WEBHOOK_SECRET,
    Cluster,
    fresh_database,
    running_cluster,
    stop,
)
from tests.support.webhooks import WEBHOOK_PATH, event_body, membership_data, signed_headers

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

METRICS_TOKEN = "CANARYmetrics" + "t" * 32
SECRET_KEY = "CANARYsecretkey" + "s" * 32
NAVIGATE = {"sec-fetch-mode": "navigate", "sec-fetch-site": "none"}


class Canaries:
    """Secret values of the run: planted in requests, or minted by the sign-in itself."""

    def __init__(self) -> None:
        """Start with the configured secrets of the cluster."""
        self.values = [METRICS_TOKEN, SECRET_KEY, TOKEN_KEY, CLIENT_SECRET, API_KEY, WEBHOOK_SECRET]

    def mint(self, label: str) -> str:
        """A fresh canary value to send where a secret travels."""
        value = f"CANARY{label}{secrets.token_urlsafe(12)}"
        self.values.append(value)
        return value

    def found_in(self, text: str) -> list[str]:
        """The canaries (whole, or their last 12 characters) that appear in `text`."""
        return [value for value in self.values if value in text or value[-12:] in text]


@pytest.fixture
def json_cluster(pg_admin: str, tmp_path: Path) -> Iterator[Cluster]:
    """`mentora serve --workers 2` with LOG_FORMAT=json at INFO, its emulator, no worker."""
    with (
        fresh_database(pg_admin) as database_url,
        running_cluster(
            database_url,
            app_workers=2,
            workers=0,
            log_dir=tmp_path,
            LOG_LEVEL="INFO",
            METRICS_TOKEN=METRICS_TOKEN,
            SECRET_KEY=SECRET_KEY,
        ) as running,
    ):
        yield running


async def _sign_in(
    client: httpx.AsyncClient, http: httpx.AsyncClient, cluster: Cluster, canaries: Canaries
) -> str:
    """A full sign-in through `client`'s worker; every secret it mints becomes a canary."""
    start = await client.get("/api/whop/auth", headers=NAVIGATE)
    assert start.status_code in (302, 303), start.text
    login = start.cookies.get(LOGIN_COOKIE) or _set_cookie(start, LOGIN_COOKIE)
    query = dict(
        part.split("=", 1) for part in urlsplit(start.headers["location"]).query.split("&")
    )
    canaries.values += [login, query["state"], query["nonce"], query["code_challenge"]]
    page = await http.get(start.headers["location"])
    fields = {
        k: unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    fields.update(user_id="user_demo_member", decision="approve")
    decided = await http.post(f"{cluster.issuer}/oauth/authorize", data=fields)
    parts = urlsplit(decided.headers["location"])
    code = dict(part.split("=", 1) for part in parts.query.split("&"))["code"]
    canaries.values.append(code)
    done = await client.get(
        f"{parts.path}?{parts.query}",
        headers={**NAVIGATE, "sec-fetch-site": "cross-site", "cookie": f"{LOGIN_COOKIE}={login}"},
    )
    assert done.status_code == 303, done.text
    session = _set_cookie(done, SESSION_COOKIE)
    canaries.values.append(session)
    return session


def _set_cookie(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie")


async def _probe(
    client: httpx.AsyncClient, http: httpx.AsyncClient, cluster: Cluster, canaries: Canaries
) -> set[str]:
    """Sign-in, callbacks, webhooks, gated and metrics requests on one worker, each carrying
    a canary where a secret travels; the pids that answered."""
    answers: list[httpx.Response] = []
    session = await _sign_in(client, http, cluster, canaries)
    cookie = {"cookie": f"{SESSION_COOKIE}={session}"}
    answers.append(await client.get("/api/content", headers=cookie))
    assert answers[-1].status_code == 200, answers[-1].text
    junk = {"cookie": f"{SESSION_COOKIE}={canaries.mint('session')}"}
    answers.append(await client.get("/api/content", headers=junk))
    bearer = {"authorization": f"Bearer {canaries.mint('bearer')}"}
    answers.append(await client.get("/api/content", headers=bearer))
    user_token = {"x-whop-user-token": canaries.mint("usertoken")}
    answers.append(await client.get("/api/content", headers=user_token))
    code, state = canaries.mint("code"), canaries.mint("state")
    answers.append(await client.get(f"/api/whop/callback?code={code}&state={state}"))
    assert answers[-1].status_code == 400
    answers.append(await client.get(f"/dashboard?access_token={canaries.mint('query')}"))
    now = datetime.now(UTC)  # a real server checks the timestamp against its real clock
    updated = now.isoformat().replace("+00:00", "Z")
    body = event_body(
        "membership.activated", membership_data("mem_logs", "active", updated_at=updated)
    )
    signed = signed_headers(body, at=now, secret=WEBHOOK_SECRET)
    answers.append(await client.post(WEBHOOK_PATH, content=body, headers=signed))
    assert answers[-1].status_code < 500, answers[-1].text
    forged = {**signed, "webhook-signature": f"v1,{canaries.mint('sig')}AAAAAAAAAAAAAAAAAAAA="}
    answers.append(await client.post(WEBHOOK_PATH, content=body, headers=forged))
    assert answers[-1].status_code == 401
    wrong = {"authorization": f"Bearer {canaries.mint('metrics')}"}
    answers.append(await client.get("/metrics", headers=wrong))
    assert answers[-1].status_code in (401, 403)
    metrics = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    return {answer.headers[SERVED_BY] for answer in answers}


async def test_every_line_of_every_process_is_json_without_secrets(json_cluster: Cluster) -> None:
    """Both workers and the parent print only JSON (uvicorn's lines included), no canary,
    and error codes and reasons unredacted."""
    canaries = Canaries()
    async with (
        httpx.AsyncClient(timeout=60) as http,
        pinned_clients(json_cluster.app_url, per_worker=1) as pinned,
    ):
        served: set[str] = set()
        for pid, (client,) in pinned.items():
            answered = await _probe(client, http, json_cluster, canaries)
            assert answered == {pid}, (pid, answered)  # each probe stayed on its worker
            served |= answered
    assert len(served) == 2
    app = json_cluster.app
    assert app is not None
    stop([app])  # the parent's and workers' shutdown lines are part of what is checked
    json_cluster.app = None
    text = app.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # raises on any non-JSON line
    assert canaries.found_in(text) == []
    uvicorn_lines = [line for line in lines if str(line.get("logger", "")).startswith("uvicorn")]
    started = [line["event"] for line in uvicorn_lines if "Started server process" in line["event"]]
    assert len(started) >= 2, started  # one per worker (more if uvicorn restarted one)
    assert any("parent process" in line["event"] for line in uvicorn_lines), uvicorn_lines
    reasons = {line.get("reason") for line in lines}
    # The codes each refusal is logged with, readable (not "[redacted]"), from both workers.
    assert {"unknown_session", "state_missing", "no_matching_signature"} <= reasons, reasons
    assert "[redacted]" not in {str(line.get("error_code")) for line in lines}
