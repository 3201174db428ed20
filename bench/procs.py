"""Start the emulator and the app as separate processes on loopback (benchmarks)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MENTORA = str(Path(sys.executable).with_name("mentora"))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Procs:
    """Where the running processes listen."""

    app_url: str
    issuer: str
    env: dict[str, str]
    database_url: str
    app_pid: int
    emulator_pid: int


@contextlib.contextmanager
def running(workers: int = 1, database_url: str | None = None, **extra_env: str) -> Iterator[Procs]:
    """Emulator and app processes (SQLite in a temp folder unless `database_url`)."""
    app_port, emu_port = free_port(), free_port()
    app_url, issuer = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{emu_port}"
    tmp = tempfile.mkdtemp(prefix="mentora-bench-")
    database_url = database_url or f"sqlite:///{tmp}/bench.db"
    env = {
        **os.environ,
        "MENTORA_ENV": "test",
        "APP_URL": app_url,
        "DATABASE_URL": database_url,
        "WHOP_OAUTH_ISSUER": issuer,
        "WHOP_API_BASE_URL": f"{issuer}/api/v1",
        "WHOP_CLIENT_ID": "app_demo",
        "WHOP_CLIENT_SECRET": "bench-client-secret",
        "WHOP_API_KEY": "bench-api-key",
        "WHOP_WEBHOOK_SECRET": "ws_bench_webhook_secret",
        "WHOP_COMPANY_ID": "biz_demo",
        "AUTHLIB_INSECURE_TRANSPORT": "1",
        "LOG_LEVEL": "WARNING",
        "MAIL_DIR": f"{tmp}/mail",
        "RATELIMIT_ENABLED": "false",  # every bench client comes from 127.0.0.1
        **extra_env,
    }
    subprocess.run([MENTORA, "db", "upgrade"], env=env, check=True, capture_output=True)
    emulator = subprocess.Popen(
        [
            MENTORA,
            "emulator",
            "serve",
            "--port",
            str(emu_port),
            "--client-secret",
            "bench-client-secret",
            "--api-key",
            "bench-api-key",
            "--webhook-secret",
            "ws_bench_webhook_secret",
            "--redirect-uri",
            f"{app_url}/api/whop/callback",
            "--webhook-url",
            f"{app_url}/api/whop/webhooks",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app = subprocess.Popen(
        [MENTORA, "serve", "--port", str(app_port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"{issuer}/.well-known/openid-configuration")
        wait_ready(f"{app_url}/healthz")
        yield Procs(
            app_url=app_url,
            issuer=issuer,
            env=env,
            database_url=database_url,
            app_pid=app.pid,
            emulator_pid=emulator.pid,
        )
    finally:
        for proc in (app, emulator):
            proc.terminate()
        for proc in (app, emulator):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of `pid` and its live descendants (uvicorn's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            # Fields after the command name, which is in parentheses and may hold spaces.
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        pending += [int(child) for child in children]
    return total


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile of `values` (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]
