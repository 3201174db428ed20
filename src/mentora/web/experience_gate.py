"""The gate of `/experiences/{experience_id}/…`: Whop runs the app inside a company's experience.

    verify x-whop-user-token → resolve the experience to its company (Whop, cached per process)
    → the company's creator → decide from that creator's stored memberships, revalidating with
    Whop's check access on the `exp_` id itself.

A malformed or unknown experience id is a 404 (asked of Whop once, the miss remembered). The
experience of a company that has not set up Mentora gets its own page (404), with a link to
onboarding for the company's admins. A disabled creator is refused as everywhere. Whop down
with nothing remembered about the experience: 503 "Whop unavailable".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from starlette.exceptions import HTTPException
from starlette.requests import Request

from mentora.access.errors import CreatorNotOnboarded, EmbeddedUnavailable
from mentora.access.experiences import plausible_experience_id
from mentora.access.policy import Requirement
from mentora.creators import creator_by_company
from mentora.services import Services
from mentora.web.deps import get_services
from mentora.web.gate import GATE_MARKER, Access, admit, embedded_subject, verified_identity
from mentora.whop.errors import WhopError
from mentora.whop.schemas import ExperienceInfo


async def _experience(services: Services, experience_id: str) -> ExperienceInfo:
    """The experience with its company, or 404 (unknown) / 503 (Whop down, nothing cached)."""
    try:
        info = await services.experiences.resolve(experience_id)
    except WhopError as exc:
        raise EmbeddedUnavailable(f"experience {experience_id}: {exc.code}") from None
    if info is None:
        raise HTTPException(status_code=404)
    return info


async def _is_admin(services: Services, whop_user_id: str, experience_id: str) -> bool:
    """Whether Whop says the user is on the team of the experience's company (best effort:
    only the onboarding link depends on it)."""
    try:
        answer = await services.whop.check_access(whop_user_id, experience_id)
    except WhopError:
        return False
    return answer.access_level == "admin"


def experience_gate(*, tier: str | None = None) -> Callable[..., Awaitable[Access]]:
    """A dependency for routes under `/experiences/{experience_id}`: identity from the user
    token, creator from the experience, access decided for that creator."""
    requirement = Requirement(tier=tier)

    async def gate(request: Request, experience_id: str) -> Access:
        services = get_services(request)
        if not services.settings.embedded_mode or not plausible_experience_id(experience_id):
            # Outside embedded mode there is no proxy to vouch for the header: no such route.
            raise HTTPException(status_code=404)
        # The token first: only users Whop vouches for can make us ask Whop about an id.
        identity = await verified_identity(services, request)
        info = await _experience(services, experience_id)
        async with services.sessionmaker() as db:
            creator = await creator_by_company(db, info.company_id)
        if creator is None:
            is_admin = await _is_admin(services, identity.user_id, experience_id)
            raise CreatorNotOnboarded(
                company_id=info.company_id, company_name=info.company_name, is_admin=is_admin
            )
        subject = await embedded_subject(services, identity.user_id, creator)
        access, _ = await admit(
            services, request, subject, requirement, "experience", resources=(experience_id,)
        )
        return access

    setattr(gate, GATE_MARKER, requirement)
    gate.__doc__ = f"Experience access gate: {requirement}"
    return gate


ExperienceMember = Annotated[Access, Depends(experience_gate())]
