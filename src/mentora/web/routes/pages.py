"""Student pages: the landing page and the member dashboard.

The dashboard needs a session and lists every creator the user may reach; when that includes
the default creator it is decided through the gate as before. A user who may reach none gets
the access page (why, and what to do), and a browser without a session is sent to sign in, or
told that its membership ended when that is why the session was closed (see signed_out.py).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mentora.access.errors import AccessDenied
from mentora.web.deps import ServicesDep
from mentora.web.gate import Access, RequireMember, member_gate
from mentora.web.principal import CurrentSession, OptionalSession
from mentora.web.routes.content import content_body
from mentora.web.templating import render
from mentora.web.views.dashboard import membership_cards
from mentora.web.views.spaces import user_spaces

router = APIRouter(tags=["pages"], include_in_schema=False)
# The dashboard decides for the default creator only when the user may reach it.
_default_gate = member_gate()


@router.get("/")
async def landing(request: Request, principal: OptionalSession) -> Response:
    """The landing page with "Sign in with Whop" (or the way to the dashboard)."""
    return render(request, "index.html", {})


@router.get("/dashboard")
async def dashboard(request: Request, services: ServicesDep, principal: CurrentSession) -> Response:
    """Every creator the user may reach, each linking to its space; then the default
    creator's memberships, status, tier and renewal or end date when the user has access
    there. A user who may reach no creator gets the access page (why, and what to do)."""
    spaces = await user_spaces(services, principal.user)
    access: Access | None = None
    here = principal.creator.id
    if not spaces or any(space.creator_id == here for space in spaces):
        try:
            access = await _default_gate(request)
        except AccessDenied as exc:
            # Whop just said no at the default creator (a stale local state): the page lists
            # the others; with none, or when Whop is unavailable, the refusal page says why.
            spaces = [space for space in spaces if space.creator_id != here]
            if not spaces or exc.status >= 500:
                raise
    user = principal.user
    cards = await membership_cards(services, user.whop_user_id, here)
    return render(
        request,
        "dashboard.html",
        {
            "display_name": user.name or user.username or user.whop_user_id,
            # The user's page, not one creator's: each creator's logo is beside its name in
            # the list, and the header carries none (a student of another school only must
            # not see the default creator's brand).
            "creator": None,
            "creator_name": principal.creator.name,
            "spaces": spaces,
            "here": access is not None,
            "decision": access.decision if access else None,
            "degraded": access.decision.degraded if access else False,
            "is_creator": access.is_creator if access else False,
            "tier": access.tier if access else None,
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
