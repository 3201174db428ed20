"""Jinja2 templates, autoescaped, shared by every page route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the request id and CSRF token available to every template."""
    ctx: dict[str, Any] = {
        "request_id": getattr(request.state, "request_id", ""),
        "csrf_token": getattr(request.state, "csrf_token", None),
        "current": getattr(request.state, "principal", None),
        "dev_mode": getattr(request.app.state, "dev_mode", False),
    }
    ctx.update(context or {})
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status_code)
