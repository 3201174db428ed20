"""The Whop emulator served by uvicorn on a loopback port, for commands that reach Whop over
real sockets (the CLI runs its own event loop and HTTP client)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from mentora.clock import Clock, FrozenClock
from mentora.emulator import Emulator, EmulatorConfig


def free_port() -> int:
    """Ask the OS for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served_emulator(config: EmulatorConfig, clock: Clock, port: int) -> Iterator[Emulator]:
    """Serve an emulator for `config` (whose issuer names `port`) on the test's clock until the
    block ends."""
    emu = Emulator(config, clock=clock.now)
    server = uvicorn.Server(
        uvicorn.Config(
            emu.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            date_header=False,  # the emulator's own Date (its clock) is the one to read
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield emu
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def whop(clock: FrozenClock) -> Iterator[tuple[Emulator, dict[str, str]]]:
    """An emulator on a loopback port, on the test's clock, and the CLI settings (as `run_cli`
    keywords) that point at it."""
    from tests.support.env import TEST_ENV

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = EmulatorConfig(issuer=issuer, api_key=TEST_ENV["WHOP_API_KEY"])
    env = {"whop_oauth_issuer": issuer, "whop_api_base_url": f"{issuer}/api/v1"}
    with served_emulator(config, clock, port) as emu:
        yield emu, env
