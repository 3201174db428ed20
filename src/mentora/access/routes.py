"""Gated demo routes: `/api/content` (JSON) and `/api/embed/content` (iframe); the page
`/content` is with the other pages (web/routes/pages.py).

They exist to show and test the gate (and to benchmark it, bench/gate.py). The router's
route class renders a refusal as access_denied.html (why, and what to do) or as JSON on
/api/* paths; other routers get the generic error page until their handler reads
`AccessDenied.template` and `.context`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mentora.access.deps import Access, EmbeddedMember, RequireMember
from mentora.access.errors import AccessDenied
from mentora.web.errors import error_response


def denial_response(request: Request, exc: AccessDenied) -> Response:
    """The refusal as a page (why, what to do) or, on API paths, generic JSON with the code."""
    return error_response(
        request,
        exc.status,
        exc.code,
        exc.public_message,
        headers=exc.headers,
        template=exc.template,
        context=exc.context,
    )


class AccessPageRoute(APIRoute):
    """An APIRoute that answers `AccessDenied` with the access page instead of the generic one."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler FastAPI builds (dependencies run inside it)."""
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except AccessDenied as exc:
                return denial_response(request, exc)

        return route_handler


router = APIRouter(tags=["content"], route_class=AccessPageRoute)


def content_body(access: Access) -> dict[str, object]:
    """What the gated demo content shows: the creator, and how the member got in."""
    return {
        "creator": access.creator.name,
        "company_id": access.creator.whop_company_id,
        "tier": access.tier,
        "role": access.decision.role,
        "reason": access.decision.reason,
        "degraded": access.decision.degraded,
    }


@router.get("/api/content", summary="Gated content (JSON)")
async def content_api(access: RequireMember) -> JSONResponse:
    """The creator's name and the member's tier; members and the creator's team only."""
    return JSONResponse(content_body(access))  # no-store: the middleware marks every /api/ answer


@router.get("/api/embed/content", summary="Gated content inside Whop's iframe (JSON)")
async def content_embedded(access: EmbeddedMember) -> JSONResponse:
    """As /api/content, for a request carrying Whop's `x-whop-user-token` instead of a cookie."""
    return JSONResponse(content_body(access))  # no-store: the middleware marks every /api/ answer
