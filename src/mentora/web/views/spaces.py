"""The creators a user may reach: what the dashboard lists and the creator switcher offers.

Two statements whatever the number of creators: the enabled creators with the user's student
row at each (Whop's last answer), then the user's memberships at all of them. Each creator is
then decided by the pure policy with its own rules, as the gate would from the same state; a
stale answer is not revalidated here (the space's own gate does that when it is opened).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from mentora.access.policy import Requirement, decide
from mentora.access.service import answer_of, facts_of
from mentora.db.models import Creator, Membership, Student, User
from mentora.services import Services
from mentora.web.spaces import space_path

_ANY = Requirement()


@dataclass(frozen=True)
class Space:
    """One creator the user may reach, and as whom."""

    creator_id: int
    company_id: str
    name: str
    path: str
    role: str  # "creator" (on the team) or "student"
    tier: str | None
    logo_url: str | None = None  # Whop's logo, shown beside the name when it is https


async def user_spaces(services: Services, user: User) -> list[Space]:
    """Every enabled creator the user has access to (membership or team role), by name."""
    async with services.sessionmaker() as db:
        creators = (
            await db.execute(
                select(Creator, Student)
                .outerjoin(
                    Student, (Student.creator_id == Creator.id) & (Student.user_id == user.id)
                )
                .where(Creator.enabled.is_(True))
            )
        ).all()
        memberships = list(
            (
                await db.execute(
                    select(Membership).where(
                        Membership.whop_user_id == user.whop_user_id,
                        Membership.creator_id.in_([c.id for c, _ in creators]),
                    )
                )
            ).scalars()
        )
    now = services.clock.now()
    spaces: list[Space] = []
    for creator, student in creators:
        decision = decide(
            creator_id=creator.id,
            memberships=[facts_of(m) for m in memberships if m.creator_id == creator.id],
            answer=answer_of(student),
            requirement=_ANY,
            policy=await services.gate.policies.get(creator.id),
            now=now,
            creator_enabled=creator.enabled,
        )
        if decision.allowed and decision.role is not None:
            spaces.append(
                Space(
                    creator.id,
                    creator.whop_company_id,
                    creator.name,
                    space_path(creator),
                    decision.role,
                    decision.tier,
                    creator.logo_url,
                )
            )
    return sorted(spaces, key=lambda space: (space.name.lower(), space.creator_id))


def team_spaces(spaces: list[Space]) -> list[Space]:
    """The creators whose team the user is on (the creator switcher's choices)."""
    return [space for space in spaces if space.role == "creator"]
