"""`mentora dev` leaves the settings other commands need to reach it (e2e, real processes).

A fresh folder and an environment with no Mentora settings, as on a new machine: `mentora
dev` comes up, a member signs in through the emulator's pages, and `mentora sessions revoke`
run with nothing but `var/mentora-dev.env` loaded reaches the same database and the same
emulator (the grant is revoked at "Whop", then the session ends); `mentora emulator …` finds
the emulator on its non-default port with no settings loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mentora.emulator import DEMO
from tests.support.stack import browser_sign_in, free_port

pytestmark = pytest.mark.e2e

MENTORA = str(Path(sys.executable).with_name("mentora"))


def _bare_env() -> dict[str, str]:
    """The process environment without any setting Mentora reads."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file (comments skipped)."""
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
    return {name: value for name, value in pairs if not name.startswith("#")}


def _wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mentora dev exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


async def test_cli_reaches_the_dev_instance_through_its_env_file(tmp_path: Path) -> None:
    """Sign in on `mentora dev`, then `sessions revoke` with only var/mentora-dev.env."""
    port, emulator_port = free_port(), free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own command, no shell
        [MENTORA, "dev", "--port", str(port), "--emulator-port", str(emulator_port)],
        cwd=tmp_path,
        env=_bare_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app_url = f"http://localhost:{port}"
        _wait_ready(f"{app_url}/readyz", proc)
        env_file = tmp_path / "var" / "mentora-dev.env"
        settings = _env_file(env_file)
        assert settings["WHOP_OAUTH_ISSUER"] == f"http://127.0.0.1:{emulator_port}"
        stack = SimpleNamespace(app_url=app_url, issuer=settings["WHOP_OAUTH_ISSUER"])
        async with httpx.AsyncClient(timeout=10) as http:
            done, session = await browser_sign_in(http, stack, DEMO.member_user_id)  # type: ignore[arg-type]
            assert done.status_code == 303 and session
        revoked = subprocess.run(  # noqa: S603 - our own command, no shell
            [MENTORA, "sessions", "revoke", "--user", DEMO.member_user_id],
            cwd=tmp_path,
            env={**_bare_env(), **settings},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.splitlines()[-1] == (
            f"revoked 1 session(s) of {DEMO.member_user_id}; Whop revoked 1 of 1 grant(s)"
        )
        # `mentora emulator …` needs no settings at all: the env file names the port.
        listed = subprocess.run(  # noqa: S603 - our own command, no shell
            [MENTORA, "emulator", "memberships", "--json"],
            cwd=tmp_path,
            env=_bare_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert DEMO.member_membership_id in listed.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
