"""S09: revoke all sessions of a user or of everyone from the CLI, and "sign out everywhere"
by the user; each path ends every targeted session on its next request and writes one audit
event naming actor and target."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mentora.clock import FrozenClock
from mentora.db.models import User, UserSession, WhopToken
from mentora.services import Services
from tests.hardening.helpers import SAME_ORIGIN, audit_rows, csrf_token, run_cli, signed_in_browser


@pytest.fixture
async def browsers(app: Any, emulator: Any) -> AsyncIterator[dict[str, list[httpx.AsyncClient]]]:
    """Three signed-in browsers for the demo member and one for the creator."""
    made = {
        "member": [await signed_in_browser(app, emulator, "user_demo_member") for _ in range(3)],
        "creator": [await signed_in_browser(app, emulator, "user_demo_creator")],
    }
    yield made
    for clients in made.values():
        for client in clients:
            await client.aclose()


async def _statuses(clients: list[httpx.AsyncClient]) -> list[int]:
    return [(await c.get("/api/whop/verify")).status_code for c in clients]


async def _stored_grants(services: Services) -> dict[str, int]:
    """Stored Whop token rows per Whop user id."""
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(User.whop_user_id, func.count(WhopToken.id))
            .join(UserSession, UserSession.user_id == User.id)
            .join(WhopToken, WhopToken.session_id == UserSession.id)
            .group_by(User.whop_user_id)
        )
        return {user: int(count) for user, count in rows.all()}


async def test_s09_cli_revoke_user_ends_their_sessions_only(
    browsers: dict[str, list[httpx.AsyncClient]],
    services: Services,
    database_url: str,
    clock: FrozenClock,
) -> None:
    """`sessions revoke --user` ends that user's 3 sessions only; one event."""
    assert await _statuses(browsers["member"]) == [200, 200, 200]
    listed = await run_cli(clock, database_url, "sessions", "list", "--json")
    assert listed.exit_code == 0, listed.output
    users = sorted(json.loads(line)["user"] for line in listed.stdout.splitlines())
    assert users == ["user_demo_creator"] + ["user_demo_member"] * 3

    assert await _stored_grants(services) == {"user_demo_member": 3, "user_demo_creator": 1}
    done = await run_cli(clock, database_url, "sessions", "revoke", "--user", "user_demo_member")
    assert done.exit_code == 0, done.output
    assert "revoked 3 session(s) of user_demo_member" in done.stdout
    assert await _statuses(browsers["member"]) == [401, 401, 401]
    assert await _statuses(browsers["creator"]) == [200]
    assert await _stored_grants(services) == {"user_demo_creator": 1}
    (event,) = await audit_rows(services, "session_revoked")
    assert (event.actor, event.subject, event.reason) == (
        "cli:alice",
        "user_demo_member",
        "admin_revoke",
    )
    assert event.details == {"sessions": 3}

    missing = await run_cli(clock, database_url, "sessions", "revoke", "--user", "user_nobody")
    assert missing.exit_code == 1 and "no user" in missing.stderr


async def test_s09_cli_revoke_all_signs_everyone_out(
    browsers: dict[str, list[httpx.AsyncClient]],
    services: Services,
    database_url: str,
    clock: FrozenClock,
) -> None:
    """`sessions revoke-all` asks, then ends all 4 sessions; one event, target `*`."""
    declined = await run_cli(clock, database_url, "sessions", "revoke-all", input="n\n")
    assert declined.exit_code == 1 and "Sign out every user" in declined.output
    assert await _statuses(browsers["member"] + browsers["creator"]) == [200] * 4
    done = await run_cli(clock, database_url, "sessions", "revoke-all", "--yes")
    assert done.exit_code == 0, done.output
    assert await _statuses(browsers["member"] + browsers["creator"]) == [401] * 4
    assert await _stored_grants(services) == {}
    (event,) = await audit_rows(services, "session_revoked")
    assert (event.actor, event.subject, event.details) == ("cli:alice", "*", {"sessions": 4})
    listed = await run_cli(clock, database_url, "sessions", "list")
    assert listed.exit_code == 0 and listed.stdout == ""


async def test_s09_user_signs_out_everywhere(
    browsers: dict[str, list[httpx.AsyncClient]], services: Services, emulator: Any
) -> None:
    """Sign out everywhere ends the user's 3 sessions and grants; one event."""
    first = browsers["member"][0]
    page = await first.get("/account/sessions")
    assert page.status_code == 200
    assert page.text.count("<tr>") == 1 + 3 and page.text.count("this browser") == 1
    token = await csrf_token(first)
    done = await first.post(
        "/api/whop/sessions/revoke-all",
        data={"csrf_token": token},
        headers={"sec-fetch-site": "same-origin"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert done.headers["clear-site-data"] == '"cookies"'
    assert await _statuses(browsers["member"]) == [401, 401, 401]
    assert await _statuses(browsers["creator"]) == [200]
    assert await _stored_grants(services) == {"user_demo_creator": 1}
    (event,) = await audit_rows(services, "session_revoked")
    assert (event.actor, event.subject, event.reason) == (
        "user_demo_member", "user_demo_member", "user_revoke_all",
    )  # fmt: skip
    assert event.details == {"sessions": 3}
    (tokens,) = await audit_rows(services, "authn_token_revoked")
    assert tokens.outcome == "success" and tokens.details == {"grants": 3, "revoked": 3}


async def test_s09_sessions_page_needs_a_session(client: httpx.AsyncClient) -> None:
    """Anonymous visitors are sent to sign in; the revoke route answers 401."""
    page = await client.get("/account/sessions")
    assert page.status_code == 303
    assert page.headers["location"] == "/api/whop/auth?next=/account/sessions"
    api = await client.post("/api/whop/sessions/revoke-all", headers=SAME_ORIGIN)
    assert api.status_code == 401
