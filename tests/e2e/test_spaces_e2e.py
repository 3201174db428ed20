"""One account, many creators, end to end: the app and the emulator on real sockets with both
demo companies, Other School onboarded by `mentora creators add` in one run and by its admin
through /onboard in another (e2e)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from mentora.clock import SystemClock
from mentora.emulator import DEMO
from tests.hardening.helpers import run_cli
from tests.support.stack import Stack, browser_sign_in, running_stack

pytestmark = pytest.mark.e2e

OTHER_SPACE = f"/c/{DEMO.other_company_route}"
HTML = {"accept": "text/html", "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin"}
SPACE_LINK = re.compile(r'<li data-space="([^"]+)">\s*<a href="([^"]+)">')


def _cli_env(stack: Stack) -> dict[str, Any]:
    """The CLI's settings: the stack's Whop endpoints, client and keys."""
    settings = stack.settings
    return {
        "whop_oauth_issuer": stack.issuer,
        "whop_api_base_url": f"{stack.issuer}/api/v1",
        "whop_client_id": settings.whop_client_id,
        "whop_client_secret": settings.whop_client_secret.get_secret_value(),
        "whop_api_key": settings.whop_api_key.get_secret_value(),
        "token_encryption_keys": settings.token_encryption_keys.get_secret_value(),
        "secret_key": settings.secret_key.get_secret_value(),
    }


class Browser:
    """One person's browser against the stack: their session cookie, carried by hand."""

    def __init__(self, http: httpx.AsyncClient, stack: Stack, token: str) -> None:
        """Bind the client, the stack and the session token."""
        self.http, self.stack, self.token = http, stack, token

    async def get(self, path: str, **headers: str) -> httpx.Response:
        """GET a path of the app as this person."""
        return await self.http.get(
            self.stack.app_url + path,
            headers={**HTML, **headers, "cookie": f"__Host-mentora_session={self.token}"},
        )

    async def spaces(self) -> dict[str, str]:
        """The dashboard's creators: company id → space path."""
        page = await self.get("/dashboard")
        assert page.status_code == 200, page.text[:300]
        return dict(SPACE_LINK.findall(page.text))

    async def content(self, space: str) -> httpx.Response:
        """The space's gated JSON."""
        return await self.get(f"{space}/api/content", accept="application/json")


async def _sign_in(
    http: httpx.AsyncClient, stack: Stack, user_id: str, next_path: str | None = None
) -> tuple[Browser, httpx.Response]:
    done, token = await browser_sign_in(http, stack, user_id, next_path)
    assert done.status_code == 303 and token, done.text[:300]
    return Browser(http, stack, token), done


async def _otto_refused_before_onboarding(http: httpx.AsyncClient, stack: Stack) -> Browser:
    """Otto (a member of Other School only) signs in; nothing lets him in yet."""
    otto, _ = await _sign_in(http, stack, DEMO.other_member_user_id)
    refused = await otto.get("/dashboard")
    assert refused.status_code == 403 and 'id="access-denied"' in refused.text
    assert (await otto.get(OTHER_SPACE)).status_code == 404
    assert (await otto.get(f"/c/{DEMO.other_company_id}")).status_code == 404
    return otto


async def _otto_enters_other_school_only(otto: Browser) -> None:
    """After onboarding: Other School admits him, its space and dashboard say so; Demo
    Academy still refuses him."""
    spaces = await otto.spaces()
    assert spaces == {DEMO.other_company_id: OTHER_SPACE}
    home = await otto.get(OTHER_SPACE)
    assert home.status_code == 200 and "Other School" in home.text
    assert (await otto.content(OTHER_SPACE)).json()["company_id"] == DEMO.other_company_id
    assert (await otto.content("")).status_code == 403
    assert (await otto.content(f"/c/{DEMO.company_id}")).status_code == 403


async def test_cli_onboarding_lets_each_student_into_their_own_creators(sqlite_url: str) -> None:
    """Otto is refused until `mentora creators add biz_other`, then enters Other School only;
    Ada the reverse; Bea (a member of both) sees both, each space deciding for its creator,
    and sign-in returns to the space it started from."""
    async with running_stack(sqlite_url) as stack, httpx.AsyncClient(timeout=20) as http:
        otto = await _otto_refused_before_onboarding(http, stack)
        added = await run_cli(
            SystemClock(), sqlite_url, "creators", "add", DEMO.other_company_id, **_cli_env(stack)
        )
        assert added.exit_code == 0, added.output
        await _otto_enters_other_school_only(otto)

        ada, _ = await _sign_in(http, stack, DEMO.member_user_id)
        ada_spaces = await ada.spaces()
        assert list(ada_spaces) == [DEMO.company_id]
        demo_space = ada_spaces[DEMO.company_id]
        assert (await ada.content(demo_space)).json()["company_id"] == DEMO.company_id
        assert (await ada.content(OTHER_SPACE)).status_code == 403

        bea, done = await _sign_in(http, stack, DEMO.both_member_user_id, next_path=OTHER_SPACE)
        assert done.headers["location"] == OTHER_SPACE  # back where sign-in started
        assert await bea.spaces() == {
            DEMO.company_id: demo_space,
            DEMO.other_company_id: OTHER_SPACE,
        }
        dashboard = (await bea.get("/dashboard")).text
        # Sign-in pulled her memberships at both creators (Demo's were never synced).
        assert 'data-membership="mem_both_demo"' in dashboard
        assert 'data-membership="mem_both_other"' in dashboard
        here, there = await bea.content(demo_space), await bea.content(OTHER_SPACE)
        assert (here.json()["company_id"], there.json()["company_id"]) == (
            DEMO.company_id,
            DEMO.other_company_id,
        )


async def test_other_schools_admin_onboards_it_through_the_page(sqlite_url: str) -> None:
    """Olga, Other School's admin, sets it up at /onboard; then Otto enters it (and only it)
    and Olga reaches its creator pages."""
    async with running_stack(sqlite_url) as stack, httpx.AsyncClient(timeout=20) as http:
        otto = await _otto_refused_before_onboarding(http, stack)
        olga, _ = await _sign_in(http, stack, DEMO.other_admin_user_id)
        offer = await olga.get(f"/onboard?company_id={DEMO.other_company_id}")
        assert offer.status_code == 200 and "Set up Mentora for Other School" in offer.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', offer.text)
        assert token is not None
        done = await http.post(
            f"{stack.app_url}/onboard",
            data={"csrf_token": token.group(1), "company_id": DEMO.other_company_id},
            headers={
                "origin": stack.app_url,
                "sec-fetch-site": "same-origin",
                "cookie": f"__Host-mentora_session={olga.token}",
            },
        )
        assert done.status_code == 303, done.text[:300]
        assert done.headers["location"] == f"{OTHER_SPACE}/creator"
        pages = await olga.get(f"{OTHER_SPACE}/creator/students")
        assert pages.status_code == 200 and "Otto Other" in pages.text
        assert (await olga.get("/creator")).status_code == 403  # not Demo Academy's team
        await _otto_enters_other_school_only(otto)
