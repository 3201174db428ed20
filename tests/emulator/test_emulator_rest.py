"""The REST API: auth, check access, memberships, and parsing by the official whop-sdk."""

from __future__ import annotations

import httpx
import pytest
from whop_sdk import AsyncWhop
from whop_sdk.environment import WhopEnvironment

from mentora.emulator import DEMO, Emulator
from tests.emulator.helpers import ISSUER, OAuthDriver

API_KEY = {"Authorization": "Bearer demo-api-key"}


async def test_rest_requires_a_bearer_credential(whop: httpx.AsyncClient) -> None:
    """No token or an unknown token is 401 in Whop's v1 error shape."""
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = await whop.get(f"/api/v1/users/{DEMO.member_user_id}", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("user_id", "resource_id", "level"),
    [
        (DEMO.member_user_id, DEMO.company_id, "customer"),
        (DEMO.member_user_id, DEMO.product_id, "customer"),
        (DEMO.guest_user_id, DEMO.company_id, "no_access"),
        (DEMO.creator_user_id, DEMO.company_id, "admin"),
        (DEMO.creator_user_id, DEMO.product_id, "admin"),
        (DEMO.member_user_id, DEMO.other_company_id, "no_access"),
        (DEMO.other_member_user_id, DEMO.other_company_id, "customer"),
    ],
)
async def test_check_access_levels(
    whop: httpx.AsyncClient, user_id: str, resource_id: str, level: str
) -> None:
    """Members are customers, guests have no access, the team is admin, per company."""
    response = await whop.get(f"/api/v1/users/{user_id}/access/{resource_id}", headers=API_KEY)
    assert response.json() == {"has_access": level != "no_access", "access_level": level}


async def test_access_follows_membership_status(whop: httpx.AsyncClient, emu: Emulator) -> None:
    """Expired loses access; past_due keeps it (Whop retries payment in that state)."""
    url = f"/api/v1/users/{DEMO.member_user_id}/access/{DEMO.company_id}"
    emu.set_membership_status(DEMO.member_membership_id, "past_due")
    assert (await whop.get(url, headers=API_KEY)).json()["has_access"] is True
    emu.set_membership_status(DEMO.member_membership_id, "expired")
    assert (await whop.get(url, headers=API_KEY)).json()["access_level"] == "no_access"


async def test_unknown_user_or_resource_is_404(whop: httpx.AsyncClient) -> None:
    """Unknown ids are 404 with a v1 error body."""
    r1 = await whop.get(f"/api/v1/users/user_nope/access/{DEMO.company_id}", headers=API_KEY)
    r2 = await whop.get(f"/api/v1/users/{DEMO.member_user_id}/access/biz_nope", headers=API_KEY)
    r3 = await whop.get("/api/v1/memberships/mem_nope", headers=API_KEY)
    assert [r.status_code for r in (r1, r2, r3)] == [404, 404, 404]
    assert r3.json()["error"]["type"] == "not_found_error"


async def test_users_me_with_a_user_access_token(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """/users/me answers for the token's user (with email when scoped); API keys get 403."""
    tokens = await oauth.sign_in(DEMO.member_user_id)
    me = await whop.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["id"] == DEMO.member_user_id
    assert me.json()["email"] == "ada@example.test"
    assert (await whop.get("/api/v1/users/me", headers=API_KEY)).status_code == 403


async def test_user_token_sees_only_reachable_memberships(
    whop: httpx.AsyncClient, oauth: OAuthDriver
) -> None:
    """A user token lists the user's own memberships; a creator's also covers their company."""
    member = await oauth.sign_in(DEMO.member_user_id)
    headers = {"Authorization": f"Bearer {member['access_token']}"}
    listed = (await whop.get("/api/v1/memberships", headers=headers)).json()["data"]
    assert [m["id"] for m in listed] == [DEMO.member_membership_id]
    other = await whop.get(f"/api/v1/memberships/{DEMO.other_membership_id}", headers=headers)
    assert other.status_code == 404
    creator = await oauth.sign_in(DEMO.creator_user_id)
    headers = {"Authorization": f"Bearer {creator['access_token']}"}
    listed = (await whop.get("/api/v1/memberships", headers=headers)).json()["data"]
    # The creator's token covers every membership at their company (Bea Both's too).
    assert sorted(m["id"] for m in listed) == sorted(
        [DEMO.member_membership_id, DEMO.both_demo_membership_id]
    )


async def test_memberships_pagination_and_filters(whop: httpx.AsyncClient, emu: Emulator) -> None:
    """`first`/`after` walk every page once; filters narrow by company, user and status."""
    created = []
    for index in range(7):
        user = emu.state.add_user(
            id=None,
            username=f"u{index}",
            name=f"U {index}",
            email=f"u{index}@x.test",
            now=emu.now(),
        )
        membership, _ = emu.lifecycle.create_membership(
            user_id=user.id, product_id=DEMO.product_id, emit=False
        )
        created.append(membership.id)
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"company_id": DEMO.company_id, "first": "3", "direction": "asc"}
        if after:
            params["after"] = after
        body = (await whop.get("/api/v1/memberships", params=params, headers=API_KEY)).json()
        pages += 1
        seen += [m["id"] for m in body["data"]]
        if not body["page_info"]["has_next_page"]:
            assert body["page_info"]["end_cursor"] is None
            break
        after = body["page_info"]["end_cursor"]
    assert pages == 3
    assert seen == [DEMO.member_membership_id, DEMO.both_demo_membership_id, *created]

    emu.set_membership_status(created[0], "canceled")
    by_status = await whop.get(
        "/api/v1/memberships",
        params=[("statuses", "canceled"), ("statuses", "expired")],
        headers=API_KEY,
    )
    assert [m["id"] for m in by_status.json()["data"]] == [created[0]]
    by_user = await whop.get(
        "/api/v1/memberships", params={"user_ids[]": DEMO.other_member_user_id}, headers=API_KEY
    )
    assert [m["id"] for m in by_user.json()["data"]] == [DEMO.other_membership_id]
    capped = await whop.get("/api/v1/memberships", params={"first": "500"}, headers=API_KEY)
    assert len(capped.json()["data"]) == 11


async def test_official_sdk_parses_the_emulator(emu: Emulator) -> None:
    """whop-sdk 2.6.0's own models accept users, access checks and memberships as served."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app))
    sdk = AsyncWhop(
        token="demo-api-key",
        environment=WhopEnvironment(api=f"{ISSUER}/api/v1", vault=f"{ISSUER}/api/v1"),
        httpx_client=http,
        max_retries=0,
    )
    access = await sdk.users.check_access(DEMO.creator_user_id, DEMO.company_id)
    assert access.access_level == "admin" and access.has_access is True
    user = await sdk.users.retrieve(DEMO.member_user_id)
    assert user.username == "ada" and user.profile_picture.url
    membership = await sdk.memberships.retrieve(DEMO.member_membership_id)
    assert membership.status == "active"
    assert membership.account.id == DEMO.company_id
    assert membership.product.id == DEMO.product_id
    assert membership.initial_price.currency == "usd"
    pager = await sdk.memberships.list(account_id=DEMO.company_id, first=10)
    assert sorted(m.id for m in pager.items or []) == sorted(
        [DEMO.member_membership_id, DEMO.both_demo_membership_id]
    )
    everything = [m.id async for m in await sdk.memberships.list(first=1)]
    assert sorted(everything) == sorted(
        [
            DEMO.member_membership_id,
            DEMO.other_membership_id,
            DEMO.both_demo_membership_id,
            DEMO.both_other_membership_id,
        ]
    )
    await http.aclose()
