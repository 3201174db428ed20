"""Company retrieve (`GET /accounts/{id}`) and API-key permissions that can be denied (403)."""

from __future__ import annotations

import httpx
import pytest
from whop_sdk import AsyncWhop
from whop_sdk.core.api_error import ApiError
from whop_sdk.environment import WhopEnvironment

from mentora.emulator import DEMO, Emulator
from tests.emulator.helpers import ISSUER

API_KEY = {"Authorization": "Bearer demo-api-key"}


def _sdk(emu: Emulator) -> AsyncWhop:
    """whop-sdk 2.6.0 pointed at the in-process emulator with the API key."""
    return AsyncWhop(
        token="demo-api-key",
        environment=WhopEnvironment(api=f"{ISSUER}/api/v1", vault=f"{ISSUER}/api/v1"),
        httpx_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app)),
        max_retries=0,
    )


async def test_official_sdk_parses_company_retrieve_by_id_and_route(emu: Emulator) -> None:
    """whop-sdk's strict Account model accepts the answer; the route finds the same company."""
    sdk = _sdk(emu)
    for key in (DEMO.company_id, DEMO.company_route):
        account = await sdk.accounts.retrieve(key)
        assert (account.id, account.title, account.route, account.logo_url) == (
            DEMO.company_id,
            DEMO.company_name,
            DEMO.company_route,
            DEMO.company_logo_url,
        )
    other = await sdk.accounts.retrieve(DEMO.other_company_id)
    assert other.title == DEMO.other_company_name and other.owner.id


async def test_unknown_company_is_404(whop: httpx.AsyncClient) -> None:
    """A company that does not exist answers 404 in Whop's v1 error shape."""
    response = await whop.get("/api/v1/accounts/biz_missing", headers=API_KEY)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("permission", "path"),
    [
        ("member:basic:read", "/api/v1/memberships?company_id=biz_demo"),
        ("member:basic:read", f"/api/v1/memberships/{DEMO.member_membership_id}"),
        ("company:basic:read", f"/api/v1/accounts/{DEMO.company_id}"),
    ],
)
async def test_a_denied_permission_is_403_naming_it(
    whop: httpx.AsyncClient, emu: Emulator, permission: str, path: str
) -> None:
    """Each read needing a denied permission answers 403 `permission_error` naming it; the
    other reads still work."""
    admin = await whop.post("/_emulator/admin/api-key/permissions", json={"denied": [permission]})
    assert admin.json() == {
        "granted": sorted({"member:basic:read", "company:basic:read"} - {permission}),
        "denied": [permission],
    }
    refused = await whop.get(path, headers=API_KEY)
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "permission_error"
    assert permission in refused.json()["error"]["message"]
    access = await whop.get(
        f"/api/v1/users/{DEMO.member_user_id}/access/{DEMO.company_id}", headers=API_KEY
    )
    assert access.status_code == 200


async def test_sdk_sees_a_denied_permission_as_403(emu: Emulator) -> None:
    """The official SDK raises its ApiError with status 403, as against Whop."""
    emu.state.denied_permissions = {"company:basic:read"}
    with pytest.raises(ApiError) as err:
        await _sdk(emu).accounts.retrieve(DEMO.company_id)
    assert err.value.status_code == 403


async def test_permissions_reject_unknown_names_and_reset_restores(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """An unknown permission name is a 400; reset gives the key back every permission."""
    bad = await whop.post("/_emulator/admin/api-key/permissions", json={"denied": ["nope:x"]})
    assert bad.status_code == 400 and "nope:x" in bad.json()["error"]["message"]
    await whop.post("/_emulator/admin/api-key/permissions", json={"denied": ["member:basic:read"]})
    await whop.post("/_emulator/admin/reset")
    listed = await whop.get("/_emulator/admin/api-key/permissions")
    assert listed.json()["denied"] == []
