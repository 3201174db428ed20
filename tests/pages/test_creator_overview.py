"""What the creator's pages count and offer: "students signed in" counts students who signed
in with access (not the creator's team, not refused guests); only deliveries that need action
carry a button."""

from __future__ import annotations

import re

import httpx

from mentora.emulator import DEMO
from mentora.services import Services
from tests.pages.helpers import BROWSER, delivery, person
from tests.support.signin import SignIn

STUDENTS = re.compile(r'id="stat-students">([\d,]+)<')


async def test_students_signed_in_leaves_out_the_team_and_refused_guests(
    client: httpx.AsyncClient, signin: SignIn
) -> None:
    """A member, a guest without access and the creator all sign in: the count is 1."""
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    assert (await signin.sign_in(DEMO.guest_user_id)).status_code == 303
    assert (await signin.sign_in(DEMO.creator_user_id)).status_code == 303
    page = await client.get("/creator", headers=BROWSER)
    assert page.status_code == 200, page.text[:300]
    found = STUDENTS.search(page.text)
    assert found is not None and found.group(1) == "1"


async def test_only_deliveries_that_need_action_have_a_button(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A dead delivery has its Replay button; a processed one has none (no "Run again")."""
    team = await person(services, "user_demo_creator", level="admin", status=None)
    await delivery(services, "msg_done", status="processed")
    await delivery(services, "msg_dead", status="dead")
    page = await client.get("/creator/deliveries", headers={**BROWSER, **team.cookie})
    assert page.status_code == 200
    rows = {
        webhook: row
        for webhook, row in re.findall(r'<tr data-webhook="([^"]+)">(.*?)</tr>', page.text, re.S)
    }
    assert "<button" in rows["msg_dead"] and "Replay msg_dead" in rows["msg_dead"]
    assert "<button" not in rows["msg_done"]
    assert "Run again" not in page.text
