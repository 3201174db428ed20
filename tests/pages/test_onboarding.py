"""Self-service onboarding at /onboard: Whop admins only, CREATOR_ONBOARDING decides who may,
CSRF and audit on the way (through the in-process emulator)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mentora.config import Settings
from mentora.db.models import AuditEvent, Creator
from mentora.emulator import DEMO
from mentora.services import Services
from tests.pages.helpers import BROWSER, CSRF_INPUT, SAME_ORIGIN
from tests.support.env import make_settings
from tests.support.signin import SignIn


async def _creators(services: Services) -> list[str]:
    async with services.sessionmaker() as db:
        return sorted((await db.execute(select(Creator.whop_company_id))).scalars())


async def _audit(services: Services, kind: str) -> list[AuditEvent]:
    async with services.sessionmaker() as db:
        rows = await db.execute(select(AuditEvent).where(AuditEvent.kind == kind))
        return list(rows.scalars())


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/onboard", headers=BROWSER)
    assert page.status_code == 200, page.text[:300]
    found = CSRF_INPUT.search(page.text) or CSRF_INPUT.search(
        (await client.get("/dashboard", headers=BROWSER)).text
    )
    assert found is not None
    return found.group(1)


async def test_admin_sets_up_their_company_and_lands_on_its_creator_pages(
    client: httpx.AsyncClient, signin: SignIn, services: Services
) -> None:
    """Olga (admin of Other School) is offered "Set up Mentora for Other School", confirms,
    and lands on its creator pages; the addition is audited with her as the actor."""
    assert (await signin.sign_in(DEMO.other_admin_user_id)).status_code == 303
    offer = await client.get(f"/onboard?company_id={DEMO.other_company_id}", headers=BROWSER)
    assert offer.status_code == 200
    assert "Set up Mentora for Other School" in offer.text
    token = CSRF_INPUT.search(offer.text)
    assert token is not None
    done = await client.post(
        "/onboard",
        data={"csrf_token": token.group(1), "company_id": DEMO.other_company_id},
        headers=SAME_ORIGIN,
    )
    assert done.status_code == 303, done.text[:300]
    assert done.headers["location"] == f"/c/{DEMO.other_company_route}/creator"
    assert await _creators(services) == [DEMO.company_id, DEMO.other_company_id]
    pages = await client.get(done.headers["location"], headers=BROWSER)
    assert pages.status_code == 200 and "Other School" in pages.text
    (added,) = [
        e for e in await _audit(services, "sensitive_update") if e.reason == "creator_added"
    ]
    assert added.actor == DEMO.other_admin_user_id
    again = await client.get(f"/onboard?company_id={DEMO.other_company_id}", headers=BROWSER)
    assert again.status_code == 200 and f'href="/c/{DEMO.other_company_route}"' in again.text


async def test_non_admin_is_refused_with_403_and_audited(
    client: httpx.AsyncClient, signin: SignIn, services: Services
) -> None:
    """Otto (a member, not an admin) cannot set up Other School: 403, nothing created."""
    assert (await signin.sign_in(DEMO.other_member_user_id)).status_code == 303
    token = await _csrf(client)
    refused = await client.post(
        "/onboard",
        data={"csrf_token": token, "company_id": DEMO.other_company_id},
        headers={**SAME_ORIGIN, "accept": "text/html"},
    )
    assert refused.status_code == 403
    assert "Admins only" in refused.text
    assert await _creators(services) == [DEMO.company_id]
    reasons = [e.reason for e in await _audit(services, "authz_fail")]
    assert "onboarding_not_admin" in reasons


async def test_post_without_csrf_or_with_a_malformed_id_changes_nothing(
    client: httpx.AsyncClient, signin: SignIn, services: Services
) -> None:
    """No CSRF token: 403; a company id that is none: 400; neither creates a creator."""
    assert (await signin.sign_in(DEMO.other_admin_user_id)).status_code == 303
    forged = await client.post(
        "/onboard", data={"company_id": DEMO.other_company_id}, headers=SAME_ORIGIN
    )
    assert forged.status_code == 403
    token = await _csrf(client)
    for bad in ("", "other", "biz_" + "x" * 70, "biz_a;b", "<script>"):
        response = await client.post(
            "/onboard", data={"csrf_token": token, "company_id": bad}, headers=SAME_ORIGIN
        )
        assert response.status_code == 400, bad
    assert (await client.get("/onboard?company_id=nope", headers=BROWSER)).status_code == 400
    assert await _creators(services) == [DEMO.company_id]


async def test_onboarding_needs_a_session(client: httpx.AsyncClient) -> None:
    """Signed out: the page sends a browser to sign in; a POST is 401."""
    page = await client.get("/onboard", headers=BROWSER)
    assert page.status_code == 303 and page.headers["location"].startswith("/api/whop/auth")
    assert (await client.post("/onboard", headers=SAME_ORIGIN)).status_code == 401


class TestAllowlist:
    """CREATOR_ONBOARDING=allowlist: only listed companies, and Whop is not asked otherwise."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        """Only a company that is not Other School is allowlisted."""
        return make_settings(
            database_url,
            mail_dir=str(tmp_path / "mail"),
            creator_onboarding="allowlist",
            creator_onboarding_allowlist="biz_listed",
        )

    async def test_unlisted_company_is_refused_clearly(
        self, client: httpx.AsyncClient, signin: SignIn, services: Services
    ) -> None:
        """Olga is Other School's admin, but it is not on the list: 403 saying so."""
        assert (await signin.sign_in(DEMO.other_admin_user_id)).status_code == 303
        page = await client.get("/onboard", headers=BROWSER)
        assert 'href="/onboard?company_id=biz_listed"' in page.text
        token = await _csrf(client)
        refused = await client.post(
            "/onboard",
            data={"csrf_token": token, "company_id": DEMO.other_company_id},
            headers=SAME_ORIGIN,
        )
        assert refused.status_code == 403
        assert "Not open for this company" in refused.text
        assert await _creators(services) == [DEMO.company_id]


class TestClosed:
    """CREATOR_ONBOARDING=closed: nobody sets up a company through the page."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        """Onboarding closed."""
        return make_settings(
            database_url, mail_dir=str(tmp_path / "mail"), creator_onboarding="closed"
        )

    async def test_closed_refuses_even_an_admin(
        self, client: httpx.AsyncClient, signin: SignIn, services: Services
    ) -> None:
        """The page says it is turned off; a POST is 403; no offer on the dashboard."""
        assert (await signin.sign_in(DEMO.other_admin_user_id)).status_code == 303
        page = await client.get("/onboard", headers=BROWSER)
        assert 'id="onboard-closed"' in page.text
        token = await _csrf(client)
        refused = await client.post(
            "/onboard",
            data={"csrf_token": token, "company_id": DEMO.other_company_id},
            headers=SAME_ORIGIN,
        )
        assert refused.status_code == 403
        assert await _creators(services) == [DEMO.company_id]
        assert 'id="onboard-offer"' not in (await client.get("/dashboard", headers=BROWSER)).text


class TestRateLimit:
    """POST /onboard counts against RATELIMIT_ACCOUNT (each one may cost calls to Whop)."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        """Two posts a minute."""
        return make_settings(
            database_url, mail_dir=str(tmp_path / "mail"), ratelimit_account="2/minute"
        )

    async def test_third_post_in_a_minute_is_429(
        self, client: httpx.AsyncClient, signin: SignIn, services: Services
    ) -> None:
        """Two refused attempts, then 429 before Whop is asked again."""
        assert (await signin.sign_in(DEMO.other_member_user_id)).status_code == 303
        token = await _csrf(client)
        statuses = [
            (
                await client.post(
                    "/onboard",
                    data={"csrf_token": token, "company_id": DEMO.other_company_id},
                    headers=SAME_ORIGIN,
                )
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [403, 403, 429]
