"""`mentora dev` refuses clearly when its ports are taken (no traceback)."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from mentora.cli import app
from tests.support.stack import free_port


def test_dev_refuses_a_port_in_use(tmp_path: Path) -> None:
    """A busy app port gives one error line naming the port and the option, exit 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app,
            [
                "dev",
                "--port",
                str(port),
                "--emulator-port",
                str(free_port()),
                "--database-url",
                f"sqlite:///{tmp_path}/dev.db",
            ],
        )
    assert result.exit_code == 1
    assert f"port {port}" in result.output and "--port" in result.output
    assert "Traceback" not in result.output
