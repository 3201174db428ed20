"""Self-service onboarding: a Whop `admin` of a company sets Mentora up for it.

`CREATOR_ONBOARDING` decides who may (settings.onboarding_mode): `open` (any admin of any
company), `allowlist` (admins of the companies in CREATOR_ONBOARDING_ALLOWLIST) or `closed`
(nobody: only `mentora creators add`). Whop is asked whether the signed-in user is an admin
of the company (check access on the `biz_` id, exactly as the gate asks), and the creator is
added by the same use case as `mentora creators add` (usecases.creators.add_creator). Every
refusal writes one `authz_fail` audit row; the addition writes `creator_added`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record_alone
from mentora.config import COMPANY_ID
from mentora.creators import CreatorRef
from mentora.db.models import Creator
from mentora.services import Services
from mentora.usecases.creators import CreatorExists, add_creator


class BadCompanyId(ValueError):
    """Not a Whop company id (`biz_…`)."""


@dataclass(frozen=True)
class Verdict:
    """What onboarding `company_id` would do for this user now.

    `outcome`: "allowed" (an admin, policy permits), "exists" (already a creator),
    "closed" / "not_allowlisted" (policy refuses), "not_admin" (Whop says not an admin).
    """

    outcome: str
    company_id: str
    company_name: str | None = None
    route: str | None = None

    @property
    def allowed(self) -> bool:
        """True when the company may be set up now."""
        return self.outcome == "allowed"


def policy_refusal(services: Services, company_id: str) -> str | None:
    """Why CREATOR_ONBOARDING refuses `company_id` (None: it permits it)."""
    settings = services.settings
    mode = settings.onboarding_mode
    if mode == "closed":
        return "closed"
    if mode == "allowlist" and company_id not in settings.creator_onboarding_allowlist:
        return "not_allowlisted"
    return None


async def judge(services: Services, whop_user_id: str, company_id: str) -> Verdict:
    """Whether the user may set Mentora up for the company; asks Whop only when the policy
    permits and the company is not a creator yet. Raises BadCompanyId or WhopError."""
    if not COMPANY_ID.fullmatch(company_id):
        raise BadCompanyId(company_id)
    refused = policy_refusal(services, company_id)
    if refused is not None:
        return Verdict(refused, company_id)
    existing = await services.creators.by_company(company_id)
    if existing is not None:
        return Verdict("exists", company_id, route=await _route(services, existing))
    answer = await services.whop.check_access(whop_user_id, company_id)
    if answer.access_level != "admin":
        return Verdict("not_admin", company_id)
    profile = await services.whop.retrieve_company(company_id)
    return Verdict("allowed", company_id, profile.name, profile.route)


async def onboard(services: Services, whop_user_id: str, company_id: str) -> Verdict:
    """Set Mentora up for the company if `judge` allows it (audited either way); the verdict
    says what happened ("added" when the creator was created now)."""
    verdict = await judge(services, whop_user_id, company_id)
    if verdict.allowed:
        try:
            added = await add_creator(services, company_id, actor=whop_user_id)
        except CreatorExists:  # another request (or operator) was quicker
            return Verdict("exists", company_id, route=company_id)
        return Verdict("added", company_id, added.creator.name, added.creator.route)
    if verdict.outcome != "exists":
        await record_alone(
            services.sessionmaker,
            kind=AuditKind.AUTHZ_FAIL,
            outcome="failure",
            reason=f"onboarding_{verdict.outcome}",
            now=services.clock.now(),
            subject=whop_user_id,
            details={"company_id": company_id},
        )
    return verdict


async def _route(services: Services, creator: CreatorRef) -> str | None:
    """A creator's stored Whop route (None until Whop named one)."""
    async with services.sessionmaker() as db:
        route: str | None = await db.scalar(select(Creator.route).where(Creator.id == creator.id))
    return route
