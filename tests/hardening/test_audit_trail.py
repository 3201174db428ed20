"""L05: the audit trail is append-only at the database (SQLite and PostgreSQL triggers), and
`mentora audit tail|search` reads it back for an investigation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from mentora.audit.record import AuditContext, audit_context, record, set_audit_context
from mentora.cli.audit import parse_since
from mentora.clock import FrozenClock
from mentora.db.models import AuditEvent
from mentora.db.uow import transaction
from mentora.services import Services, build_services
from tests.hardening.helpers import audit_rows, run_cli
from tests.support.env import make_settings
from tests.support.timeline import START, stamp


async def _write(services: Services, kind: str, **fields: Any) -> None:
    async with transaction(services.sessionmaker, write=True) as db:
        record(db, kind=kind, outcome="success", now=services.clock.now(), **fields)


async def test_l05_audit_rows_cannot_be_updated_or_deleted(services: Services) -> None:
    """UPDATE and DELETE on audit_event fail for the app's role, by SQL and by ORM."""
    await _write(services, "authn_login_success", subject="user_demo_member")
    attempts = [
        update(AuditEvent).values(subject="someone_else"),
        delete(AuditEvent),
        text("DELETE FROM audit_event WHERE kind = 'authn_login_success'"),
    ]
    for statement in attempts:
        with pytest.raises(DBAPIError, match="append-only"):
            async with transaction(services.sessionmaker, write=True) as db:
                await db.execute(statement)
    with pytest.raises(DBAPIError, match="append-only"):
        async with transaction(services.sessionmaker, write=True) as db:
            row = (await db.execute(select(AuditEvent))).scalar_one()
            row.outcome = "failure"
    (row,) = await audit_rows(services)
    assert (row.subject, row.outcome) == ("user_demo_member", "success")
    await _write(services, "session_created")  # inserting still works
    assert len(await audit_rows(services)) == 2


@pytest.mark.postgres
async def test_l05_audit_trail_cannot_be_truncated_on_postgres(pg_template: str) -> None:
    """TRUNCATE audit_event fails on PostgreSQL (alone, or among other tables) and the rows
    stay."""
    services = build_services(make_settings(pg_template), clock=FrozenClock(START))
    try:
        await _write(services, "authn_login_success", subject="user_demo_member")
        before = len(await audit_rows(services))
        for statement in ("TRUNCATE audit_event", "TRUNCATE user_session, audit_event CASCADE"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with transaction(services.sessionmaker, write=True) as db:
                    await db.execute(text(statement))
        assert len(await audit_rows(services)) == before
    finally:
        await services.aclose()


async def test_audit_cli_tail_and_search(
    client: httpx.AsyncClient,
    signin: Any,
    services: Services,
    database_url: str,
    clock: FrozenClock,
) -> None:
    """`audit tail` and `audit search` (user, kind, time, outcome, --json) read the trail."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    assert (await client.get("/api/whop/callback?code=x&state=y")).status_code == 400
    everything = await audit_rows(services)

    tail = await run_cli(clock, database_url, "audit", "tail", "-n", "2", "--json")
    assert tail.exit_code == 0, tail.output
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [line["id"] for line in lines] == [row.id for row in everything[-2:]]
    assert lines[-1]["kind"] == "authn_login_fail" and lines[-1]["ip"] == "127.0.0.1"

    found = await run_cli(
        clock, database_url, "audit", "search", "--user", "user_demo_member",
        "--kind", "authn_login_success", "--kind", "session_created", "--json",
    )  # fmt: skip
    assert found.exit_code == 0, found.output
    kinds = [json.loads(line)["kind"] for line in found.stdout.splitlines()]
    assert sorted(kinds) == ["authn_login_success", "session_created"]

    later = await run_cli(
        clock, database_url, "audit", "search", "--since", stamp(seconds=1), "--kind",
        "authn_login_success",
    )  # fmt: skip
    assert later.exit_code == 0 and later.stdout == ""
    earlier = await run_cli(
        clock,
        database_url,
        "audit",
        "search",
        "--since",
        (START - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        "--outcome",
        "failure",
    )
    assert earlier.exit_code == 0
    assert "authn_login_fail" in earlier.stdout and "authn_login_success" not in earlier.stdout

    bad = await run_cli(clock, database_url, "audit", "search", "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "not a time" in bad.stderr


async def test_l04_audit_cli_escapes_control_characters(
    services: Services, database_url: str, clock: FrozenClock
) -> None:
    """A user agent with CR/LF prints as one escaped line in `audit tail`."""
    saved = audit_context()
    set_audit_context(AuditContext(ip="203.0.113.5", user_agent="evil\r\nFAKE authn_login_success"))
    try:
        await _write(services, "session_invalid")
    finally:
        set_audit_context(saved)
    shown = await run_cli(clock, database_url, "audit", "tail")
    assert shown.exit_code == 0
    assert len(shown.stdout.splitlines()) == 1
    assert "evil\\r\\nFAKE" in shown.stdout


def test_since_accepts_relative_and_absolute_times() -> None:
    """30m/12h/7d/2w count back from now; ISO times without a zone are UTC."""
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == datetime(2026, 11, 27, 11, 30, tzinfo=UTC)
    assert parse_since("2w", now) == datetime(2026, 11, 13, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-01T08:00", now) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert parse_since("2026-11-01T09:00+01:00", now) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_since("soon", now)
