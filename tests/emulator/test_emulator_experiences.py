"""Experiences: `GET /experiences/{id}` in whop-sdk's shape, check access on `exp_` ids, and
the admin API and CLI that create companies, teams and experiences."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from whop_sdk import AsyncWhop
from whop_sdk.environment import WhopEnvironment

from mentora.cli.emulator_tenants import emulator_app
from mentora.emulator import DEMO, Emulator
from tests.emulator.helpers import ISSUER
from tests.emulator.test_emulator_cli import served  # noqa: F401  (fixture)

API_KEY = {"Authorization": "Bearer demo-api-key"}
ADMIN = "/_emulator/admin"
OTHER = DEMO.other_product_id


async def _level(whop: httpx.AsyncClient, user_id: str, resource_id: str) -> Any:
    """Check access as the app would, returning the JSON answer."""
    response = await whop.get(f"/api/v1/users/{user_id}/access/{resource_id}", headers=API_KEY)
    assert response.status_code == 200, response.text
    return response.json()


async def test_seed_has_one_experience_per_company(whop: httpx.AsyncClient) -> None:
    """exp_demo_academy belongs to biz_demo, exp_other_school to biz_other."""
    one = (await whop.get(f"/api/v1/experiences/{DEMO.experience_id}", headers=API_KEY)).json()
    other = await whop.get(f"/api/v1/experiences/{DEMO.other_experience_id}", headers=API_KEY)
    assert (one["name"], one["company"]) == (
        "Demo Academy Lessons",
        {"id": DEMO.company_id, "title": DEMO.company_name, "route": DEMO.company_route},
    )
    assert [p["id"] for p in one["products"]] == [DEMO.product_id]
    assert one["app"]["id"] == "app_demo"
    assert other.json()["company"]["id"] == DEMO.other_company_id
    assert other.json()["name"] == "Other School Lessons"


async def test_experience_retrieve_needs_a_credential_and_a_known_id(
    whop: httpx.AsyncClient,
) -> None:
    """No bearer → 401; an unknown id → 404 in Whop's error shape."""
    anonymous = await whop.get(f"/api/v1/experiences/{DEMO.experience_id}")
    unknown = await whop.get("/api/v1/experiences/exp_nope", headers=API_KEY)
    assert anonymous.status_code == 401
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("user_id", "experience_id", "level"),
    [
        (DEMO.member_user_id, DEMO.experience_id, "customer"),
        (DEMO.member_user_id, DEMO.other_experience_id, "no_access"),
        (DEMO.other_member_user_id, DEMO.other_experience_id, "customer"),
        (DEMO.other_member_user_id, DEMO.experience_id, "no_access"),
        (DEMO.creator_user_id, DEMO.experience_id, "admin"),
        (DEMO.creator_user_id, DEMO.other_experience_id, "no_access"),
        (DEMO.guest_user_id, DEMO.experience_id, "no_access"),
    ],
)
async def test_check_access_on_experiences(
    whop: httpx.AsyncClient, user_id: str, experience_id: str, level: str
) -> None:
    """Members of the company's products are customers, its team admins, others nothing."""
    answer = await _level(whop, user_id, experience_id)
    assert answer == {"has_access": level != "no_access", "access_level": level}


async def test_experience_access_follows_status_and_products(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """An expired membership loses the experience; one attached to another product does not
    grant to members of the first."""
    emu.set_membership_status(DEMO.member_membership_id, "expired")
    assert (await _level(whop, DEMO.member_user_id, DEMO.experience_id))["has_access"] is False
    emu.set_membership_status(DEMO.member_membership_id, "active")
    product = await whop.post(
        f"{ADMIN}/products", json={"company_id": DEMO.company_id, "title": "Masterclass"}
    )
    created = await whop.post(
        f"{ADMIN}/experiences",
        json={
            "company_id": DEMO.company_id,
            "name": "Masterclass room",
            "id": "exp_masterclass",
            "product_ids": [product.json()["id"]],
        },
    )
    assert created.status_code == 201, created.text
    answer = await _level(whop, DEMO.member_user_id, "exp_masterclass")
    assert answer["access_level"] == "no_access"
    shown = (await whop.get("/api/v1/experiences/exp_masterclass", headers=API_KEY)).json()
    assert [p["title"] for p in shown["products"]] == ["Masterclass"]


async def test_admin_api_builds_a_creator_world(whop: httpx.AsyncClient) -> None:
    """Create a company, put a user on its team, create its experience: check access agrees."""
    company = await whop.post(f"{ADMIN}/companies", json={"name": "Third Class", "id": "biz_3"})
    assert company.status_code == 201
    team = await whop.post(f"{ADMIN}/companies/biz_3/team", json={"user_id": DEMO.guest_user_id})
    assert team.json()["admin_user_ids"] == [DEMO.guest_user_id]
    again = await whop.post(f"{ADMIN}/companies/biz_3/team", json={"user_id": DEMO.guest_user_id})
    assert again.json()["admin_user_ids"] == [DEMO.guest_user_id]  # idempotent
    made = await whop.post(f"{ADMIN}/experiences", json={"company_id": "biz_3", "name": "Room"})
    exp_id = made.json()["id"]
    assert exp_id.startswith("exp_")
    assert (await _level(whop, DEMO.guest_user_id, exp_id))["access_level"] == "admin"
    assert (await _level(whop, DEMO.guest_user_id, "biz_3"))["access_level"] == "admin"
    listed = (await whop.get(f"{ADMIN}/experiences")).json()["data"]
    assert exp_id in [e["id"] for e in listed]
    assert (await whop.get(f"{ADMIN}/experiences/{exp_id}")).json()["company_id"] == "biz_3"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/companies/biz_nope/team", {"user_id": DEMO.guest_user_id}, 404),
        ("/companies/biz_demo/team", {"user_id": "user_nope"}, 404),
        ("/companies/biz_demo/team", {}, 400),
        ("/companies/biz_demo/team", {"user_id": 7}, 400),
        ("/experiences", {"company_id": "biz_nope", "name": "x"}, 404),
        ("/experiences", {"company_id": "biz_demo"}, 400),
        ("/experiences", {"company_id": "biz_demo", "name": "x", "id": "prod_x"}, 400),
        ("/experiences", {"company_id": "biz_demo", "name": "x", "id": DEMO.experience_id}, 409),
        ("/experiences", {"company_id": "biz_demo", "name": "x", "product_ids": "p"}, 400),
        ("/experiences", {"company_id": "biz_demo", "name": "x", "product_ids": [OTHER]}, 404),
    ],
)
async def test_admin_api_refuses_bad_requests(
    whop: httpx.AsyncClient, path: str, body: dict[str, Any], status: int
) -> None:
    """Unknown companies, users or products, missing fields and wrong types: clear 4xx."""
    response = await whop.post(f"{ADMIN}{path}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    unknown = await whop.get(f"{ADMIN}/experiences/exp_nope")
    assert unknown.status_code == 404


async def test_reset_restores_the_seeded_experiences(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """Reset forgets created experiences and brings back the seeded ones."""
    await whop.post(f"{ADMIN}/experiences", json={"company_id": "biz_demo", "name": "Temp"})
    await emu.reset()
    assert sorted(emu.state.experiences) == sorted([DEMO.experience_id, DEMO.other_experience_id])


async def test_official_sdk_parses_experiences(emu: Emulator) -> None:
    """whop-sdk's `experiences.retrieve` and `users.check_access` accept what is served."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app)) as http:
        sdk = AsyncWhop(
            token="demo-api-key",
            environment=WhopEnvironment(api=f"{ISSUER}/api/v1", vault=f"{ISSUER}/api/v1"),
            httpx_client=http,
            max_retries=0,
        )
        experience = await sdk.experiences.retrieve(DEMO.other_experience_id)
        assert experience.company.id == DEMO.other_company_id
        assert experience.company.title == DEMO.other_company_name
        assert [p.id for p in experience.products] == [DEMO.other_product_id]
        access = await sdk.users.check_access(DEMO.member_user_id, DEMO.experience_id)
        assert access.has_access is True and access.access_level == "customer"


def test_cli_creates_companies_teams_and_experiences(served: tuple[str, Emulator]) -> None:
    """`mentora emulator company add|add-admin`, `experience add`, `companies`, `experiences`."""
    url, emu = served
    runner = CliRunner()

    def run(*args: str) -> str:
        """Invoke the CLI against the served emulator and return stdout."""
        result = runner.invoke(emulator_app, [*args, "--url", url])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "created biz_cli (CLI School)" in run("company", "add", "CLI School", "--id", "biz_cli")
    assert DEMO.guest_user_id in run("company", "add-admin", "biz_cli", DEMO.guest_user_id)
    made = run("experience", "add", "biz_cli", "CLI Room", "--id", "exp_cli")
    assert "created exp_cli (CLI Room) in biz_cli" in made
    assert "biz_cli" in run("companies")
    assert "exp_cli" in run("experiences")
    assert emu.state.access_level(DEMO.guest_user_id, "exp_cli") == "admin"
    refused = runner.invoke(emulator_app, ["experience", "add", "biz_nope", "X", "--url", url])
    assert refused.exit_code == 2
    assert "unknown company biz_nope" in refused.output


async def test_control_page_lists_experiences(whop: httpx.AsyncClient) -> None:
    """The control page shows each experience with its company."""
    page = await whop.get("/")
    assert f"<code>{DEMO.other_experience_id}</code></td><td>Other School Lessons</td>" in page.text
