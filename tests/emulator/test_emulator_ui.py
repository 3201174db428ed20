"""The HTML control page, the admin API's object creation, and reset."""

from __future__ import annotations

import httpx

from mentora.emulator import DEMO, Emulator

ADMIN = "/_emulator/admin"


async def test_home_page_lists_memberships_with_action_forms(whop: httpx.AsyncClient) -> None:
    """`/` shows every membership with POST forms for each action."""
    page = await whop.get("/")
    assert page.status_code == 200
    assert DEMO.member_membership_id in page.text
    for action in ("activate", "deactivate", "cancel"):
        form = f'action="/_emulator/ui/memberships/{DEMO.member_membership_id}/{action}"'
        assert form in page.text


async def test_ui_buttons_change_state_and_redirect_home(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """Deactivate then activate through the page: 303 back to `/`, events sent."""
    url = f"/_emulator/ui/memberships/{DEMO.member_membership_id}/deactivate"
    response = await whop.post(url)
    assert response.status_code == 303 and response.headers["location"].startswith("/?")
    assert not emu.state.memberships[DEMO.member_membership_id].valid
    await whop.post(f"/_emulator/ui/memberships/{DEMO.member_membership_id}/activate")
    assert [w.type for w in emu.state.webhooks] == [
        "membership.deactivated",
        "membership.activated",
    ]
    followed = await whop.get(response.headers["location"])
    assert "membership.deactivated" in followed.text


async def test_admin_creates_a_creator_world_and_reset_restores_the_seed(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """Users, companies, products and memberships can be created; reset goes back."""
    user = await whop.post(f"{ADMIN}/users", json={"id": "user_zed", "username": "zed"})
    assert user.status_code == 201
    company = await whop.post(
        f"{ADMIN}/companies",
        json={"id": "biz_zed", "name": "Zed School", "admin_user_ids": ["user_zed"]},
    )
    assert company.json()["route"] == "zed-school"
    product = await whop.post(
        f"{ADMIN}/products", json={"company_id": "biz_zed", "id": "prod_zed", "title": "Zed"}
    )
    assert product.status_code == 201
    membership = await whop.post(
        f"{ADMIN}/memberships", json={"user_id": DEMO.guest_user_id, "product_id": "prod_zed"}
    )
    assert membership.status_code == 201 and len(membership.json()["webhooks_sent"]) == 1
    duplicate = await whop.post(f"{ADMIN}/users", json={"id": "user_zed", "username": "zed"})
    assert duplicate.status_code == 409
    missing = await whop.post(f"{ADMIN}/products", json={"company_id": "biz_no", "title": "x"})
    assert missing.status_code == 404
    assert emu.state.access_level("user_zed", "prod_zed") == "admin"
    assert (await whop.post(f"{ADMIN}/reset")).json() == {"ok": True}
    assert "user_zed" not in emu.state.users
    assert DEMO.member_user_id in emu.state.users
