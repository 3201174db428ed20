"""Creator spaces in Chromium: an admin onboards Other School at /onboard, a member of both
teams switches between them, and a member of both schools sees both on the dashboard. The
screenshots go to test-artifacts/screenshots/; with MENTORA_UPDATE_DOC_SCREENSHOTS=1 they
replace docs/screenshots/ (the README's pictures of these pages), so a plain run leaves the
tracked files alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mentora.emulator import DEMO
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
DOCS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("MENTORA_UPDATE_DOC_SCREENSHOTS") == "1"
    else ROOT / "test-artifacts" / "screenshots"
)


async def _signed_in(browser: Any, stack: Stack, user_id: str, start: str = "/") -> Any:
    """A new browser context signed in as `user_id` through the emulator's page."""
    context = await browser.new_context(viewport={"width": 1100, "height": 760})
    page = await context.new_page()
    await page.goto(stack.app_url + start)
    await page.click("text=Sign in with Whop")
    await page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
    await page.check(f"input[value={user_id}]")
    await page.click("button[type=submit][value=approve], button:has-text('Continue')")
    await page.wait_for_load_state()
    return page


async def _keep(page: Any, name: str) -> None:
    """A full-page screenshot named `name` (see the module docstring for where it goes)."""
    DOCS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)


async def test_onboarding_switcher_and_two_creator_dashboard(
    browser: Any, sqlite_url: str, shot: Any
) -> None:
    """Olga sets Other School up; Cleo (on both teams) switches; Bea sees both schools."""
    async with running_stack(sqlite_url) as stack:
        olga = await _signed_in(browser, stack, DEMO.other_admin_user_id)
        await olga.goto(f"{stack.app_url}/onboard")
        await olga.fill("input[name=company_id]", DEMO.other_company_id)
        await olga.click("button:has-text('Check')")
        await olga.wait_for_selector("#onboard-confirm")
        assert "Set up Mentora for Other School" in await olga.content()
        await _keep(olga, "onboarding")
        await olga.click("#onboard-confirm")
        await olga.wait_for_url(f"{stack.app_url}/c/{DEMO.other_company_route}/creator")
        await shot(olga, "onboarded")

        # Cleo, Demo Academy's creator, joins Other School's team at Whop too.
        stack.emulator.state.companies[DEMO.other_company_id].admin_user_ids.append(
            DEMO.creator_user_id
        )
        cleo = await _signed_in(browser, stack, DEMO.creator_user_id)
        await cleo.wait_for_url(f"{stack.app_url}/creator")
        switcher = cleo.locator("#creator-switcher")
        assert "Other School" in await switcher.inner_text()
        await _keep(cleo, "creator-switcher")
        await switcher.locator(f"a[data-space={DEMO.other_company_id}]").click()
        await cleo.wait_for_url(f"{stack.app_url}/c/{DEMO.other_company_route}/creator")
        await shot(cleo, "switched")

        bea = await _signed_in(browser, stack, DEMO.both_member_user_id)
        await bea.wait_for_url(f"{stack.app_url}/dashboard")
        spaces = await bea.locator("#spaces").inner_text()
        assert "Demo Academy" in spaces and "Other School" in spaces
        await _keep(bea, "two-creator-dashboard")
