"""X02 on every page of this issue, for every kind of visitor: security headers, no-store,
and no inline script or style anywhere (the CSP allows neither)."""

from __future__ import annotations

import re
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from mentora.config import Settings
from mentora.outbox.mailer import Email, FileMailer, build_message
from mentora.services import Services
from tests.pages.helpers import BROWSER, audit_event, delivery, person
from tests.support.env import make_settings
from tests.support.timeline import START

INLINE = re.compile(r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Development settings, so /dev exists too."""
    return make_settings(database_url, mail_dir=str(tmp_path / "mail"), emulator_enabled="true")


def check(path: str, response: httpx.Response) -> None:
    """The header set and the body rules for one response."""
    h = response.headers
    where = f"{path} -> {response.status_code}"
    csp = h["content-security-policy"]
    for directive in (
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp, where
    assert h["x-content-type-options"] == "nosniff", where
    assert h["x-frame-options"] == "DENY", where
    assert h["referrer-policy"] == "no-referrer", where
    assert h["x-request-id"], where
    assert "access-control-allow-origin" not in h, where
    if path != "/":
        assert "no-store" in h.get("cache-control", ""), where
    assert not INLINE.search(response.text), (where, INLINE.search(response.text))


async def test_x02_every_page_carries_the_headers_for_every_visitor(
    client: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    """Anonymous, member, team: landing, dashboard, creator pages (allowed and refused), error
    pages and development tools all carry the headers and no inline code."""
    team = await person(services, "user_team", level="admin", status=None)
    member = await person(services, "user_member", name="Mia")
    await delivery(services, "msg_1", status="failed", last_error='<script>alert("x")</script>')
    await audit_event(services, "authz_fail", creator=team.creator_id, subject="user_member")
    message = build_message(
        Email(key="k", sender="a@b.test", recipient="c@d.test", subject="Hi", body="<b>x</b>"),
        date_header=format_datetime(START),
    )
    await FileMailer(Path(settings.mail_dir)).send(message)
    mail_name = str(message["Message-ID"]).strip("<>").partition("@")[0] + ".eml"
    pages = [
        "/",
        "/dashboard",
        "/creator",
        "/creator/students",
        "/creator/students?q=%3Cscript%3E",
        "/creator/deliveries",
        "/creator/audit",
        "/creator/students?page=0",
        "/dev",
        f"/dev/mail/{mail_name}",
        "/dev/mail/missing.eml",
    ]
    for who in ({}, member.cookie, team.cookie):
        for path in pages:
            response = await client.get(path, headers={**BROWSER, **who})
            if response.status_code in (303,):
                continue  # anonymous redirects to sign in carry no page
            assert response.headers["content-type"].startswith("text/html"), path
            check(path, response)
