"""Student pages: landing and dashboard (gated)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mentora.sessions.deps import OptionalSession
from mentora.web.deps import ServicesDep
from mentora.web.routes.auth import _membership_view
from mentora.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/")
async def landing(request: Request, principal: OptionalSession) -> Response:
    """The landing page with "Sign in with Whop"."""
    return render(request, "index.html", {})


@router.get("/dashboard")
async def dashboard(
    request: Request, services: ServicesDep, principal: OptionalSession
) -> Response:
    """The member dashboard; anonymous visitors are sent to sign in."""
    if principal is None:
        return RedirectResponse("/api/whop/auth?next=/dashboard", status_code=303)
    membership = await _membership_view(services, principal)
    if not membership["valid"]:
        from mentora.web.errors import error_response

        return error_response(
            request,
            403,
            str(membership["reason"]),
            "Your membership does not give access right now.",
            template="no_access.html",
            context={"purchase_url": services.settings.purchase_url},
        )
    return render(request, "dashboard.html", {"membership": membership, "principal": principal})
