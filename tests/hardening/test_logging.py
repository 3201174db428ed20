"""L01, L03, L04: one audit row and one JSON log line per security decision, with who, what,
when and where; no query string in any access log line (uvicorn's own included, over a real
socket); CR/LF from the outside stays inside one escaped line."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import structlog

from mentora.db.models import AuditEvent
from mentora.services import Services
from tests.hardening.helpers import (
    SAME_ORIGIN,
    CapturedLogs,
    audit_rows,
    configured_logging,
    csrf_token,
)
from tests.support.stack import free_port, serve
from tests.support.webhooks import WEBHOOK_PATH, event_body, signed_headers

REQUEST_ID = re.compile(r"^[0-9a-f]{16}$")
UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def _drive_every_security_event(client: httpx.AsyncClient, signin: Any, clock: Any) -> None:
    """Sign-in success and failures, refresh, CSRF refusal, rate limit, rejected webhook,
    sign-out everywhere."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    token = await csrf_token(client)
    clock.advance(30)  # past the minimum interval between forced rotations
    assert (
        await client.post("/api/whop/refresh", headers={**SAME_ORIGIN, "x-csrf-token": token})
    ).status_code == 200
    assert (
        await client.post("/api/whop/logout", headers={"origin": "https://evil.test"})
    ).status_code == 403
    assert (await client.get("/api/whop/callback?code=x&state=y")).status_code == 400
    body = event_body("future.event", {"id": "x"})
    forged = signed_headers(body, at=clock.now(), secret="ws_forged_secret")
    assert (await client.post(WEBHOOK_PATH, content=body, headers=forged)).status_code == 401
    revoke = await client.post(
        "/api/whop/sessions/revoke-all", headers={**SAME_ORIGIN, "x-csrf-token": token}
    )
    assert revoke.status_code == 303
    guest = await signin.sign_in("user_demo_guest")
    assert guest.status_code == 303  # a session belongs to the user, whatever their access
    assert (await client.get("/api/content")).status_code == 403  # no membership: authz_fail
    for _ in range(11):
        await client.get("/api/whop/auth", headers={"sec-fetch-mode": "navigate"})


async def test_l01_every_security_event_has_who_what_when_where(
    client: httpx.AsyncClient, signin: Any, services: Services, clock: Any, json_logs: CapturedLogs
) -> None:
    """Each decision has one audit row and one JSON log line with who/what/when/where."""
    await _drive_every_security_event(client, signin, clock)
    rows = await audit_rows(services)
    kinds = {row.kind for row in rows}
    assert kinds >= {
        "authn_login_success",
        "session_created",
        "authn_token_created",
        "malicious_csrf",
        "authn_login_fail",
        "webhook_rejected",
        "session_revoked",
        "authn_token_revoked",
        "authz_fail",
        "excess_rate_limit_exceeded",
    }
    lines = json_logs.json_lines()
    for row in rows:
        assert row.outcome in ("success", "failure"), row.kind
        assert (
            row.ip == "127.0.0.1" and row.user_agent and row.user_agent.startswith("python-httpx")
        )
        assert row.request_id and REQUEST_ID.match(row.request_id), row.kind
        matching = [
            line
            for line in lines
            if line["event"] == row.kind and line.get("request_id") == row.request_id
        ]
        assert len(matching) == 1, (row.kind, matching)
        line = matching[0]
        assert UTC_STAMP.match(line["timestamp"]), line
        for field in ("ip", "user_agent", "outcome", "reason", "subject", "actor"):
            assert line[field] == getattr(row, field), (row.kind, field)
    assert _subject(rows, "authn_login_success") == "user_demo_member"
    assert _subject(rows, "authz_fail") == "user_demo_guest"
    assert _subject(rows, "session_revoked") == "user_demo_member"


def _subject(rows: list[AuditEvent], kind: str) -> str | None:
    return next(row.subject for row in rows if row.kind == kind)


async def test_l01_one_event_per_decision_in_a_sign_in(
    client: httpx.AsyncClient, signin: Any, services: Services
) -> None:
    """A good callback writes one login success and one session created, no failure."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    rows = await audit_rows(services)
    (success,) = [row for row in rows if row.kind == "authn_login_success"]
    (created,) = [row for row in rows if row.kind == "session_created"]
    assert success.request_id == created.request_id
    assert not [row for row in rows if row.outcome == "failure"]


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_l04_crlf_in_error_description_stays_one_line(
    fmt: str, client: httpx.AsyncClient, signin: Any, services: Services
) -> None:
    """CR/LF in error_description is logged escaped, on one line, in both formats."""
    with configured_logging(fmt) as logs:
        started = await signin.start()
        state = re.search(r"[?&]state=([^&]+)", started.headers["location"])
        assert state is not None
        description = quote("a\r\nFAKE authn_login_success user=admin")
        response = await client.get(
            f"/api/whop/callback?error=access_denied&error_description={description}"
            f"&state={state.group(1)}&iss={quote('https://whop.test')}"
        )
        assert response.status_code == 400
        text = logs.refresh()
    with_fake = [line for line in text.splitlines() if "FAKE" in line]
    assert len(with_fake) == 1, with_fake
    assert "authn_login_fail" in with_fake[0]
    assert not any(line.lstrip().startswith("FAKE") for line in text.splitlines())
    (row,) = await audit_rows(services, "authn_login_fail")
    assert row.reason == "provider_error"
    assert await audit_rows(services, "authn_login_success") == []


@pytest.mark.e2e
async def test_l03_access_logs_never_carry_the_callback_query(app: Any) -> None:
    """Over a real socket, no access log line (ours or uvicorn's) carries the query."""
    with configured_logging("json") as logs:
        port = free_port()
        # uvicorn's access log ON (as `uvicorn app` would have); uvicorn sets its loggers'
        # levels, and other tests leave WARNING.
        server, task = await serve(app, port, access_log=True, log_level="info")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                first = await http.get("/api/whop/callback?code=CANARYcodeL03&state=CANARYstateL03")
                logging.getLogger("uvicorn.access").disabled = False  # an operator's choice
                second = await http.get(
                    "/api/whop/callback?code=CANARYcodeL03b&state=CANARYstateL03b"
                )
                await http.get("/?token=CANARYtokenL03")
        finally:
            server.should_exit = True
            await task
        text = logs.refresh()
    assert first.status_code == 400 and second.status_code == 400
    assert "CANARY" not in text
    assert '"path": "/api/whop/callback"' in text  # our access line, without the query
    lines = [json.loads(line) for line in text.splitlines()]  # uvicorn's lines are JSON too
    assert any(
        line["logger"] == "uvicorn.access"
        and 'GET /api/whop/callback HTTP/1.1" 400' in line["event"]
        for line in lines
        if "logger" in line
    )  # uvicorn's, once re-enabled
    assert any(line.get("logger") == "uvicorn.error" for line in lines)


def test_error_codes_stay_readable_while_codes_are_redacted(json_logs: CapturedLogs) -> None:
    """An error code (`error_code`) is logged as is; a value under `code` (an OAuth code)
    and a code in free text stay redacted."""
    structlog.get_logger().warning(
        "request_failed",
        error_code="discovery_failed",
        code="CANARYoauthcode",
        detail="code=CANARY2",
    )
    (line,) = [line for line in json_logs.json_lines() if line["event"] == "request_failed"]
    assert line["error_code"] == "discovery_failed"
    assert line["code"] == "[redacted]"
    assert "CANARY" not in json_logs.text


@pytest.mark.parametrize("serving", [True, False])
def test_a_served_process_assembles_each_logger_once(serving: bool) -> None:
    """In a served process (`mentora.asgi`) a module's logger is assembled on first use and
    reused, and its lines still carry the request's context; elsewhere (the CLI, which tests
    run again and again in one process) it is assembled afresh for every call."""
    with configured_logging("json", serving=serving) as logs:
        log = structlog.get_logger("mentora.test_cache")
        structlog.contextvars.bind_contextvars(request_id="first")
        log.info("one")
        structlog.contextvars.bind_contextvars(request_id="second")
        log.info("two")
        structlog.contextvars.unbind_contextvars("request_id")
        assert (log.bind() is log.bind()) is serving
        lines = [line for line in logs.json_lines() if line["event"] in ("one", "two")]
    assert [(line["event"], line["request_id"]) for line in lines] == [
        ("one", "first"),
        ("two", "second"),
    ]
