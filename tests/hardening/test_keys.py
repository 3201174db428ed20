"""`mentora keys`: a new key, then `keys rotate` re-encrypts every stored Whop token and
pending login verifier under it (batched, idempotent), and the documented procedure keeps
old values readable until the old key is dropped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.crypto import TokenBox, generate_key
from mentora.db.models import LoginAttempt, WhopToken
from mentora.db.uow import transaction
from mentora.oauth import grants
from mentora.services import Services, build_services
from tests.hardening.helpers import audit_rows, run_cli, signed_in_browser
from tests.support.env import APP_URL, TEST_ENV, make_settings
from tests.support.signin import SignIn

OLD_KEY = TEST_ENV["TOKEN_ENCRYPTION_KEYS"]


async def _stored(services: Services) -> tuple[list[WhopToken], list[LoginAttempt]]:
    async with services.sessionmaker() as db:
        tokens = list((await db.execute(select(WhopToken).order_by(WhopToken.id))).scalars())
        logins = list((await db.execute(select(LoginAttempt))).scalars())
    return tokens, logins


def _values(tokens: list[WhopToken], logins: list[LoginAttempt]) -> list[bytes]:
    values = [t.access_token_enc for t in tokens] + [
        t.refresh_token_enc for t in tokens if t.refresh_token_enc
    ]
    return values + [login.code_verifier_enc for login in logins]


async def test_keys_generate_prints_a_fernet_key(database_url: str, clock: FrozenClock) -> None:
    """`mentora keys generate` prints one usable key."""
    result = await run_cli(clock, database_url, "keys", "generate")
    assert result.exit_code == 0
    Fernet(result.stdout.strip().encode())


async def test_keys_rotate_reencrypts_everything_idempotently(
    app: Any,
    emulator: Any,
    client: httpx.AsyncClient,
    signin: SignIn,
    services: Services,
    database_url: str,
    clock: FrozenClock,
) -> None:
    """`keys rotate` moves tokens and verifiers to the new key, idempotently, usably."""
    for _ in range(2):
        await (await signed_in_browser(app, emulator, "user_demo_member")).aclose()
    pending = await signin.start()
    tokens, logins = await _stored(services)
    assert len(tokens) == 2 and len(logins) == 1
    old_box = TokenBox([OLD_KEY])
    before = [old_box.decrypt(value) for value in _values(tokens, logins)]

    new_key = generate_key()
    keys = f"{new_key},{OLD_KEY}"
    dry = await run_cli(
        clock, database_url, "keys", "rotate", "--dry-run", token_encryption_keys=keys
    )
    assert dry.exit_code == 0 and "would rotate: whop tokens: 2 re-encrypted" in dry.stdout
    first = await run_cli(
        clock, database_url, "keys", "rotate", "--batch-size", "1", token_encryption_keys=keys
    )
    assert first.exit_code == 0, first.output
    assert "whop tokens: 2 re-encrypted, 0 already" in first.stdout
    assert "login verifiers: 1 re-encrypted" in first.stdout
    tokens, logins = await _stored(services)
    rotated = _values(tokens, logins)
    assert [TokenBox([new_key]).decrypt(value) for value in rotated] == before

    again = await run_cli(clock, database_url, "keys", "rotate", token_encryption_keys=keys)
    assert again.exit_code == 0
    assert "whop tokens: 0 re-encrypted, 2 already under the current key" in again.stdout
    assert _values(*await _stored(services)) == rotated  # no churn on a re-run
    events = await audit_rows(services, "sensitive_update")
    assert [(e.actor, e.reason, e.details["whop_tokens"]) for e in events] == [
        ("cli:alice", "token_key_rotated", 2),
        ("cli:alice", "token_key_rotated", 0),
    ]

    # Step 3 of the procedure: drop the old key. The new-key-only app still works.
    settings = make_settings(database_url, token_encryption_keys=new_key)
    fresh = build_services(settings, clock=clock, transport=httpx.ASGITransport(app=emulator.app))
    try:
        assert await grants.access_token(fresh, fresh.provider, tokens[0].session_id, force=True)
        new_app = create_app(settings, services=fresh)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=new_app), base_url=APP_URL, cookies=client.cookies
        ) as new_client:
            helper = SignIn(new_client, emulator)
            authorized = await helper.authorize(pending.headers["location"], "user_demo_member")
            assert (await helper.callback(authorized)).status_code == 303
            await helper.aclose()
    finally:
        await fresh.aclose()


async def test_keys_rotate_reports_values_no_key_can_read(
    services: Services, database_url: str, app: Any, emulator: Any, clock: FrozenClock
) -> None:
    """A value under a key nobody configured is left alone and reported; exit status 1."""
    await (await signed_in_browser(app, emulator, "user_demo_member")).aclose()
    lost_key = generate_key()
    async with transaction(services.sessionmaker, write=True) as db:
        row = (await db.execute(select(WhopToken))).scalar_one()
        row.access_token_enc = TokenBox([lost_key]).encrypt("at_from_a_lost_key")
    result = await run_cli(
        clock, database_url, "keys", "rotate", token_encryption_keys=f"{generate_key()},{OLD_KEY}"
    )
    assert result.exit_code == 1
    assert "whop tokens: 0 re-encrypted, 0 already under the current key, 1 unreadable" in (
        result.stdout
    )
    assert "readable by no configured key" in result.stderr
    (event,) = await audit_rows(services, "sensitive_update")
    assert event.outcome == "failure" and event.details["unreadable"] == 1


@pytest.mark.parametrize("keys", ["", "not-a-fernet-key"])
async def test_keys_rotate_refuses_bad_key_settings(
    keys: str, database_url: str, clock: FrozenClock
) -> None:
    """An empty or malformed TOKEN_ENCRYPTION_KEYS stops with a clear message, no traceback."""
    result = await run_cli(clock, database_url, "keys", "rotate", token_encryption_keys=keys)
    assert result.exit_code != 0
    assert "TOKEN_ENCRYPTION_KEYS" in result.output and "Traceback" not in result.output
