"""Jinja2 templates, autoescaped, shared by every page route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mentora.web.spaces import ROUTE_PARAM, ROUTE_SHAPE, SPACE_PREFIX
from mentora.web.state import AppState, request_state

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the request id and CSRF token available to every template."""
    state = request_state(request)
    app = getattr(request.app.state, "mentora", None)
    ctx: dict[str, Any] = {
        "request_id": state.request_id,
        "csrf_token": state.csrf_token,
        "current": state.principal,
        "dev_mode": isinstance(app, AppState) and app.dev_mode,
        "cbase": _space_base(request),
        "onboarding_open": isinstance(app, AppState)
        and app.services.settings.onboarding_mode != "closed",
        # The creator whose page this is (its name and logo in the header): the session's,
        # unless the page names one (an experience's, a refusal's).
        "creator": state.principal.creator if state.principal is not None else None,
        # Inside a Whop experience Whop has signed the user in: no sign-in or session links.
        "in_experience": request.url.path.startswith("/experiences/"),
    }
    ctx.update(context or {})
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status_code)


def _space_base(request: Request) -> str:
    """Links of a `/c/{route}` page stay in its space ("" for the default creator's pages);
    an error page for a malformed route links to the default creator's."""
    route = request.path_params.get(ROUTE_PARAM)
    if isinstance(route, str) and ROUTE_SHAPE.fullmatch(route):
        return f"{SPACE_PREFIX}/{route}"
    return ""
