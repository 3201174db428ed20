"""Gated demo routes: `/api/content` (JSON) and `/api/embed/content` (iframe); the page
`/content` is with the other pages (web/routes/pages.py).

They exist to show and test the gate (and to benchmark it, bench/gate.py). A refusal
(`AccessDenied`) is answered by the app's error handler: access_denied.html (why, and what to
do) for browsers, JSON with the code on /api/* paths.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from mentora.web.gate import Access, EmbeddedMember, RequireMember

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


@router.get("/api/content", summary="Gated content (JSON)")
async def content_api(access: RequireMember) -> JSONResponse:
    """The creator's name and the member's tier; members and the creator's team only."""
    return JSONResponse(content_body(access))  # no-store: the middleware marks every /api/ answer


@router.get("/api/embed/content", summary="Gated content inside Whop's iframe (JSON)")
async def content_embedded(access: EmbeddedMember) -> JSONResponse:
    """As /api/content, for a request carrying Whop's `x-whop-user-token` instead of a cookie."""
    return JSONResponse(content_body(access))  # no-store: the middleware marks every /api/ answer
