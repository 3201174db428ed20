"""The sessions page names each browser as a person would ("Chrome on Linux", by ua-parser),
keeping the raw User-Agent only on hover."""

from __future__ import annotations

import httpx
import pytest

from mentora.emulator import DEMO
from mentora.web.views.browsers import browser_name
from tests.pages.helpers import BROWSER
from tests.support.signin import SignIn

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mobile Safari on iOS",
        ),
        ("python-httpx/0.28.1", None),
        ("", None),
        (None, None),
    ],
)
def test_browser_names_from_user_agents(user_agent: str | None, name: str | None) -> None:
    """Known browsers get "<browser> on <system>"; what the rules do not know gets None."""
    assert browser_name(user_agent) == name


async def test_sessions_page_shows_chrome_on_linux(
    client: httpx.AsyncClient, signin: SignIn
) -> None:
    """Signed in from Chrome on Linux, the page says so, with the raw header on hover only."""
    client.headers["user-agent"] = CHROME_LINUX
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    page = await client.get("/account/sessions", headers=BROWSER)
    assert page.status_code == 200
    assert f'<span class="browser" title="{CHROME_LINUX}">Chrome on Linux</span>' in page.text
    assert page.text.count("Mozilla/5.0") == 1  # only in the title attribute
