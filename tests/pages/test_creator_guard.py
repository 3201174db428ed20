"""Who may open the creator pages (M01), and cross-creator isolation of everything they show."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from mentora.db.models import WebhookDelivery
from mentora.services import Services
from tests.pages.helpers import (
    BROWSER,
    SAME_ORIGIN,
    audit_event,
    csrf_from,
    delivery,
    delivery_status,
    events,
    person,
)

PAGES = ["/creator", "/creator/students", "/creator/deliveries", "/creator/audit"]
ACTIONS = ["/creator/deliveries/replay", "/creator/deliveries/reprocess", "/creator/sync"]


async def test_m01_creator_pages_refuse_students_with_the_access_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A member who is not on the team gets 403 and "Creators only" on every page, audited."""
    member = await person(services, "user_member")
    for path in PAGES:
        response = await client.get(path, headers={**BROWSER, **member.cookie})
        assert response.status_code == 403, path
        assert "Creators only" in response.text
    assert [e.reason for e in await events(services, "authz_fail")] == ["creator_required"] * 4


async def test_m01_creator_actions_refuse_students_even_with_their_token(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A member's own valid CSRF token does not make a creator action pass: 403, no change."""
    member = await person(services, "user_member")
    await delivery(services, "msg_dead", status="dead")
    token = await csrf_from(client, "/dashboard", member.cookie)
    for path in ACTIONS:
        response = await client.post(
            path,
            data={"csrf_token": token, "webhook_id": "msg_dead"},
            headers={**SAME_ORIGIN, **member.cookie},
        )
        assert response.status_code == 403, path
    assert await delivery_status(services, "msg_dead") == "dead"
    assert await events(services, "authz_admin") == []


async def test_creator_pages_send_anonymous_browsers_to_sign_in(client: httpx.AsyncClient) -> None:
    """Anonymous: pages redirect to sign in and come back; actions and JSON clients get 401."""
    for path in PAGES:
        response = await client.get(path + "?x=1", headers=BROWSER)
        assert response.status_code == 303, path
        assert (
            response.headers["location"]
            == f"/api/whop/auth?next={path.replace('/', '%2F')}%3Fx%3D1"
        )
    for path in ACTIONS:
        assert (await client.post(path, headers=SAME_ORIGIN)).status_code == 401, path
    api = await client.get("/creator", headers={"accept": "application/json"})
    assert api.status_code == 401 and api.json()["error"]["code"] == "session_invalid"


async def test_creator_pages_render_for_the_team(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The creator's team (Whop access level admin) gets every page."""
    team = await person(services, "user_team", level="admin", status=None)
    for path in PAGES:
        response = await client.get(path, headers={**BROWSER, **team.cookie})
        assert response.status_code == 200, (path, response.text[:500])
        assert 'aria-label="Creator pages"' in response.text


async def _seed_two_creators(services: Services) -> tuple[str, str]:
    """A team member at each creator, students, deliveries and events on both sides."""
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
    return demo.token, other.token


def _cookie(token: str) -> dict[str, str]:
    return {**BROWSER, "cookie": f"__Host-mentora_session={token}"}


async def test_creator_sees_only_their_own_students_deliveries_and_events(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A biz_demo admin never sees biz_other's rows, even when searching for them by name or id;
    biz_other's admin sees the mirror image."""
    demo, other = await _seed_two_creators(services)
    pages = {
        "students": "/creator/students",
        "search_other": "/creator/students?q=Olga",
        "deliveries": "/creator/deliveries",
        "delivery_search": "/creator/deliveries?q=msg_other",
        "audit": "/creator/audit",
        "audit_user": "/creator/audit?user=user_other_student",
        "overview": "/creator",
    }
    seen = {
        # Form fields echo the search terms back; what matters is everything else on the page.
        name: re.sub(r'value="[^"]*"', "", (await client.get(path, headers=_cookie(demo))).text)
        for name, path in pages.items()
    }
    for name, text in seen.items():
        for secret in (
            "Olga Other",
            "o@o.test",
            'data-user="user_other',
            'data-webhook="msg_other',
            'mono">user_other_student',
            "secret",
            "biz_other",
        ):
            assert secret not in text, (name, secret)
    assert "No students match" in seen["search_other"]
    assert "No deliveries match" in seen["delivery_search"]
    assert "No events match" in seen["audit_user"]
    assert "Dana Demo" in seen["students"] and "msg_demo_failed" in seen["deliveries"]
    assert "user_demo_student" in seen["audit"]
    # Other School's team reaches its pages in its own space (the creator of the path).
    assert (await client.get("/creator/students", headers=_cookie(other))).status_code == 403
    mirror = (await client.get("/c/biz_other/creator/students", headers=_cookie(other))).text
    assert "Olga Other" in mirror and "Dana Demo" not in mirror
    mirror = (await client.get("/c/biz_other/creator/deliveries", headers=_cookie(other))).text
    assert "msg_other_failed" in mirror and "msg_demo_failed" not in mirror


async def test_creator_cannot_replay_or_page_into_another_creators_deliveries(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Replaying biz_other's delivery is a 404, reprocess leaves it alone, and its id is no
    cursor in biz_demo's list (400)."""
    demo, _ = await _seed_two_creators(services)
    token = await csrf_from(client, "/creator/deliveries", {"cookie": _cookie(demo)["cookie"]})
    headers = {**SAME_ORIGIN, "cookie": _cookie(demo)["cookie"]}
    replay = await client.post(
        "/creator/deliveries/replay",
        data={"csrf_token": token, "webhook_id": "msg_other_failed"},
        headers=headers,
    )
    assert replay.status_code == 404
    done = await client.post(
        "/creator/deliveries/reprocess", data={"csrf_token": token}, headers=headers
    )
    assert done.status_code == 303
    assert await delivery_status(services, "msg_other_failed") == "failed"
    assert await delivery_status(services, "msg_demo_failed") != "failed"
    async with services.sessionmaker() as db:
        other_id = (
            await db.execute(
                select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == "msg_other_failed")
            )
        ).scalar_one()
    cursor = await client.get(f"/creator/deliveries?before={other_id}", headers=_cookie(demo))
    assert cursor.status_code == 400
    (event,) = await events(services, "authz_admin")
    assert event.details["replayed"] == 1 and event.creator_id is not None
    assert not re.search(r"msg_other", str(event.details))
