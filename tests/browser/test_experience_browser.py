"""The app inside a Whop experience, in Debian's Chromium over real sockets.

Whop's iframe proxy adds `x-whop-user-token` to every request to the app; the browser context
sends it as an extra header, as the proxy would. Screenshots are saved as artifacts.
"""

from __future__ import annotations

from typing import Any

import pytest

from mentora.emulator import DEMO
from tests.support.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
VIEWPORT = {"width": 1280, "height": 800}


async def _open_as(browser: Any, stack: Any, user_id: str, experience_id: str) -> Any:
    """A page opened at `/experiences/{experience_id}` as `user_id` (through the "proxy")."""
    token = stack.emulator.mint_user_token(user_id)
    context = await browser.new_context(
        viewport=VIEWPORT, extra_http_headers={"x-whop-user-token": token}
    )
    page = await context.new_page()
    response = await page.goto(f"{stack.app_url}/experiences/{experience_id}")
    return context, page, response


async def test_experiences_in_chromium(browser: Any, sqlite_url: str, shot: Any) -> None:
    """Demo Academy's member in its experience sees its content under its name; Other School
    (not onboarded) gets its clear page, with the onboarding link for its admin only."""
    async with running_stack(sqlite_url, EMBEDDED_MODE="true") as stack:
        context, page, response = await _open_as(
            browser, stack, DEMO.member_user_id, DEMO.experience_id
        )
        assert response is not None and response.status == 200
        assert await page.inner_text("#creator-name") == "Demo Academy"
        assert await page.inner_text("h1") == "Demo Academy"
        # Whop has signed the user in: no sign-in button inside the experience.
        assert await page.locator("text=Sign in with Whop").count() == 0
        await shot(page, "experience-content")
        await context.close()

        context, page, response = await _open_as(
            browser, stack, DEMO.other_member_user_id, DEMO.other_experience_id
        )
        assert response is not None and response.status == 404
        message = await page.inner_text("#not-onboarded-message")
        assert message == "Other School has not set up Mentora yet."
        assert await page.locator("#onboard-link").count() == 0
        await shot(page, "experience-not-onboarded")
        await context.close()

        stack.emulator.state.add_team_member(DEMO.other_company_id, DEMO.guest_user_id)
        context, page, response = await _open_as(
            browser, stack, DEMO.guest_user_id, DEMO.other_experience_id
        )
        assert response is not None and response.status == 404
        link = await page.get_attribute("#onboard-link", "href")
        assert link == f"/onboard?company_id={DEMO.other_company_id}"
        await shot(page, "experience-onboarding-offer")
        await context.close()

        context, page, response = await _open_as(
            browser, stack, DEMO.other_member_user_id, DEMO.experience_id
        )
        assert response is not None and response.status == 403
        assert await page.locator("#access-content").count() == 0
        assert await page.locator("text=Sign in again").count() == 0
        await shot(page, "experience-other-creators-member")
        await context.close()
