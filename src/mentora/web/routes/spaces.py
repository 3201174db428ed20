"""Creator spaces under `/c/{route}`: the space home (gated content), its JSON, and the
creator pages (web/routes/creator.py) mounted again below the prefix.

Every route here is decided for the creator of its path (web/spaces.py resolves it with the
session): a user's access at one creator says nothing about another.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mentora.web.gate import RequireMember
from mentora.web.routes import creator
from mentora.web.routes.content import content_body, content_endpoint
from mentora.web.templating import render

router = APIRouter(prefix="/c/{route}", tags=["spaces"], include_in_schema=False)


@router.get("")
async def space_home(request: Request, access: RequireMember) -> Response:
    """The creator's space: its gated content, for its members and its team."""
    context = content_body(access)
    context["creator_name"] = context.pop("creator")
    return render(request, "access_content.html", context)


# As /api/content, decided for the creator of the path. (A Starlette route gets no router
# prefix of its own: FastAPI adds it to its API routes only.)
router.add_route(
    router.prefix + "/api/content", content_endpoint, methods=["GET"], name="space_content"
)


router.include_router(creator.router)
