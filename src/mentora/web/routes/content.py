"""Gated demo routes: `/api/content` (JSON) and `/api/embed/content` (iframe); the page
`/content` is with the other pages (web/routes/pages.py).

They exist to show and test the gate (and to benchmark it, bench/gate.py). A refusal
(`AccessDenied`) is answered by the app's error handler: access_denied.html (why, and what to
do) for browsers, JSON with the code on /api/* paths.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response
from starlette.routing import request_response
from starlette.types import ASGIApp

from mentora.web.gate import Access, EmbeddedMember, gated_endpoint
from mentora.web.openapi import operation

router = APIRouter(tags=["content"])


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


async def content_api(access: Access) -> Response:
    """The creator's name and the member's tier; members and the creator's team only."""
    return JSONResponse(content_body(access))  # no-store: the middleware marks every /api/ answer


# The gate called directly, not as a FastAPI dependency (see `gated_endpoint`); `/c/{route}`
# serves the same endpoint for the creator of its path (routes/spaces.py).
PATH = "/api/content"
content_endpoint = gated_endpoint(content_api)
router.add_route(
    PATH, content_endpoint, methods=["GET"], name="content_api", include_in_schema=False
)
# Served past the framework's outer layers (web/hotpaths.py).
HOT: tuple[tuple[str, str, ASGIApp], ...] = (("GET", PATH, request_response(content_endpoint)),)
OPENAPI = {
    PATH: {
        "get": operation(
            "content",
            "Gated content (JSON)",
            "The creator's name and the member's tier; members and the creator's team only.",
            "content_api_api_content_get",
        )
    }
}


@router.get("/api/embed/content", summary="Gated content inside Whop's iframe (JSON)")
async def content_embedded(access: EmbeddedMember) -> JSONResponse:
    """As /api/content, for a request carrying Whop's `x-whop-user-token` instead of a cookie."""
    return JSONResponse(content_body(access))  # no-store: the middleware marks every /api/ answer
