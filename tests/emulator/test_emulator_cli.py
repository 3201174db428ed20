"""`mentora emulator ...` against a real emulator served by uvicorn on a loopback port."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from mentora.cli.emulator import app
from mentora.cli.serve import write_dev_env
from mentora.emulator import DEMO, Emulator, EmulatorConfig


def _free_port() -> int:
    """Ask the OS for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served() -> Iterator[tuple[str, Emulator]]:
    """An emulator served by uvicorn in a background thread; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    emu = Emulator(EmulatorConfig(issuer=url))
    server = uvicorn.Server(
        uvicorn.Config(emu.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield url, emu
    server.should_exit = True
    thread.join(timeout=10)


def test_cli_commands_drive_a_running_emulator(served: tuple[str, Emulator]) -> None:
    """users, memberships, membership deactivate/activate, trigger, webhooks, token."""
    url, emu = served
    runner = CliRunner()

    def run(*args: str) -> str:
        """Invoke the CLI against the served emulator and return stdout."""
        result = runner.invoke(app, [*args, "--url", url])
        assert result.exit_code == 0, result.output
        return result.stdout

    users = json.loads(run("users", "--json"))
    assert users[0]["id"] == DEMO.member_user_id
    assert DEMO.member_membership_id in run("memberships")
    assert "membership.deactivated" in run("membership", "deactivate", DEMO.member_membership_id)
    assert emu.state.memberships[DEMO.member_membership_id].status == "expired"
    assert "membership.activated" in run("membership", "activate", DEMO.member_membership_id)
    sent = json.loads(run("trigger", "payment.succeeded", "--user", DEMO.member_user_id, "--json"))
    assert sent["type"] == "payment.succeeded"
    log = json.loads(run("webhooks", "--json"))
    assert [w["type"] for w in log] == [
        "membership.deactivated",
        "membership.activated",
        "payment.succeeded",
    ]
    assert run("token", DEMO.member_user_id).count(".") == 2  # a compact JWT

    unknown = runner.invoke(app, ["membership", "cancel", "mem_nope", "--url", url])
    assert unknown.exit_code == 2
    assert "unknown membership mem_nope" in unknown.stderr
    assert "Traceback" not in unknown.output


def test_cli_reports_an_unreachable_emulator() -> None:
    """No emulator listening → one clear line on stderr and exit code 1."""
    result = CliRunner().invoke(app, ["users", "--url", f"http://127.0.0.1:{_free_port()}"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the Whop emulator")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_trigger_sends_refunds_disputes_and_legacy_deliveries(
    served: tuple[str, Emulator],
) -> None:
    """`trigger` takes --status, --amount and --legacy, and the seed's names; a refund with
    no paid payment is a one-line error, not a traceback."""
    url, emu = served
    runner = CliRunner()

    def run(*args: str) -> dict[str, Any]:
        """Invoke `trigger … --json` against the served emulator and return its answer."""
        result = runner.invoke(app, ["trigger", *args, "--url", url, "--json"])
        assert result.exit_code == 0, result.output
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer

    refused = runner.invoke(
        app, ["trigger", "refund.created", "--user", DEMO.member_user_id, "--url", url]
    )
    assert refused.exit_code != 0 and "payment.succeeded first" in refused.stderr
    assert "Traceback" not in refused.output
    run("payment.succeeded", "--user", DEMO.member_user_id)
    refund = run("refund.created", "--user", DEMO.member_user_id, "--amount", "5")
    assert refund["body"]["data"]["amount"] == 5.0
    dispute = run("dispute.updated", "--user", DEMO.member_user_id, "--status", "lost")
    assert dispute["body"]["data"]["status"] == "lost"
    expired = run("membership.expired", "--user", DEMO.member_user_id, "--legacy")
    assert expired["type"] == "membership.went_invalid"
    assert expired["body"]["data"]["valid"] is False
    assert emu.state.memberships[DEMO.member_membership_id].status == "expired"


def test_cli_finds_the_dev_emulator_through_the_dev_env_file(
    served: tuple[str, Emulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --url, a `var/mentora-dev.env` in the current folder names the emulator of
    `mentora dev` on its non-default port; without the file the default port is asked."""
    url, _ = served
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MENTORA_EMULATOR_URL", raising=False)
    missing = CliRunner().invoke(app, ["users"])
    assert missing.exit_code == 1
    assert "http://127.0.0.1:8765" in missing.stderr
    (tmp_path / "var").mkdir()
    write_dev_env(
        tmp_path / "var" / "mentora-dev.env",
        {"WHOP_OAUTH_ISSUER": url, "MENTORA_EMULATOR_URL": url},
    )
    found = CliRunner().invoke(app, ["users", "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)[0]["id"] == DEMO.member_user_id
