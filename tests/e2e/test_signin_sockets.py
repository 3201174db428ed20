"""End to end over real loopback sockets: emulator and app under uvicorn, SQLite (e2e)."""

from __future__ import annotations

import httpx
import pytest

from mentora.emulator import DEMO
from mentora.web.cookie import SESSION_COOKIE
from tests.support.stack import browser_sign_in, running_stack

pytestmark = pytest.mark.e2e


async def test_signin_dashboard_signout_over_sockets(sqlite_url: str) -> None:
    """A member signs in, reaches the dashboard, signs out; a non-member is refused."""
    async with running_stack(sqlite_url) as stack, httpx.AsyncClient(timeout=10) as http:
        done, session = await browser_sign_in(http, stack, DEMO.member_user_id)
        assert done.status_code == 303 and session
        cookie = {"cookie": f"{SESSION_COOKIE}={session}"}
        dashboard = await http.get(f"{stack.app_url}/dashboard", headers=cookie)
        assert dashboard.status_code == 200 and "Ada" in dashboard.text
        import re

        csrf = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text)
        assert csrf
        out = await http.post(
            f"{stack.app_url}/api/whop/logout",
            data={"csrf_token": csrf.group(1)},
            headers={**cookie, "origin": stack.app_url},
        )
        assert out.status_code == 303
        assert (
            await http.get(f"{stack.app_url}/api/whop/verify", headers=cookie)
        ).status_code == 401
        # A guest is signed in (a session belongs to the user) and refused at the door.
        signed, guest = await browser_sign_in(http, stack, DEMO.guest_user_id)
        assert signed.status_code == 303 and guest
        refused = await http.get(
            f"{stack.app_url}/api/content", headers={"cookie": f"{SESSION_COOKIE}={guest}"}
        )
        assert refused.status_code == 403
