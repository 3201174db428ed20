"""/dev: exists only with EMULATOR_ENABLED outside production; drives the emulator over HTTP
and shows the outbox's emails."""

from __future__ import annotations

from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.db.models import Membership
from mentora.emulator import DEMO
from mentora.outbox.mailer import Email, FileMailer, build_message
from mentora.services import Services, build_services
from tests.pages.helpers import BROWSER, SAME_ORIGIN, csrf_from, person
from tests.support.env import APP_URL, make_settings
from tests.support.recording import RecordingTransport
from tests.support.stack import free_port
from tests.support.timeline import START

PROD = {
    "mentora_env": "production",
    "app_url": "https://learn.mentora.app",
    "secret_key": "k" * 48,
    "token_encryption_keys": "q0i3hEzM0e1nS9aRj8D0N2l5E7m3Xw2ZrB0rD3cF4aY=",
    "whop_client_id": "app_live123",
    "whop_client_secret": "s3cr3t-value-live",
    "whop_api_key": "apik_live_abc",
    "whop_webhook_secret": "ws_live_abcdef1234567890abcdef",
    "whop_company_id": "biz_live",
    "metrics_token": "m3tr1cs-t0ken-l1ve-0123456789abcdef",
    "whop_oauth_issuer": "https://whop.test",
    "whop_api_base_url": "https://whop.test/api/v1",
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Development settings: the emulator is on (as `mentora dev` sets it)."""
    return make_settings(database_url, mail_dir=str(tmp_path / "mail"), emulator_enabled="true")


async def _write_mail(settings: Settings, subject: str) -> str:
    message = build_message(
        Email(
            key=subject,
            sender="Mentora <no-reply@mentora.test>",
            recipient="ada@example.test",
            subject=subject,
            body=f"Hello Ada,\n\n{subject}.\n",
        ),
        date_header=format_datetime(START),
    )
    await FileMailer(Path(settings.mail_dir)).send(message)
    return str(message["Message-ID"]).strip("<>").partition("@")[0] + ".eml"


async def test_dev_page_lists_the_emulators_memberships_and_the_emails(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The demo company's memberships (demo member first, with buttons) and MAIL_DIR's emails."""
    name = await _write_mail(settings, "Welcome to Demo Academy")
    page = await client.get("/dev", headers=BROWSER)
    assert page.status_code == 200
    assert 'data-membership="mem_demo_member"' in page.text
    assert 'action="/dev/memberships/mem_demo_member/deactivate"' in page.text
    assert "mem_other_member" not in page.text  # another company's
    assert f'href="/dev/mail/{name}">Welcome to Demo Academy<' in page.text
    mail = await client.get(f"/dev/mail/{name}", headers=BROWSER)
    assert mail.status_code == 200
    assert "Hello Ada," in mail.text and "ada@example.test" in mail.text


async def test_dev_button_deactivates_through_the_emulator_and_its_webhook(
    client: httpx.AsyncClient, services: Services, emulator: Any
) -> None:
    """Deactivate → the emulator expires the membership and sends the signed webhook, which
    Mentora applies like any other."""
    response = await client.post("/dev/memberships/mem_demo_member/deactivate", headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/dev?action=deactivate&membership=mem_demo_member&sent=1"
    )
    assert emulator.state.memberships[DEMO.member_membership_id].status == "expired"
    await emulator.flush_webhooks()
    async with services.sessionmaker() as db:
        row = (
            await db.execute(
                select(Membership).where(Membership.whop_membership_id == "mem_demo_member")
            )
        ).scalar_one()
    assert row.status == "expired"
    page = await client.get(response.headers["location"], headers=BROWSER)
    assert "Deactivate: mem_demo_member → 1 webhook sent." in page.text


async def test_dev_buttons_need_same_origin_and_the_token_when_signed_in(
    client: httpx.AsyncClient, services: Services, emulator: Any
) -> None:
    """Cross-site posts are refused; a signed-in browser must also send its CSRF token."""
    url = "/dev/memberships/mem_demo_member/deactivate"
    assert (await client.post(url, headers={"sec-fetch-site": "cross-site"})).status_code == 403
    member = await person(services, "user_dev")
    token = await csrf_from(client, "/dev", member.cookie)
    assert (await client.post(url, headers={**SAME_ORIGIN, **member.cookie})).status_code == 403
    assert emulator.state.memberships[DEMO.member_membership_id].status == "active"
    done = await client.post(
        url, data={"csrf_token": token}, headers={**SAME_ORIGIN, **member.cookie}
    )
    assert done.status_code == 303


@pytest.mark.parametrize(
    "path",
    [
        "/dev/memberships/mem_demo_member/explode",
        "/dev/memberships/mem%2F..%2Fx/activate",
        "/dev/memberships/mem%20x/activate",
    ],
)
async def test_dev_button_refuses_unknown_actions_and_ids_without_calling_the_emulator(
    settings: Settings, clock: FrozenClock, emulator: Any, path: str
) -> None:
    """Only the four actions, on well-formed ids, reach the emulator: the rest are refused
    with a 4xx and no request leaves for it (a well-formed one, for contrast, does)."""
    recorder = RecordingTransport(httpx.ASGITransport(app=emulator.app))
    services = build_services(settings, clock=clock, transport=recorder)
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_URL) as c:
            response = await c.post(path, headers=SAME_ORIGIN)
            assert response.status_code in (400, 404)
            assert recorder.exchanges == []
            good = await c.post("/dev/memberships/mem_demo_member/activate", headers=SAME_ORIGIN)
            assert good.status_code == 303
            assert recorder.paths == [
                "/_emulator/admin/memberships/mem_demo_member/actions/activate"
            ]
    finally:
        await services.aclose()


async def test_dev_page_reports_an_unreachable_emulator(
    settings: Settings, clock: FrozenClock
) -> None:
    """With nothing listening at the emulator's address, the page says so instead of failing."""
    closed = f"http://127.0.0.1:{free_port()}"
    down = Settings.model_validate(
        {**settings.model_dump(), "whop_oauth_issuer": closed, "whop_api_base_url": closed}
    )
    services = build_services(down, clock=clock)
    app = create_app(down, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_URL) as c:
            page = await c.get("/dev", headers=BROWSER)
            assert page.status_code == 200 and "does not answer" in page.text
            failed = await c.post("/dev/memberships/mem_demo_member/activate", headers=SAME_ORIGIN)
            assert failed.headers["location"] == "/dev?failed=true"
    finally:
        await services.aclose()


@pytest.mark.parametrize("name", ["..%2F..%2Fetc%2Fpasswd", "notes.txt", "x" * 80 + ".eml"])
async def test_dev_mail_opens_only_files_the_mailer_wrote(
    client: httpx.AsyncClient, name: str
) -> None:
    """Traversal, other extensions and unknown names are a 404."""
    assert (await client.get(f"/dev/mail/{name}", headers=BROWSER)).status_code == 404


async def test_dev_pages_are_absent_when_the_emulator_is_off(
    sqlite_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    """EMULATOR_ENABLED=false: every /dev route is a 404 and the nav has no link."""
    settings = make_settings(sqlite_url, mail_dir=str(tmp_path))
    await _assert_no_dev(settings, clock)


async def test_dev_pages_are_absent_in_production(
    sqlite_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    """Production: 404, even if the emulator flag got past the start-up check somehow."""
    prod = make_settings(sqlite_url, **PROD)
    await _assert_no_dev(prod, clock)
    forced = Settings.model_validate({**prod.model_dump(), "emulator_enabled": True})
    await _assert_no_dev(forced, clock)


async def _assert_no_dev(settings: Settings, clock: FrozenClock) -> None:
    services = build_services(settings, clock=clock)
    app = create_app(settings, services=services)
    base = settings.app_url
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as c:
        for path in ("/dev", "/dev/mail/abc.eml"):
            assert (await c.get(path, headers=BROWSER)).status_code == 404, path
        post = await c.post("/dev/memberships/mem_demo_member/activate", headers=SAME_ORIGIN)
        assert post.status_code == 404
        assert 'href="/dev"' not in (await c.get("/", headers=BROWSER)).text
    await services.aclose()
