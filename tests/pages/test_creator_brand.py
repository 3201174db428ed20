"""Pages rendered for a creator carry that creator's name and logo, never another creator's."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from mentora.db.models import Creator
from mentora.db.uow import transaction
from mentora.emulator import DEMO
from mentora.services import Services
from tests.pages.helpers import BROWSER, creator_id, person

OTHER_LOGO = "https://cdn.whop.test/logos/other.png"
DEMO_LOGO = "https://cdn.whop.test/logos/demo.png"


async def _brand(services: Services, company_id: str, name: str, logo: str | None) -> None:
    """Give a creator its Whop name and logo, as `creators refresh` stores them."""
    await creator_id(services, company_id)
    async with transaction(services.sessionmaker, write=True) as db:
        await db.execute(
            update(Creator)
            .where(Creator.whop_company_id == company_id)
            .values(name=name, logo_url=logo)
        )


async def _two_brands(services: Services) -> None:
    await _brand(services, DEMO.company_id, "Demo Academy", DEMO_LOGO)
    await _brand(services, DEMO.other_company_id, "Other School", OTHER_LOGO)


def _shows(page: httpx.Response, name: str, logo: str) -> None:
    """The header names the creator and shows its logo."""
    assert f'<span id="creator-name">{name}</span>' in page.text, page.text
    assert f'src="{logo}"' in page.text


SPACE = f"/c/{DEMO.other_company_id}"  # Other School's space (by id until Whop names a route)


@pytest.mark.parametrize("path", [SPACE, "/content"])
async def test_member_pages_carry_their_creators_name_and_logo(
    client: httpx.AsyncClient, services: Services, path: str
) -> None:
    """Each creator's pages carry its own name and logo: Other School's member in Other
    School's space, Demo Academy's member on the default creator's pages; never the other's."""
    await _two_brands(services)
    if path == SPACE:
        member = await person(services, "user_o", company_id=DEMO.other_company_id)
        own, other = ("Other School", OTHER_LOGO), ("Demo Academy", DEMO_LOGO)
    else:
        member = await person(services, "user_d")
        own, other = ("Demo Academy", DEMO_LOGO), ("Other School", OTHER_LOGO)
    page = await client.get(path, headers={**BROWSER, **member.cookie})
    assert page.status_code == 200
    _shows(page, *own)
    assert other[1] not in page.text and other[0] not in page.text


async def test_dashboard_lists_each_creator_with_its_logo_under_no_creators_header(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The dashboard is the user's, not one creator's: no creator header; each creator the
    user reaches is listed with its own logo, and nothing of a creator they cannot reach."""
    await _two_brands(services)
    member = await person(services, "user_o", company_id=DEMO.other_company_id)
    page = await client.get("/dashboard", headers={**BROWSER, **member.cookie})
    assert page.status_code == 200
    assert 'id="creator-brand"' not in page.text
    assert f'src="{OTHER_LOGO}"' in page.text and "Other School" in page.text
    assert DEMO_LOGO not in page.text and "Demo Academy" not in page.text


async def test_creator_pages_carry_the_creators_name_and_logo(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The creator's own pages (overview, students) show its name and logo."""
    await _two_brands(services)
    team = await person(services, "user_t", company_id=DEMO.other_company_id, level="admin")
    for path in (f"{SPACE}/creator", f"{SPACE}/creator/students"):
        page = await client.get(path, headers={**BROWSER, **team.cookie})
        assert page.status_code == 200, path
        _shows(page, "Other School", OTHER_LOGO)


async def test_refusal_page_carries_the_creators_name_and_logo(
    client: httpx.AsyncClient, services: Services
) -> None:
    """An expired member of Other School is refused under Other School's name and logo."""
    await _two_brands(services)
    member = await person(
        services, "user_x", company_id=DEMO.other_company_id, status="expired", level="no_access"
    )
    page = await client.get(SPACE, headers={**BROWSER, **member.cookie})
    assert page.status_code == 403
    assert 'id="access-denied"' in page.text
    _shows(page, "Other School", OTHER_LOGO)


@pytest.mark.parametrize(
    "logo", ["http://cdn.whop.test/logo.png", "javascript:alert(1)", "data:image/png;base64,AA"]
)
async def test_only_https_logos_are_shown(
    client: httpx.AsyncClient, services: Services, logo: str
) -> None:
    """A logo that is not an https URL is left out; the name still shows."""
    await _brand(services, DEMO.company_id, "Demo Academy", logo)
    member = await person(services, "user_h")
    page = await client.get("/content", headers={**BROWSER, **member.cookie})
    assert '<span id="creator-name">Demo Academy</span>' in page.text
    assert 'id="creator-logo"' not in page.text


async def test_pages_without_a_creator_have_no_creator_header(client: httpx.AsyncClient) -> None:
    """The landing page, signed out, names no creator."""
    page = await client.get("/", headers=BROWSER)
    assert 'id="creator-brand"' not in page.text
