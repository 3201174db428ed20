"""Sign-in with several creators: one account, Whop asked at each, each answer stored."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from mentora.db.models import Creator, Student, User
from mentora.emulator import DEMO
from mentora.services import Services
from tests.pages.helpers import creator_id
from tests.support.signin import SignIn


async def _levels(services: Services, whop_user_id: str) -> dict[str, str | None]:
    """Whop's stored answer per creator for one user (creators never asked left out: a sync
    may create the student row without an answer)."""
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(Creator.whop_company_id, Student.access_level)
            .where(Student.access_checked_at.is_not(None))
            .join(Student, Student.creator_id == Creator.id)
            .join(User, User.id == Student.user_id)
            .where(User.whop_user_id == whop_user_id)
        )
        return dict(rows.all())


async def test_sign_in_stores_whops_answer_at_every_creator(
    signin: SignIn, client: httpx.AsyncClient, services: Services
) -> None:
    """Bea (a member of both schools) signs in once; each space admits her for its creator."""
    await creator_id(services, DEMO.other_company_id)
    assert (await signin.sign_in(DEMO.both_member_user_id)).status_code == 303
    assert await _levels(services, DEMO.both_member_user_id) == {
        DEMO.company_id: "customer",
        DEMO.other_company_id: "customer",
    }
    here = (await client.get("/api/content")).json()
    there = (await client.get(f"/c/{DEMO.other_company_id}/api/content")).json()
    assert (here["company_id"], there["company_id"]) == (DEMO.company_id, DEMO.other_company_id)


async def test_whop_failing_for_one_creator_does_not_lock_out_the_others(
    signin: SignIn, client: httpx.AsyncClient, services: Services, emulator: Any
) -> None:
    """Whop answers 503 for Other School only: Bea still signs in and enters Demo Academy;
    no answer is stored for Other School (its gate asks again there)."""
    await creator_id(services, DEMO.other_company_id)
    emulator.add_fault(
        f"/api/v1/users/{DEMO.both_member_user_id}/access/{DEMO.other_company_id}", status=503
    )
    assert (await signin.sign_in(DEMO.both_member_user_id)).status_code == 303
    assert await _levels(services, DEMO.both_member_user_id) == {DEMO.company_id: "customer"}
    assert (await client.get("/api/content")).status_code == 200


async def test_whop_failing_everywhere_still_refuses_sign_in(
    signin: SignIn, services: Services, emulator: Any
) -> None:
    """With no answer from Whop at any creator, sign-in fails closed (503, no session)."""
    await creator_id(services, DEMO.other_company_id)
    emulator.add_fault(f"/api/v1/users/{DEMO.both_member_user_id}/access/", status=503)
    assert (await signin.sign_in(DEMO.both_member_user_id)).status_code == 503
    assert signin.session_cookie() is None
