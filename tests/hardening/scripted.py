"""Fixtures that put the emulator behind a ScriptedTransport (answers a test can replace or
read). Import them into a test module to route that module's Whop calls through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.creators import ensure_configured_creator
from mentora.services import Services, build_services
from tests.hardening.helpers import ScriptedTransport


@pytest.fixture
def scripted(emulator: Any) -> ScriptedTransport:
    """The emulator behind a transport whose answers a test can replace or record."""
    return ScriptedTransport(inner=httpx.ASGITransport(app=emulator.app))


@pytest.fixture
async def services(
    settings: Settings, clock: FrozenClock, scripted: ScriptedTransport
) -> AsyncIterator[Services]:
    """The app's services, with Whop reached through the scripted transport."""
    svc = build_services(settings, clock=clock, transport=scripted)
    await ensure_configured_creator(svc)
    yield svc
    await svc.aclose()
