"""A person signs in through the emulator's pages in a real browser (Chromium, headless)."""

from __future__ import annotations

from typing import Any

import pytest

from mentora.web.cookie import SESSION_COOKIE
from tests.support.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_member_signs_in_and_out_in_chromium(
    browser: Any, sqlite_url: str, shot: Any
) -> None:
    """Landing → Whop sign-in → dashboard → sign out; the __Host- cookie is stored (S02, S03)."""
    async with running_stack(sqlite_url) as stack:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(stack.app_url + "/")
        await shot(page, "landing")
        await page.click("text=Sign in with Whop")
        await page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
        await shot(page, "whop-signin")
        await page.click("button[type=submit][value=approve], button:has-text('Continue')")
        await page.wait_for_url(f"{stack.app_url}/dashboard")
        assert "Ada" in await page.content()
        await shot(page, "dashboard")
        cookies = {c["name"]: c for c in await context.cookies(stack.app_url)}
        session = cookies[SESSION_COOKIE]
        assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
        await page.click("text=Sign out")
        await page.wait_for_url(f"{stack.app_url}/")
        cookies = {c["name"] for c in await context.cookies(stack.app_url)}
        assert SESSION_COOKIE not in cookies
        await context.close()


async def test_non_member_sees_no_access_page(browser: Any, sqlite_url: str, shot: Any) -> None:
    """Grace Guest picks her account on Whop's page, is signed in, and lands on the dashboard's
    no-access page (no creator to list), which offers onboarding."""
    async with running_stack(sqlite_url) as stack:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(stack.app_url + "/api/whop/auth")
        await page.check("input[value=user_demo_guest]")
        await page.click("button[type=submit][value=approve], button:has-text('Continue')")
        await page.wait_for_load_state()
        content = await page.content()
        assert "No membership" in content and 'id="onboard-offer"' in content
        await shot(page, "no-access")
        await context.close()
