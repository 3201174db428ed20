"""`mentora doctor` against the emulator served on a loopback port and a real database:
green when everything is right, and red on exactly the row that is wrong."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.exc import ArgumentError

from mentora.clock import FrozenClock
from mentora.db.engine import describe_error
from mentora.db.migrate import alembic_config, head_revision, upgrade
from mentora.doctor import database_check
from mentora.emulator import DEMO, Emulator
from tests.hardening.helpers import run_cli
from tests.support.served import free_port, whop  # noqa: F401 - whop is a fixture

PASSWORD = "Sup3r-Secret-Pw"  # written into DATABASE_URLs: never printed
UPGRADE = "run `mentora db upgrade`"
ROWS = [
    "settings",
    "database",
    "discovery",
    "jwks",
    "api key",
    "permission member:basic:read",
    "permission company:basic:read",
    "company",
    "webhook secret",
    "redirect uri",
    "clock",
]


async def _doctor(
    clock: FrozenClock, sqlite_url: str, env: dict[str, str]
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Run `mentora doctor --json`; the exit code and the rows by check name."""
    result = await run_cli(clock, sqlite_url, "doctor", "--json", **env)
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == ROWS
    return result.exit_code, {row["name"]: row for row in rows}


def _failing(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Names of the ✘ rows."""
    return [name for name, row in rows.items() if not row["ok"]]


async def test_doctor_is_green_against_a_matching_whop_and_changes_nothing(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str
) -> None:
    """Every row ✔ and exit 0; the company is shown by name; Whop saw only reads."""
    emu, env = whop
    result = await run_cli(clock, sqlite_url, "doctor", **env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(ROWS) and all(line.startswith("✔ ") for line in lines)
    assert f"{DEMO.company_name} ({DEMO.company_id})" in result.stdout
    code, rows = await _doctor(clock, sqlite_url, env)
    assert code == 0 and _failing(rows) == []
    assert rows["clock"]["detail"] == "within 0 s of Whop's"
    assert emu.state.webhooks == [] and emu.state.oauth.grants == {}
    assert set(emu.state.faults.calls) == {
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/api/v1/memberships",
        f"/api/v1/accounts/{DEMO.company_id}",
    }


async def test_doctor_names_a_wrong_issuer(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str
) -> None:
    """Discovery publishing another issuer (here by a trailing slash) is the discovery row."""
    emu, env = whop
    emu.config.issuer = env["whop_oauth_issuer"] + "/"
    code, rows = await _doctor(clock, sqlite_url, env)
    assert code == 1 and _failing(rows) == ["discovery"]
    assert rows["discovery"]["detail"] == (
        f"Whop's issuer is '{env['whop_oauth_issuer']}/', configured '{env['whop_oauth_issuer']}'"
    )
    assert "WHOP_OAUTH_ISSUER" in rows["discovery"]["fix"]


@pytest.mark.parametrize("permission", ["member:basic:read", "company:basic:read"])
async def test_doctor_names_a_permission_the_api_key_lacks(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str, permission: str
) -> None:
    """A 403 is reported as that permission, by name, with how to grant it."""
    emu, env = whop
    emu.state.denied_permissions = {permission}
    code, rows = await _doctor(clock, sqlite_url, env)
    expected = [f"permission {permission}"]
    if permission == "company:basic:read":
        expected.append("company")  # its name cannot be read either
    assert code == 1 and _failing(rows) == expected
    row = rows[f"permission {permission}"]
    assert row["detail"].startswith("the API key lacks it (403")
    assert permission in row["fix"]


async def test_doctor_names_a_missing_company(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str
) -> None:
    """A WHOP_COMPANY_ID Whop does not know is the company row."""
    _, env = whop
    code, rows = await _doctor(clock, sqlite_url, {**env, "whop_company_id": "biz_missing"})
    assert code == 1 and _failing(rows) == ["company"]
    assert rows["company"]["detail"] == "Whop has no company biz_missing"
    assert "WHOP_COMPANY_ID" in rows["company"]["fix"]


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with ws_"),
        ("ws_short", "has characters a Whop secret never has, or is too short"),
        ('"ws_0123456789abcdef0123"', "does not start with ws_"),
    ],
)
async def test_doctor_names_a_malformed_webhook_secret(
    whop: tuple[Emulator, dict[str, str]],
    clock: FrozenClock,
    sqlite_url: str,
    secret: str,
    problem: str,
) -> None:
    """A secret not shaped like Whop's `ws_…` is the webhook secret row, never printed."""
    _, env = whop
    result = await run_cli(clock, sqlite_url, "doctor", "--json", **env, whop_webhook_secret=secret)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert result.exit_code == 1 and _failing(rows) == ["webhook secret"]
    assert rows["webhook secret"]["detail"] == f"secret 1 of 1 {problem}"
    assert secret not in result.stdout


async def test_doctor_names_an_http_redirect_uri_in_production(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str
) -> None:
    """In production an http redirect URI is its own row (and the settings row names it)."""
    _, env = whop
    production = {
        **env,
        "mentora_env": "production",
        "whop_redirect_uri": "http://mentora.test/api/whop/callback",
        "app_url": "http://mentora.test",
    }
    code, rows = await _doctor(clock, sqlite_url, production)
    assert code == 1
    assert rows["redirect uri"] == {
        "name": "redirect uri",
        "ok": False,
        "detail": "http://mentora.test/api/whop/callback is not https (production)",
        "fix": "set APP_URL to the public https URL; register APP_URL/api/whop/callback at Whop",
    }
    assert "WHOP_REDIRECT_URI must use https://" in rows["settings"]["detail"]
    assert rows["company"]["ok"] and rows["discovery"]["ok"]


async def test_doctor_names_a_redirect_uri_outside_app_url(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str
) -> None:
    """A WHOP_REDIRECT_URI on another host than APP_URL is the redirect row."""
    _, env = whop
    elsewhere = {**env, "whop_redirect_uri": "https://elsewhere.test/api/whop/callback"}
    code, rows = await _doctor(clock, sqlite_url, elsewhere)
    assert code == 1 and _failing(rows) == ["redirect uri"]


async def test_doctor_reports_clock_skew_and_an_unreachable_whop(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str
) -> None:
    """Our clock 5 minutes ahead of Whop's Date is the clock row; with nothing listening at
    the issuer every Whop row is ✘ and the run still ends with a report, not a traceback."""
    _, env = whop
    ahead = FrozenClock(clock.now())
    ahead.advance(300)
    result = await run_cli(ahead, sqlite_url, "doctor", "--json", **env)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert result.exit_code == 1 and _failing(rows) == ["clock"]
    assert rows["clock"]["detail"] == "300 s ahead of Whop's"
    closed = f"http://127.0.0.1:{free_port()}"
    nowhere = {"whop_oauth_issuer": closed, "whop_api_base_url": f"{closed}/api/v1"}
    code, rows = await _doctor(clock, sqlite_url, nowhere)
    assert code == 1
    assert _failing(rows) == [
        "discovery",
        "jwks",
        "api key",
        "permission member:basic:read",
        "permission company:basic:read",
        "company",
        "clock",
    ]


def _files(folder: Path) -> list[str]:
    """Everything under `folder`, relative and sorted (to show doctor created nothing)."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def _unreachable_postgres() -> str:
    """A PostgreSQL URL, with a password, on a loopback port nothing listens on."""
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/mentora"


async def test_doctor_database_row_is_green_on_sqlite_at_head_and_leaves_it_as_it_was(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, sqlite_url: str
) -> None:
    """A migrated SQLite file is ✔ at the head revision; doctor neither changes the file nor
    leaves any other file (journal, WAL) beside it."""
    _, env = whop
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    before, files = path.read_bytes(), _files(path.parent)
    code, rows = await _doctor(clock, sqlite_url, env)
    assert code == 0 and _failing(rows) == []
    assert rows["database"]["detail"] == f"{sqlite_url} at revision {head_revision()} (head)"
    assert path.read_bytes() == before and _files(path.parent) == files


@pytest.mark.postgres
async def test_doctor_database_row_is_green_on_postgres_at_head_without_the_password(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, pg_template: str
) -> None:
    """A migrated PostgreSQL database is ✔, and the row names it with its password hidden
    (the test server trusts loopback connections, so any password is accepted)."""
    _, env = whop
    url = pg_template.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    result = await run_cli(clock, url, "doctor", **env)
    assert result.exit_code == 0, result.output
    shown = url.replace(PASSWORD, "***")
    assert "✔ database" in result.stdout
    assert f"{shown} at revision {head_revision()} (head)" in result.stdout
    assert PASSWORD not in result.output


async def test_doctor_database_row_names_a_never_migrated_sqlite_file(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, tmp_path: Path
) -> None:
    """An empty SQLite file is ✘ with the upgrade hint, and stays empty (no table created)."""
    _, env = whop
    path = tmp_path / "fresh.db"
    path.touch()
    code, rows = await _doctor(clock, f"sqlite:///{path}", env)
    assert code == 1 and _failing(rows) == ["database"]
    assert rows["database"] == {
        "name": "database",
        "ok": False,
        "detail": f"at revision none (never migrated), code ships {head_revision()}",
        "fix": UPGRADE,
    }
    assert path.stat().st_size == 0 and _files(tmp_path) == ["fresh.db"]


async def test_doctor_database_row_names_migrations_not_yet_applied(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, tmp_path: Path
) -> None:
    """A SQLite file one migration behind the code is ✘: at revision X, code ships Y."""
    _, env = whop
    head = head_revision()
    assert head is not None
    previous = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(head)
    behind = str(previous.down_revision)
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(url, behind)
    result = await run_cli(clock, url, "doctor", **env)
    assert result.exit_code == 1
    (line,) = [line for line in result.stdout.splitlines() if not line.startswith("✔ ")]
    assert line.startswith("✘ database ")
    assert line.endswith(f"at revision {behind}, code ships {head}  → fix: {UPGRADE}")


async def test_doctor_database_row_names_a_sqlite_folder_that_does_not_exist(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, tmp_path: Path
) -> None:
    """A SQLite path in a missing folder is ✘ naming the folder; neither the folder nor the
    file is created (opening a SQLite URL would create the file, `make_engine` the folder)."""
    _, env = whop
    missing = tmp_path / "nowhere" / "mentora.db"
    code, rows = await _doctor(clock, f"sqlite:///{missing}", env)
    assert code == 1 and _failing(rows) == ["database"]
    assert rows["database"]["detail"] == (
        f"no SQLite file at {missing} (its folder {missing.parent} does not exist)"
    )
    assert rows["database"]["fix"].startswith(f"{UPGRADE} to create it")
    assert _files(tmp_path) == []


async def test_doctor_exits_1_with_one_database_line_when_postgres_is_down(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock
) -> None:
    """PostgreSQL refusing connections is one ✘ database line with the cause and the fix,
    every Whop row still ✔, exit 1; no traceback and no password, in text or JSON."""
    _, env = whop
    url = _unreachable_postgres()
    result = await run_cli(clock, url, "doctor", **env)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(ROWS) and result.stderr == ""
    (line,) = [line for line in lines if not line.startswith("✔ ")]
    assert line.startswith("✘ database ")
    assert "Connection refused" in line and "  → fix: start the database" in line
    assert PASSWORD not in result.output and "Traceback" not in result.output
    code, rows = await _doctor(clock, url, env)
    assert code == 1 and _failing(rows) == ["database"]
    assert rows["database"]["detail"].startswith("OperationalError: ")
    assert "DATABASE_URL" in rows["database"]["fix"]
    assert PASSWORD not in json.dumps(rows)


async def test_doctor_gives_up_on_a_database_host_that_never_answers() -> None:
    """A host that accepts the connection and then says nothing is ✘ within the bound, even
    when DATABASE_URL's own connect_timeout (0) would wait forever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/mentora?connect_timeout=0"
        started = time.monotonic()
        row = await database_check(url, wait_seconds=2)
        elapsed = time.monotonic() - started
    assert not row.ok and "timeout" in row.detail and PASSWORD not in row.detail
    assert elapsed < 10


def test_database_errors_never_show_a_password() -> None:
    """The one line a database error becomes (doctor's row, the CLI's `error: database:`)
    hides a password written in a URL, and the configured URL's own password anywhere."""
    url = f"postgresql://postgres:{PASSWORD}@db.internal/mentora"
    error = ArgumentError(f"Could not parse {url}\n[SQL: SELECT 1]")
    assert describe_error(error) == (
        "ArgumentError: Could not parse postgresql://postgres:***@db.internal/mentora"
    )
    bare = ArgumentError(f"bad password {PASSWORD}")
    assert describe_error(bare, url) == "ArgumentError: bad password ***"
