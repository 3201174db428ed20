"""X01: every cookie-authenticated state change needs the session's CSRF token and a
same-origin request; each refusal is a 403 and one `malicious_csrf` audit event."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mentora.services import Services
from tests.hardening.helpers import SAME_ORIGIN, audit_rows, csrf_token, signed_in_browser

ROUTES = ["/api/whop/logout", "/api/whop/refresh", "/api/whop/sessions/revoke-all"]


@pytest.mark.parametrize("path", ROUTES)
async def test_x01_csrf_attacks_are_refused_and_audited(
    path: str, client: httpx.AsyncClient, signin: Any, app: Any, emulator: Any, services: Services
) -> None:
    """Five CSRF attacks each get 403 plus one audit event; same-origin with token passes."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    mine = await csrf_token(client)
    other_browser = await signed_in_browser(app, emulator, "user_demo_member")
    try:
        theirs = await csrf_token(other_browser)
    finally:
        await other_browser.aclose()
    assert theirs != mine
    attacks: list[tuple[str, dict[str, Any]]] = [
        ("token_mismatch", {"headers": SAME_ORIGIN}),
        ("token_mismatch", {"headers": {**SAME_ORIGIN, "x-csrf-token": theirs}}),
        (
            "sec_fetch_site_cross_site",
            {"headers": {"sec-fetch-site": "cross-site", "x-csrf-token": mine}},
        ),
        ("origin_mismatch", {"headers": {"origin": "https://evil.test", "x-csrf-token": mine}}),
        (
            "token_mismatch",
            {"headers": {"content-type": "text/plain"}, "content": f"csrf_token={mine}"},
        ),
    ]
    for n, (reason, request) in enumerate(attacks, start=1):
        refused = await client.post(path, **request)
        assert refused.status_code == 403, (reason, refused.text)
        events = await audit_rows(services, "malicious_csrf")
        assert len(events) == n
        assert (events[-1].reason, events[-1].details["path"]) == (reason, path)
    assert (await client.get("/api/whop/verify")).status_code == 200  # nothing was changed

    done = await client.post(
        path, headers={**SAME_ORIGIN, "x-csrf-token": mine, "accept": "application/json"}
    )
    assert done.status_code == 200, done.text


async def test_x01_form_post_with_token_signs_out(
    client: httpx.AsyncClient, signin: Any, services: Services
) -> None:
    """The page's own form (urlencoded body with csrf_token, same-origin) signs out: 303."""
    assert (await signin.sign_in("user_demo_member")).status_code == 303
    token = await csrf_token(client)
    done = await client.post(
        "/api/whop/logout", data={"csrf_token": token}, headers={"sec-fetch-site": "same-origin"}
    )
    assert done.status_code == 303
    assert await audit_rows(services, "malicious_csrf") == []


async def test_x01_anonymous_cross_site_logout_is_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A cross-site POST with no session at all is refused too, and audited."""
    refused = await client.post("/api/whop/logout", headers={"origin": "https://evil.test"})
    assert refused.status_code == 403
    (event,) = await audit_rows(services, "malicious_csrf")
    assert event.reason == "origin_mismatch" and event.ip == "127.0.0.1"
