"""Embedded per experience: `/experiences/{exp_id}` serves the creator owning the experience.

Through the emulator: the experience is resolved to its company with Whop's experience
retrieve (cached), the company to an onboarded creator, and access is decided for that
creator with check access on the `exp_` id. Another creator's experience never serves the
first creator's content.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from mentora.access import experiences
from mentora.clock import FrozenClock
from mentora.db.models import Creator
from mentora.db.uow import transaction
from mentora.emulator import DEMO
from mentora.services import Services
from mentora.whop.errors import WhopNotFound, WhopUnavailable
from tests.access.helpers import audit_reasons, creator_id, seed
from tests.support.signin import SignIn

HEADER = "x-whop-user-token"
DEMO_EXP = DEMO.experience_id
OTHER_EXP = DEMO.other_experience_id
LOOKUP = "/api/v1/experiences/"
HTML = {"accept": "text/html"}


async def visit(
    client: httpx.AsyncClient,
    emulator: Any,
    user_id: str | None,
    experience_id: str,
    *,
    page: bool = False,
) -> httpx.Response:
    """GET an experience's JSON (or its page) as `user_id` through Whop's iframe proxy."""
    headers = {HEADER: emulator.mint_user_token(user_id)} if user_id else {}
    if page:
        headers.update(HTML)
    client.cookies.clear()
    path = f"/experiences/{experience_id}" + ("" if page else "/api/content")
    return await client.get(path, headers=headers)


async def onboard_other(services: Services) -> int:
    """Onboard Other School (biz_other) as a second creator."""
    return await creator_id(services, DEMO.other_company_id, DEMO.other_company_name)


async def test_member_gets_the_experience_creators_content(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """The demo member in Demo Academy's experience: its content, as JSON and as a page."""
    response = await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)
    assert response.status_code == 200, response.text
    assert response.json()["company_id"] == DEMO.company_id
    assert response.json()["creator"] == "Demo Academy"
    assert "set-cookie" not in response.headers
    page = await visit(client, emulator, DEMO.member_user_id, DEMO_EXP, page=True)
    assert page.status_code == 200
    assert '<span id="creator-name">Demo Academy</span>' in page.text  # the creator's header


async def test_second_creator_is_served_in_its_own_experience(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """Other School's member in Other School's experience gets Other School's content."""
    await onboard_other(services)
    response = await visit(client, emulator, DEMO.other_member_user_id, OTHER_EXP)
    assert response.status_code == 200, response.text
    assert response.json()["company_id"] == DEMO.other_company_id
    assert response.json()["creator"] == DEMO.other_company_name


@pytest.mark.parametrize(
    ("user_id", "home", "level", "experience_id"),
    [
        # Demo Academy's member at Other School, and the reverse.
        (DEMO.member_user_id, DEMO.company_id, "customer", OTHER_EXP),
        (DEMO.other_member_user_id, DEMO.other_company_id, "customer", DEMO_EXP),
        # Demo Academy's admin at Other School.
        (DEMO.creator_user_id, DEMO.company_id, "admin", OTHER_EXP),
    ],
)
async def test_a_member_of_one_creator_is_refused_in_anothers_experience(
    services: Services,
    client: httpx.AsyncClient,
    emulator: Any,
    user_id: str,
    home: str,
    level: str,
    experience_id: str,
) -> None:
    """A verified user of creator A (fresh local state there) in B's experience: refused, and
    nothing of either creator's content in the answer."""
    await onboard_other(services)
    product = DEMO.product_id if home == DEMO.company_id else DEMO.other_product_id
    await seed(
        services,
        user_id,
        level=level,
        company_id=home,
        memberships=[{"status": "active", "product_id": product}],
        session=False,
    )
    response = await visit(client, emulator, user_id, experience_id)
    assert response.status_code == 403, response.text
    body = response.text
    assert "company_id" not in body and "Demo Academy" not in body and "Other School" not in body
    page = await visit(client, emulator, user_id, experience_id, page=True)
    assert page.status_code == 403
    assert "access-denied" in page.text and "access-content" not in page.text
    assert len(await audit_reasons(services)) == 2


async def test_revalidation_asks_whop_about_the_experience(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """On first contact the gate asks check access on the exp_ id, not the company."""
    response = await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)
    assert response.status_code == 200
    assert emulator.call_count(f"/api/v1/users/{DEMO.member_user_id}/access/{DEMO_EXP}") == 1
    assert emulator.call_count(f"/api/v1/users/{DEMO.member_user_id}/access/biz_") == 0


async def test_unknown_experience_is_404_and_the_miss_is_remembered(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """A made-up exp id: 404 (Whop asked once); asked again only after the miss TTL."""
    for _ in range(3):
        response = await visit(client, emulator, DEMO.member_user_id, "exp_made_up")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert emulator.call_count(LOOKUP) == 1
    clock.advance(services.settings.experience_miss_cache_seconds + 1)
    await visit(client, emulator, DEMO.member_user_id, "exp_made_up")
    assert emulator.call_count(LOOKUP) == 2


@pytest.mark.parametrize(
    "experience_id",
    ["exp_", "biz_demo", "prod_demo", "EXP_demo", "exp_a.b", "exp_%2e%2e", "exp_" + "a" * 80],
)
async def test_malformed_experience_ids_are_404_unasked(
    services: Services, client: httpx.AsyncClient, emulator: Any, experience_id: str
) -> None:
    """Not an exp_ id of safe characters: 404 without a word to Whop."""
    response = await visit(client, emulator, DEMO.member_user_id, experience_id)
    assert response.status_code == 404
    assert emulator.call_count(LOOKUP) == 0


async def test_the_experience_is_cached_for_its_ttl(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """One experience retrieve per EXPERIENCE_CACHE_SECONDS, however many requests."""
    for _ in range(3):
        assert (await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)).status_code == 200
    assert emulator.call_count(LOOKUP) == 1
    clock.advance(services.settings.experience_cache_seconds + 1)
    assert (await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)).status_code == 200
    assert emulator.call_count(LOOKUP) == 2


async def test_whop_down_without_a_cached_experience_is_503(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """Whop cannot say which company owns the experience: "Whop unavailable", never content."""
    emulator.add_fault(LOOKUP, status=500)
    response = await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stale_whop_unreachable"
    page = await visit(client, emulator, DEMO.member_user_id, DEMO_EXP, page=True)
    assert page.status_code == 503 and "Whop unavailable" in page.text


async def test_whop_down_with_an_expired_entry_still_serves(
    services: Services, client: httpx.AsyncClient, emulator: Any, clock: FrozenClock
) -> None:
    """An experience never changes company: an expired entry serves while Whop is down."""
    await seed(services, DEMO.member_user_id, memberships=[{"status": "active"}], session=False)
    assert (await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)).status_code == 200
    clock.advance(services.settings.experience_cache_seconds + 1)
    emulator.add_fault(LOOKUP, status=503)
    response = await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)
    assert response.status_code == 200, response.text
    assert response.json()["company_id"] == DEMO.company_id
    assert emulator.call_count(LOOKUP) == 2  # asked again, failed, the expired entry served


async def test_not_onboarded_company_gets_a_clear_page(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """Other School is not onboarded: its member sees it named, without an onboarding link."""
    page = await visit(client, emulator, DEMO.other_member_user_id, OTHER_EXP, page=True)
    assert page.status_code == 404
    assert "Other School has not set up Mentora yet." in page.text
    assert "onboard-link" not in page.text
    api = await visit(client, emulator, DEMO.other_member_user_id, OTHER_EXP)
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "creator_not_onboarded"


async def test_not_onboarded_company_offers_onboarding_to_its_admin(
    services: Services, client: httpx.AsyncClient, emulator: Any, signin: SignIn
) -> None:
    """An admin of the company (Whop's check access on the exp_ id) gets the onboarding link,
    and the link, once signed in, is the onboarding offer for that company."""
    emulator.state.add_team_member(DEMO.other_company_id, DEMO.guest_user_id)
    page = await visit(client, emulator, DEMO.guest_user_id, OTHER_EXP, page=True)
    assert page.status_code == 404
    link = re.search(r'href="(/onboard\?[^"]+)"', page.text)
    assert link is not None and link.group(1) == f"/onboard?company_id={DEMO.other_company_id}"
    assert (await signin.sign_in(DEMO.guest_user_id)).status_code == 303
    offer = await client.get(link.group(1), headers={"accept": "text/html"})
    assert offer.status_code == 200
    assert "Set up Mentora for Other School" in offer.text


async def test_disabled_creator_is_refused_in_its_experience(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A disabled creator's experience refuses its own members (creator_disabled)."""
    async with transaction(services.sessionmaker, write=True) as db:
        await db.execute(
            update(Creator).where(Creator.whop_company_id == DEMO.company_id).values(enabled=False)
        )
    response = await visit(client, emulator, DEMO.member_user_id, DEMO_EXP)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "creator_disabled"


async def test_token_is_required_before_whop_is_asked(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """No or a junk user token: 401, and no experience lookup at Whop."""
    for headers in ({}, {HEADER: "junk"}):
        client.cookies.clear()
        response = await client.get(f"/experiences/{DEMO_EXP}/api/content", headers=headers)
        assert response.status_code == 401
    assert emulator.call_count(LOOKUP) == 0


async def test_legacy_embedded_route_still_serves_the_configured_creator(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """`/api/embed/content` keeps serving WHOP_COMPANY_ID's creator."""
    client.cookies.clear()
    token = emulator.mint_user_token(DEMO.member_user_id)
    response = await client.get("/api/embed/content", headers={HEADER: token})
    assert response.json()["company_id"] == DEMO.company_id


async def test_whop_client_reads_experiences_through_the_emulator(
    services: Services, emulator: Any
) -> None:
    """`WhopClient.retrieve_experience`: the company of a seeded experience; unknown →
    WhopNotFound; Whop failing → WhopUnavailable (our error tree, never an SDK exception)."""
    info = await services.whop.retrieve_experience(OTHER_EXP)
    assert (info.company_id, info.company_name) == (DEMO.other_company_id, "Other School")
    assert info.product_ids == (DEMO.other_product_id,)
    with pytest.raises(WhopNotFound):
        await services.whop.retrieve_experience("exp_made_up")
    emulator.add_fault(LOOKUP, status=502)
    with pytest.raises(WhopUnavailable):
        await services.whop.retrieve_experience(DEMO_EXP)


async def test_concurrent_lookups_ask_whop_once(services: Services, emulator: Any) -> None:
    """Ten requests for an experience not yet known: one experience retrieve between them."""
    found = await asyncio.gather(*(services.experiences.resolve(DEMO_EXP) for _ in range(10)))
    assert {info.company_id for info in found if info} == {DEMO.company_id}
    assert emulator.call_count(LOOKUP) == 1


async def test_the_directory_forgets_the_least_recently_used_past_its_cap(
    services: Services, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_ENTRIES the least recently used id goes (junk ids cannot grow memory)."""
    monkeypatch.setattr(experiences, "MAX_ENTRIES", 2)
    await services.experiences.resolve(DEMO_EXP)
    await services.experiences.resolve("exp_junk_1")
    await services.experiences.resolve(DEMO_EXP)  # used again: the junk one is older now
    await services.experiences.resolve("exp_junk_2")
    assert emulator.call_count(LOOKUP) == 3
    await services.experiences.resolve(DEMO_EXP)  # still remembered
    assert emulator.call_count(LOOKUP) == 3
    await services.experiences.resolve("exp_junk_1")  # forgotten: asked again
    assert emulator.call_count(LOOKUP) == 4
