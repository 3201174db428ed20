"""Fixtures for the emulator tests: an in-process emulator and clients bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mentora.emulator import Emulator, EmulatorConfig
from tests.emulator.helpers import (
    CLIENT_ID,
    ISSUER,
    REDIRECT_URI,
    OAuthDriver,
    Receiver,
    StepClock,
)


@pytest.fixture
def emu_clock() -> StepClock:
    """A steppable clock starting at the real current time."""
    return StepClock()


@pytest.fixture
def emu_config() -> EmulatorConfig:
    """The emulator configuration, webhooks to the in-memory receiver, no retry waits."""
    return EmulatorConfig(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        redirect_uris=[REDIRECT_URI],
        webhook_url="http://receiver.test/webhooks",
        retry_delays=(0.0, 0.0, 0.0),
    )


@pytest.fixture
def receiver() -> Receiver:
    """The webhook receiver (all 200 unless a test scripts statuses)."""
    return Receiver()


@pytest.fixture
async def emu(
    emu_config: EmulatorConfig, emu_clock: StepClock, receiver: Receiver
) -> AsyncIterator[Emulator]:
    """An emulator whose webhooks go to `receiver` through an ASGI transport."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver))
    emulator = Emulator(emu_config, webhook_client=client, clock=emu_clock.now)
    yield emulator
    await emulator.aclose()
    await client.aclose()


@pytest.fixture
async def whop(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the emulator's HTTP surface."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url=ISSUER
    ) as client:
        yield client


@pytest.fixture
def oauth(whop: httpx.AsyncClient) -> OAuthDriver:
    """The OAuth flow driver."""
    return OAuthDriver(whop)
