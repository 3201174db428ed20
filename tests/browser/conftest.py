"""Browser fixtures: Debian's Chromium driven by Playwright, screenshots saved as artifacts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import IN_CI
from tests.support.fixtures import *  # noqa: F403  (the app stack's fixtures, for this directory)

CHROMIUM = os.environ.get("MENTORA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium (Debian's package); skipped locally when missing, failing in CI."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} missing (CI installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        await instance.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """Save a full-page screenshot under test-artifacts/screenshots/<test>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png".replace("[", "_").replace("]", "")
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take
