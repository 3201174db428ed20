"""Student pages: the landing page and the member dashboard (behind the access gate).

The dashboard is gated with `RequireMember`: a refusal renders the access page (why, and what
to do), and a browser without a session is sent to sign in, or told that its membership
ended when that is why the session was closed (see signed_out.py).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mentora.web.deps import ServicesDep
from mentora.web.gate import RequireMember
from mentora.web.principal import OptionalSession
from mentora.web.routes.content import content_body
from mentora.web.templating import render
from mentora.web.views.dashboard import membership_cards

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/")
async def landing(request: Request, principal: OptionalSession) -> Response:
    """The landing page with "Sign in with Whop" (or the way to the dashboard)."""
    return render(request, "index.html", {})


@router.get("/dashboard")
async def dashboard(request: Request, services: ServicesDep, access: RequireMember) -> Response:
    """The member's creator(s), membership status, tier and renewal or end date."""
    user = access.user
    cards = await membership_cards(services, user.whop_user_id, access.creator.id)
    return render(
        request,
        "dashboard.html",
        {
            "display_name": user.name or user.username or user.whop_user_id,
            "creator_name": access.creator.name,
            "decision": access.decision,
            "degraded": access.decision.degraded,
            "is_creator": access.is_creator,
            "tier": access.tier,
            "cards": cards,
            "purchase_url": services.settings.purchase_url,
        },
    )


@router.get("/content")
async def content_page(request: Request, access: RequireMember) -> Response:
    """The gated demo content as a page (a bookmark to it signs a signed-out visitor in)."""
    context = content_body(access)
    context["creator_name"] = context.pop("creator")
    return render(request, "access_content.html", context)
