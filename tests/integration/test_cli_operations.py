"""Integration: the operator commands (`webhooks`, `outbox`, `sync`, `worker`) on SQLite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from mentora.cli import app
from mentora.config import load_settings
from mentora.creators import ensure_configured_creator
from mentora.services import build_services
from mentora.webhooks.envelope import parse_envelope
from mentora.webhooks.intake import store_and_apply
from mentora.webhooks.verify import VerifiedDelivery
from tests.support.env import TEST_ENV
from tests.support.timeline import START


@pytest.fixture
def cli_env(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Environment for the CLI: test settings, a SQLite file, Whop on a closed port."""
    env = {
        **TEST_ENV,
        "DATABASE_URL": sqlite_url,
        "MAIL_DIR": str(tmp_path / "mail"),
        "WHOP_API_BASE_URL": "http://127.0.0.1:1/api/v1",
        "WHOP_HTTP_TIMEOUT_SECONDS": "2",
        "COLUMNS": "200",  # rich tables are as wide as the terminal says
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    structlog.reset_defaults()  # the commands configure logging for the whole process


def _store_failing_delivery(env: dict[str, str]) -> None:
    """A dispute about an unknown membership: stored, its effect failed."""

    async def go() -> None:
        services = build_services(load_settings(env))
        try:
            await ensure_configured_creator(services)
            body = (
                b'{"type":"dispute.created","company_id":"biz_demo","data":{"id":"dspt_1",'
                b'"status":"needs_response","payment":{"id":"p","membership":{"id":"mem_x"}}}}'
            )
            delivery = VerifiedDelivery(
                webhook_id="msg_cli", timestamp=START, body=body, scheme="standard"
            )
            status = await store_and_apply(services, delivery, parse_envelope(body), {})
            assert status == "failed"
        finally:
            await services.aclose()

    asyncio.run(go())


def test_webhooks_commands(cli_env: dict[str, str]) -> None:
    """list shows a failed delivery; replay and reprocess run it; unknown ids exit 2."""
    _store_failing_delivery(cli_env)
    runner = CliRunner()
    listed = runner.invoke(app, ["webhooks", "list", "--status", "failed"])
    assert listed.exit_code == 0, listed.output
    assert "msg_cli" in listed.output and "dispute.created" in listed.output
    replayed = runner.invoke(app, ["webhooks", "replay", "msg_cli"])
    assert replayed.exit_code == 1 and "msg_cli: failed" in replayed.output
    unknown = runner.invoke(app, ["webhooks", "replay", "msg_nope"])
    assert unknown.exit_code == 2 and "no delivery with webhook-id msg_nope" in unknown.output
    reprocessed = runner.invoke(app, ["webhooks", "reprocess"])
    assert reprocessed.exit_code == 0 and "failed: 1" in reprocessed.output
    pruned = runner.invoke(app, ["webhooks", "prune", "--days", "1"])
    assert pruned.exit_code == 0 and "deleted 0 deliveries" in pruned.output


def test_webhooks_commands_json_show_and_failed(cli_env: dict[str, str]) -> None:
    """`--json` output, `show` with the raw body, `list --failed`, `reprocess --failed`."""
    _store_failing_delivery(cli_env)
    runner = CliRunner()
    listed = runner.invoke(app, ["webhooks", "list", "--failed", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["webhook_id"], r["status"], r["type"]) for r in rows] == [
        ("msg_cli", "failed", "dispute.created")
    ]
    shown = runner.invoke(app, ["webhooks", "show", "msg_cli", "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["status"] == "failed" and '"dspt_1"' in detail["body"]
    assert detail["last_error"]
    assert runner.invoke(app, ["webhooks", "show", "msg_nope"]).exit_code == 2
    again = runner.invoke(app, ["webhooks", "reprocess", "--failed", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout) == {"failed": 1}
    replayed = runner.invoke(app, ["webhooks", "replay", "msg_cli", "--json"])
    assert json.loads(replayed.stdout) == {"webhook_id": "msg_cli", "status": "failed"}


def test_outbox_sync_and_worker_commands(cli_env: dict[str, str]) -> None:
    """outbox send/retry, sync run against an unreachable Whop (exit 1), worker --once."""
    _store_failing_delivery(cli_env)
    runner = CliRunner()
    sent = runner.invoke(app, ["outbox", "send"])
    assert sent.exit_code == 0 and "sent: 0" in sent.output
    missing = runner.invoke(app, ["outbox", "retry", "42"])
    assert missing.exit_code == 1 and "no dead message with id 42" in missing.output
    synced = runner.invoke(app, ["sync", "run"])
    assert synced.exit_code == 1
    report = json.loads(synced.stdout)
    assert report["outcome"] == "failed" and "whop_unavailable" in report["error"]
    history = runner.invoke(app, ["sync", "history"])
    assert history.exit_code == 0 and "failed" in history.output
    once = runner.invoke(app, ["worker", "--once"])
    assert once.exit_code == 0, once.output
    assert "sync: failed" in once.output
