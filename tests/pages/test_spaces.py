"""Creator spaces (`/c/{route}`): every page and action decides for the creator of its path,
and another creator's path or ids give 403 or 404, never data."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import update

from mentora.db.models import Creator, Student, SyncRun
from mentora.db.uow import transaction
from mentora.services import Services
from mentora.usecases.sync import reconcile
from tests.pages.helpers import (
    BROWSER,
    SAME_ORIGIN,
    Person,
    audit_event,
    creator_id,
    csrf_from,
    delivery,
    delivery_status,
    events,
    person,
)

DEMO_SPACE = "/c/biz_demo"
OTHER_SPACE = "/c/biz_other"
PAGES = ["/creator", "/creator/students", "/creator/deliveries", "/creator/audit"]
ACTIONS = ["/creator/deliveries/replay", "/creator/deliveries/reprocess", "/creator/sync"]
OTHER_SECRETS = ("Olga Other", "o@o.test", "msg_other", "secret", "user_other_student")


def _cookie(who: Person) -> dict[str, str]:
    return {**BROWSER, "cookie": f"__Host-mentora_session={who.token}"}


async def _two_creators(services: Services) -> tuple[Person, Person]:
    """Demo's team member, Other School's team member, and rows of each school: a student,
    a failed delivery and an audit event."""
    demo = await person(services, "user_demo_team", level="admin", status=None)
    other = await person(services, "user_other_team", company_id="biz_other", level="admin")
    await person(services, "user_demo_student", name="Dana Demo", email="dana@demo.test")
    await person(
        services, "user_other_student", company_id="biz_other", name="Olga Other", email="o@o.test"
    )
    await delivery(services, "msg_demo_failed", status="failed", last_error="demo error")
    await delivery(
        services, "msg_other_failed", company_id="biz_other", status="failed", last_error="secret"
    )
    await audit_event(services, "authz_fail", creator=demo.creator_id, subject="user_demo_student")
    await audit_event(
        services, "authz_fail", creator=other.creator_id, subject="user_other_student"
    )
    return demo, other


async def _also_on_team(services: Services, who: Person, company_id: str) -> None:
    """Make `who` a team member (Whop level admin, checked now) at another creator too."""
    cid = await creator_id(services, company_id)
    async with transaction(services.sessionmaker, write=True) as db:
        now = services.clock.now()
        db.add(
            Student(
                user_id=who.user_id,
                creator_id=cid,
                access_level="admin",
                access_checked_at=now,
                created_at=now,
            )
        )


async def test_team_of_one_creator_is_refused_on_every_page_and_action_of_another(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Demo's team at Other School's pages: 403 on each, no data; actions change nothing."""
    demo, _ = await _two_creators(services)
    for path in PAGES:
        response = await client.get(OTHER_SPACE + path, headers=_cookie(demo))
        assert response.status_code == 403, path
        for secret in OTHER_SECRETS:
            assert secret not in response.text, (path, secret)
    token = await csrf_from(client, f"{DEMO_SPACE}/creator/deliveries", _cookie(demo))
    for path in ACTIONS:
        response = await client.post(
            OTHER_SPACE + path,
            data={"csrf_token": token, "webhook_id": "msg_other_failed"},
            headers={**SAME_ORIGIN, "cookie": _cookie(demo)["cookie"]},
        )
        assert response.status_code == 403, path
    assert await delivery_status(services, "msg_other_failed") == "failed"
    assert await events(services, "authz_admin") == []
    refusals = await events(services, "authz_fail")
    assert {e.reason for e in refusals[2:]} == {"creator_required"}


async def test_each_space_shows_and_changes_only_its_own_creators_rows(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A member of both teams: each space lists its own students, deliveries and audit rows;
    the other school's delivery id is a 404 in this one's replay, and sync and reprocess act
    on the path's creator only."""
    demo, other = await _two_creators(services)
    await _also_on_team(services, demo, "biz_other")
    seen = {
        path: re.sub(
            r'value="[^"]*"', "", (await client.get(DEMO_SPACE + path, headers=_cookie(demo))).text
        )
        for path in PAGES
    }
    for path, text in seen.items():
        for secret in OTHER_SECRETS:
            assert secret not in text, (path, secret)
    assert "Dana Demo" in seen["/creator/students"]
    assert "msg_demo_failed" in seen["/creator/deliveries"]
    there = (await client.get(f"{OTHER_SPACE}/creator/students", headers=_cookie(demo))).text
    assert "Olga Other" in there and "Dana Demo" not in there
    audit_there = (await client.get(f"{OTHER_SPACE}/creator/audit", headers=_cookie(demo))).text
    assert "user_other_student" in audit_there and "user_demo_student" not in audit_there
    token = await csrf_from(client, f"{DEMO_SPACE}/creator/deliveries", _cookie(demo))
    headers = {**SAME_ORIGIN, "cookie": _cookie(demo)["cookie"]}
    replay = await client.post(
        f"{DEMO_SPACE}/creator/deliveries/replay",
        data={"csrf_token": token, "webhook_id": "msg_other_failed"},
        headers=headers,
    )
    assert replay.status_code == 404
    reprocess = await client.post(
        f"{OTHER_SPACE}/creator/deliveries/reprocess", data={"csrf_token": token}, headers=headers
    )
    assert reprocess.status_code == 303
    assert reprocess.headers["location"].startswith(f"{OTHER_SPACE}/creator/deliveries?")
    assert await delivery_status(services, "msg_other_failed") != "failed"
    assert await delivery_status(services, "msg_demo_failed") == "failed"
    synced = await client.post(
        f"{OTHER_SPACE}/creator/sync", data={"csrf_token": token}, headers=headers
    )
    assert synced.status_code == 303
    assert synced.headers["location"].startswith(f"{OTHER_SPACE}/creator?notice=sync_")
    actions = await events(services, "authz_admin")
    assert [e.creator_id for e in actions] == [other.creator_id] * 2


async def test_a_creators_own_sync_runs_are_not_listed_to_another_creator(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A sync run for Other School alone (its button, `creators add`, onboarding) is stored
    as Other School's and never listed on Demo Academy's overview; a run over every creator
    (the worker's) is listed to every creator."""
    demo, other = await _two_creators(services)
    result = await reconcile(services, trigger="creator_page", creator_id=other.creator_id)
    async with services.sessionmaker() as db:
        run = await db.get(SyncRun, result.run_id)
        assert run is not None and run.creator_id == other.creator_id
    here = (await client.get(f"{DEMO_SPACE}/creator", headers=_cookie(demo))).text
    assert "No sync has run yet." in here and "creator page" not in here
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        db.add(SyncRun(started_at=now, finished_at=now, trigger="schedule", outcome="ok"))
    here = (await client.get(f"{DEMO_SPACE}/creator", headers=_cookie(demo))).text
    assert 'id="sync-outcome"' in here and "schedule" in here and "creator page" not in here


async def test_creator_switcher_lists_every_team_the_user_is_on(
    client: httpx.AsyncClient, services: Services
) -> None:
    """On two teams: the creator pages offer both spaces; on one team: no switcher."""
    demo, other = await _two_creators(services)
    single = await client.get(f"{DEMO_SPACE}/creator", headers=_cookie(demo))
    assert 'id="creator-switcher"' not in single.text
    await _also_on_team(services, demo, "biz_other")
    page = await client.get(f"{DEMO_SPACE}/creator", headers=_cookie(demo))
    assert 'id="creator-switcher"' in page.text
    assert f'href="{OTHER_SPACE}/creator"' in page.text
    assert f'href="{DEMO_SPACE}/creator/students"' in page.text  # links stay in the space
    assert (
        'id="creator-switcher"'
        not in (await client.get(f"{OTHER_SPACE}/creator", headers=_cookie(other))).text
    )


async def test_unknown_or_malformed_space_is_404(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A route no creator has is a 404, signed in or not (no sign-in detour to a 404)."""
    demo, _ = await _two_creators(services)
    for path in ("/c/no-such-school", "/c/no-such-school/creator", "/c/no-such-school/api/content"):
        assert (await client.get(path, headers=_cookie(demo))).status_code == 404, path
        assert (await client.get(path, headers=BROWSER)).status_code == 404, path
    assert (await client.get("/c/%2e%2e/creator", headers=_cookie(demo))).status_code == 404
    assert (await client.get("/c/a%00b", headers=_cookie(demo))).status_code == 404


async def test_signed_out_visitor_of_a_space_signs_in_and_returns_there(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A known space sends a signed-out browser to sign in with the space as `next`."""
    await creator_id(services, "biz_other")
    response = await client.get(OTHER_SPACE, headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["location"] == "/api/whop/auth?next=%2Fc%2Fbiz_other"


async def test_disabled_creator_space_refuses_everyone(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A disabled creator's space refuses its own team and students (creator_disabled)."""
    _, other = await _two_creators(services)
    student = await person(services, "user_other_member", company_id="biz_other")
    assert (await client.get(f"{OTHER_SPACE}/api/content", headers=_cookie(student))).is_success
    async with transaction(services.sessionmaker, write=True) as db:
        await db.execute(
            update(Creator).where(Creator.whop_company_id == "biz_other").values(enabled=False)
        )
    for who in (student, other):
        refused = await client.get(
            f"{OTHER_SPACE}/api/content", headers={"cookie": _cookie(who)["cookie"]}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "creator_disabled"


async def test_dashboard_lists_every_creator_the_user_may_reach(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A member of Demo who is on Other School's team sees both, each linking to its space;
    a member of Other School only sees Other School (and no default-creator section)."""
    member = await person(services, "user_both", name="Bea Both")
    await _also_on_team(services, member, "biz_other")
    page = await client.get("/dashboard", headers=_cookie(member))
    assert page.status_code == 200
    assert f'href="{DEMO_SPACE}"' in page.text and f'href="{OTHER_SPACE}"' in page.text
    assert f'href="{OTHER_SPACE}/creator"' in page.text
    otto = await person(services, "user_other_member", company_id="biz_other")
    page = await client.get("/dashboard", headers=_cookie(otto))
    assert page.status_code == 200
    assert f'href="{OTHER_SPACE}"' in page.text and f'href="{DEMO_SPACE}"' not in page.text
    assert 'id="membership-status"' not in page.text
