"""`mentora sessions revoke*` revokes the stored grants at Whop, over real sockets (e2e)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mentora.clock import SystemClock
from mentora.emulator import DEMO
from tests.hardening.helpers import run_cli
from tests.support.stack import Stack, browser_sign_in, running_stack

pytestmark = pytest.mark.e2e


def _live_grants(stack: Stack) -> dict[str, int]:
    """Unrevoked grants at the emulator, per Whop user id."""
    counts: dict[str, int] = {}
    for grant in stack.emulator.state.oauth.grants.values():
        if not grant.revoked:
            counts[grant.user_id] = counts.get(grant.user_id, 0) + 1
    return counts


def _cli_env(stack: Stack) -> dict[str, Any]:
    """The CLI's settings: the stack's Whop endpoints, client and token keys."""
    settings = stack.settings
    return {
        "whop_oauth_issuer": stack.issuer,
        "whop_api_base_url": f"{stack.issuer}/api/v1",
        "whop_client_id": settings.whop_client_id,
        "whop_client_secret": settings.whop_client_secret.get_secret_value(),
        "token_encryption_keys": settings.token_encryption_keys.get_secret_value(),
        "secret_key": settings.secret_key.get_secret_value(),
    }


async def test_cli_revoke_revokes_grants_at_whop_then_ends_sessions(sqlite_url: str) -> None:
    """revoke --user: that user's 2 grants revoked at Whop, not the creator's; then revoke-all
    --skip-whop leaves Whop alone but still deletes what is stored."""
    async with running_stack(sqlite_url) as stack, httpx.AsyncClient(timeout=10) as http:
        for user in (DEMO.member_user_id, DEMO.member_user_id, DEMO.creator_user_id):
            done, session = await browser_sign_in(http, stack, user)
            assert done.status_code == 303 and session
        assert _live_grants(stack) == {DEMO.member_user_id: 2, DEMO.creator_user_id: 1}

        env = _cli_env(stack)
        clock = SystemClock()  # the stack's servers run on the real clock
        revoked = await run_cli(
            clock, sqlite_url, "sessions", "revoke", "--user", DEMO.member_user_id, **env
        )
        assert revoked.exit_code == 0, revoked.output
        assert revoked.stdout.splitlines()[-1] == (
            f"revoked 2 session(s) of {DEMO.member_user_id}; Whop revoked 2 of 2 grant(s)"
        )
        assert _live_grants(stack) == {DEMO.creator_user_id: 1}

        skipped = await run_cli(
            clock, sqlite_url, "sessions", "revoke-all", "--yes", "--skip-whop", **env
        )
        assert skipped.exit_code == 0, skipped.output
        assert "1 stored Whop grant(s) deleted, not revoked at Whop" in skipped.stdout
        assert _live_grants(stack) == {DEMO.creator_user_id: 1}
        again = await run_cli(clock, sqlite_url, "sessions", "revoke-all", "--yes", **env)
        assert again.stdout.splitlines()[-1] == (
            "revoked 0 session(s) of all users; no stored Whop grants"
        )
