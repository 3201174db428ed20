"""Every CLI command, with the database unreachable and with malformed input: one line on
stderr, a non-zero exit, never a traceback (README "Commands")."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mentora.clock import FrozenClock
from tests.hardening.helpers import configured_logging, run_cli
from tests.support.env import TEST_ENV

# A PostgreSQL URL on a port nothing listens on: every connection is refused at once.
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/mentora"
BAD_KEYS = {"token_encryption_keys": "not-a-fernet-key"}
NO_EMULATOR = "http://127.0.0.1:1"

# Every command that reaches the database, with the arguments it needs to get that far.
DATABASE_COMMANDS: list[tuple[str, ...]] = [
    ("db", "upgrade"),
    ("db", "current"),
    ("worker", "--once"),
    ("sessions", "list"),
    ("sessions", "revoke", "--user", "user_x", "--skip-whop"),
    ("sessions", "revoke-all", "--yes", "--skip-whop"),
    ("audit", "tail"),
    ("audit", "search", "--user", "user_x"),
    ("keys", "rotate"),
    ("webhooks", "list"),
    ("webhooks", "show", "msg_x"),
    ("webhooks", "replay", "msg_x"),
    ("webhooks", "reprocess"),
    ("webhooks", "prune"),
    ("sync", "run", "--no-progress"),
    ("sync", "history"),
    ("outbox", "list"),
    ("outbox", "send"),
    ("outbox", "retry", "1"),
    ("creators", "refresh"),
    ("creators", "set", "biz_x", "--alert-email", "team@example.test"),
    ("creators", "list"),
    ("creators", "show", "biz_x"),
    ("creators", "disable", "biz_x"),
    ("dev", "--database-url", UNREACHABLE, "--port", "1", "--emulator-port", "1"),
]

# Malformed input on a working database: (arguments, extra settings, what the line names).
MALFORMED: list[tuple[tuple[str, ...], dict[str, str], str]] = [
    (("audit", "search", "--since", "99999999d"), {}, "--since"),
    (("audit", "search", "--until", "99999999d"), {}, "--until"),
    (("audit", "search", "--since", "last tuesday"), {}, "--since"),
    (("audit", "tail", "-n", "0"), {}, "--lines"),
    (("outbox", "retry", "not-a-number"), {}, "message_id"),
    (("outbox", "list", "--status", "bogus"), {}, "bogus"),
    (("webhooks", "list", "--status", "bogus"), {}, "bogus"),
    (("webhooks", "show", "msg_missing"), {}, "msg_missing"),
    (("sessions", "revoke"), {}, "--user"),
    (("sync", "history", "--limit", "100000"), {}, "--limit"),
    (("no-such-command",), {}, "no-such-command"),
    (("creators", "set", "biz_demo", "--alert-email", "not-an-address"), {}, "not-an-address"),
    (("creators", "set", "biz_nope", "--alert-email", "a@b.test"), {}, "biz_nope"),
    (("creators", "set", "biz_demo", "--tier", "prod_x"), {}, "PRODUCT_ID=TIER"),
    (("creators", "set", "biz_demo", "--tier", "=gold"), {}, "PRODUCT_ID=TIER"),
    (("creators", "set", "biz_demo"), {}, "nothing to change"),
    (("creators", "set", "biz_demo", "--default-policy", "bogus"), {}, "bogus"),
    (("creators", "show", "biz_nope"), {}, "biz_nope"),
    (("creators", "disable", "biz_nope"), {}, "biz_nope"),
    (("creators", "enable", "biz_nope"), {}, "biz_nope"),
    (("creators", "add"), {}, "company_id"),
    (("serve", "--port", "1"), BAD_KEYS, "TOKEN_ENCRYPTION_KEYS"),
    # Refused rather than ignored: the app believes X-Forwarded-* from TRUSTED_PROXIES only.
    (("serve", "--proxy-headers"), {}, "--proxy-headers"),
    (("serve", "--workers", "0"), {}, "--workers"),
    (("worker", "--once"), BAD_KEYS, "TOKEN_ENCRYPTION_KEYS"),
    (("keys", "rotate"), BAD_KEYS, "TOKEN_ENCRYPTION_KEYS"),
    (("sessions", "list"), {"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    (("webhooks", "list"), {"whop_tiers": "{not json"}, "WHOP_TIERS"),
    (("emulator", "users", "--url", NO_EMULATOR), {}, "emulator"),
    (("emulator", "membership", "activate", "mem_x", "--url", NO_EMULATOR), {}, "emulator"),
]


@pytest.fixture(autouse=True)
def _logging_put_back() -> Iterator[None]:
    """Commands configure logging onto the runner's stderr, closed once they return; put the
    logging setup back so later tests do not write to a closed stream."""
    with configured_logging("console"):
        yield


def assert_one_line_error(result: Any, names: str = "") -> None:
    """Non-zero exit through SystemExit (no exception escaped), exactly one line on stderr,
    starting with "error:" and naming `names`, and no traceback anywhere."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert names in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
async def test_database_unreachable_is_one_line(
    clock: FrozenClock, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With PostgreSQL unreachable, each command says so in one line and exits non-zero."""
    # `mentora dev` allows plain-HTTP OAuth for its emulator in its own process environment;
    # run here in-process, that must not outlive the test. setenv records the variable's state
    # (absent or not) for monkeypatch to restore; delenv then runs the command without it.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "0")
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT")
    result = await run_cli(clock, UNREACHABLE, *args, whop_api_base_url=f"{NO_EMULATOR}/api/v1")
    assert_one_line_error(result, "database")


@pytest.mark.parametrize(
    ("args", "env", "names"), MALFORMED, ids=[" ".join(case[0]) for case in MALFORMED]
)
async def test_malformed_input_is_one_line(
    clock: FrozenClock, database_url: str, args: tuple[str, ...], env: dict[str, str], names: str
) -> None:
    """Malformed arguments or settings give one line naming what is wrong, exit non-zero."""
    result = await run_cli(clock, database_url, *args, **env)
    assert_one_line_error(result, names)


MENTORA = str(Path(sys.executable).with_name("mentora"))


@pytest.mark.parametrize(
    "args", [("db", "upgrade"), ("sync", "run"), ("creators", "list")], ids=" ".join
)
def test_a_real_process_prints_only_the_error_line(args: tuple[str, ...]) -> None:
    """Run as an operator runs it (a fresh process, stderr a pipe, default options), with the
    database unreachable: stderr is exactly the one error line, with no plugin announcements
    from Alembic before it and no empty line left by the progress display."""
    done = subprocess.run(  # noqa: S603 - our own command, no shell
        [MENTORA, *args],
        env={**os.environ, **TEST_ENV, "DATABASE_URL": UNREACHABLE},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: database: "), lines[0]


async def test_db_current_reads_and_creates_nothing(clock: FrozenClock, tmp_path: Path) -> None:
    """`mentora db current` on a SQLite file that does not exist says so in one line and exits
    non-zero, leaving no file or folder behind (it reads the revision, read-only)."""
    missing = tmp_path / "nowhere" / "mentora.db"
    result = await run_cli(clock, f"sqlite:///{missing}", "db", "current")
    assert_one_line_error(result, str(missing))
    assert list(tmp_path.iterdir()) == []
