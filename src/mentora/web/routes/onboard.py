"""`/onboard`: a signed-in Whop admin sets Mentora up for their company (usecases.onboarding).

GET shows the policy, the allowlisted companies (when CREATOR_ONBOARDING=allowlist) and a
field for a `biz_` id; with `?company_id=` it asks Whop and offers "Set up Mentora for
<Company>". POST (the session's CSRF token, same origin, rate limited by the `account` rule)
does it and sends the browser to the new creator's pages. A non-admin gets 403, a company the
policy refuses a 403 saying so, one already onboarded a link to its space.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mentora.services import Services
from mentora.usecases import onboarding
from mentora.web.csrf import require_session_csrf
from mentora.web.deps import ServicesDep
from mentora.web.principal import CurrentSession
from mentora.web.ratelimit import limited
from mentora.web.spaces import SPACE_PREFIX
from mentora.web.templating import render
from mentora.whop.errors import WhopError

router = APIRouter(tags=["onboarding"], include_in_schema=False)
CompanyParam = Annotated[str | None, Query(max_length=64)]
STATUS = {"allowed": 200, "exists": 200, "closed": 403, "not_allowlisted": 403, "not_admin": 403}


def _page(
    request: Request,
    services: Services,
    verdict: onboarding.Verdict | None,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    settings = services.settings
    context = {
        "mode": settings.onboarding_mode,
        "allowlist": settings.creator_onboarding_allowlist,
        "verdict": verdict,
        "space": _space(verdict),
        "error": error,
    }
    return render(request, "onboard.html", context, status_code=status)


def _space(verdict: onboarding.Verdict | None) -> str | None:
    if verdict is None:
        return None
    return f"{SPACE_PREFIX}/{verdict.route or verdict.company_id}"


async def _judged(
    request: Request, services: Services, whop_user_id: str, company_id: str, *, act: bool
) -> Response:
    """Judge (GET) or onboard (POST) `company_id`, answered as a page."""
    company_id = company_id.strip()
    try:
        if act:
            verdict = await onboarding.onboard(services, whop_user_id, company_id)
        else:
            verdict = await onboarding.judge(services, whop_user_id, company_id)
    except onboarding.BadCompanyId:
        return _page(request, services, None, status=400, error="not_a_company_id")
    except WhopError:
        return _page(request, services, None, status=503, error="whop_unavailable")
    if verdict.outcome == "added":
        return RedirectResponse(f"{_space(verdict)}/creator", status_code=303)
    return _page(request, services, verdict, status=STATUS.get(verdict.outcome, 200))


@router.get("/onboard")
async def onboard_page(
    request: Request,
    services: ServicesDep,
    principal: CurrentSession,
    company_id: CompanyParam = None,
) -> Response:
    """The onboarding page; with `company_id`, what setting it up would do."""
    if not company_id:
        return _page(request, services, None)
    return await _judged(request, services, principal.user.whop_user_id, company_id, act=False)


@router.post("/onboard", dependencies=[limited("account")])
async def onboard_company(
    request: Request, services: ServicesDep, principal: CurrentSession
) -> Response:
    """Set Mentora up for the posted company (CSRF, rate limit, audit)."""
    await require_session_csrf(request, services)
    form = await request.form()
    value = form.get("company_id")
    company_id = value if isinstance(value, str) and len(value) <= 64 else ""
    return await _judged(request, services, principal.user.whop_user_id, company_id, act=True)
