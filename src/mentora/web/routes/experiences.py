"""The app as Whop runs it inside a company's experience (`x-whop-user-token`, no cookie).

`GET /experiences/{experience_id}` is the page Whop's iframe opens; its JSON twin is
`GET /experiences/{experience_id}/api/content`. Both serve the content of the creator that
owns the experience (see web/experience_gate.py), never another creator's.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mentora.web.experience_gate import ExperienceMember
from mentora.web.routes.content import content_body
from mentora.web.templating import render

router = APIRouter(tags=["experiences"])


@router.get("/experiences/{experience_id}", include_in_schema=False)
async def experience_page(request: Request, access: ExperienceMember) -> Response:
    """The creator's content as a page inside Whop's iframe."""
    context = content_body(access)
    context["creator_name"] = context.pop("creator")
    context["creator"] = access.creator
    return render(request, "access_content.html", context)


@router.get("/experiences/{experience_id}/api/content", summary="Content of an experience (JSON)")
async def experience_content(access: ExperienceMember) -> JSONResponse:
    """As /api/content, for the creator owning the experience, inside Whop's iframe."""
    return JSONResponse(content_body(access))
