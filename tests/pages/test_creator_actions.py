"""The creator's buttons: replay, reprocess and sync need the CSRF token (X01), do their work,
and leave `authz_admin` audit events the audit page shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mentora.db.models import Membership, SyncRun
from mentora.db.uow import transaction
from mentora.services import Services
from tests.pages.helpers import (
    BROWSER,
    SAME_ORIGIN,
    Person,
    csrf_from,
    delivery,
    delivery_status,
    events,
    membership_body,
    person,
)

ACTIONS = ["/creator/deliveries/replay", "/creator/deliveries/reprocess", "/creator/sync"]


async def _team(client: httpx.AsyncClient, services: Services) -> tuple[Person, str]:
    team = await person(services, "user_demo_creator", level="admin", status=None)
    return team, await csrf_from(client, "/creator/deliveries", team.cookie)


@pytest.mark.parametrize("path", ACTIONS)
async def test_x01_creator_actions_need_the_sessions_csrf_token(
    client: httpx.AsyncClient, services: Services, path: str
) -> None:
    """No token, another session's token, a cross-site or foreign-origin request: 403 each,
    one `malicious_csrf` event each, and nothing replayed or synced."""
    team, token = await _team(client, services)
    other = await person(services, "user_other_admin", level="admin", status=None)
    theirs = await csrf_from(client, "/creator", other.cookie)
    await delivery(services, "msg_dead", status="dead")
    form = {"webhook_id": "msg_dead"}
    attacks: list[dict[str, Any]] = [
        {"data": form, "headers": SAME_ORIGIN},
        {"data": {**form, "csrf_token": theirs}, "headers": SAME_ORIGIN},
        {"data": {**form, "csrf_token": token}, "headers": {"sec-fetch-site": "cross-site"}},
        {"data": {**form, "csrf_token": token}, "headers": {"origin": "https://evil.test"}},
    ]
    for n, attack in enumerate(attacks, start=1):
        refused = await client.post(
            path, data=attack["data"], headers={**attack["headers"], **team.cookie}
        )
        assert refused.status_code == 403, (n, refused.text[:300])
        assert len(await events(services, "malicious_csrf")) == n
    assert await delivery_status(services, "msg_dead") == "dead"
    assert await events(services, "authz_admin") == []
    async with services.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(SyncRun))).scalar_one() == 0
    done = await client.post(
        path, data={**form, "csrf_token": token}, headers={**SAME_ORIGIN, **team.cookie}
    )
    assert done.status_code == 303, done.text[:300]


async def test_replay_button_processes_a_dead_delivery_and_the_audit_page_shows_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A dead delivery replayed from the page is applied (the membership appears) and the
    audit trail names the team member who replayed it and the membership it changed."""
    team, token = await _team(client, services)
    await delivery(
        services,
        "msg_dead",
        status="dead",
        attempts=8,
        body=membership_body("mem_late", user_id="user_late"),
        last_error="OperationalError: database is locked",
    )
    response = await client.post(
        "/creator/deliveries/replay",
        data={"csrf_token": token, "webhook_id": "msg_dead"},
        headers={**SAME_ORIGIN, **team.cookie},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/creator/deliveries?q=msg_dead&notice=replayed"
    assert await delivery_status(services, "msg_dead") == "processed"
    page = await client.get(response.headers["location"], headers={**BROWSER, **team.cookie})
    assert "processed again" in page.text and 'data-status="processed"' in page.text
    (event,) = await events(services, "authz_admin")
    assert (event.reason, event.subject, event.actor) == (
        "webhook_replay",
        "msg_dead",
        "user_demo_creator",
    )
    assert event.details == {"result": "processed"} and event.creator_id == team.creator_id
    audit = await client.get("/creator/audit", headers={**BROWSER, **team.cookie})
    assert 'data-kind="authz_admin" data-reason="webhook_replay"' in audit.text
    assert 'data-kind="membership_changed" data-reason="granted"' in audit.text
    assert "mem_late" in audit.text


async def test_replaying_a_still_broken_delivery_says_so(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A delivery whose payload still cannot be applied fails again: the notice says so and the
    audit event records a failure with the new status."""
    team, token = await _team(client, services)
    broken = '{"id":"evt_1","api_version":"v1","type":"membership.activated","data":{"id":"m"}}'
    await delivery(services, "msg_broken", status="dead", body=broken)
    response = await client.post(
        "/creator/deliveries/replay",
        data={"csrf_token": token, "webhook_id": "msg_broken"},
        headers={**SAME_ORIGIN, **team.cookie},
    )
    assert response.headers["location"].endswith("notice=replay_failed")
    assert await delivery_status(services, "msg_broken") == "failed"
    page = await client.get(response.headers["location"], headers={**BROWSER, **team.cookie})
    assert "failed again" in page.text and "no status" in page.text
    (event,) = await events(services, "authz_admin")
    assert (event.outcome, event.details) == ("failure", {"result": "failed"})


@pytest.mark.parametrize("webhook_id", ["", "a.b", "x" * 129, "msg_unknown"])
async def test_replay_of_a_malformed_or_unknown_id_is_refused(
    client: httpx.AsyncClient, services: Services, webhook_id: str
) -> None:
    """A malformed webhook id is a 400, an unknown one a 404; never a 500."""
    team, token = await _team(client, services)
    response = await client.post(
        "/creator/deliveries/replay",
        data={"csrf_token": token, "webhook_id": webhook_id},
        headers={**SAME_ORIGIN, **team.cookie},
    )
    assert response.status_code == (404 if webhook_id in ("", "msg_unknown") else 400)


async def test_reprocess_replays_failed_and_dead_deliveries_oldest_first(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Reprocess applies every failed and dead delivery of the creator and leaves processed
    ones alone; one audit event counts the results."""
    team, token = await _team(client, services)
    for n, status in enumerate(["dead", "failed", "dead"]):
        await delivery(
            services,
            f"msg_{n}",
            status=status,
            body=membership_body(f"mem_{n}", user_id=f"user_{n}"),
            received_ago=100 - n,
        )
    await delivery(services, "msg_ok", status="processed")
    response = await client.post(
        "/creator/deliveries/reprocess",
        data={"csrf_token": token},
        headers={**SAME_ORIGIN, **team.cookie},
    )
    assert response.headers["location"] == "/creator/deliveries?notice=reprocessed"
    assert [await delivery_status(services, f"msg_{n}") for n in range(3)] == ["processed"] * 3
    (event,) = await events(services, "authz_admin")
    assert event.reason == "webhook_reprocess"
    assert event.details == {"replayed": 3, "results": {"processed": 3}}
    again = await client.post(
        "/creator/deliveries/reprocess",
        data={"csrf_token": token},
        headers={**SAME_ORIGIN, **team.cookie},
    )
    assert again.headers["location"].endswith("notice=nothing_to_reprocess")


async def test_sync_button_reconciles_and_the_overview_shows_the_report(
    client: httpx.AsyncClient, services: Services, emulator: Any
) -> None:
    """Local state says active, Whop says expired (a lost webhook): the sync button corrects
    it and the overview lists the correction; the action is audited."""
    team, token = await _team(client, services)
    await person(services, "user_demo_member", session=False)
    async with transaction(services.sessionmaker, write=True) as db:
        row = (
            await db.execute(
                select(Membership).where(Membership.whop_user_id == "user_demo_member")
            )
        ).scalar_one()
        row.whop_membership_id = "mem_demo_member"
        row.source_updated_at = services.clock.now() - timedelta(days=2)
    emulator.state.memberships["mem_demo_member"].status = "expired"  # no webhook: it was lost
    response = await client.post(
        "/creator/sync", data={"csrf_token": token}, headers={**SAME_ORIGIN, **team.cookie}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/creator?notice=sync_ok#sync"
    page = await client.get("/creator?notice=sync_ok", headers={**BROWSER, **team.cookie})
    assert 'id="sync-outcome">ok<' in page.text
    assert 'id="sync-corrections">1<' in page.text
    assert "mem_demo_member" in page.text and "expired" in page.text
    assert "Sync finished" in page.text
    (event,) = await events(services, "authz_admin")
    assert event.reason == "sync_run" and event.details["result"] == "ok"


async def test_sync_button_waits_for_a_run_in_progress(
    client: httpx.AsyncClient, services: Services
) -> None:
    """While a scheduled run is in progress the button starts no second one."""
    team, token = await _team(client, services)
    async with transaction(services.sessionmaker, write=True) as db:
        db.add(SyncRun(started_at=services.clock.now(), trigger="schedule", outcome="running"))
    response = await client.post(
        "/creator/sync", data={"csrf_token": token}, headers={**SAME_ORIGIN, **team.cookie}
    )
    assert response.headers["location"] == "/creator?notice=sync_busy#sync"
    async with services.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(SyncRun))).scalar_one() == 1
