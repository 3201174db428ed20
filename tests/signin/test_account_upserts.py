"""The sign-in's one-statement upserts keep what the read-then-write code kept, on both databases.

A profile field Whop leaves out keeps its stored value; the first answer with access marks the
student onboarded and later answers (with or without access) keep that date.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mentora.accounts import record_access, upsert_user
from mentora.clock import FrozenClock
from mentora.creators import creator_by_company
from mentora.db.models import Student, User
from mentora.db.uow import transaction
from mentora.services import Services
from mentora.whop.schemas import AccessAnswer

SUBJECT = "user_upsert_semantics"
CUSTOMER = AccessAnswer(has_access=True, access_level="customer")
REFUSED = AccessAnswer(has_access=False, access_level="no_access")


async def _sign_in(services: Services, userinfo: dict[str, str], answer: AccessAnswer) -> int:
    """Store the user and Whop's answer as the callback does; the user's id."""
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        creator = await creator_by_company(db, services.settings.whop_company_id)
        assert creator is not None
        user_id = await upsert_user(db, subject=SUBJECT, userinfo=userinfo, now=now)
        await record_access(db, user_id=user_id, creator_id=creator.id, answer=answer, now=now)
    return user_id


async def test_profile_fields_whop_leaves_out_keep_their_values(
    services: Services, clock: FrozenClock
) -> None:
    """A second sign-in without an email keeps the stored one and updates the rest."""
    first = await _sign_in(
        services,
        {"preferred_username": "ada", "name": "Ada", "email": "ada@example.test"},
        CUSTOMER,
    )
    clock.advance(300)
    second = await _sign_in(services, {"name": "Ada L."}, CUSTOMER)
    async with services.sessionmaker() as db:
        user = (await db.execute(select(User).where(User.whop_user_id == SUBJECT))).scalar_one()
    assert first == second == user.id
    assert (user.username, user.name, user.email) == ("ada", "Ada L.", "ada@example.test")
    assert user.updated_at == services.clock.now()
    assert user.created_at == services.clock.now() - timedelta(minutes=5)


async def test_onboarding_date_is_the_first_answer_with_access(
    services: Services, clock: FrozenClock
) -> None:
    """Refused, then admitted, then refused: onboarded at the admission, level follows Whop."""
    await _sign_in(services, {}, REFUSED)
    async with services.sessionmaker() as db:
        student = (await db.execute(select(Student))).scalar_one()
    assert (student.access_level, student.onboarded_at) == ("no_access", None)
    clock.advance(60)
    admitted_at = services.clock.now()
    await _sign_in(services, {}, CUSTOMER)
    clock.advance(60)
    await _sign_in(services, {}, REFUSED)
    async with services.sessionmaker() as db:
        student = (await db.execute(select(Student))).scalar_one()
    assert student.access_level == "no_access"
    assert student.onboarded_at == admitted_at
    assert student.access_checked_at == services.clock.now()
