"""Creators are named as Whop names them (company retrieve), not by their `biz_` id: at
`mentora db upgrade`, at sync and on demand (`mentora creators refresh`)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.creators import ensure_configured_creator, ensure_creator, refresh_profiles
from mentora.db.models import Creator, OutboxMessage
from mentora.db.uow import transaction
from mentora.emulator import DEMO, Emulator
from mentora.services import Services, build_services
from mentora.usecases.sync import reconcile
from tests.hardening.helpers import ScriptedTransport, run_cli
from tests.pages.helpers import BROWSER, person
from tests.support.served import whop  # noqa: F401 - a fixture


async def _creators(services: Services) -> dict[str, tuple[str, str | None, str | None]]:
    """Every creator: company id → (name, route, logo)."""
    async with services.sessionmaker() as db:
        rows = await db.scalars(select(Creator))
        return {c.whop_company_id: (c.name, c.route, c.logo_url) for c in rows}


async def _name_by_id(services: Services, company_id: str) -> None:
    """Make a creator as `mentora db upgrade` left it before: named by its raw company id."""
    async with transaction(services.sessionmaker, write=True) as db:
        creator = await ensure_creator(
            db, company_id=company_id, name=company_id, clock=services.clock
        )
        creator.name = company_id


async def test_sync_names_creators_from_whop(services: Services) -> None:
    """A sync run reads every creator's title, route and logo from Whop's company retrieve."""
    await _name_by_id(services, DEMO.company_id)
    await _name_by_id(services, DEMO.other_company_id)
    result = await reconcile(services, trigger="manual")
    assert result.outcome == "ok", result.report
    assert await _creators(services) == {
        DEMO.company_id: (DEMO.company_name, DEMO.company_route, DEMO.company_logo_url),
        DEMO.other_company_id: (DEMO.other_company_name, "other-school", None),
    }
    assert result.report.as_json()["profile_errors"] == {}


async def test_sync_without_company_permission_keeps_the_name_and_reports_it(
    services: Services, emulator: Emulator
) -> None:
    """An API key lacking company:basic:read does not fail the sync: the stored name stays
    and the report says which company Whop would not describe, and why."""
    emulator.state.denied_permissions = {"company:basic:read"}
    await _name_by_id(services, DEMO.company_id)
    result = await reconcile(services, trigger="manual")
    assert result.outcome == "ok"
    assert (await _creators(services))[DEMO.company_id][0] == DEMO.company_id
    assert result.report.profile_errors == {DEMO.company_id: "whop_permission_denied: whop 403"}


async def test_receipt_names_the_creator_not_its_company_id(
    services: Services, emulator: Emulator, app: Any
) -> None:
    """After a refresh, a payment receipt reads "Payment received for Demo Academy"."""
    await _name_by_id(services, DEMO.company_id)
    assert [r.name for r in await refresh_profiles(services)] == [DEMO.company_name]
    emulator.trigger("membership.activated", user_id=DEMO.member_user_id)
    emulator.trigger("payment.succeeded", user_id=DEMO.member_user_id)
    await emulator.flush_webhooks()
    async with services.sessionmaker() as db:
        subjects = list(await db.scalars(select(OutboxMessage.subject)))
    assert f"Payment received for {DEMO.company_name}" in subjects
    assert not any(DEMO.company_id in subject for subject in subjects)


async def test_db_upgrade_names_the_configured_creator(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, database_url: str
) -> None:
    """`mentora db upgrade` outside `mentora dev` names the creator as Whop does."""
    _, env = whop
    done = await run_cli(clock, database_url, "db", "upgrade", **env)
    assert done.exit_code == 0, done.output
    assert f"creator {DEMO.company_id}: {DEMO.company_name}" in done.stdout
    listed = await run_cli(clock, database_url, "creators", "refresh", "--json", **env)
    assert listed.exit_code == 0, listed.output
    assert '"name": "Demo Academy"' in listed.stdout


async def test_creators_refresh_on_demand_says_when_whop_refuses(
    whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, database_url: str
) -> None:
    """`mentora creators refresh` with a key lacking company:basic:read: the name is kept,
    the line says why, exit 1; `db upgrade` still succeeds with a warning."""
    emu, env = whop
    emu.state.denied_permissions = {"company:basic:read"}
    upgraded = await run_cli(clock, database_url, "db", "upgrade", **env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "mentora creators refresh" in upgraded.stderr
    refused = await run_cli(clock, database_url, "creators", "refresh", **env)
    assert refused.exit_code == 1
    assert refused.stdout.strip() == (
        f"{DEMO.company_id}: kept '{DEMO.company_id}'; Whop: whop_permission_denied: whop 403"
    )


async def test_a_one_user_sync_does_not_ask_for_names(
    services: Services, emulator: Emulator
) -> None:
    """The sync run at each sign-in (one user) adds no company retrieve to Whop."""
    await _name_by_id(services, DEMO.company_id)
    result = await reconcile(services, trigger="signin", user_id=DEMO.member_user_id)
    assert result.outcome == "ok"
    assert emulator.call_count("/api/v1/accounts/") == 0
    assert (await _creators(services))[DEMO.company_id][0] == DEMO.company_id


async def test_sync_survives_a_company_answer_off_whop_sdks_model(
    settings: Settings, clock: FrozenClock, emulator: Emulator
) -> None:
    """A company answer whop-sdk's strict model refuses (its ParsingError) is a bad response
    from Whop: the run ends `ok`, the name is kept, the report says why."""
    off_model = httpx.Response(200, json={"id": DEMO.company_id, "title": "Renamed"})
    transport = ScriptedTransport(
        inner=httpx.ASGITransport(app=emulator.app),
        rules={"/api/v1/accounts/": lambda request: off_model},
    )
    services = build_services(settings, clock=clock, transport=transport)
    try:
        await ensure_configured_creator(services)
        result = await reconcile(services, trigger="manual")
        assert result.outcome == "ok"
        assert result.report.profile_errors == {
            DEMO.company_id: "whop_bad_response: unparseable whop response: ParsingError"
        }
        assert (await _creators(services))[DEMO.company_id][0] == DEMO.company_id
    finally:
        await services.aclose()


async def test_creator_pages_show_whops_name_and_route_not_the_company_id(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Once Whop has named the creator, its pages show the name and route, never `biz_…`."""
    await _name_by_id(services, DEMO.company_id)
    await refresh_profiles(services)
    team = await person(services, DEMO.creator_user_id, level="admin", status=None)
    for path in ("/creator", "/creator/students", "/creator/deliveries", "/creator/audit"):
        page = await client.get(path, headers={**BROWSER, **team.cookie})
        assert page.status_code == 200, path
        assert f"{DEMO.company_name} · " in page.text and DEMO.company_route in page.text
        assert DEMO.company_id not in page.text, path
