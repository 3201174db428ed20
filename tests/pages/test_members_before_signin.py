"""Members Whop told us about (webhook or sync) are students before they ever sign in."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from mentora.clock import FrozenClock
from mentora.db.models import Student, User
from mentora.services import Services
from tests.pages.helpers import BROWSER, person
from tests.support.timeline import stamp
from tests.support.webhooks import membership_data, post_event


async def _students(services: Services) -> dict[str, str | None]:
    """Whop user id → email of every user with a student row."""
    async with services.sessionmaker() as db:
        rows = await db.execute(select(User.whop_user_id, User.email).join(Student))
        return dict(rows.all())


async def test_a_new_member_is_listed_before_signing_in(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """membership.activated for someone who never signed in: a student row, listed, never seen."""
    data = membership_data("mem_new", "active", updated_at=stamp())
    data.update(user_id="user_new", user={"id": "user_new", "email": "new@school.test"})
    answer = await post_event(client, "membership.activated", data, at=clock.now())
    assert answer.status_code == 200, answer.text
    assert await _students(services) == {"user_new": "new@school.test"}

    team = await person(services, "user_team", level="admin", status=None)
    page = await client.get("/creator/students", headers={**BROWSER, **team.cookie})
    assert page.status_code == 200
    row = re.search(r'<tr data-user="user_new">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert 'data-status="active"' in row.group(1) and "never" in row.group(1)
    assert "new@school.test" in row.group(1)

    # Whop repeating itself (a retry, a later update) adds nothing.
    data["updated_at"] = stamp(minutes=5)
    await post_event(client, "membership.updated", data, at=clock.now())
    async with services.sessionmaker() as db:
        users = await db.scalar(select(func.count()).where(User.whop_user_id == "user_new"))
        students = await db.scalar(select(func.count()).select_from(Student))
    assert (users, students) == (1, 2)  # user_new and the team member


async def test_no_student_without_access_or_for_an_unknown_company(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A lapsed membership we never saw, or one at a company that is not ours: no student."""
    lapsed = membership_data("mem_gone", "expired", updated_at=stamp())
    lapsed["user_id"] = "user_gone"
    assert (
        await post_event(client, "membership.deactivated", lapsed, at=clock.now())
    ).status_code == 200
    stranger = membership_data("mem_else", "active", updated_at=stamp(), company_id="biz_unknown")
    stranger["user_id"] = "user_else"
    answer = await post_event(
        client, "membership.activated", stranger, at=clock.now(), company_id="biz_unknown"
    )
    assert answer.status_code == 200 and answer.json()["status"] == "flagged"
    assert await _students(services) == {}


async def test_student_list_shows_a_deactivation_whatever_its_spelling(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """After `membership_deactivated` (underscored) whose status still reads `past_due`, the
    creator's student list shows the member as deactivated, not as paying late (issue 13)."""
    data = membership_data("mem_late", "active", updated_at=stamp())
    data.update(user_id="user_late", user={"id": "user_late", "email": "late@school.test"})
    await post_event(client, "membership.activated", data, at=clock.now())
    data.update(status="past_due", updated_at=stamp(minutes=5))
    answer = await post_event(client, "membership_deactivated", data, at=clock.now())
    assert answer.json()["status"] == "processed"

    team = await person(services, "user_team", level="admin", status=None)
    page = await client.get("/creator/students", headers={**BROWSER, **team.cookie})
    row = re.search(r'<tr data-user="user_late">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert 'data-status="deactivated"' in row.group(1)
    assert "Deactivated by Whop" in row.group(1)
    filtered = await client.get(
        "/creator/students?status=deactivated", headers={**BROWSER, **team.cookie}
    )
    assert 'data-user="user_late"' in filtered.text
